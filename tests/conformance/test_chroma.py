"""The conformance suite against Chroma: a real ``chroma run`` server over HTTP, and chromadb's
persistent local client.

Chroma cannot store sparse vectors (its local engine refuses them: they are a Chroma Cloud
feature), so the suite runs dense-only; ``test_sparse_values_are_refused_by_name`` checks the
refusal. Everything else round-trips exactly: ids of every kind, nested metadata (JSON-encoded
under a reserved key and decoded on read), namespaces (a collection each).
``records_per_split=5`` cuts each namespace into several initial ranges.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from io_connectors import Client
from io_connectors.core.errors import RecordRejected
from tests.conformance.suite import DIMENSION, ConnectorConformance, make_batch, unique_name
from tests.fixtures.chroma import ChromaServer


class TestChromaServerConformance(ConnectorConformance):
    sparse = False

    @pytest.fixture
    def client(self, chroma_server: ChromaServer) -> Iterator[Client]:
        client = Client(provider="chroma", host=chroma_server.url, records_per_split=5)
        yield client
        client.close()


class TestChromaLocalConformance(ConnectorConformance):
    sparse = False

    @pytest.fixture
    def client(self, chroma_path: str) -> Iterator[Client]:
        client = Client(provider="chroma", path=chroma_path, records_per_split=5)
        yield client
        client.close()


def test_sparse_values_are_refused_by_name(chroma_path: str) -> None:
    client = Client(provider="chroma", path=chroma_path)
    index = unique_name()
    client.create_index(index, DIMENSION, "cosine")
    batch = make_batch(4, "", ("str",), sparse=True)
    with pytest.raises(RecordRejected) as raised:
        client.upsert(index=index, vectors=batch)
    with_sparse = {batch.ids[r] for r in range(len(batch)) if batch.sparse.present[r]}
    assert set(raised.value.reasons) == with_sparse
    assert all("sparse" in why for why in raised.value.reasons.values())
