"""Chroma end to end: a cross-provider chain verified record by record, documents and id kinds
across providers, the read's completeness check, and writes under injected faults."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from apache_beam.io.restriction_trackers import OffsetRange
from chromadb import errors as chroma_errors

from io_connectors import Client
from io_connectors.core.errors import IntegrityError
from io_connectors.core.fields import DOCUMENT_KEY
from io_connectors.core.records import VectorBatch
from pipelines import Migration
from tests.conformance.suite import by_id, read_split, unique_name
from tests.fixtures.chroma import ChromaServer

DIMENSION = 16


def documents_batch(n: int, namespace: str, seed: int) -> VectorBatch:
    """Records like a RAG store's: a document text, int and string ids, nested metadata."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        metadata: dict[str, Any] = {"source": f"file-{i % 4}.md", "page": i, "tags": ["a", "b"]}
        if i % 3:
            metadata[DOCUMENT_KEY] = f"chunk {i} of the manual — ü"
        if i % 5 == 0:
            metadata["nested"] = {"section": [1, 2, {"x": None}]}
        rows.append(
            {"id": i if i % 2 else f"chunk-{namespace}-{i}", "values": rng.standard_normal(DIMENSION)}
        )
        rows[-1]["metadata"] = metadata
    return VectorBatch.from_dicts(rows, namespace)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_memory_to_chroma_to_parquet_deep_verified(
    chroma_server: ChromaServer, tmp_path, metric: str
) -> None:
    origin = Client(provider="memory", store=unique_name("store"))
    origin.create_index("docs", DIMENSION, metric)
    batches = [documents_batch(120, "", 1), documents_batch(45, "team-b", 2)]
    for batch in batches:
        origin.upsert(index="docs", vectors=batch)
    chroma = Client(provider="chroma", host=chroma_server.url, records_per_split=50)
    parquet = Client(provider="parquet", path=str(tmp_path / "parquet"))
    index = unique_name()

    first = Migration(origin, chroma).migrate(source_index="docs", target_index=index, batch_size=32)
    assert (first.migrated_count, first.errors) == (165, [])
    assert Migration(origin, chroma).verify(source_index="docs", target_index=index, deep=True).match
    info = chroma.describe_index(index)
    assert (info["dimension"], info["metric"], info["namespaces"]) == (
        DIMENSION,
        metric,
        {"": 120, "team-b": 45},
    )
    collection = chroma.connector.store.collection(index)
    stored = collection.get(ids=["chunk--0", "1"], include=["documents", "metadatas"])
    assert dict(zip(stored["ids"], stored["documents"])) == {
        "chunk--0": None,
        "1": "chunk 1 of the manual — ü",
    }

    second = Migration(chroma, parquet).migrate(source_index=index, target_index="docs", batch_size=40)
    assert (second.migrated_count, second.errors) == (165, [])
    check = Migration(chroma, parquet).verify(source_index=index, target_index="docs", deep=True)
    assert check.match, check.summary()
    back = by_id(parquet.connector.fetch("docs", b.ids, b.namespace) for b in batches)
    for batch in batches:
        for row in batch.to_dicts():
            got = back[(batch.namespace, row["id"])]
            assert got["metadata"] == row["metadata"]  # ids keep their kind, documents come back as "text"
            if metric == "euclidean":  # Chroma keeps l2 vectors bit for bit
                assert got["values"] == row["values"]
            else:  # and gives cosine ones back rounded: deep verification compares directions
                assert np.allclose(got["values"], row["values"], rtol=1e-6, atol=1e-7)


def test_a_collection_written_by_another_tool_reads_as_an_index(chroma_server: ChromaServer) -> None:
    """Plain Chroma data (string ids, documents, Chroma-native metadata) migrates as it is."""
    chroma = Client(provider="chroma", host=chroma_server.url)
    name = unique_name("foreign")
    raw = chroma.connector.store.client.create_collection(name, embedding_function=None)
    raw.add(
        ids=["a", "b"],
        embeddings=np.eye(2, 3, dtype=np.float32),
        documents=["first", None],
        metadatas=[{"lang": "en", "text": "field"}, {"score": 0.5}],
    )
    copy = Client(provider="memory", store=unique_name("store"))
    result = Migration(chroma, copy).migrate(source_index=name, target_index="copy")
    assert (result.migrated_count, result.errors) == (2, [])
    assert copy.fetch(index="copy", ids=["a", "b"]) == {
        "a": {
            "id": "a",
            "values": [1.0, 0.0, 0.0],
            "metadata": {"lang": "en", "text": "first", "metadata_text": "field"},
        },
        "b": {"id": "b", "values": [0.0, 1.0, 0.0], "metadata": {"score": 0.5}},
    }
    assert chroma.describe_index(name)["metric"] == "euclidean"  # Chroma's default space, l2


def test_a_collection_changed_during_the_read_is_reported(chroma_path) -> None:
    client = Client(provider="chroma", path=chroma_path)
    index = unique_name()
    client.create_index(index, DIMENSION, "euclidean")
    client.upsert(index=index, vectors=documents_batch(30, "", 3))
    connector = client.connector
    [split] = connector.plan(index, None, 10)
    assert len(by_id(read_split(connector, split))) == 30
    client.upsert(index=index, vectors=documents_batch(31, "", 4).slice(30, 31))
    with pytest.raises(IntegrityError, match="changed during the read"):
        read_split(connector, split)
    client.delete(index=index, ids=list(documents_batch(31, "", 4).ids[:5]))
    with pytest.raises(IntegrityError, match="deleted during the read"):
        read_split(connector, split, OffsetRange(20, 30))


def test_a_migration_reports_a_source_that_changed(chroma_path, monkeypatch) -> None:
    """The read fails loudly (a failed split in ``errors``) rather than passing off a shifted copy."""
    source = Client(provider="chroma", path=chroma_path)
    source.create_index("src", DIMENSION, "euclidean")
    source.upsert(index="src", vectors=documents_batch(20, "", 5))
    from io_connectors.chroma import connector as chroma_connector

    real_read, written = chroma_connector.read_range, []

    def read_while_a_writer_adds(store, split, tracker, dimension):
        if not written:  # another program adds a record after the plan, before the read ends
            collection = store.collection(split.key.collection)
            collection.upsert(ids=["late"], embeddings=np.ones((1, DIMENSION), dtype=np.float32))
            written.append("late")
        yield from real_read(store, split, tracker, dimension)

    monkeypatch.setattr(chroma_connector, "read_range", read_while_a_writer_adds)
    target = Client(provider="memory", store=unique_name("store"))
    result = Migration(source, target).migrate(source_index="src", target_index="copy")
    assert [e.stage for e in result.errors] == ["read"]
    assert "changed during the read" in result.errors[0].message


def test_writes_retry_transient_failures_and_name_refused_records(chroma_path, monkeypatch) -> None:
    client = Client(provider="chroma", path=chroma_path)
    index = unique_name()
    client.create_index(index, DIMENSION, "cosine")
    connector = client.connector
    connector.store._max_batch = 7  # the reported limit, made small: 30 records are 5 requests
    collection = connector.store.collection(index)
    real_upsert, calls = collection.upsert, []
    monkeypatch.setattr("io_connectors.core.retry.time.sleep", lambda _: None)

    def flaky_upsert(ids, **kwargs):
        calls.append(len(ids))
        if len(calls) == 2:
            raise httpx.ConnectError("connection reset")
        if "chunk--4" in ids:
            raise chroma_errors.InvalidArgumentError("refused for the test")
        return real_upsert(ids=ids, **kwargs)

    monkeypatch.setattr(collection, "upsert", flaky_upsert)
    batch = documents_batch(30, "", 6)
    with pytest.raises(Exception) as raised:
        connector.write(index, batch)
    assert list(raised.value.reasons) == ["chunk--4"]
    assert "refused for the test" in raised.value.reasons["chunk--4"]
    assert max(calls) <= 7
    assert client.stats(index=index)["total_vector_count"] == 29
