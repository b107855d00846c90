"""The pgvector write fast path on a real PostgreSQL 18 + pgvector: a table the migration created
(or one the user confirms empty, ``empty_table=true``) is written by COPY straight into it; a
chunk whose keys are already there is rolled back and upserted through the staging table, so a
retried chunk, a resumed wave or a re-run never duplicates a row."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from io_connectors import Client, VectorBatch
from io_connectors.pgvector import connector as pg_connector
from pipelines import Migration
from tests.conformance.suite import make_batch

N = 2_000
DIM = 16
CHUNK = 500


def source_store(n: int = N, seed: int = 0) -> Client:
    memory = Client(provider="memory")
    memory.create_index("src", DIM, "cosine")
    for lo in range(0, n, CHUNK):
        batch = make_batch(CHUNK, "ns", dimension=DIM, seed=seed + lo)
        ids = [f"doc-{i}" if i % 2 else i for i in range(lo, lo + CHUNK)]  # string and integer ids
        memory.upsert(index="src", vectors=VectorBatch(ids, batch.values, batch.sparse, batch.metadata, "ns"))
    return memory


def table_rows(dsn: str, schema: str, table: str) -> tuple[int, int]:
    """Rows in the table and distinct keys among them."""
    with psycopg.connect(dsn) as conn:
        query = sql.SQL("SELECT count(*), count(DISTINCT (namespace, id, id_is_int)) FROM {}").format(
            sql.Identifier(schema, table)
        )
        rows, keys = conn.execute(query).fetchone()
    return int(rows), int(keys)


def same_vectors(target: Client, source: Client, index: str) -> None:
    ids = [0, "doc-1", N - 2, f"doc-{N - 1}"]
    got = target.connector.fetch(index, ids, "ns")
    want = source.connector.fetch("src", ids, "ns")
    order = {vector_id: row for row, vector_id in enumerate(got.ids)}
    assert sorted(map(str, got.ids)) == sorted(map(str, want.ids))
    for row, vector_id in enumerate(want.ids):
        np.testing.assert_array_equal(got.values[order[vector_id]], want.values[row])
        assert got.metadata[order[vector_id]] == want.metadata[row]


def migrate(source: Client, target: Client, index: str) -> Any:
    result = Migration(source, target).migrate("src", index, chunk_size=CHUNK)
    assert result.ok and result.migrated_count == N, result.summary()
    return result


def test_a_table_the_migration_creates_is_written_by_direct_copy(postgres_dsn, pg_schema) -> None:
    source, target = source_store(), Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    result = migrate(source, target, "fresh")
    assert result.metrics.get("pgvector_direct_copies") == N // CHUNK
    assert not result.metrics.get("pgvector_copy_conflicts")
    assert table_rows(postgres_dsn, pg_schema, "fresh") == (N, N)
    same_vectors(target, source, "fresh")


def test_a_retried_chunk_does_not_duplicate(postgres_dsn, pg_schema, monkeypatch) -> None:
    """The first COPY commits, then the connection 'drops' before the answer arrives: the sink
    retries the chunk, whose keys are now there, so it is upserted instead."""
    real = pg_connector._copy_unless_conflict
    failures = []

    def commit_then_lose_connection(conn, statement, pieces) -> bool:
        landed = real(conn, statement, pieces)
        if not failures:
            failures.append(landed)
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return landed

    monkeypatch.setattr(pg_connector, "_copy_unless_conflict", commit_then_lose_connection)
    source, target = source_store(), Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    result = migrate(source, target, "retried")
    assert failures == [True]  # the fault really happened after a commit
    assert result.metrics.get("pgvector_copy_conflicts") == 1
    assert result.metrics.get("pgvector_direct_copies") == N // CHUNK - 1
    assert table_rows(postgres_dsn, pg_schema, "retried") == (N, N)
    same_vectors(target, source, "retried")


def test_an_existing_table_with_rows_is_upserted(postgres_dsn, pg_schema) -> None:
    target = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    old = source_store(n=CHUNK, seed=99)  # the first CHUNK ids, other values
    migrate_old = Migration(old, target).migrate("src", "existing", chunk_size=CHUNK)
    assert migrate_old.migrated_count == CHUNK
    source = source_store()
    result = migrate(source, target, "existing")
    assert not result.metrics.get("pgvector_direct_copies")  # not created by this migration
    assert table_rows(postgres_dsn, pg_schema, "existing") == (N, N)
    same_vectors(target, source, "existing")  # the old values of ids 0 and doc-1 are overwritten


def test_a_rerun_is_idempotent(postgres_dsn, pg_schema) -> None:
    source, target = source_store(), Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    first = migrate(source, target, "rerun")
    second = migrate(source, target, "rerun")
    assert first.metrics.get("pgvector_direct_copies") == N // CHUNK
    assert not second.metrics.get("pgvector_direct_copies")
    assert table_rows(postgres_dsn, pg_schema, "rerun") == (N, N)
    same_vectors(target, source, "rerun")


def test_a_user_confirmed_empty_table_falls_back_per_chunk(postgres_dsn, pg_schema) -> None:
    """``empty_table=true`` is a hint, never a risk: a chunk already written is upserted."""
    client = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema, empty_table="true")
    client.create_index("hinted", DIM, "cosine")
    batch = make_batch(300, "ns", dimension=DIM)
    client.upsert(index="hinted", vectors=batch)
    changed = VectorBatch(batch.ids, batch.values * 2, batch.sparse, batch.metadata, "ns")
    client.upsert(index="hinted", vectors=changed)
    assert client.connector.writes == {"direct": 1, "conflict": 1, "staged": 1}
    assert client.connector.count("hinted") == 300
    got = client.connector.fetch("hinted", batch.ids[:5], "ns")
    for row, vector_id in enumerate(got.ids):
        np.testing.assert_allclose(got.values[row], changed.values[batch.ids.index(vector_id)])


@pytest.mark.parametrize("layout", ["langchain", "llamaindex"])
def test_application_layouts_keep_the_staged_upsert(postgres_dsn, pg_schema, layout) -> None:
    """Their tables need casts, a collections row or replace-by-id: never COPied into directly."""
    client = Client(
        provider="pgvector", dsn=postgres_dsn, schema=pg_schema, layout=layout, empty_table="true"
    )
    client.create_index("app", DIM, "cosine")
    made = make_batch(50, "", id_kinds=("uuid",), sparse=False, dimension=DIM)
    texts = [{"text": f"document {i}", "n": i} for i in range(50)]
    batch = VectorBatch(made.ids, made.values, None, texts, "")
    client.upsert(index="app", vectors=batch)
    client.upsert(index="app", vectors=batch)
    assert client.connector.writes == {"direct": 0, "conflict": 0, "staged": 2}
    assert client.connector.count("app") == 50
