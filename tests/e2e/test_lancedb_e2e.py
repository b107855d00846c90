"""LanceDB end to end on the embedded engine: tables made by plain LanceDB calls (as a user
would) migrated record by record, memory -> LanceDB -> Parquet deep-verified, and split reads
across several fragments, deletion files and interleaved namespaces at a pinned version."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from io_connectors import Client
from pipelines import Migration
from tests.conformance.suite import assert_split_exhaustively, by_id, make_batch, read_split, unique_name


def user_rows(start: int, stop: int, dimension: int = 6) -> list[dict]:
    rng = np.random.default_rng(start)
    return [
        {
            "vector": rng.standard_normal(dimension).astype(np.float32).tolist(),
            "text": f"document {i} ü",
            "id": i,
            "category": ["news", "blog", None][i % 3],
            "price": i * 1.5,
            "tags": ["x", str(i % 4)],
        }
        for i in range(start, stop)
    ]


def read_all(client: Client, index: str, batch_size: int = 50) -> dict:
    connector = client.connector
    return by_id(b for split in connector.plan(index, None, batch_size) for b in read_split(connector, split))


def test_table_made_with_plain_lancedb_migrates_record_by_record(tmp_path: Path) -> None:
    db = lancedb.connect(tmp_path / "userdb")
    first, second = user_rows(0, 40), user_rows(40, 70)
    table = db.create_table("docs", data=first)
    table.add(second)  # a second fragment
    table.delete("id IN (3, 41)")  # deletion files in both fragments
    expected = {row["id"]: row for row in first + second if row["id"] not in (3, 41)}

    source = Client.from_uri(f"lancedb://{tmp_path}/userdb/docs")
    info = source.describe_index("docs")
    assert (info["dimension"], info["metric"], info["count"]) == (6, "cosine", 68)
    assert "no metric" in info["details"]["metric_note"]

    target = Client(provider="memory", store=unique_name("store"))
    result = Migration(source, target).migrate(source_index="docs", target_index="copy", batch_size=9)
    assert (result.migrated_count, result.errors) == (68, [])
    stored = read_all(target, "copy")
    assert {key for key in stored} == {("", i) for i in expected}
    for vector_id, row in expected.items():
        got = stored[("", vector_id)]
        assert isinstance(got["id"], int)
        assert np.array_equal(np.asarray(got["values"], np.float32), np.asarray(row["vector"], np.float32))
        want = {k: v for k, v in row.items() if k not in ("vector", "id")}
        assert got["metadata"] == want, vector_id


def test_foreign_field_mapping_namespaces_and_json_conversions(tmp_path: Path) -> None:
    db = lancedb.connect(tmp_path / "userdb")
    rows = pa.table(
        {
            "doc_id": ["a", "b'quote", "c"],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float64)), 2),
            "tenant": ["t1", None, "t1"],
            "content": ["alpha", "beta", "gamma"],
            "when": [dt.datetime(2024, 5, 1, 12, 30), None, dt.datetime(2025, 1, 2)],
            "amount": pa.array([decimal.Decimal("1.10"), None, decimal.Decimal("3.00")], pa.decimal128(5, 2)),
            "blob": [b"\x00\x01", None, b"z"],
        }
    )
    db.create_table("mapped", data=rows)
    source = Client(
        provider="lancedb",
        uri=str(tmp_path / "userdb"),
        id_field="doc_id",
        vector_field="embedding",
        namespace_field="tenant",
        text_field="content",
    )
    assert source.stats(index="mapped")["namespaces"] == {"t1": {"vector_count": 2}, "": {"vector_count": 1}}
    stored = read_all(source, "mapped")
    assert stored[("t1", "a")]["metadata"] == {
        "text": "alpha",
        "when": "2024-05-01T12:30:00",
        "amount": "1.10",
        "blob": "AAE=",
    }
    assert stored[("", "b'quote")]["metadata"] == {"text": "beta", "when": None, "amount": None, "blob": None}
    assert stored[("t1", "c")]["values"] == [4.0, 5.0]
    assert set(source.fetch(index="mapped", ids=["b'quote", "a"], namespace="")) == {"b'quote"}


def test_memory_to_lancedb_to_parquet_deep_verified(tmp_path: Path) -> None:
    origin = Client(provider="memory", store=unique_name("store"))
    origin.create_index("origin", 8, "dotproduct", sparse=True)
    origin.upsert(index="origin", vectors=make_batch(60, "", seed=1))
    origin.upsert(index="origin", vectors=make_batch(35, "tenant-ü", seed=2))
    lance = Client(provider="lancedb", uri=str(tmp_path / "lance"))
    parquet = Client(provider="parquet", path=str(tmp_path / "parquet"))

    first = Migration(origin, lance).migrate(source_index="origin", target_index="vectors", chunk_size=20)
    assert (first.migrated_count, first.errors) == (95, [])
    assert lance.describe_index("vectors")["metric"] == "dotproduct"
    second = Migration(lance, parquet).migrate(source_index="vectors", target_index="copy", batch_size=16)
    assert (second.migrated_count, second.errors) == (95, [])
    for source, source_index, target, target_index in (
        (origin, "origin", lance, "vectors"),
        (lance, "vectors", parquet, "copy"),
        (origin, "origin", parquet, "copy"),
    ):
        check = Migration(source, target).verify(
            source_index=source_index, target_index=target_index, deep=True
        )
        assert check.match, check.summary()


@pytest.fixture
def fragmented(tmp_path: Path) -> tuple[Client, set]:
    """A table of several fragments, with deletion files (rewritten and deleted rows), holding
    two namespaces written in turns; and the keys it holds."""
    client = Client(provider="lancedb", uri=str(tmp_path / "lance"), rows_per_split=7)
    client.create_index("frag", 8, "cosine", sparse=True)
    expected: set = set()
    for round_ in range(4):
        for namespace, kinds in (("a", ("str", "unicode")), ("b", ("int",))):
            rows = make_batch(6 * (round_ + 1), namespace, id_kinds=kinds, seed=round_)
            batch = rows.slice(max(6 * round_ - 2, 0), len(rows))  # rewrites 2 earlier ids
            client.upsert(index="frag", vectors=batch)
            expected |= {(namespace, i) for i in batch.ids}
    client.delete(index="frag", ids=["doc-00000", "doc-00012"], namespace="a")
    client.delete(index="frag", ids=[1], namespace="b")
    return client, expected - {("a", "doc-00000"), ("a", "doc-00012"), ("b", 1)}


def test_split_reads_across_fragments_deletions_and_namespaces(fragmented: tuple[Client, set]) -> None:
    client, expected = fragmented
    connector = client.connector
    fragments = connector._table("frag").to_lance().get_fragments()
    assert len(fragments) >= 8 and sum(1 for f in fragments if f.deletion_file()) >= 2
    splits = connector.plan("frag", None, 3)
    assert len(splits) > 2 and {s.namespace for s in splits} == {"a", "b"}
    everything = by_id(b for s in splits for b in read_split(connector, s))
    assert set(everything) == expected
    for split in splits:
        for start, stop in connector.split_restriction(split, split.start, split.stop):
            assert start < stop
        assert_split_exhaustively(connector, split)


def test_planned_reads_see_their_version_and_compaction_keeps_everything(
    fragmented: tuple[Client, set],
) -> None:
    client, expected = fragmented
    connector = client.connector
    splits = connector.plan("frag", "a", 4)
    before = by_id(b for s in splits for b in read_split(connector, s))
    client.upsert(index="frag", vectors=make_batch(5, "a", id_kinds=("int",), seed=99))
    client.delete(index="frag", ids=["doc-00002"], namespace="a")
    assert by_id(b for s in splits for b in read_split(connector, s)) == before
    now = read_all(client, "frag")
    assert len(now) == len(expected) + 5 - 1
    fragments = len(connector._table("frag").to_lance().get_fragments())
    connector.finalize_index("frag")
    assert len(connector._table("frag").to_lance().get_fragments()) < fragments
    assert read_all(client, "frag") == now


def test_worker_processes_upsert_into_one_table_at_once(tmp_path: Path) -> None:
    """Worker processes upsert small chunks into one table concurrently (Lance resolves the
    commit conflicts, or we retry them); the copy is deep-verified against its source."""
    parquet = Client(provider="parquet", path=str(tmp_path / "parquet"))
    for seed, namespace in enumerate(("", "n1")):
        parquet.upsert(index="src", vectors=make_batch(300, namespace, seed=seed))
    lance = Client(provider="lancedb", uri=str(tmp_path / "lance"))
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    out = Migration(parquet, lance, pipeline_args=args).migrate(
        source_index="src", target_index="t", batch_size=30, chunk_size=30
    )
    assert (out.migrated_count, out.errors) == (600, [])
    check = Migration(parquet, lance).verify(source_index="src", target_index="t", deep=True)
    assert check.match, check.summary()
