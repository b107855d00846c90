"""The conformance suite on a real PostgreSQL 18 + pgvector, plus page-level split checks.

Split checks need several heap pages to mean anything: 600 records of the suite's shape fill
about 30 pages, and a pgvector-specific test checks a 2,000-row table page by page, including
rows on pages added after the read was planned.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import psycopg
import pytest
from apache_beam.io.restriction_trackers import OffsetRange
from psycopg import sql

from io_connectors import Client, VectorBatch
from pipelines import Migration
from tests.conformance.suite import (
    ConnectorConformance,
    assert_split_exhaustively,
    by_id,
    make_batch,
    read_split,
    unique_name,
)


def pages_of(dsn: str, schema: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        query = sql.SQL("SELECT count(DISTINCT (ctid::text::point)[0]) FROM {}").format(
            sql.Identifier(schema, table)
        )
        return int(conn.execute(query).fetchone()[0])


class TestPgvectorConformance(ConnectorConformance):
    records_for_split_checks: ClassVar[int] = 600
    batch_size_for_split_checks: ClassVar[int] = 16

    @pytest.fixture
    def client(self, postgres_dsn: str, pg_schema: str) -> Client:
        return Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)

    def test_split_checks_span_many_pages(self, client: Client, postgres_dsn: str, pg_schema: str) -> None:
        index = self.create(client)
        client.upsert(index=index, vectors=self.batch(self.records_for_split_checks, "ns"))
        assert pages_of(postgres_dsn, pg_schema, index) >= 20


class TestPgvectorPageSplits:
    """A ~2,000-row table across ~30 pages, split at every page."""

    def fill(self, client: Client, n: int = 2000, start: int = 0) -> VectorBatch:
        rows = [
            {"id": start + i, "values": np.full(4, start + i, dtype=np.float32), "metadata": {"i": start + i}}
            for i in range(n)
        ]
        batch = VectorBatch.from_dicts(rows)
        client.upsert(index="pages", vectors=batch)
        return batch

    def test_every_page_split_of_a_multi_page_table(self, postgres_dsn: str, pg_schema: str) -> None:
        client = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
        client.create_index("pages", 4, "euclidean")
        self.fill(client)
        pages = pages_of(postgres_dsn, pg_schema, "pages")
        assert 20 <= pages <= 40
        connector = client.connector
        (split,) = connector.plan("pages", "", 100)
        assert (split.start, split.stop) == (0, pages)
        checks = assert_split_exhaustively(connector, split, fractions=(0.0, 0.1, 0.5, 0.99))
        assert checks == 4 * (pages + 1)
        ranges = connector.split_restriction(split, split.start, split.stop)
        assert len(ranges) >= 2 and ranges[0][0] == 0 and ranges[-1][1] == pages
        seen = by_id(b for lo, hi in ranges for b in read_split(connector, split, OffsetRange(lo, hi)))
        assert len(seen) == 2000

    def test_rows_on_pages_added_after_planning_are_read(self, postgres_dsn: str, pg_schema: str) -> None:
        client = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
        client.create_index("pages", 4, "euclidean")
        self.fill(client, 500)
        (split,) = client.connector.plan("pages", "", 64)
        self.fill(client, 1500, start=500)  # the table grows by many pages after the plan
        assert pages_of(postgres_dsn, pg_schema, "pages") > split.stop
        ranges = client.connector.split_restriction(split, split.start, split.stop)
        seen = by_id(b for lo, hi in ranges for b in read_split(client.connector, split, OffsetRange(lo, hi)))
        assert {key[1] for key in seen} == set(range(2000))

    def test_all_namespaces_in_one_pass_beyond_the_split_limit(
        self, postgres_dsn: str, pg_schema: str
    ) -> None:
        client = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
        index = unique_name()
        client.create_index(index, 8, "cosine")
        batches = [make_batch(5, f"tenant-{k}", seed=k) for k in range(20)]
        for batch in batches:
            client.upsert(index=index, vectors=batch)
        (split,) = client.connector.plan(index, None, 7)
        batches_read = read_split(client.connector, split)
        assert all(len(b) <= 7 for b in batches_read)
        seen = by_id(batches_read)
        assert set(seen) == {(b.namespace, i) for b in batches for i in b.ids}


def test_numbers_come_back_as_jsonb_stores_them(postgres_dsn: str, pg_schema: str) -> None:
    """jsonb keeps numbers as numeric: big floats return as integers, -0.0 as 0.0; the connector
    declares that transform, so deep verification still matches."""
    metadata = {"big": 1e20, "neg_zero": -0.0, "nested": [{"x": -2.5e17}, 0.1], "small": 1e-7, "n": 2**70}
    origin = Client(provider="memory", store=unique_name("store"))
    origin.upsert(index="origin", vectors=[{"id": "a", "values": [1.0, 2.0], "metadata": metadata}])
    target = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    result = Migration(origin, target).migrate(source_index="origin", target_index="numbers")
    assert (result.migrated_count, result.errors) == (1, [])
    stored = target.fetch(index="numbers", ids=["a"])["a"]["metadata"]
    assert stored == {
        "big": 10**20,
        "neg_zero": 0.0,
        "nested": [{"x": -25 * 10**16}, 0.1],
        "small": 1e-7,
        "n": 2**70,
    }
    assert type(stored["big"]) is int and stored == target.connector.stored_metadata(metadata)
    check = Migration(origin, target).verify(source_index="origin", target_index="numbers", deep=True)
    assert check.match, check.summary()


def test_sparse_only_records_round_trip(postgres_dsn: str, pg_schema: str) -> None:
    """Records without dense values land in a table whose dense column stays NULL."""
    rows = [
        {"id": i, "sparse_values": {"indices": [i, 999_999_999], "values": [1.5, -2.0]}, "metadata": {"i": i}}
        for i in range(50)
    ]
    origin = Client(provider="memory", store=unique_name("store"))
    origin.create_index("origin", None, "dotproduct", sparse=True)
    origin.upsert(index="origin", vectors=rows, namespace="terms")
    target = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    result = Migration(origin, target).migrate(source_index="origin", target_index="sparse")
    assert (result.migrated_count, result.errors) == (50, [])
    info = target.describe_index("sparse")
    assert (info["dimension"], info["metric"], info["sparse"]) == (None, "dotproduct", True)
    check = Migration(origin, target).verify(source_index="origin", target_index="sparse", deep=True)
    assert check.match, check.summary()


class TestPgvectorDirectCopyConformance(ConnectorConformance):
    """The suite again with ``empty_table=true``: each first write of a key is COPied straight into
    the table, a repeated one is refused by the key, rolled back and upserted through the stage."""

    @pytest.fixture
    def client(self, postgres_dsn: str, pg_schema: str) -> Client:
        return Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, empty_table="true")
