"""Qdrant id mapping, position space, URI and option parsing, payload checks; and the id order
that the position space relies on, checked on both real engines."""

from __future__ import annotations

import itertools
import uuid

import pytest

from io_connectors import Client, ConfigError, VectorBatch, parse_uri
from io_connectors.qdrant.ids import (
    ID_FIELD,
    ID_KIND_FIELD,
    INT_SPACE,
    POSITION_END,
    cut_positions,
    id_fields,
    is_native,
    offset_at,
    original_id,
    point_id,
    position,
    ranges_between,
)
from io_connectors.qdrant.options import settings_from
from io_connectors.qdrant.points import payload_problem, reserved_keys, sparse_problems

CANONICAL = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


# -- id mapping ------------------------------------------------------------------------------
@pytest.mark.parametrize("vector_id", [0, 1, 2**64 - 1, CANONICAL])
def test_native_ids_pass_through(vector_id) -> None:
    assert is_native(vector_id)
    assert point_id(vector_id) == vector_id
    assert id_fields(vector_id) == {}
    assert original_id(vector_id, {}) == vector_id


@pytest.mark.parametrize(
    "vector_id",
    [
        -1,
        -(2**70),
        2**64,
        CANONICAL.upper(),
        "{" + CANONICAL + "}",
        CANONICAL.replace("-", ""),
        "doc-1",
        "文档-é",
        "123",
        " x ",
    ],
)
def test_other_ids_map_to_uuids_and_come_back(vector_id) -> None:
    assert not is_native(vector_id)
    stored = point_id(vector_id)
    assert str(uuid.UUID(stored)) == stored and uuid.UUID(stored).version == 5
    assert point_id(vector_id) == stored, "mapping must be deterministic"
    payload = {"title": "t", **id_fields(vector_id)}
    restored = original_id(stored, payload)
    assert restored == vector_id and type(restored) is type(vector_id)
    assert payload == {"title": "t"}, "id fields are stripped from the metadata"


def test_int_and_string_spellings_of_one_id_stay_distinct() -> None:
    assert point_id(-5) != point_id("-5")
    assert original_id(point_id("-5"), id_fields("-5")) == "-5"
    assert original_id(point_id(-5), id_fields(-5)) == -5
    assert id_fields(-5) == {ID_FIELD: "-5", ID_KIND_FIELD: "int"}


def test_namespaces_sharing_a_collection_never_collide() -> None:
    ids = {point_id(7, "a"), point_id(7, "b"), point_id(7), point_id("7", "a"), point_id(CANONICAL, "a")}
    assert len(ids) == 5
    assert point_id(7, "a|int|") != point_id(7, "a"), "namespace is length-prefixed"
    assert original_id(point_id(7, "a"), id_fields(7, "a")) == 7
    assert original_id(point_id(CANONICAL, "a"), id_fields(CANONICAL, "a")) == CANONICAL


def test_uuid_objects_from_the_engine_come_back_as_canonical_strings() -> None:
    assert original_id(uuid.UUID(CANONICAL), {}) == CANONICAL


# -- positions -------------------------------------------------------------------------------
def test_positions_order_integers_before_uuids_and_round_trip() -> None:
    stored = [0, 5, 2**64 - 1, str(uuid.UUID(int=0)), CANONICAL, str(uuid.UUID(int=2**128 - 1))]
    positions = [position(s) for s in stored]
    assert positions == sorted(positions) and positions[-1] == POSITION_END - 1
    assert position(uuid.UUID(CANONICAL)) == position(CANONICAL)
    for s, p in zip(stored, positions):
        assert offset_at(p) == s
    assert offset_at(INT_SPACE) == str(uuid.UUID(int=0))


def test_cut_positions_balances_counts_and_ranges_cover_without_overlap() -> None:
    sample = list(range(1000, 2000)) + [10**30 + i for i in range(1000)]
    cuts = cut_positions(sample, 4, 1000, 10**30 + 1000)
    assert len(cuts) == 3 and cuts[1] == 10**30  # the median falls between the two clusters
    ranges = ranges_between(cuts, 500, 10**31)
    assert ranges[0][0] == 500 and ranges[-1][1] == 10**31
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert ranges_between(cuts, 1600, 1700) == [(1600, 1700)]
    assert cut_positions([], 4, 0, 10) == () and cut_positions(sample, 1, 0, 10**40) == ()


# -- URIs and options ------------------------------------------------------------------------
def test_server_uris() -> None:
    loc = parse_uri("qdrant://db.example:6333/products?namespace=tenant-1")
    assert (loc.spec.provider, loc.index, loc.namespace) == ("qdrant", "products", "tenant-1")
    assert settings_from(loc.spec.options).server == {
        "url": "http://db.example:6333",
        "prefer_grpc": False,
        "timeout": 60,
    }
    loc = parse_uri(
        "qdrant+https://db.example:6333/base/products?api_key_env=QDRANT_KEY&grpc=1&grpc_port=7334"
    )
    server = settings_from(loc.spec.options).server
    assert server == {
        "url": "https://db.example:6333",
        "prefer_grpc": True,
        "grpc_port": 7334,
        "prefix": "/base",
        "timeout": 60,
    }
    assert loc.index == "products" and loc.spec.options["api_key_env"] == "QDRANT_KEY"


def test_embedded_uris() -> None:
    loc = parse_uri("qdrant+local:///data/qdrant/products")
    assert (loc.spec.options, loc.index) == ({"path": "/data/qdrant"}, "products")
    loc = parse_uri("qdrant+local://:memory:/products?store=s1")
    assert (loc.spec.options, loc.index) == ({"location": ":memory:", "store": "s1"}, "products")
    loc = parse_uri("qdrant+edge:///srv/shards/products?namespace_mode=collection&points_per_split=5000")
    assert loc.spec.options == {
        "edge_path": "/srv/shards",
        "namespace_mode": "collection",
        "points_per_split": 5000,
    }
    assert settings_from(loc.spec.options).mode == "edge"


def test_api_key_is_refused_in_uris_without_being_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_uri("qdrant://h:6333/c?api_key=sup3rs3cret")
    assert "sup3rs3cret" not in str(raised.value) and "api_key_env" in str(raised.value)
    with pytest.raises(ConfigError, match="unknown URI parameter"):
        parse_uri("qdrant://h:6333/c?colour=red")


def test_client_options_choose_exactly_one_way() -> None:
    assert settings_from({"host": "http://localhost:6333"}).server["url"] == "http://localhost:6333"
    assert (
        settings_from({"host": "qdrant.internal", "https": True}).server["url"] == "https://qdrant.internal"
    )
    assert settings_from({"location": "http://h:6333"}).mode == "server"
    assert settings_from({"location": ":memory:"}).local == ":memory:default"
    assert settings_from({"path": "/x"}).local == "/x"
    with pytest.raises(ConfigError, match="exactly one"):
        settings_from({"path": "/x", "edge_path": "/y"})
    with pytest.raises(ConfigError, match="exactly one"):
        settings_from({})
    with pytest.raises(ConfigError, match="namespace_mode"):
        settings_from({"path": "/x", "namespace_mode": "tenant"})


def test_api_key_from_environment(monkeypatch) -> None:
    settings = settings_from({"host": "http://h:6333", "api_key_env": "VM_TEST_QDRANT_KEY"})
    with pytest.raises(ConfigError, match="VM_TEST_QDRANT_KEY"):
        settings.api_key({})
    monkeypatch.setenv("VM_TEST_QDRANT_KEY", "from-env-key")
    assert settings.api_key({}) == "from-env-key"
    assert settings.api_key({"api_key": "given"}) == "given"


def test_capabilities_follow_the_way_in() -> None:
    rest = settings_from({"host": "http://h:6333"}).capabilities()
    grpc = settings_from({"host": "http://h:6333", "prefer_grpc": True}).capabilities()
    edge = settings_from({"edge_path": "/x"}).capabilities()
    assert rest.max_batch_bytes < 32 * 2**20 and rest.request_bytes_per_value > 4
    assert grpc.max_batch_bytes < 4 * 2**20 and grpc.request_bytes_per_value == 4.0
    assert edge.in_process_only and edge.max_batch_bytes is None
    assert all(c.normalizes_cosine and c.int_ids and c.sparse for c in (rest, grpc, edge))


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
def test_repr_and_redaction_hide_the_key(monkeypatch) -> None:
    monkeypatch.setenv("VM_TEST_QDRANT_KEY", "env-secret-123")
    client = Client(provider="qdrant", host="http://127.0.0.1:9", api_key="opt-secret-456")
    assert "opt-secret-456" not in repr(client)
    connector = Client(
        provider="qdrant", host="http://127.0.0.1:9", api_key_env="VM_TEST_QDRANT_KEY"
    ).connector
    assert connector.redact("key env-secret-123 here") == "key *** here"


# -- payload checks --------------------------------------------------------------------------
def test_payload_problems_name_reserved_keys_and_lossy_integers() -> None:
    reserved = reserved_keys("_vm_namespace")
    assert "reserves" in payload_problem({"_vm_id": 1}, reserved)
    assert "reserves" in payload_problem({"_vm_namespace": "x"}, reserved)
    assert "64-bit" in payload_problem({"a": [1, {"b": 2**64}]}, reserved)
    assert payload_problem({"a": [2**64 - 1, -(2**63)], "ok": True, "n": None}, reserved) is None
    batch = VectorBatch.from_dicts(
        [
            {"id": "a", "sparse_values": {"indices": [1, 1], "values": [1, 2]}},
            {"id": "b", "sparse_values": {"indices": [1, 2], "values": [1, 2]}},
        ]
    )
    assert sparse_problems(batch) == {0: "sparse vector repeats an index"}


# -- the id order the position space relies on, on both engines -------------------------------
@pytest.mark.parametrize("way", ["local", "edge"])
def test_engines_scroll_integers_first_then_uuids_by_value(way, tmp_path) -> None:
    options = (
        {"location": ":memory:", "store": f"order-{uuid.uuid4().hex}"}
        if way == "local"
        else {"edge_path": str(tmp_path)}
    )
    client = Client(provider="qdrant", **options)
    client.create_index("order", 2, "euclidean")
    uuids = [str(uuid.UUID(int=v)) for v in (0, 7, 2**64, 2**127, 2**128 - 1)] + [
        str(uuid.uuid4()) for _ in range(20)
    ]
    ints = [0, 3, 2**32, 2**63, 2**64 - 1]
    ids = uuids + ints
    client.upsert(index="order", vectors=[{"id": i, "values": [1.0, 2.0]} for i in ids])
    backend = client.connector.backend
    stored, _ = backend.scroll_ids("order", None, None, 100)
    assert [position(s) for s in stored] == sorted(position(i) for i in ids)
    assert stored[: len(ints)] == sorted(ints)
    after, _ = backend.scroll_ids("order", None, offset_at(position(uuids[1]) + 1), 100)
    assert position(after[0]) > position(uuids[1]) and len(after) == len(
        [u for u in uuids if position(u) > position(uuids[1])]
    )


@pytest.mark.parametrize("way", ["local", "edge"])
def test_every_metric_maps_to_a_qdrant_distance_and_back(way, tmp_path) -> None:
    options = (
        {"location": ":memory:", "store": f"metric-{uuid.uuid4().hex}"}
        if way == "local"
        else {"edge_path": str(tmp_path)}
    )
    client = Client(provider="qdrant", **options)
    for metric, alias in [("cosine", "cos"), ("euclidean", "l2"), ("dotproduct", "ip"), ("manhattan", "l1")]:
        client.create_index(f"m-{metric}", 3, alias)
        assert client.describe_index(f"m-{metric}")["metric"] == metric
    client.create_index("sparse-only", None, "cosine", sparse=True)
    info = client.describe_index("sparse-only")
    assert (info["dimension"], info["sparse"], info["metric"]) == (None, True, "dotproduct")
    client.upsert(
        index="sparse-only", vectors=[{"id": "s", "sparse_values": {"indices": [7, 2], "values": [1.5, -2]}}]
    )
    stored = client.fetch(index="sparse-only", ids=["s"])["s"]
    assert "values" not in stored and stored["sparse_values"] == {"indices": [2, 7], "values": [-2.0, 1.5]}
    with pytest.raises(ConfigError, match="dimension 3, not 4"):
        client.create_index("m-cosine", 4, "cosine")
