"""Tests of the local Pinecone server, driven through the real ``pinecone`` SDK (10.2, API 2026-07).

Some limits are also enforced client-side by the SDK (metadata value types, list ``limit``), so its
public methods never send such requests. For those the test first shows the SDK's own rejection and
then sends the same body through the SDK's HTTP client (``index._http``: same transport, retries and
error mapping) to prove the server rejects it too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pinecone import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    Pinecone,
    PineconeConnectionError,
    PineconeTypeError,
    PineconeValueError,
    RateLimitError,
    ServerlessSpec,
    ServiceError,
    UnauthorizedError,
    Vector,
)
from pinecone._internal.http_client import get_budget_registry
from pinecone.exceptions import PineconeApiException

from tests.servers.pinecone_server import PineconeLocalServer

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[PineconeLocalServer]:
    with PineconeLocalServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _clean(server: PineconeLocalServer) -> Iterator[None]:
    # The SDK keeps one retry budget per bare hostname for the whole process (all our hosts are
    # 127.0.0.1); after ~50 retryable failures it stops retrying. Start every test with a full one.
    get_budget_registry()._reset()
    server.clear_faults()
    server.reset_stats()
    yield
    server.clear_faults()


@pytest.fixture(scope="module")
def pc(server: PineconeLocalServer) -> Pinecone:
    return Pinecone(api_key="test-key", host=server.url)


_names = iter(range(10_000))


def new_index(pc: Pinecone, dimension: int | None = 4, metric: str = "cosine", sparse: bool = False) -> Any:
    name = f"t-{next(_names)}"
    if sparse:
        model = pc.create_index(name=name, metric="dotproduct", vector_type="sparse", spec=SPEC)
    else:
        model = pc.create_index(name=name, dimension=dimension, metric=metric, spec=SPEC)
    return pc.Index(host=model.host)


def assert_rejected(exc: pytest.ExceptionInfo[PineconeApiException], *needles: str) -> None:
    err = exc.value
    assert err.status_code == 400
    assert err.body is not None and err.body["code"] == 3 and err.body["details"] == []
    for needle in needles:
        assert needle in err.message, err.message


# --- control plane ---------------------------------------------------------------------------
def test_index_lifecycle_dense_and_sparse(pc: Pinecone, server: PineconeLocalServer) -> None:
    dense = pc.create_index(name="life-dense", dimension=8, metric="euclidean", spec=SPEC)
    assert (dense.dimension, dense.metric, dense.vector_type) == (8, "euclidean", "dense")
    assert dense.host.startswith("http://127.0.0.1:") and dense.status.ready
    assert set(dense.schema.fields) == {"_values", "_sparse_values"}  # what the OAS says dense reports
    sparse = pc.create_index(name="life-sparse", metric="dotproduct", vector_type="sparse", spec=SPEC)
    assert (sparse.dimension, sparse.metric, sparse.vector_type) == (None, "dotproduct", "sparse")
    assert sparse.host != dense.host  # one data-plane host per index
    native = pc.indexes.create(
        name="life-schema",
        schema={"fields": {"_values": {"type": "dense_vector", "dimension": 3, "metric": "dotproduct"}}},
    )
    assert (native.dimension, native.deployment.cloud, native.deployment.region) == (3, "aws", "us-east-1")
    assert {"life-dense", "life-sparse", "life-schema"} <= set(pc.list_indexes().names())
    assert pc.describe_index("life-dense").host == dense.host

    with pytest.raises(ConflictError) as conflict:
        pc.create_index(name="life-dense", dimension=8, metric="cosine", spec=SPEC)
    assert conflict.value.status_code == 409 and conflict.value.error_code == "ALREADY_EXISTS"

    idx = pc.Index(host=dense.host)
    idx.upsert(vectors=[("a", [1.0] * 8)])
    for name in ("life-dense", "life-sparse", "life-schema"):
        pc.delete_index(name)
    assert not pc.has_index("life-dense")
    with pytest.raises(NotFoundError) as missing:
        pc.describe_index("life-dense")
    assert missing.value.error_code == "NOT_FOUND"
    with pytest.raises(PineconeConnectionError):  # the index's host is gone, as in Pinecone
        idx.fetch(ids=["a"])


def test_deletion_protection_and_configure(pc: Pinecone) -> None:
    pc.create_index(name="guarded", dimension=2, metric="cosine", spec=SPEC, deletion_protection="enabled")
    with pytest.raises(ForbiddenError):
        pc.delete_index("guarded")
    model = pc.configure_index("guarded", deletion_protection="disabled", tags={"team": "search"})
    assert model.deletion_protection == "disabled" and model.tags == {"team": "search"}
    pc.delete_index("guarded")


def test_api_key_is_enforced_when_configured() -> None:
    with PineconeLocalServer(api_key="s3cret") as srv:
        assert "s3cret" not in repr(srv)
        with pytest.raises(UnauthorizedError) as exc:
            Pinecone(api_key="wrong", host=srv.url).list_indexes()
        assert exc.value.status_code == 401 and exc.value.message == "Unauthorized"
        good = Pinecone(api_key="s3cret", host=srv.url)
        model = good.create_index(name="keyed", dimension=2, metric="cosine", spec=SPEC)
        with pytest.raises(UnauthorizedError):
            Pinecone(api_key="wrong", host=srv.url).Index(host=model.host).describe_index_stats()
        assert good.Index(host=model.host).describe_index_stats().total_vector_count == 0


# --- data plane ------------------------------------------------------------------------------
def test_upsert_fetch_round_trip(pc: Pinecone) -> None:
    idx = new_index(pc, dimension=16)
    rng = np.random.default_rng(1)
    sent = rng.standard_normal((20, 16))  # float64 on the wire; Pinecone keeps float32
    metadata = {"genre": "drama", "year": 2019, "score": 0.5, "ok": True, "tags": ["a", "b"], "gone": None}
    vectors = [{"id": f"v{i}", "values": sent[i].tolist(), "metadata": metadata} for i in range(20)]
    assert idx.upsert(vectors=vectors, namespace="ns1").upserted_count == 20
    got = idx.fetch(ids=[f"v{i}" for i in range(20)] + ["absent"], namespace="ns1")
    assert set(got.vectors) == {f"v{i}" for i in range(20)} and got.namespace == "ns1"
    for i in range(20):
        values = np.asarray(got.vectors[f"v{i}"].values, dtype=np.float32)
        np.testing.assert_array_equal(values, sent[i].astype(np.float32))
    # numbers come back as floats (Pinecone stores doubles) and null values are stripped
    assert got.vectors["v0"].metadata == {
        "genre": "drama",
        "year": 2019.0,
        "score": 0.5,
        "ok": True,
        "tags": ["a", "b"],
    }
    assert idx.fetch(ids=["v0"]).vectors == {}  # other namespace
    idx.upsert(vectors=[("v0", [1.0] * 16)], namespace="ns1")  # overwrite replaces metadata too
    assert idx.fetch(ids=["v0"], namespace="ns1").vectors["v0"].metadata is None

    sparse_idx = new_index(pc, sparse=True)
    sparse_idx.upsert(
        vectors=[{"id": "s", "sparse_values": {"indices": [7, 2**32 - 1, 0], "values": [0.5, 1.5, 2.5]}}]
    )
    fetched = sparse_idx.fetch(ids=["s"]).vectors["s"]
    assert fetched.values == [] and fetched.sparse_values.indices == [7, 2**32 - 1, 0]
    assert fetched.sparse_values.values == [0.5, 1.5, 2.5]


def test_list_pagination_and_prefix(pc: Pinecone) -> None:
    idx = new_index(pc, dimension=2)
    ids = [f"doc-{i:03d}" for i in range(250)] + ["other-1", "other-2"]
    shuffled = list(np.random.default_rng(2).permutation(ids))
    for start in range(0, len(shuffled), 100):
        idx.upsert(vectors=[(i, [1.0, 2.0]) for i in shuffled[start : start + 100]], namespace="p")
    pages = list(idx.list(prefix="doc-", limit=100, namespace="p"))
    assert [len(p.vectors) for p in pages] == [100, 100, 50]
    listed = [v.id for p in pages for v in p.vectors]
    assert listed == sorted(ids[:250])  # every id once, in byte order
    assert pages[-1].pagination is None and pages[0].pagination.next
    last = idx.list_paginated(
        prefix="doc-", limit=50, pagination_token=pages[1].pagination.next, namespace="p"
    )
    assert [v.id for v in last.vectors] == listed[200:] and last.pagination is None
    everything = [v.id for p in idx.list(namespace="p") for v in p.vectors]  # default limit 100
    assert everything == sorted(ids)
    assert [v.id for p in idx.list(prefix="other", namespace="p") for v in p.vectors] == [
        "other-1",
        "other-2",
    ]
    assert list(idx.list(prefix="nope", namespace="p")) == []


def test_stats_namespaces_and_delete(pc: Pinecone) -> None:
    idx = new_index(pc, dimension=3)
    idx.upsert(vectors=[(f"d{i}", [1.0, 0.0, float(i)], {"even": i % 2 == 0}) for i in range(10)])
    idx.upsert(vectors=[(f"a{i}", [0.0, 1.0, 1.0]) for i in range(4)], namespace="alpha")
    stats = idx.describe_index_stats()
    assert stats.total_vector_count == 14 and stats.dimension == 3 and stats.metric == "cosine"
    assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == {"__default__": 10, "alpha": 4}
    listed = {n.name: n.record_count for page in idx.list_namespaces() for n in page.namespaces}
    assert listed == {"__default__": 10, "alpha": 4}
    assert idx.describe_namespace(name="alpha").record_count == 4

    idx.delete(ids=["d0", "d1", "missing"])
    idx.delete(filter={"even": {"$eq": True}})
    remaining = sorted(v.id for p in idx.list() for v in p.vectors)
    assert remaining == ["d3", "d5", "d7", "d9"]
    idx.delete(delete_all=True, namespace="alpha")
    assert set(idx.describe_index_stats().namespaces) == {"__default__"}
    with pytest.raises(NotFoundError) as exc:  # serverless: deleting from a namespace that isn't there
        idx.delete(delete_all=True, namespace="alpha")
    assert exc.value.body == {"code": 5, "message": "Namespace not found", "details": []}
    idx.create_namespace(name="empty")
    idx.delete(ids=["x"], namespace="empty")  # explicitly created namespaces exist while empty
    idx.delete_namespace(name="empty")
    with pytest.raises(NotFoundError):
        idx.describe_namespace(name="empty")


def test_query_nearest_ids(pc: Pinecone) -> None:
    points = {"east": [1.0, 0.0], "north": [0.0, 1.0], "northeast": [0.7, 0.7], "far-east": [10.0, 0.5]}
    for metric, expected in (
        ("cosine", ["east", "far-east", "northeast"]),
        ("euclidean", ["east", "northeast", "north"]),
        ("dotproduct", ["far-east", "east", "northeast"]),
    ):
        idx = new_index(pc, dimension=2, metric=metric)
        idx.upsert(vectors=[(k, v, {"axis": k}) for k, v in points.items()])
        res = idx.query(vector=[1.0, 0.0], top_k=3, include_metadata=True)
        assert [m.id for m in res.matches] == expected, metric
        assert res.matches[0].metadata == {"axis": expected[0]} and res.matches[0].values == []
    assert res.matches[0].score == pytest.approx(10.0)
    by_id = idx.query(id="north", top_k=1, include_values=True)
    assert by_id.matches[0].id == "north" and by_id.matches[0].values == [0.0, 1.0]
    filtered = idx.query(vector=[1.0, 0.0], top_k=3, filter={"axis": {"$in": ["north", "northeast"]}})
    assert [m.id for m in filtered.matches] == ["northeast", "north"]
    sparse_idx = new_index(pc, sparse=True)
    sparse_idx.upsert(
        vectors=[
            {"id": "x", "sparse_values": {"indices": [1, 5], "values": [1.0, 1.0]}},
            {"id": "y", "sparse_values": {"indices": [5, 9], "values": [3.0, 1.0]}},
        ]
    )
    hits = sparse_idx.query(sparse_vector={"indices": [5], "values": [2.0]}, top_k=2).matches
    assert [(m.id, m.score) for m in hits] == [("y", 6.0), ("x", 2.0)]


# --- limits ----------------------------------------------------------------------------------
def raw_upsert(idx: Any, body: dict[str, Any]) -> Any:
    """Send a body the SDK's public ``upsert`` would refuse to build, via the SDK's own HTTP client."""
    return idx._http.post("/vectors/upsert", json=body)


def test_upsert_limits(pc: Pinecone) -> None:
    idx = new_index(pc, dimension=4)
    one = [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[(f"v{i}", one) for i in range(1001)])
    assert_rejected(exc, "1001 vectors", "maximum of 1000")
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[("wrong-dim", [0.1, 0.2, 0.3])])
    assert_rejected(exc, "Vector dimension 3 does not match the dimension of the index 4", "'wrong-dim'")
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[Vector(id="caf\u00e9", values=one)])  # Vector objects skip the SDK's ASCII check
    assert_rejected(exc, "ASCII", "caf\u00e9")
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[{"id": "x" * 513, "values": one}])
    assert_rejected(exc, "1-512 characters", "513")
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[{"id": "fat", "values": one, "metadata": {"text": "x" * 41_000}}])
    assert_rejected(exc, "exceeds the limit of 40960 bytes", "'fat'")
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[{"id": "zeros", "values": [0.0] * 4}])
    assert_rejected(exc, "only zeros")
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[{"id": "no-dense", "sparse_values": {"indices": [1], "values": [1.0]}}])
    assert_rejected(exc, "dense index requires", "'no-dense'")
    for sparse, needle in (
        ({"indices": [1, 1], "values": [1.0, 2.0]}, "unique"),
        ({"indices": [2**32], "values": [1.0]}, "[0, 4294967295]"),
    ):
        with pytest.raises(PineconeApiException) as exc:
            raw_upsert(new_index(pc, sparse=True), {"vectors": [{"id": "sp", "sparseValues": sparse}]})
        assert_rejected(exc, needle, "'sp'")

    for bad, needle in (
        ({"nested": {"a": 1}}, "got '{\"a\":1.0}' for field 'nested'"),
        ({"nums": [1, 2]}, "got '[1.0,2.0]' for field 'nums'"),
    ):
        with pytest.raises(PineconeTypeError):  # the SDK refuses to send these at all...
            idx.upsert(vectors=[{"id": "md", "values": one, "metadata": bad}])
        with pytest.raises(PineconeApiException) as exc:  # ...and the server rejects them too
            raw_upsert(idx, {"vectors": [{"id": "md", "values": one, "metadata": bad}]})
        assert_rejected(
            exc, "Metadata value must be a string, number, boolean or list of strings", needle, "'md'"
        )
    assert idx.describe_index_stats().total_vector_count == 0


def test_null_metadata_rejected_when_configured() -> None:
    with PineconeLocalServer(null_metadata="reject") as srv:
        pc = Pinecone(api_key="k", host=srv.url)
        idx = new_index(pc, dimension=2)
        with pytest.raises(PineconeApiException) as exc:
            idx.upsert(vectors=[("n", [1.0, 1.0], {"empty": None})])
        assert_rejected(exc, "got 'null' for field 'empty'", "'n'")


def test_request_size_limits(pc: Pinecone) -> None:
    idx = new_index(pc, dimension=768)
    rows = np.random.default_rng(3).standard_normal((200, 768)).tolist()  # ~3 MB of JSON
    with pytest.raises(PineconeApiException) as exc:
        idx.upsert(vectors=[(f"big-{i}", r) for i, r in enumerate(rows)])
    assert_rejected(exc, "exceeds the maximum supported size of 2MB")
    huge = "y" * 30_000  # 600 x 30 KB = 18 MB: above the proxy cap, answered with a bare 413
    with pytest.raises(PayloadTooLargeError) as too_large:
        idx.upsert(vectors=[(f"h{i}", rows[0], {"t": huge}) for i in range(600)])
    assert too_large.value.status_code == 413 and too_large.value.body is None
    assert idx.upsert(vectors=[(f"ok-{i}", r) for i, r in enumerate(rows[:100])]).upserted_count == 100


def test_read_limits(pc: Pinecone) -> None:
    idx = new_index(pc, dimension=2)
    with pytest.raises(PineconeApiException) as exc:
        idx.fetch(ids=[f"id-{i}" for i in range(1001)])
    assert_rejected(exc, "1001 ids", "maximum of 1000")
    with pytest.raises(PineconeValueError):  # client-side in the SDK...
        idx.list_paginated(limit=101)
    with pytest.raises(PineconeApiException) as exc:  # ...and server-side
        idx._http.get("/vectors/list", params={"limit": 101, "namespace": ""})
    assert_rejected(exc, "between 1 and 100")
    with pytest.raises(PineconeApiException) as exc:
        idx._http.get("/vectors/list", params={"paginationToken": "garbage"})
    assert_rejected(exc, "pagination token")
    with pytest.raises(PineconeApiException) as exc:
        idx.query(vector=[1.0, 0.0, 0.0], top_k=1)
    assert_rejected(exc, "dimension 3 does not match")


# --- fault injection -------------------------------------------------------------------------
def test_persistent_429_exhausts_sdk_retries_and_changes_nothing(
    pc: Pinecone, server: PineconeLocalServer
) -> None:
    idx = new_index(pc, dimension=2)
    server.set_faults(upsert={"rate_429": 1.0, "retry_after": "0"})
    with pytest.raises(RateLimitError) as exc:
        idx.upsert(vectors=[("never", [1.0, 2.0])])
    assert exc.value.retry_after == 0.0 and exc.value.body["code"] == 8
    stats = server.stats()
    assert stats["requests"]["upsert"] == stats["faults"]["upsert"]["429"] == 4  # 1 try + 3 SDK retries
    server.clear_faults()
    assert idx.fetch(ids=["never"]).vectors == {}  # faulted requests were not applied


def test_transient_faults_are_absorbed_by_sdk_retries(pc: Pinecone, server: PineconeLocalServer) -> None:
    idx = new_index(pc, dimension=2)
    idx.upsert(vectors=[(f"r{i:03d}", [1.0, float(i)]) for i in range(300)])
    server.reset_stats()
    server.set_faults(fetch={"next_503": 2}, upsert={"next_429": 1})
    assert len(idx.fetch(ids=["r000", "r001"]).vectors) == 2
    assert idx.upsert(vectors=[("late", [1.0, 1.0])]).upserted_count == 1
    stats = server.stats()
    assert stats["faults"] == {"fetch": {"503": 2}, "upsert": {"429": 1}}
    assert stats["requests"]["fetch"] == 3 and stats["requests"]["upsert"] == 2

    def listed_with_faults(seed: int) -> tuple[list[str], int]:
        get_budget_registry()._reset()
        server.reset_stats()
        server.set_faults(list={"rate_429": 0.3, "rate_503": 0.1}, seed=seed)
        ids = [v.id for p in idx.list(limit=25) for v in p.vectors]
        faults = server.stats()["faults"].get("list", {})
        return ids, sum(faults.values())

    ids_a, faults_a = listed_with_faults(seed=11)
    ids_b, faults_b = listed_with_faults(seed=11)
    assert ids_a == ids_b == sorted([f"r{i:03d}" for i in range(300)] + ["late"])
    assert faults_a == faults_b > 0  # deterministic for a given seed


def test_latency_and_admin_http_endpoints(pc: Pinecone, server: PineconeLocalServer) -> None:
    idx = new_index(pc, dimension=2)

    def admin(method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(server.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    config = admin(
        "POST",
        "/_admin/faults",
        {"seed": 3, "faults": {"describe_index_stats": {"latency_s": 0.2}, "*": {"next_503": 1}}},
    )
    assert config["describe_index_stats"]["latency_s"] == 0.2
    started = time.monotonic()
    idx.describe_index_stats()
    assert time.monotonic() - started >= 0.2
    idx.fetch(ids=["a"])  # "*" covers fetch: one 503, then the SDK's retry succeeds
    stats = admin("GET", "/_admin/stats")
    assert stats["faults"] == {"fetch": {"503": 1}} and stats["requests"]["fetch"] == 2
    assert admin("DELETE", "/_admin/faults") == {}
    assert admin("POST", "/_admin/stats/reset")["requests"] == {}
    server.set_faults(fetch={"rate_503": 1.0, "retry_after": None})
    with pytest.raises(ServiceError) as exc:
        idx.fetch(ids=["a"])
    assert exc.value.status_code == 503 and "retry-after" not in exc.value.headers


def test_runs_as_a_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.pinecone_server", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert Pinecone(api_key="k", host=url).list_indexes().names() == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)
