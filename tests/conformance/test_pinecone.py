"""The conformance suite against Pinecone: the real ``pinecone`` SDK over HTTP to the local server.

Pinecone returns metadata per its documented rule (``io_connectors.pinecone.metadata``): nested
objects flattened to dotted keys, nulls dropped, non-string lists JSON-encoded, and every number
a float. Unicode ids are refused by name. Sparse values need a dotproduct index, and the suite
creates cosine ones, so the suite runs dense-only; sparse round trips are tested in
``tests/e2e/test_pinecone_e2e.py`` and below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from io_connectors import Client
from io_connectors.pinecone.metadata import as_stored
from tests.conformance.suite import (
    DIMENSION,
    ConnectorConformance,
    RejectedIdsConformance,
    by_id,
    make_batch,
    read_split,
    unique_name,
)
from tests.fixtures.pinecone import PINECONE_TEST_KEY
from tests.servers.pinecone_server import PineconeLocalServer


def small_pages_client(server: PineconeLocalServer, **options: Any) -> Client:
    """Pages of 5 ids and splits of 10, so that the suite's few records span pages and splits."""
    return Client(
        provider="pinecone",
        api_key=PINECONE_TEST_KEY,
        host=server.url,
        list_limit=5,
        split_size=10,
        **options,
    )


class TestPineconeConformance(ConnectorConformance, RejectedIdsConformance):
    """Splits that carry only page tokens: readers list their pages again."""

    id_kinds = ("int", "uuid", "str")
    rejected_id_kinds = ("unicode",)
    sparse = False
    plan_id_bytes = 0

    @pytest.fixture
    def client(self, pinecone_server: PineconeLocalServer) -> Iterator[Client]:
        client = small_pages_client(pinecone_server, plan_id_bytes=self.plan_id_bytes)
        yield client
        client.close()

    def expected_metadata(self, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return as_stored(metadata)


class TestPineconeCarriedIdsConformance(TestPineconeConformance):
    """Splits that carry their ids (the default while the plan's id budget lasts)."""

    plan_id_bytes = 4 * 1024 * 1024


@pytest.mark.parametrize("sparse_only", [False, True])
def test_sparse_values_round_trip(pinecone_server: PineconeLocalServer, sparse_only: bool) -> None:
    client = small_pages_client(pinecone_server)
    index = unique_name()
    dimension = None if sparse_only else DIMENSION
    client.create_index(index, dimension, "dotproduct", sparse=True)
    batch = make_batch(30, "ns", ("uuid", "str"), sparse=True, seed=5)
    if sparse_only:
        batch = batch.take([i for i in range(len(batch)) if batch.sparse.present[i]])
        batch.values = None
    client.upsert(index=index, vectors=batch)
    info = client.describe_index(index)
    assert (info["dimension"], info["metric"], info["sparse"]) == (dimension, "dotproduct", True)
    connector = client.connector
    stored = by_id(b for s in connector.plan(index, None, 7) for b in read_split(connector, s))
    for row in batch.to_dicts():
        got = stored[("ns", row["id"])]
        assert got.get("values") == row.get("values")
        if "sparse_values" in row:
            assert got["sparse_values"] == row["sparse_values"]
        else:
            assert "sparse_values" not in got
        assert got["metadata"] == as_stored(row["metadata"])
