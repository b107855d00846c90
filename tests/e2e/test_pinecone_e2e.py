"""Pinecone end to end, through the real ``pinecone`` SDK and the local Pinecone server:

(a) Pinecone -> Qdrant -> Pinecone and Pinecone -> pgvector, 20,000 vectors of dimension 768
    with sparse values, metadata and three namespaces, exact;
(b) 10% of upserts answered 429 and 2% 503: every vector lands, and the retries show;
(c) each limit of the server respected: count and byte splits, oversize metadata reported,
    the metadata rule applied and counted;
(d) the API key never shows; a wrong key and a pod-based index say so clearly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from pinecone import Pinecone

from io_connectors import Client, ConfigError, SparseBlock, VectorBatch
from io_connectors.pinecone.metadata import as_stored
from io_connectors.pinecone.wire import encode_rows
from pipelines import Migration
from tests.conformance.suite import by_id, read_split, unique_name
from tests.fixtures.pinecone import PINECONE_TEST_KEY
from tests.servers import pinecone_limits
from tests.servers.pinecone_server import PineconeLocalServer

DIMENSION = 768
NAMESPACES = ("", "alpha", "beta")
PER_NAMESPACE = (8_000, 7_000, 5_000)  # 20,000 in all


def hybrid_batch(n: int, namespace: str, dimension: int, seed: int) -> VectorBatch:
    """Dense values, sparse values on two rows in three, metadata Pinecone holds as it is
    (strings, floats, booleans, lists of strings) on nine rows in ten."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, dimension), dtype=np.float32)
    sparse_rows = []
    for i in range(n):
        if i % 3:
            indices = np.sort(rng.choice(100_000, size=8, replace=False))
            sparse_rows.append((indices, rng.standard_normal(8, dtype=np.float32)))
        else:
            sparse_rows.append(None)
    metadata: list[dict[str, Any] | None] = [
        {"title": f"doc {i} of {namespace or 'default'}", "year": float(1990 + i % 30), "ok": i % 2 == 0}
        | ({"tags": ["x", str(i % 7)]} if i % 4 else {})
        if i % 10
        else None
        for i in range(n)
    ]
    ids = [f"{namespace or 'default'}-{i:06d}" for i in range(n)]
    return VectorBatch(ids, values, SparseBlock.from_rows(sparse_rows), metadata, namespace)


def read_all(client: Client, index: str) -> dict[tuple[str, Any], dict[str, Any]]:
    connector = client.connector
    return by_id(b for s in connector.plan(index, None, 1000) for b in read_split(connector, s))


def assert_exact(expected: dict, got: dict) -> None:
    """The same records: ids, dense values bit for bit, sparse pairs and metadata."""
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        row = got[key]
        assert np.array_equal(
            np.asarray(row["values"], np.float32), np.asarray(want["values"], np.float32)
        ), key
        assert _sparse_pairs(row) == _sparse_pairs(want), key
        assert row.get("metadata") == want.get("metadata"), key


def _sparse_pairs(row: dict[str, Any]) -> list[tuple[int, float]]:
    sparse = row.get("sparse_values")
    if not sparse or not len(sparse["indices"]):
        return []
    return sorted(
        zip(np.asarray(sparse["indices"]).tolist(), np.asarray(sparse["values"], np.float32).tolist())
    )


def pinecone(server: PineconeLocalServer, **options: Any) -> Client:
    return Client(provider="pinecone", api_key=PINECONE_TEST_KEY, host=server.url, **options)


# -- (a) exact chains of 20,000 vectors -----------------------------------------------------------
@pytest.fixture(scope="module")
def hybrid_source(pinecone_session_server: PineconeLocalServer) -> Iterator[tuple[Client, str, dict]]:
    """A dotproduct Pinecone index of 20,000 768-d vectors with sparse values, in 3 namespaces."""
    client = pinecone(pinecone_session_server)
    index = unique_name("src")
    client.create_index(index, DIMENSION, "dotproduct", sparse=True)
    for seed, (namespace, n) in enumerate(zip(NAMESPACES, PER_NAMESPACE)):
        client.upsert(index=index, vectors=hybrid_batch(n, namespace, DIMENSION, seed))
    stored = read_all(client, index)
    assert len(stored) == 20_000
    yield client, index, stored
    client.delete_index(index)
    client.close()


def test_pinecone_qdrant_pinecone_is_exact(hybrid_source, pinecone_server, tmp_path) -> None:
    source, index, stored = hybrid_source
    qdrant = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    out = Migration(source, qdrant).migrate(source_index=index, target_index="hop")
    assert (out.migrated_count, out.errors) == (20_000, [])
    assert qdrant.stats(index="hop")["namespaces"] == {
        ns: {"vector_count": n} for ns, n in zip(NAMESPACES, PER_NAMESPACE)
    }
    back_index = unique_name("back")
    back = Migration(qdrant, source).migrate(source_index="hop", target_index=back_index)
    assert (back.migrated_count, back.errors) == (20_000, [])
    assert source.describe_index(back_index)["metric"] == "dotproduct"
    assert_exact(stored, read_all(source, back_index))
    assert Migration(source, source).verify(source_index=index, target_index=back_index, deep=True).match


def test_pinecone_to_pgvector_is_exact(hybrid_source, postgres_dsn, pg_schema) -> None:
    source, index, stored = hybrid_source
    postgres = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    out = Migration(source, postgres).migrate(source_index=index, target_index="copy")
    assert (out.migrated_count, out.errors) == (20_000, [])
    assert_exact(stored, read_all(postgres, "copy"))
    assert Migration(source, postgres).verify(source_index=index, target_index="copy", deep=True).match


# -- (b) throttling and outages -----------------------------------------------------------------
def test_429_and_503_on_upserts_lose_nothing_and_retries_show(pinecone_server) -> None:
    origin = Client(provider="memory", store=unique_name("origin"))
    origin.create_index("origin", 32, "dotproduct", sparse=True)
    origin.upsert(index="origin", vectors=hybrid_batch(20_000, "", 32, seed=11))
    target = pinecone(pinecone_server)
    pinecone_server.set_faults(upsert={"rate_429": 0.10, "rate_503": 0.02, "retry_after": "0"}, seed=7)
    result = Migration(origin, target).migrate(source_index="origin", target_index="landed", chunk_size=100)
    faults = pinecone_server.stats()["faults"]["upsert"]
    assert faults["429"] > 10 and faults["503"] > 0
    assert (result.migrated_count, result.errors) == (20_000, [])
    assert result.metrics["retries"] == faults["429"] + faults["503"]  # each fault retried once, by us
    pinecone_server.clear_faults()
    assert target.stats(index="landed")["total_vector_count"] == 20_000
    assert Migration(origin, target).verify(source_index="origin", target_index="landed", deep=True).match


# -- (c) limits ---------------------------------------------------------------------------------
@pytest.fixture
def strict_server(pinecone_server, monkeypatch) -> PineconeLocalServer:
    """The server enforcing exactly what the connector promises: 1,000 vectors and 2,000,000 bytes
    a request (Pinecone's "2 MB"; the server's own cap is 2 MiB)."""
    monkeypatch.setattr(pinecone_limits, "MAX_REQUEST_BYTES", 2_000_000)
    assert pinecone_limits.MAX_UPSERT_VECTORS == 1000
    return pinecone_server


def test_a_2500_vector_chunk_is_split_by_count(strict_server) -> None:
    client = pinecone(strict_server)
    client.create_index("counted", 8, "dotproduct", sparse=True)
    strict_server.reset_stats()
    client.connector.write("counted", hybrid_batch(2_500, "ns", 8, seed=1))
    stats = strict_server.stats()
    assert stats["requests"]["upsert"] == 3 and stats["errors"] == {}
    assert client.stats(index="counted")["total_vector_count"] == 2_500


def test_a_3mb_batch_is_split_by_bytes(strict_server) -> None:
    client = pinecone(strict_server)
    client.create_index("weighed", DIMENSION, "cosine")
    batch = hybrid_batch(250, "", DIMENSION, seed=2)
    batch = VectorBatch(batch.ids, batch.values, None, [{"text": "x" * 4_000} for _ in range(250)])
    rows = list(encode_rows(batch.ids, batch, [orjson.dumps(m) for m in batch.metadata], compact=True))
    assert 3_000_000 < sum(len(row) for row in rows) < 4_000_000  # what is sent
    strict_server.reset_stats()
    client.connector.write("weighed", batch)
    stats = strict_server.stats()
    assert stats["requests"]["upsert"] == 2 and stats["errors"] == {}
    assert client.stats(index="weighed")["total_vector_count"] == 250


def test_oversize_metadata_is_reported_not_lost_and_the_rule_is_counted(pinecone_server) -> None:
    origin = Client(provider="memory", store=unique_name("origin"))
    origin.create_index("origin", 4, "cosine")
    rows = [
        {"id": "nested", "values": [1, 0, 0, 0], "metadata": {"a": {"b": 1, "c": {"d": "x"}}}},
        {"id": "nulls", "values": [0, 1, 0, 0], "metadata": {"keep": True, "gone": None, "empty": {}}},
        {"id": "numbers", "values": [0, 0, 1, 0], "metadata": {"nums": [1, 2.5], "mixed": ["a", 1]}},
        {"id": "huge-int", "values": [0, 0, 0, 1], "metadata": {"big": 2**60, "small": 7}},
        {"id": "fat", "values": [1, 1, 0, 0], "metadata": {"text": "y" * 41_000}},
        {"id": "clash", "values": [1, 0, 1, 0], "metadata": {"a.b": 1, "a": {"b": 2}}},
        {"id": "plain", "values": [1, 0, 0, 1], "metadata": {"s": "ü", "tags": ["p", "q"], "f": 0.5}},
    ]
    origin.upsert(index="origin", vectors=rows)
    target = pinecone(pinecone_server)
    result = Migration(origin, target).migrate(source_index="origin", target_index="ruled")
    refused = {i: e.message for e in result.errors for i in e.ids}
    assert set(refused) == {"fat", "clash"} and result.migrated_count == 5
    assert "40960" in refused["fat"] and "occurs twice" in refused["clash"]
    assert all(e.stage == "write" and e.error_class == "RecordRejected" for e in result.errors)
    metrics = result.metrics
    assert metrics["pinecone_metadata_flattened"] == 1
    assert metrics["pinecone_metadata_nulls_dropped"] == 1
    assert metrics["pinecone_metadata_lists_encoded"] == 1
    assert metrics["pinecone_metadata_ints_stringified"] == 1
    host = target.describe_index("ruled")["details"]["host"]
    raw = Pinecone(api_key=PINECONE_TEST_KEY, host=pinecone_server.url).Index(host=host)
    held = {i: v.metadata for i, v in raw.fetch(ids=[r["id"] for r in rows]).vectors.items()}
    assert held == {
        "nested": {"a.b": 1.0, "a.c.d": "x"},
        "nulls": {"keep": True},
        "numbers": {"nums": "[1,2.5]", "mixed": '["a",1]'},
        "huge-int": {"big": str(2**60), "small": 7.0},
        "plain": {"s": "ü", "tags": ["p", "q"], "f": 0.5},
    }
    assert held == {r["id"]: as_stored(r["metadata"]) for r in rows if r["id"] in held}


# -- (d) credentials and unsupported indexes ----------------------------------------------------
def test_the_api_key_never_shows_and_a_wrong_key_is_a_clear_config_error(
    pinecone_server, monkeypatch, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("VM_TEST_PINECONE_KEY", PINECONE_TEST_KEY)
    good = Client.from_uri(
        f"pinecone+http://{pinecone_server.url[7:]}/keyed?api_key_env=VM_TEST_PINECONE_KEY"
    )
    origin = Client(provider="memory", store=unique_name("origin"))
    origin.create_index("origin", 8, "dotproduct", sparse=True)
    origin.upsert(index="origin", vectors=hybrid_batch(50, "", 8, seed=3))
    origin.upsert(index="origin", vectors=[{"id": "caf\u00e9", "values": [1.0] * 8}])
    pinecone_server.set_faults(upsert={"next_503": 2})
    result = Migration(origin, good).migrate(source_index="origin", target_index="keyed")
    assert result.migrated_count == 50 and [e.ids for e in result.errors] == [["caf\u00e9"]]
    assert "non-ASCII" in result.errors[0].message

    wrong = Client(provider="pinecone", api_key="pclocal-wrong-key-0000", host=pinecone_server.url)
    with pytest.raises(ConfigError, match="API key was refused") as refused:
        wrong.list_indexes()
    monkeypatch.setenv("PINECONE_API_KEY", PINECONE_TEST_KEY[::-1])
    with pytest.raises(ConfigError, match="API key was refused"):
        Migration(origin, Client(provider="pinecone", host=pinecone_server.url)).migrate(
            source_index="origin", target_index="never"
        )
    monkeypatch.delenv("PINECONE_API_KEY")
    with pytest.raises(ConfigError, match="no API key"):
        Client(provider="pinecone", host=pinecone_server.url).list_indexes()

    shown = [caplog.text, repr(good), repr(wrong), str(refused.value), str(result.summary())]
    for secret in (PINECONE_TEST_KEY, "pclocal-wrong-key-0000", PINECONE_TEST_KEY[::-1]):
        assert all(secret not in text for text in shown)
    assert "Service unavailable" in caplog.text and "retry 1" in caplog.text  # errors were logged


def test_a_pod_based_index_says_it_cannot_be_listed(pinecone_server) -> None:
    client = pinecone(pinecone_server)
    client.create_index("podded", 4, "cosine")
    client.upsert(index="podded", vectors=[{"id": "a", "values": [1.0, 0, 0, 0]}])
    pod = {"deployment_type": "pod", "environment": "us-east-1-aws", "pod_type": "p1.x1", "replicas": 1}
    pinecone_server.indexes["podded"].model["deployment"] = pod | {"shards": 1}
    assert client.describe_index("podded")["details"]["deployment"] == "pod"
    target = Client(provider="memory", store=unique_name("t"))
    with pytest.raises(ConfigError, match=r"'podded' is pod-based.*list API.*Client\.fetch"):
        Migration(client, target).migrate(source_index="podded", target_index="copy")
    assert set(client.fetch(index="podded", ids=["a", "b"])) == {"a"}  # the suggested way out works
