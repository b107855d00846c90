"""What real data exposed (issue 15), on a real PostgreSQL + pgvector: sparse indices beyond
pgvector's limit, application tables as targets (LlamaIndex's and LangChain's layouts, made as
those tools make them), a dimensionless source with create_index, a batch-wide constraint."""

from __future__ import annotations

import time

import numpy as np
import pytest
from psycopg import sql

from io_connectors import Client, ConfigError, SparseBlock, VectorBatch
from pipelines import Migration
from tests.conformance.suite import unique_name
from tests.e2e.test_pgvector_e2e import execute, pg, read_all

DIM = 8


def memory_source(n: int, sparse: bool = True) -> Client:
    """BM25-like records: dense, text and metadata, and (with ``sparse``) sparse vectors of term
    hashes, every other one beyond 999,999,999, as the issue's import folder had them."""
    rng = np.random.default_rng(15)
    source = Client(provider="memory", store=unique_name("s"))
    source.create_index("docs", DIM, sparse=sparse)
    rows = [
        (
            np.array([7, 4_000_000_000 - i if i % 2 == 0 else 1000 + i], dtype=np.int64),
            np.array([0.5, 1.5], dtype=np.float32),
        )
        for i in range(n)
    ]
    batch = VectorBatch(
        [f"doc-{i}" for i in range(n)],
        rng.standard_normal((n, DIM)).astype(np.float32),
        SparseBlock.from_rows(rows) if sparse else None,
        [{"text": f"sentence {i}", "n": i} for i in range(n)],
    )
    source.connector.write("docs", batch)
    return source


def test_sparse_beyond_pgvector_is_refused_whole_by_default(postgres_dsn, pg_schema) -> None:
    source = memory_source(40)
    result = Migration(source, pg(postgres_dsn, pg_schema)).migrate("docs", "docs")
    assert result.migrated_count == 20 and result.failed_count == 20
    assert all("sparse index" in e.message for e in result.errors)
    assert "degraded" in result.summary() and result.summary()["degraded"] == {}


def test_sparse_drop_keeps_dense_text_and_metadata_of_every_record_counted(postgres_dsn, pg_schema) -> None:
    source = memory_source(400)
    target = pg(postgres_dsn, pg_schema)
    result = Migration(source, target).migrate("docs", "docs", on_unsupported={"sparse": "drop"})
    assert result.errors == [] and result.migrated_count == 400
    assert result.summary()["degraded"] == {"unsupported_sparse_dropped": 200}
    stored = read_all(target, "docs")
    original = source.connector.fetch("docs", [f"doc-{i}" for i in range(400)])
    for row, vector_id in enumerate(original.ids):
        record = stored[("", vector_id)]
        assert np.array_equal(record["values"], original.values[row])
        assert record["metadata"] == original.metadata[row]
        has_sparse = record.get("sparse_values") is not None
        assert has_sparse == (row % 2 == 1), vector_id  # only the unstorable sparse parts are gone


def test_on_unsupported_from_the_cli(postgres_dsn, pg_schema, capsys) -> None:
    from pipelines.cli import main

    source = memory_source(10)
    source_uri = f"memory://docs?store={source.connector.spec.options['store']}"
    target_uri = f"pgvector://{postgres_dsn.split('://', 1)[1]}/docs?schema={pg_schema}"
    code = main(
        ["migrate", "--source", source_uri, "--target", target_uri, "--on-unsupported", "sparse=drop"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Stored without what the target cannot hold (unsupported_sparse_dropped): 5" in out


def test_create_index_on_a_dimensionless_source_uses_the_data_or_is_refused_before_data_moves(
    postgres_dsn, pg_schema
) -> None:
    """An untyped ``vector`` column's dimension comes from its rows, so the target gets a typed
    column and its HNSW index; with no row to learn it from, the refusal comes before anything
    is created or loaded."""
    for table in ("nodim", "empty"):
        execute(
            postgres_dsn,
            sql.SQL("CREATE TABLE {} (id text PRIMARY KEY, embedding vector, metadata jsonb)").format(
                sql.Identifier(pg_schema, table)
            ),
        )
    execute(
        postgres_dsn,
        sql.SQL("INSERT INTO {} SELECT 'r' || g, '[1,2,3]', '{{}}' FROM generate_series(1, 50) g").format(
            sql.Identifier(pg_schema, "nodim")
        ),
    )
    target = pg(postgres_dsn, pg_schema, create_index=True)
    result = Migration(pg(postgres_dsn, pg_schema), target).migrate("nodim", "copy")
    assert result.ok and result.migrated_count == 50
    assert target.index_info("copy").dimension == 3
    indexes = execute(
        postgres_dsn,
        sql.SQL("SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'copy'"),
        (pg_schema,),
    )
    assert any("hnsw" in definition for (definition,) in indexes)

    with pytest.raises(ConfigError, match="needs a vector column of a fixed dimension; the source's vectors"):
        Migration(pg(postgres_dsn, pg_schema), target).migrate("empty", "copy_empty")
    assert "copy_empty" not in target.connector.list_indexes()  # nothing created, nothing loaded


def make_llamaindex_table(dsn: str, schema: str) -> None:
    """LlamaIndex's PGVectorStore table ``data_<name>``: bigserial id, ``text`` NOT NULL."""
    execute(
        dsn,
        sql.SQL(
            """CREATE TABLE {} (id bigserial PRIMARY KEY, text varchar NOT NULL, metadata_ json,
               node_id varchar, embedding vector(8))"""
        ).format(sql.Identifier(schema, "data_docs")),
    )
    execute(
        dsn,
        sql.SQL("CREATE UNIQUE INDEX ON {} (node_id)").format(sql.Identifier(schema, "data_docs")),
    )


def test_a_llamaindex_table_with_text_not_null_is_refused_before_any_data_moves(
    postgres_dsn, pg_schema
) -> None:
    make_llamaindex_table(postgres_dsn, pg_schema)
    target = pg(postgres_dsn, pg_schema, id_column="node_id", metadata_column="metadata_")
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        Migration(memory_source(2000, sparse=False), target).migrate("docs", "data_docs")
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert f'"{pg_schema}"."data_docs"' in message
    assert 'column "text" (varchar) is NOT NULL without a default' in message
    assert execute(
        postgres_dsn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(pg_schema, "data_docs"))
    ) == [(0,)]


def make_langchain_tables(dsn: str, schema: str) -> None:
    """langchain-postgres' PGVector tables, as it creates them."""
    execute(
        dsn,
        sql.SQL(
            """CREATE TABLE {coll} (uuid uuid PRIMARY KEY, name varchar NOT NULL UNIQUE, cmetadata json);
               CREATE TABLE {emb} (id varchar PRIMARY KEY,
                 collection_id uuid REFERENCES {coll} (uuid) ON DELETE CASCADE,
                 embedding vector, document varchar, cmetadata jsonb)"""
        ).format(
            coll=sql.Identifier(schema, "langchain_pg_collection"),
            emb=sql.Identifier(schema, "langchain_pg_embedding"),
        ),
    )


def test_a_langchain_table_is_refused_rather_than_left_with_null_documents(postgres_dsn, pg_schema) -> None:
    make_langchain_tables(postgres_dsn, pg_schema)
    source = memory_source(30, sparse=False)
    target = pg(postgres_dsn, pg_schema, metadata_column="cmetadata")
    with pytest.raises(ConfigError) as info:
        Migration(source, target).migrate("docs", "langchain_pg_embedding")
    message = str(info.value)
    assert '"document", "collection_id"' in message or '"collection_id", "document"' in message
    assert "would be left NULL in every row written" in message
    assert "ignore_columns=collection_id,document" in message
    # Accepting the NULLs is possible, but only when asked for by name.
    accepting = pg(
        postgres_dsn, pg_schema, metadata_column="cmetadata", ignore_columns="collection_id,document"
    )
    result = Migration(source, accepting).migrate("docs", "langchain_pg_embedding")
    assert result.errors == [] and result.migrated_count == 30


def test_a_constraint_every_row_violates_fails_fast_with_one_error(postgres_dsn, pg_schema) -> None:
    target = pg(postgres_dsn, pg_schema)
    target.connector.create_index("docs", DIM, "cosine", True)
    execute(
        postgres_dsn,
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT needs_lang CHECK (metadata ? 'lang')").format(
            sql.Identifier(pg_schema, "docs")
        ),
    )
    source = memory_source(20_000, sparse=False)
    started = time.monotonic()
    with pytest.raises(Exception, match="refuses every record for the same reason") as info:
        Migration(source, target).migrate("docs", "docs")
    elapsed = time.monotonic() - started
    assert 'violates check constraint "needs_lang"' in str(info.value)
    assert str(info.value).count("needs_lang") == 1  # one error, not one per record
    assert elapsed < 10
    assert target.connector.count("docs") == 0
