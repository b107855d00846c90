"""Milvus end to end on milvus-lite: collections written by pymilvus itself (INT64 and VARCHAR
keys, dynamic and scalar fields) read in four splits, a memory -> milvus -> parquet migration
verified record by record, undecodable keys named, and the one-process lock of a .db file."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from apache_beam.io.restriction_trackers import OffsetRange

from io_connectors import Client, ConfigError, RecordRejected, SparseBlock
from io_connectors.core.records import IdValue, RecordError, VectorBatch
from pipelines import Migration
from tests.conformance.suite import by_id, read_split, unique_name

REPO = Path(__file__).resolve().parents[2]
N = 400


def _foreign_collection(path: str, key_kind: str, ids: list[IdValue]) -> None:
    """A collection as an application writes it with pymilvus: its own schema, dynamic fields."""
    from pymilvus import DataType, MilvusClient

    raw = MilvusClient(path)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=True)
    if key_kind == "int":
        schema.add_field("pk", DataType.INT64, is_primary=True)
    else:
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=4)
    schema.add_field("title", DataType.VARCHAR, max_length=64)
    params = raw.prepare_index_params()
    params.add_index("embedding", index_type="AUTOINDEX", metric_type="L2")
    raw.create_collection("docs", schema=schema, index_params=params)
    rows = [
        {"pk": i, "embedding": [float(n), 1.0, 2.0, 3.0], "title": f"t{n}", "lang": "en" if n % 2 else "fr"}
        for n, i in enumerate(ids)
    ]
    raw.insert("docs", rows)
    raw.close()


@pytest.mark.parametrize("key_kind", ["int", "str"])
def test_four_splits_read_every_record_exactly_once(key_kind, tmp_path) -> None:
    rng = np.random.default_rng(5)
    ids: list[IdValue] = (
        [int(i) - 2**61 for i in rng.choice(2**62, size=N, replace=False)]
        if key_kind == "int"
        else [f"key-{int(i):09d}-é" for i in rng.choice(10**9, size=N, replace=False)]
    )
    path = str(tmp_path / "foreign.db")
    _foreign_collection(path, key_kind, ids)
    client = Client(provider="milvus", path=path, rows_per_split=N // 4)
    info = client.describe_index("docs")
    assert (info["dimension"], info["metric"], info["count"], info["namespaces"]) == (
        4,
        "euclidean",
        N,
        {"": N},
    )
    connector = client.connector
    (split,) = connector.plan("docs", None, 50)
    ranges = connector.split_restriction(split, split.start, split.stop)
    assert len(ranges) == 4
    assert ranges[0][0] == split.start and ranges[-1][1] == split.stop
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    per_range = [read_split(connector, split, OffsetRange(*r)) for r in ranges]
    seen = [i for part in per_range for b in part for i in b.ids]
    assert len(seen) == N and set(seen) == set(ids), "a record was lost or read twice"
    assert all(type(i) is type(ids[0]) for i in seen), "ids keep the primary key's kind"
    assert all(N // 8 < sum(len(b) for b in part) < N * 3 // 8 for part in per_range)
    rows = by_id(b for part in per_range for b in part)
    n = ids.index(seen[0])
    first = rows[("", seen[0])]
    assert first["values"] == [float(n), 1.0, 2.0, 3.0]
    assert first["metadata"] == {"title": f"t{n}", "lang": "en" if n % 2 else "fr"}, (
        "scalar and dynamic fields"
    )


def _dataset(n: int, namespace: str, seed: int) -> VectorBatch:
    rng = np.random.default_rng(seed)
    metadata: list[dict[str, Any] | None] = [
        {"i": i, "title": f"item {i} ü", "tags": ["a", str(i % 5)], "nested": {"x": [1, None]}}
        if i % 10
        else None
        for i in range(n)
    ]
    ids: list[IdValue] = [i * 5 if i % 3 == 0 else f"doc-{namespace}-{i}" for i in range(n)]
    sparse = SparseBlock.from_rows(
        [([i % 97, 70_000 + i], [0.5, i / 7 + 0.1]) if i % 2 else None for i in range(n)]
    )
    return VectorBatch(ids, rng.standard_normal((n, 16), dtype=np.float32), sparse, metadata, namespace)


def test_memory_to_milvus_to_parquet_verified_deep(tmp_path) -> None:
    origin = Client(provider="memory", store=unique_name("store"))
    origin.create_index("origin", 16, "dotproduct", sparse=True)
    for namespace, n in (("", 300), ("tenant b", 120)):
        origin.upsert(index="origin", vectors=_dataset(n, namespace, seed=n))
    milvus = Client.from_uri(f"milvus+lite://{tmp_path}/store.db/products?rows_per_split=100")
    inbound = Migration(origin, milvus).migrate(source_index="origin", target_index="products", batch_size=64)
    assert (inbound.migrated_count, inbound.errors) == (420, [])
    info = milvus.describe_index("products")
    assert (info["metric"], info["sparse"], info["namespaces"]) == (
        "dotproduct",
        True,
        {"": 300, "tenant b": 120},
    )
    check = Migration(origin, milvus).verify(source_index="origin", target_index="products", deep=True)
    assert check.match, check.summary()
    parquet = Client(provider="parquet", path=str(tmp_path / "parquet"))
    outbound = Migration(milvus, parquet).migrate(source_index="products", target_index="copy", batch_size=50)
    assert (outbound.migrated_count, outbound.errors) == (420, [])
    for source, index in ((milvus, "products"), (origin, "origin")):
        check = Migration(source, parquet).verify(source_index=index, target_index="copy", deep=True)
        assert check.match, check.summary()
    milvus.close()


def test_a_key_the_connector_cannot_decode_is_named(tmp_path) -> None:
    client = Client(provider="milvus", path=str(tmp_path / "m.db"))
    client.create_index("ours", 2, "cosine")
    client.upsert(index="ours", vectors=[{"id": "fine", "values": [1.0, 2.0]}])
    raw = client.connector.client
    raw.upsert("ours", [{"id": "\x1f9:x", "namespace": "", "vector": [1.0, 2.0], "metadata": None}])
    with pytest.raises(RecordError, match=r"primary key '\\x1f9:x' is not in this connector's key form"):
        [b for s in client.connector.plan("ours", "", 10) for b in read_split(client.connector, s)]
    client.close()


def _count_in_other_process(path: str) -> subprocess.CompletedProcess:
    code = (
        "from io_connectors import Client\n"
        f"print(Client(provider='milvus', path={path!r}).describe_index('shared')['count'])\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_a_lite_file_is_shared_in_process_and_locked_for_others(tmp_path) -> None:
    path = str(tmp_path / "shared.db")
    first, second = Client(provider="milvus", path=path), Client(provider="milvus", path=path)
    first.create_index("shared", 2, "euclidean")
    first.upsert(index="shared", vectors=[{"id": 1, "values": [1.0, 2.0]}, {"id": "a", "values": [3.0, 4.0]}])
    assert set(second.fetch(index="shared", ids=[1, "a"])) == {1, "a"}, "both clients use one open file"
    locked = _count_in_other_process(path)
    assert locked.returncode != 0 and "ConfigError" in locked.stderr and "one process" in locked.stderr
    first.close()
    second.close()
    reopened = _count_in_other_process(path)
    assert (reopened.returncode, reopened.stdout.strip()[-1:]) == (0, "2"), reopened.stderr


def test_a_multi_process_runner_is_refused_for_a_lite_file(tmp_path) -> None:
    source = Client(provider="parquet", path=str(tmp_path / "parquet"))
    source.upsert(index="src", vectors=[{"id": 1, "values": [1.0, 2.0]}])
    target = Client(provider="milvus", path=str(tmp_path / "m.db"))
    migration = Migration(source, target, pipeline_args=["--direct_running_mode=multi_processing"])
    with pytest.raises(ConfigError, match="in-memory runner"):
        migration.migrate(source_index="src", target_index="dst")


def test_a_sparse_only_collection_round_trips_and_names_rows_without_sparse(tmp_path) -> None:
    client = Client(provider="milvus", path=str(tmp_path / "m.db"))
    client.create_index("bm25", None, "dotproduct", sparse=True)
    info = client.describe_index("bm25")
    assert (info["dimension"], info["metric"], info["sparse"]) == (None, "dotproduct", True)
    rows = [
        {"id": i, "sparse_values": {"indices": [i, 4_000_000_000], "values": [0.25, 3.0]}} for i in range(5)
    ]
    client.upsert(index="bm25", vectors=rows, namespace="ns")
    fetched = client.fetch(index="bm25", ids=list(range(5)), namespace="ns")
    assert fetched[3]["sparse_values"] == {"indices": [3, 4_000_000_000], "values": [0.25, 3.0]}
    assert "values" not in fetched[3]
    batch = VectorBatch.from_dicts([*rows[:1], {"id": "bare", "metadata": {"a": 1}}], "ns")
    with pytest.raises(RecordRejected) as raised:
        client.connector.write("bm25", batch)
    assert (
        set(raised.value.reasons) == {"bare"}
        and "sparse values on every record" in raised.value.reasons["bare"]
    )
    assert client.describe_index("bm25")["namespaces"] == {"ns": 5}
    client.close()
