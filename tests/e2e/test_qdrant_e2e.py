"""Qdrant end to end: long migration chains through both embedded ways and pgvector, parallel
split reads, id mapping across providers, and the server path against a stub HTTP server."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from apache_beam.io.restriction_trackers import OffsetRange

from io_connectors import (
    Client,
    ConfigError,
    IndexNotFound,
    RecordRejected,
    SparseBlock,
    TransientError,
)
from io_connectors.core.records import IdValue, VectorBatch
from io_connectors.qdrant import reading as qdrant_reading
from io_connectors.qdrant.ids import ID_FIELD
from pipelines import Migration
from tests.conformance.suite import assert_split_exhaustively, by_id, make_batch, read_split, unique_name
from tests.servers.qdrant_stub import QdrantGrpcStub, QdrantStub

pytestmark = pytest.mark.filterwarnings(
    "ignore:Local mode is not recommended for collections with more than 20,000 points",
    "ignore:Api key is used with an insecure connection",
)
KINDS = ("str", "int", "uuid")
REPO = Path(__file__).resolve().parents[2]


def make_ids(n: int, namespace: str) -> list[IdValue]:
    makers = {
        "str": lambda i: f"doc-{namespace or 'default'}-{i}",
        "int": lambda i: i * 3 + 1,
        "uuid": lambda i: str(uuid.uuid5(uuid.NAMESPACE_OID, f"{namespace}/{i}")),
    }
    return [makers[KINDS[i % 3]](i) for i in range(n)]


def dataset(n: int, dimension: int, namespace: str, seed: int) -> VectorBatch:
    """``n`` vectors of three id kinds, with metadata and, on every other row, sparse values."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, dimension), dtype=np.float32)
    sparse = SparseBlock.from_rows(
        [([i % 97, 1000 + i, 70_000 + i], [0.5, -1.25, i / 7]) if i % 2 else None for i in range(n)]
    )
    metadata: list[dict[str, Any] | None] = [
        {"i": i, "title": f"item {i} ü", "tags": ["a", str(i % 5)], "nested": {"x": [1, None]}}
        if i % 10
        else None
        for i in range(n)
    ]
    return VectorBatch(make_ids(n, namespace), values, sparse, metadata, namespace)


def read_all(client: Client, index: str, batch_size: int = 1000) -> dict[tuple[str, IdValue], dict[str, Any]]:
    connector = client.connector
    return by_id(b for split in connector.plan(index, None, batch_size) for b in read_split(connector, split))


def migrate(source: Client, source_index: str, target: Client, target_index: str, expected: int) -> None:
    result = Migration(source, target).migrate(source_index=source_index, target_index=target_index)
    assert (result.migrated_count, result.errors) == (expected, []), result.summary()


def assert_same_records(origin: list[VectorBatch], stored: dict, normalized: bool) -> None:
    """Ids (with their kind), metadata and sparse values exactly; dense values exactly or, for a
    cosine chain through Qdrant, as unit vectors within float32 rounding."""
    assert len(stored) == sum(len(b) for b in origin)
    for batch in origin:
        rows = [stored[(batch.namespace, i)] for i in batch.ids]  # KeyError names a lost id
        assert [type(r["id"]) for r in rows] == [type(i) for i in batch.ids]
        got = np.asarray([r["values"] for r in rows], dtype=np.float32)
        want = batch.values
        if normalized:
            want = want / np.linalg.norm(want, axis=1, keepdims=True)
            np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
        else:
            assert np.array_equal(got, want)
        for row, vector_id, metadata in zip(rows, batch.ids, batch.metadata):
            assert row.get("metadata") == metadata, vector_id
        for r, row in enumerate(rows):
            sparse = batch.sparse.row(r)
            if sparse is None:
                assert "sparse_values" not in row
            else:
                assert row["sparse_values"]["indices"] == sparse[0].tolist()
                assert row["sparse_values"]["values"] == sparse[1].tolist()


# -- (a) long chains ---------------------------------------------------------------------------
def _chain(tmp_path, postgres_dsn: str, pg_schema: str, n: int, dimension: int, metric: str):
    origin = Client(provider="memory", store=unique_name("origin"))
    origin.create_index("origin", dimension, metric, sparse=True)
    batches = [dataset(n // 2, dimension, "", 1), dataset(n - n // 2, dimension, "tenant-b", 2)]
    for batch in batches:
        origin.upsert(index="origin", vectors=batch)
    edge = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    postgres = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    local = Client(provider="qdrant", location=":memory:", store=unique_name("local"))
    migrate(origin, "origin", edge, "products", n)
    migrate(edge, "products", postgres, "products", n)
    migrate(postgres, "products", local, "products", n)
    return origin, batches, local


def test_50k_chain_memory_edge_pgvector_local_ends_where_it_started(
    tmp_path, postgres_dsn, pg_schema
) -> None:
    """memory -> Qdrant (embedded engine) -> pgvector -> Qdrant (local mode), 50,000 vectors of
    dimension 768, cosine: Qdrant keeps unit vectors, so dense values are compared normalised."""
    _, batches, local = _chain(tmp_path, postgres_dsn, pg_schema, 50_000, 768, "cosine")
    info = local.describe_index("products")
    assert (info["dimension"], info["metric"], info["sparse"]) == (768, "cosine", True)
    assert info["namespaces"] == {"": 25_000, "tenant-b": 25_000}
    assert_same_records(batches, read_all(local, "products"), normalized=True)


def test_dotproduct_chain_is_bit_exact_and_verifies_deep(tmp_path, postgres_dsn, pg_schema) -> None:
    """Without cosine normalisation the same chain keeps every float bit for bit."""
    origin, batches, local = _chain(tmp_path, postgres_dsn, pg_schema, 3_000, 768, "dotproduct")
    assert_same_records(batches, read_all(local, "products"), normalized=False)
    check = Migration(origin, local).verify(source_index="origin", target_index="products", deep=True)
    assert (check.match, check.checked, check.different_count) == (True, 3_000, 0), check.summary()


# -- (b) parallel reads ------------------------------------------------------------------------
def _qdrant(way: str, tmp_path, **options: Any) -> Client:
    if way == "local":
        return Client(provider="qdrant", location=":memory:", store=unique_name("split"), **options)
    return Client(provider="qdrant", edge_path=str(tmp_path / "edge"), **options)


@pytest.mark.parametrize("planning", ["exact", "sampled"])
@pytest.mark.parametrize("way", ["local", "edge"])
@pytest.mark.parametrize("kind", ["int", "uuid", "str"])
def test_four_splits_read_every_point_exactly_once(way, kind, planning, tmp_path, monkeypatch) -> None:
    """Range boundaries from all ids, or (as for big collections) from a random sample of them."""
    n = 2_000
    if planning == "sampled":
        monkeypatch.setattr(qdrant_reading, "EXACT_PLAN_POINTS", n - 1)
    client = _qdrant(way, tmp_path, points_per_split=n // 4)
    client.create_index("split", 4, "euclidean")
    rng = np.random.default_rng(3)
    ids: list[IdValue] = {
        "int": [int(i) for i in rng.choice(2**62, size=n, replace=False)],
        "uuid": [str(uuid.UUID(int=int(rng.integers(2**63)) << 64 | i)) for i in range(n)],
        "str": [f"key-{i}" for i in range(n)],
    }[kind]
    client.upsert(index="split", vectors=[{"id": i, "values": [1.0, 2.0, 3.0, 4.0]} for i in ids])
    connector = client.connector
    (split,) = connector.plan("split", None, 100)
    ranges = connector.split_restriction(split, split.start, split.stop)
    assert len(ranges) == 4
    assert ranges[0][0] == split.start and ranges[-1][1] == split.stop
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    per_range = [[i for b in read_split(connector, split, OffsetRange(*r)) for i in b.ids] for r in ranges]
    seen = [i for part in per_range for i in part]
    assert len(seen) == n and set(seen) == set(ids)
    assert all(n // 8 < len(part) < n * 3 // 8 for part in per_range), [len(p) for p in per_range]
    through_beam = Client(provider="memory", store=unique_name("copy"))
    result = Migration(client, through_beam).migrate(source_index="split", target_index="copy", batch_size=64)
    assert (result.read_count, result.migrated_count) == (n, n)
    assert set(through_beam.connector.fetch("copy", ids).ids) == set(ids)


@pytest.mark.parametrize("way", ["local", "edge"])
def test_dynamic_splits_of_a_namespace_sharing_its_collection(way, tmp_path) -> None:
    """The suite's exhaustive split check, on a namespace read through the namespace filter."""
    client = _qdrant(way, tmp_path, points_per_split=6)
    client.create_index("shared", 8, "cosine", sparse=True)
    client.upsert(index="shared", vectors=make_batch(23, "a", seed=1))
    client.upsert(index="shared", vectors=make_batch(17, "", seed=2))
    (split,) = client.connector.plan("shared", "a", 4)
    assert split.key.filtered and len(client.connector.split_restriction(split, split.start, split.stop)) == 4
    assert assert_split_exhaustively(client.connector, split) > 23
    (default,) = client.connector.plan("shared", "", 4)
    assert {i for b in read_split(client.connector, default) for i in b.ids} == set(make_batch(17, "").ids)


# -- (c) id mapping across providers -----------------------------------------------------------
PINECONE_IDS = ["doc#1", "user:42", "42", "0", "-7", "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
                "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "a b/c?d=e", "x" * 512]  # fmt: skip


def test_pinecone_style_string_ids_survive_qdrant(tmp_path) -> None:
    source = Client(provider="memory", store=unique_name("pinecone-like"))
    source.create_index("docs", 3, "euclidean")
    source.upsert(
        index="docs",
        vectors=[
            {"id": i, "values": [1.0, 2.0, float(n)], "metadata": {"n": n}}
            for n, i in enumerate(PINECONE_IDS)
        ],
        namespace="ns",
    )
    qdrant = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    migrate(source, "docs", qdrant, "docs", len(PINECONE_IDS))
    stored, _ = qdrant.connector.backend.scroll_ids("docs", None, None, 100)
    assert all(isinstance(s, uuid.UUID) for s in stored), "every id of a named namespace is mapped to a UUID"
    raw = qdrant.connector.backend.retrieve(
        "docs", qdrant.connector._names(qdrant.connector._shape("docs")), stored
    )
    assert sorted(p[ID_FIELD] for p in raw.payloads) == sorted(PINECONE_IDS)
    out = Client(provider="parquet", path=str(tmp_path / "parquet"))
    migrate(qdrant, "docs", out, "docs", len(PINECONE_IDS))
    back = read_all(out, "docs")
    assert sorted(back) == sorted(("ns", i) for i in PINECONE_IDS)
    assert all(type(key[1]) is str for key in back), "numeric-looking string ids stay strings"
    assert all(row["metadata"] == {"n": PINECONE_IDS.index(key[1])} for key, row in back.items())


def test_default_namespace_keeps_native_ids_and_maps_the_rest(tmp_path) -> None:
    client = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    client.create_index("mixed", 2, "euclidean")
    ids: list[IdValue] = [
        5,
        -5,
        "5",
        2**64,
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
    ]
    client.upsert(index="mixed", vectors=[{"id": i, "values": [1.0, 0.0]} for i in ids])
    stored, _ = client.connector.backend.scroll_ids("mixed", None, None, 100)
    assert 5 in stored and uuid.UUID("3f2504e0-4f89-41d3-9a0c-0305e82c3301") in stored
    assert len(stored) == len(ids)
    assert set(client.fetch(index="mixed", ids=ids)) == set(ids)
    assert sorted(read_all(client, "mixed"), key=str) == sorted((("", i) for i in ids), key=str)


# -- (d) the server path, against a stub HTTP server -------------------------------------------
KEY = "qdrant-key-4f1d9c"


def _vectors(ids: list[IdValue], dimension: int = 4) -> list[dict[str, Any]]:
    return [
        {"id": i, "values": [float(n), 1.0, 2.0, 3.0][:dimension], "metadata": {"n": n},
         **({"sparse_values": {"indices": [1, 9], "values": [0.5, 0.25]}} if n % 2 else {})}
        for n, i in enumerate(ids)
    ]  # fmt: skip


def test_server_upsert_request_shape_api_key_and_429_retry() -> None:
    with QdrantStub({"idx": (4, "Cosine")}, api_key=KEY) as stub:
        client = Client(provider="qdrant", host=stub.url, api_key=KEY)
        stub.fail("PUT", "/collections/idx/points", 429, {"Retry-After": "0"})
        client.upsert(index="idx", vectors=_vectors([5, "doc-1", "3f2504e0-4f89-41d3-9a0c-0305e82c3301"]))
        puts = stub.calls("PUT", "/collections/idx/points")
        assert len(puts) == 2 and puts[0].body == puts[1].body, "the throttled request is sent again"
        assert all(r.headers["api-key"] == KEY for r in stub.requests)
        assert puts[1].query == {"wait": "true"}
        points = puts[1].body["points"]
        assert [p["id"] for p in points][0::2] == [5, "3f2504e0-4f89-41d3-9a0c-0305e82c3301"]
        assert str(uuid.UUID(points[1]["id"])) == points[1]["id"] != "doc-1"
        assert points[0]["vector"] == [0.0, 1.0, 2.0, 3.0] and points[0]["payload"] == {"n": 0}
        assert points[1]["vector"] == {
            "": [1.0, 1.0, 2.0, 3.0],
            "sparse": {"indices": [1, 9], "values": [0.5, 0.25]},
        }
        assert points[1]["payload"] == {"n": 1, ID_FIELD: "doc-1"}


def test_server_errors_are_translated_and_never_show_the_key(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with QdrantStub({"idx": (4, "Cosine")}, api_key=KEY) as stub:
        client = Client(provider="qdrant", host=stub.url, api_key=KEY)
        with pytest.raises(IndexNotFound):
            client.describe_index("missing")
        wrong = Client(provider="qdrant", host=stub.url, api_key="wrong-key-777")
        with pytest.raises(ConfigError) as raised:
            wrong.describe_index("idx")
        assert "API key" in str(raised.value) and "wrong-key-777" not in str(raised.value)
        connector = client.connector
        stub.fail("PUT", "/collections/idx/points", 429, {"Retry-After": "7"})
        with pytest.raises(TransientError) as throttled:
            connector.write("idx", VectorBatch.from_dicts(_vectors([1])))
        assert throttled.value.retry_after == 7.0
        stub.fail("PUT", "/collections/idx/points", 503)
        with pytest.raises(TransientError):
            connector.write("idx", VectorBatch.from_dicts(_vectors([1])))
        stub.fail("PUT", "/collections/idx/points", 503)
        client.upsert(index="idx", vectors=_vectors([1, 2]))  # retried by the client
        stub.refuse_ids = {7}
        with pytest.raises(RecordRejected) as refused:
            client.upsert(index="idx", vectors=_vectors([6, 7, 8, 9]))
        assert set(refused.value.reasons) == {7} and "refused by the stub" in refused.value.reasons[7]
        stored = stub.collections["idx"].points
        assert {6, 8, 9} <= set(stored) and 7 not in stored, "the rest of the batch is written"
    closed = Client(provider="qdrant", host=stub.url, api_key=KEY).connector
    with pytest.raises(TransientError):
        closed.backend.collections()
    assert KEY not in caplog.text and "wrong-key-777" not in caplog.text


def test_server_requests_are_cut_to_the_rest_body_limit() -> None:
    with QdrantStub({"big": (768, "Dot")}) as stub:
        connector = Client(provider="qdrant", host=stub.url).connector
        batch = VectorBatch(
            list(range(1_700)), np.random.default_rng(0).standard_normal((1_700, 768)).astype(np.float32)
        )
        connector.write("big", batch)
        puts = stub.calls("PUT", "/collections/big/points")
        sizes = [int(r.headers["content-length"]) for r in puts]
        assert len(puts) == 2 and max(sizes) < 32 * 2**20, sizes
        assert sum(len(r.body["points"]) for r in puts) == 1_700


@pytest.mark.parametrize("planning", ["exact", "sampled"])
def test_server_read_plans_scrolls_and_retries_through_a_503(planning, monkeypatch) -> None:
    if planning == "sampled":
        monkeypatch.setattr(qdrant_reading, "EXACT_PLAN_POINTS", 10)
    with QdrantStub({"idx": (4, "Euclid")}) as stub:
        client = Client(provider="qdrant", host=stub.url, points_per_split=40)
        ids: list[IdValue] = [*range(100, 160), *(f"s-{i}" for i in range(40))]
        client.upsert(index="idx", vectors=_vectors(ids), namespace="ns")
        client.upsert(index="idx", vectors=_vectors([1, 2, 3]))
        assert client.describe_index("idx")["namespaces"] == {"": 3, "ns": 100}
        stub.fail("POST", "/collections/idx/points/scroll", 503)
        copy = Client(provider="memory", store=unique_name("copy"))
        result = Migration(client, copy).migrate(source_index="idx", target_index="copy", batch_size=16)
        assert (result.migrated_count, result.errors) == (103, [])
        assert set(copy.fetch(index="copy", ids=ids, namespace="ns")) == set(ids)
        scrolls = stub.calls("POST", "/collections/idx/points/scroll")
        bodies = [r.body for r in scrolls if r.body.get("with_vector")]
        assert all(b["with_payload"] is True and b["limit"] >= 16 for b in bodies)
        assert {"must": [{"key": "_vm_namespace", "match": {"value": "ns"}}]} in [
            b.get("filter") for b in bodies
        ]
        listings = [r.body for r in scrolls if not r.body.get("with_vector")]
        assert listings and all(b["with_payload"] is False for b in listings)
        samples = stub.calls("POST", "/collections/idx/points/query")
        assert bool(samples) == (planning == "sampled")
        assert all(r.body["query"] == {"sample": "random"} and r.body["limit"] == 1000 for r in samples)


def test_grpc_upsert_shape_api_key_chunking_and_status_codes() -> None:
    with QdrantGrpcStub({"idx": (768, "Dot")}, api_key=KEY) as stub:
        options = {"host": "http://127.0.0.1:9", "prefer_grpc": True, "grpc_port": stub.port}
        client = Client(provider="qdrant", api_key=KEY, **options)
        vectors = _vectors([5, "doc-1"], dimension=4)
        rows = np.random.default_rng(1).standard_normal((1_500, 768)).astype(np.float32)
        stub.fail(grpc.StatusCode.UNAVAILABLE)
        client.upsert(
            index="idx",
            vectors=VectorBatch(
                [*range(1_498), 5, "doc-1"], rows, None, [None] * 1_498 + [v["metadata"] for v in vectors]
            ),
        )
        assert len(stub.upserts) == 2, "1,500 vectors of 768 floats make two requests under 4 MiB"
        assert all(r.ByteSize() < 4 * 2**20 for r in stub.upserts)
        assert all(m.get("api-key") == KEY for m in stub.metadata)
        last = stub.upserts[-1].points
        assert last[-2].id.num == 5 and last[-1].id.uuid == str(uuid.UUID(last[-1].id.uuid))
        assert last[-1].payload[ID_FIELD].string_value == "doc-1"
        assert list(last[-1].vectors.vector.dense.data) == rows[-1].tolist()
        with pytest.raises(IndexNotFound):
            client.describe_index("missing")
        wrong = Client(provider="qdrant", api_key="wrong-key-777", **options)
        with pytest.raises(ConfigError) as raised:
            wrong.describe_index("idx")
        assert "API key" in str(raised.value) and "wrong-key-777" not in str(raised.value)
        for code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
            stub.fail(code)
            with pytest.raises(TransientError):
                client.connector.write("idx", VectorBatch(["only"], rows[:1]))
        stub.fail(grpc.StatusCode.INVALID_ARGUMENT)
        with pytest.raises(RecordRejected) as refused:
            client.connector.write("idx", VectorBatch(["only"], rows[:1]))
        assert set(refused.value.reasons) == {"only"}
        client.close()
        wrong.close()


# -- embedded stores: one process, shared handles -----------------------------------------------
def _in_other_process(options: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import warnings; warnings.simplefilter('ignore'); from io_connectors import Client; "
        f"print(Client(provider='qdrant', **{options!r}).describe_index('shared')['count'])"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize("way", ["edge_path", "path"])
def test_embedded_stores_are_shared_in_process_and_locked_for_others(way, tmp_path) -> None:
    options = {way: str(tmp_path / "store")}
    first, second = Client(provider="qdrant", **options), Client(provider="qdrant", **options)
    first.create_index("shared", 2, "euclidean")
    first.upsert(index="shared", vectors=[{"id": 1, "values": [1.0, 2.0]}, {"id": "a", "values": [3.0, 4.0]}])
    assert set(second.fetch(index="shared", ids=[1, "a"])) == {1, "a"}, "both clients use one open store"
    locked = _in_other_process(options)
    assert locked.returncode != 0 and "ConfigError" in locked.stderr and "one process" in locked.stderr
    first.close()
    assert second.describe_index("shared")["count"] == 2, "closing one user keeps the store open"
    second.close()
    reopened = _in_other_process(options)
    assert (reopened.returncode, reopened.stdout.strip()) == (0, "2"), reopened.stderr


def test_a_multi_process_runner_is_refused_for_embedded_stores(tmp_path) -> None:
    source = Client(provider="parquet", path=str(tmp_path / "parquet"))
    source.upsert(index="src", vectors=_vectors([1, 2]))
    target = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    migration = Migration(source, target, pipeline_args=["--direct_running_mode=multi_processing"])
    with pytest.raises(ConfigError, match="in-memory runner"):
        migration.migrate(source_index="src", target_index="dst")


# -- collections written by other tools ------------------------------------------------------
def test_reading_a_foreign_collection_with_named_vectors_and_an_unindexed_namespace_field(tmp_path) -> None:
    """A shard written with the engine's own API: named dense and sparse vectors, and a namespace
    field without a payload index (counted by scanning that field)."""
    import qdrant_edge as qe

    config = qe.EdgeConfig(
        vectors={"text": qe.EdgeVectorParams(3, qe.Distance.Euclid)},
        sparse_vectors={"bm25": qe.EdgeSparseVectorParams()},
    )
    shard = qe.EdgeShard.create(str(tmp_path / "edge" / "foreign"), config)
    points = [
        qe.Point(i, {"text": [float(i), 1.0, 2.0], "bm25": qe.SparseVector([i], [0.5])},
                 {"lang": "en", **({"_vm_namespace": "team-a"} if i % 3 == 0 else {})})
        for i in range(1, 31)
    ]  # fmt: skip
    shard.update(qe.UpdateOperation.upsert_points(points))
    shard.close()
    client = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    info = client.describe_index("foreign")
    assert (info["dimension"], info["metric"], info["sparse"]) == (3, "euclidean", True)
    assert info["namespaces"] == {"": 20, "team-a": 10}
    stored = read_all(client, "foreign")
    assert sorted(i for ns, i in stored if ns == "team-a") == list(range(3, 31, 3))
    assert stored[("", 1)]["values"] == [1.0, 1.0, 2.0]
    assert stored[("", 1)]["sparse_values"] == {"indices": [1], "values": [0.5]}
    assert stored[("team-a", 3)]["metadata"] == {"lang": "en"}
