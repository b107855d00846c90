"""The Pinecone provider's parts: wire encoding and packing, the metadata rule, checks, error
translation, URIs and options, index creation rules, and retries, against the local server."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import orjson
import pytest
from pinecone import (
    ApiError,
    ForbiddenError,
    NotFoundError,
    Pinecone,
    PineconeConnectionError,
    PineconeTimeoutError,
    RateLimitError,
    ServiceError,
    UnauthorizedError,
)

from io_connectors import Client, ConfigError, IndexNotFound, RecordRejected, SparseBlock, VectorBatch
from io_connectors.core.errors import PermanentError, TransientError
from io_connectors.core.registry import parse_uri
from io_connectors.pinecone.checks import vector_refusals
from io_connectors.pinecone.errors import translate
from io_connectors.pinecone.metadata import MetadataRefused, convert_all, to_pinecone
from io_connectors.pinecone.wire import encode_rows, id_batches, pack_requests, short_doubles
from pipelines import Migration
from tests.conformance.suite import unique_name
from tests.fixtures.pinecone import PINECONE_TEST_KEY


# -- wire -----------------------------------------------------------------------------------------
def test_compact_floats_keep_every_float32_exactly_in_half_the_bytes() -> None:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=2_000_000, dtype=np.uint64).astype(np.uint32)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 1.1754944e-38, 3.4028235e38, 0.1, 1.0, 1e-7], np.float32)
    values = np.concatenate([bits.view(np.float32), special])
    values = values[np.isfinite(values)]
    numpy_json = orjson.dumps(short_doubles(values), option=orjson.OPT_SERIALIZE_NUMPY)
    assert numpy_json == orjson.dumps(short_doubles(values).tolist())  # as the same Python floats
    parsed = np.asarray(orjson.loads(numpy_json), dtype=np.float64)
    assert np.array_equal(parsed.astype(np.float32).view(np.uint32), values.view(np.uint32))
    embeddings = rng.standard_normal((200, 768)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    compact = orjson.dumps(short_doubles(embeddings), option=orjson.OPT_SERIALIZE_NUMPY)
    assert len(compact) < 0.65 * len(orjson.dumps(embeddings.tolist()))


def test_requests_are_packed_by_count_and_by_measured_bytes() -> None:
    rng = np.random.default_rng(1)
    n = 2_600
    metadata = [{"text": "z" * int(rng.integers(0, 3_000))} for _ in range(n)]
    sparse = SparseBlock.from_rows([([i, i + 7], [0.25, -1.0]) if i % 2 else None for i in range(n)])
    values = np.asfortranarray(rng.standard_normal((n, 64), np.float32))  # not C-ordered: copied
    batch = VectorBatch([f"v{i}" for i in range(n)], values, sparse, metadata)
    rows = list(encode_rows(list(batch.ids), batch, [orjson.dumps(m) for m in metadata], compact=True))
    for max_count, max_bytes in ((1000, 2_000_000), (1000, 100_000), (7, 2_000_000)):
        requests = list(pack_requests(rows, list(batch.ids), "ns", max_count, max_bytes))
        bodies = [orjson.loads(r.body) for r in requests]
        assert all(body["namespace"] == "ns" for body in bodies)
        sent = [v for body in bodies for v in body["vectors"]]
        assert [v["id"] for v in sent] == [i for r in requests for i in r.ids] == batch.ids
        assert [v["metadata"] for v in sent] == metadata
        assert np.array_equal(np.array([v["values"] for v in sent], np.float32), values)
        assert [v.get("sparseValues") for v in sent[:2]] == [
            None,
            {"indices": [1, 8], "values": [0.25, -1.0]},
        ]
        sizes = [len(r.body) for r in requests]
        assert max(len(r.ids) for r in requests) <= max_count and max(sizes) <= max_bytes
        if max_bytes == 100_000:  # full, not just small: each request but the last > 95% of the cap
            assert min(sizes[:-1]) > 95_000
    exact = list(encode_rows(["a"], VectorBatch(["a"], values[:1], None, [None]), [None], compact=False))
    assert exact == [orjson.dumps({"id": "a", "values": values[0].tolist()})]  # what the SDK sends
    assert orjson.loads(next(pack_requests(exact, ["a"], "")).body) == {"vectors": [orjson.loads(exact[0])]}


def test_fetch_batches_are_bounded_by_the_url_as_well_as_by_count(pinecone_server) -> None:
    ids = [f"tenant/{i:04d}?x=y&z={'w' * 40}" for i in range(1_000)]  # ~60 chars, many escapes
    batches = list(id_batches(ids, 1000, 16 * 1024))
    assert [i for b in batches for i in b] == ids and len(batches) > 2
    assert all(sum(len(quote(i, safe="")) + 5 for i in b) <= 16 * 1024 for b in batches)
    client = Client(provider="pinecone", api_key=PINECONE_TEST_KEY, host=pinecone_server.url)
    client.create_index("long-ids", 4, "cosine")
    client.upsert(index="long-ids", vectors=[{"id": i, "values": [1.0, 0, 0, 0]} for i in ids])
    raw = Pinecone(api_key=PINECONE_TEST_KEY, host=pinecone_server.url)
    plain = [f"doc-{i:04d}-{'w' * 52}" for i in range(1_000)]  # 61 characters, nothing to escape
    client.upsert(index="long-ids", vectors=[{"id": i, "values": [0, 1.0, 0, 0]} for i in plain])
    with pytest.raises((ApiError, httpx.InvalidURL)):  # a 66 KB query: refused by httpx or the server
        raw.Index(host=client.describe_index("long-ids")["details"]["host"]).fetch(ids=plain)
    assert len(client.fetch(index="long-ids", ids=plain)) == 1_000
    pinecone_server.reset_stats()
    assert list(client.fetch(index="long-ids", ids=ids)) == ids
    stats = pinecone_server.stats()
    assert stats["requests"]["fetch"] == len(batches) and stats["errors"] == {}
    absent = [f"absent-{i:04d}-{'w' * 50}" for i in range(800)]  # whole batches of them
    assert list(client.fetch(index="long-ids", ids=[*ids[:3], *absent, ids[-1]])) == [*ids[:3], ids[-1]]


# -- the metadata rule ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metadata", "stored", "steps"),
    [
        ({"s": "ü", "n": 3, "f": 0.5, "b": False, "l": ["a"], "e": []}, None, set()),
        ({"a": {"b": 1, "c": {"d": "x"}}, "z": 2}, {"a.b": 1, "a.c.d": "x", "z": 2}, {"flattened"}),
        ({"a": None, "b": {}, "c": 1}, {"c": 1}, {"nulls_dropped"}),
        ({"a": {"x": None}}, {}, {"flattened", "nulls_dropped"}),
        (
            {"l": [1, 2.5], "m": ["a", None], "o": [{"k": 1}]},
            {"l": "[1,2.5]", "m": '["a",null]', "o": '[{"k":1}]'},
            {"lists_encoded"},
        ),
        (
            {"big": 2**53 + 1, "edge": -(2**53)},
            {"big": str(2**53 + 1), "edge": -(2**53)},
            {"ints_stringified"},
        ),
        (None, None, set()),
    ],
)
def test_metadata_rule(metadata: dict | None, stored: dict | None, steps: set[str]) -> None:
    value, changed = to_pinecone(metadata)
    assert value == (metadata if stored is None else stored) and changed == steps


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"a.b": 1, "a": {"b": 2}}, "occurs twice"),
        ({"$where": 1}, "starts with '$'"),
        ({"nested": {"$x": 1}}, None),  # "nested.$x" does not start with '$': allowed
        ({"text": "x" * 40_950}, "40960"),
        ({"text": "x" * 40_940}, None),  # 40,951 bytes of JSON: fits
        ({"when": object()}, "cannot be stored"),
    ],
)
def test_metadata_the_rule_cannot_fit_is_refused_with_the_reason(metadata: dict, reason: str | None) -> None:
    refused = convert_all([metadata]).refused
    assert (0 in refused) == (reason is not None)
    if reason is not None:
        assert reason in refused[0]
        with pytest.raises(MetadataRefused):
            to_pinecone(metadata)


def test_records_pinecone_refuses_are_named_before_sending() -> None:
    n = 7
    values = np.ones((n, 4), np.float32)
    values[3] = 0.0
    sparse = SparseBlock.from_rows(
        [None, None, None, None, ([1, 1], [1.0, 2.0]), (list(range(2049)), [1.0] * 2049), None]
    )
    ids = ["ok", "x" * 513, "caf\u00e9", "zeros", "repeats", "wide", "nul\x00"]
    reasons = vector_refusals(VectorBatch(ids, values, sparse))
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6]
    assert "513 characters" in reasons[1] and "non-ASCII" in reasons[2] and "all zero" in reasons[3]
    assert "repeats an index" in reasons[4] and "2049" in reasons[5] and "NUL" in reasons[6]
    sparse_only = VectorBatch(["a", "b"], None, SparseBlock.from_rows([([1], [1.0]), ([], [])]))
    assert list(vector_refusals(sparse_only)) == [1]
    assert set(vector_refusals(VectorBatch(["a"], values[:1], namespace="espa\u00f1ol"))) == {0}


# -- errors -------------------------------------------------------------------------------------
def test_sdk_errors_are_translated_and_redacted() -> None:
    def redact(text: str) -> str:
        return text.replace("sekrit", "***")

    def check(exc: Exception, kind: type, **fields: Any) -> Exception:
        error = translate(exc, "upsert into 'i'", ids=["a", "b"], redact=redact)
        assert type(error) is kind and "sekrit" not in str(error)
        assert all(getattr(error, k) == v for k, v in fields.items())
        return error

    check(
        RateLimitError(message="slow down sekrit", status_code=429, retry_after=1.5),
        TransientError,
        retry_after=1.5,
    )
    check(ServiceError("down", 503, headers={"Retry-After": "2"}), TransientError, retry_after=2.0)
    check(ApiError("timeout", 408), TransientError, retry_after=None)
    check(PineconeConnectionError("refused"), TransientError)
    check(PineconeTimeoutError("timed out"), TransientError)
    assert "API key was refused" in str(check(UnauthorizedError("Unauthorized sekrit", 401), ConfigError))
    check(ForbiddenError("deletion protection", 403), ConfigError)
    assert isinstance(translate(NotFoundError("gone", 404), "describe", index="i"), IndexNotFound)
    rejected = check(ApiError("Metadata too big (vector id: 'b')", 400), RecordRejected)
    assert set(rejected.reasons) == {"b"}  # type: ignore[attr-defined]
    check(ApiError("Request size 3MB exceeds the maximum supported size of 2MB", 400), PermanentError)
    assert translate(KeyError("not the SDK's"), "x") is None


def test_a_refusal_the_server_names_comes_back_as_that_record(pinecone_client) -> None:
    pinecone_client.create_index("named", 4, "cosine")
    values = np.ones((3, 4), np.float32)
    values[1, 2] = np.nan  # the pipeline's validation would stop it; here the server does
    with pytest.raises(RecordRejected) as refused:
        pinecone_client.connector.write("named", VectorBatch(["a", "bad", "c"], values))
    assert set(refused.value.reasons) == {"bad"} and "numbers" in refused.value.reasons["bad"]


def test_write_reuses_the_checks_of_that_batch_only(pinecone_client) -> None:
    """``reject_reasons`` keeps its metadata work for the ``write`` of the same batch; a write of
    another batch (same ids, other metadata) converts its own."""
    pinecone_client.create_index("checked", 4, "cosine")
    connector = pinecone_client.connector
    checked = VectorBatch(["a", "b"], np.ones((2, 4), np.float32), None, [{"v": {"n": 1}}, {"v": "x"}])
    other = VectorBatch(["a", "b"], np.ones((2, 4), np.float32), None, [{"w": [1, 2]}, None])
    assert connector.reject_reasons(checked) == {}
    connector.write("checked", other)
    assert connector.fetch("checked", ["a", "b"]).metadata == [{"w": "[1,2]"}, None]
    assert connector.reject_reasons(checked) == {}
    connector.write("checked", checked)
    assert connector.fetch("checked", ["a", "b"]).metadata == [{"v.n": 1.0}, {"v": "x"}]


def test_sparse_values_on_a_cosine_index_are_refused_by_name(pinecone_client) -> None:
    pinecone_client.create_index("cosine-dense", 4, "cosine")
    sparse = SparseBlock.from_rows([None, ([1], [1.0]), ([], [])])
    with pytest.raises(RecordRejected) as refused:
        pinecone_client.connector.write("cosine-dense", VectorBatch(["a", "b", "c"], np.ones((3, 4)), sparse))
    assert set(refused.value.reasons) == {"b"} and "dotproduct" in refused.value.reasons["b"]


# -- URIs, options, indexes ---------------------------------------------------------------------------
def test_uri_forms_and_options() -> None:
    cloud = parse_uri("pinecone://my-index?namespace=tenant-1&cloud=gcp&region=europe-west4")
    assert (cloud.index, cloud.namespace) == ("my-index", "tenant-1")
    assert dict(cloud.spec.options) == {"cloud": "gcp", "region": "europe-west4"}
    local = parse_uri("pinecone+http://127.0.0.1:5080/docs?api_key_env=MY_KEY")
    assert (local.index, local.namespace) == ("docs", None)
    assert dict(local.spec.options) == {"host": "http://127.0.0.1:5080", "api_key_env": "MY_KEY"}
    assert parse_uri("pinecone://").index is None
    with pytest.raises(ConfigError, match="do not put the API key in a URI") as leaked:
        parse_uri("pinecone://docs?api_key=pcsk_123")
    assert "pcsk_123" not in str(leaked.value)
    for bad in ({"list_limit": 101}, {"write_concurrency": 0}, {"timeout": -1}, {"split_size": "many"}):
        with pytest.raises(ConfigError):
            Client(provider="pinecone", api_key="k", **bad).connector  # noqa: B018


def test_created_indexes_match_the_source_or_say_why_not(pinecone_client) -> None:
    client = pinecone_client
    with pytest.raises(ConfigError, match=r"manhattan.*cosine, euclidean, dotproduct"):
        client.create_index("manhattan-source", 8, "l1")
    with pytest.raises(ConfigError, match="sparse values only in dotproduct"):
        client.create_index("hybrid-cosine", 8, "cosine", sparse=True)
    with pytest.raises(ConfigError, match="not a valid index name"):
        client.create_index("Bad_Name", 8, "cosine")
    with pytest.raises(ConfigError, match=r"1\.\.20000"):
        client.create_index("too-wide", 20_001, "cosine")
    client.create_index("sparse-only", None, "cosine", sparse=True)
    info = client.describe_index("sparse-only")
    assert (info["dimension"], info["metric"], info["sparse"]) == (None, "dotproduct", True)
    client.create_index("euclid", 8, "euclidean")
    client.create_index("euclid", 8, "euclidean")  # the same shape again: left as it is
    with pytest.raises(ConfigError, match="exists with dimension 8, not 9"):
        client.create_index("euclid", 9, "euclidean")
    assert {"sparse-only", "euclid"} <= {i["name"] for i in client.list_indexes()}
    client.delete_index("euclid")
    client.delete_index("euclid")  # already gone: nothing to do
    with pytest.raises(IndexNotFound):
        client.describe_index("euclid")


def test_the_default_namespace_is_the_empty_string(pinecone_client, pinecone_server) -> None:
    pinecone_client.create_index("defaults", 2, "cosine")
    pinecone_client.upsert(index="defaults", vectors=[{"id": "a", "values": [1.0, 2.0]}])
    pinecone_client.upsert(index="defaults", vectors=[{"id": "b", "values": [1.0, 2.0]}], namespace="n")
    host = pinecone_client.describe_index("defaults")["details"]["host"]
    raw = Pinecone(api_key=PINECONE_TEST_KEY, host=pinecone_server.url).Index(host=host)
    assert set(raw.describe_index_stats().namespaces) == {"__default__", "n"}
    assert pinecone_client.describe_index("defaults")["namespaces"] == {"": 1, "n": 1}
    splits = pinecone_client.connector.plan("defaults", None, 10)
    assert sorted(s.namespace for s in splits) == ["", "n"]
    pinecone_client.delete(index="defaults", namespace="never-was", delete_all=True)  # no error


# -- retries ------------------------------------------------------------------------------------------
def test_retry_after_is_honoured(pinecone_client, pinecone_server) -> None:
    pinecone_client.create_index("patient", 2, "cosine")
    pinecone_server.set_faults(upsert={"next_429": 1, "retry_after": "0.5"})
    started = time.monotonic()
    pinecone_client.upsert(index="patient", vectors=[{"id": "a", "values": [1.0, 2.0]}])
    assert time.monotonic() - started >= 0.5
    stats = pinecone_server.stats()
    assert (stats["requests"]["upsert"], stats["faults"]["upsert"]["429"]) == (2, 1)


def test_reads_survive_throttled_lists_and_failing_fetches(pinecone_client, pinecone_server) -> None:
    client = Client(provider="pinecone", api_key=PINECONE_TEST_KEY, host=pinecone_server.url, list_limit=10)
    client.create_index("flaky-read", 8, "cosine")
    rows = [{"id": f"r{i:04d}", "values": np.random.default_rng(i).standard_normal(8)} for i in range(600)]
    client.upsert(index="flaky-read", vectors=rows)
    pinecone_server.reset_stats()
    pinecone_server.set_faults(list={"rate_429": 0.2}, fetch={"rate_503": 0.3}, seed=3)
    target = Client(provider="memory", store=unique_name("copy"))
    result = Migration(client, target).migrate(source_index="flaky-read", target_index="copy", batch_size=50)
    faults = pinecone_server.stats()["faults"]
    assert faults["list"]["429"] > 0 and faults["fetch"]["503"] > 0
    assert (result.migrated_count, result.errors) == (600, [])
    # Lists ran in the plan, on the driver, where Beam counts nothing; fetches ran in the readers.
    assert result.metrics["retries"] == faults["fetch"]["503"]
