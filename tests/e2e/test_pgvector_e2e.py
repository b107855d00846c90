"""End to end on a real PostgreSQL 18 + pgvector: big migrations, hand-made tables, hostile names,
and the errors users will meet (with the DSN password kept out of every message and log)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import psycopg
import pytest
from psycopg import sql

from io_connectors import (
    Client,
    ConfigError,
    IndexNotFound,
    RecordRejected,
    SparseBlock,
    TransientError,
    VectorBatch,
)
from io_connectors.core.errors import VectorMigrateError
from pipelines import Migration
from tests.conformance.suite import by_id, make_batch, read_split

N_BIG = 200_000
DIM_BIG = 768
MULTI_PROCESS = ["--direct_running_mode=multi_processing", "--direct_num_workers=4"]


def pg(dsn: str, schema: str, **options: object) -> Client:
    return Client(provider="pgvector", dsn=dsn, schema=schema, **options)


def read_all(client: Client, index: str) -> dict:
    connector = client.connector
    return by_id(b for split in connector.plan(index, None, 1000) for b in read_split(connector, split))


def execute(dsn: str, statement: sql.Composable, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def hnsw_indexes(dsn: str, schema: str, table: str) -> list[str]:
    """Operator classes of the HNSW indexes on a table."""
    return [
        opclass
        for (opclass,) in execute(
            dsn,
            sql.SQL(
                """SELECT opc.opcname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                   JOIN pg_am am ON am.oid = ic.relam JOIN pg_opclass opc ON opc.oid = i.indclass[0]
                   WHERE i.indrelid = %s::regclass AND am.amname = 'hnsw'"""
            ),
            (sql.Identifier(schema, table).as_string(None),),
        )
    ]


# -- (a) 200,000 vectors of dimension 768 ----------------------------------------------------------
def big_batches(values: np.ndarray) -> Iterator[VectorBatch]:
    """Two namespaces; integer and string ids; metadata on every record."""
    chunk = 20_000
    for lo in range(0, len(values), chunk):
        namespace = "alpha" if lo < 120_000 else "beta"
        ids = [i if i % 2 else f"doc-{i}" for i in range(lo, lo + chunk)]
        metadata = [
            {"i": i, "title": f"document {i}", "tags": ["x", str(i % 7)]} for i in range(lo, lo + chunk)
        ]
        yield VectorBatch(ids, values[lo : lo + chunk], None, metadata, namespace)


class ActiveReads:
    """Samples pg_stat_activity while a migration runs: when each backend was reading pages."""

    def __init__(self, dsn: str) -> None:
        self._dsn, self._stop = dsn, threading.Event()
        self.periods: dict[int, tuple[float, float]] = {}  # backend pid -> first, last seen reading
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                now = time.monotonic()
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'vector-migrate' "
                    "AND state = 'active' AND query LIKE 'SELECT ctid%'"
                ):
                    first, _ = self.periods.get(pid, (now, now))
                    self.periods[pid] = (first, now)
                time.sleep(0.002)

    def most_overlapping(self) -> int:
        """The most backends whose reading periods all contain one moment."""
        return max(
            (sum(a <= t <= b for a, b in self.periods.values()) for t, _ in self.periods.values()), default=0
        )

    def __enter__(self) -> ActiveReads:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_200k_vectors_memory_to_pgvector_to_parquet_to_pgvector(postgres_dsn, pg_schema, tmp_path) -> None:
    values = np.random.default_rng(2026).standard_normal((N_BIG, DIM_BIG), dtype=np.float32)
    source = Client(provider="memory", store=f"big-{pg_schema}")
    source.create_index("source", DIM_BIG, "dotproduct")
    for batch in big_batches(values):
        source.upsert(index="source", vectors=batch)
    target = pg(postgres_dsn, pg_schema)
    parquet = Client(provider="parquet", path=str(tmp_path / "export"))

    first = Migration(source, target).migrate(source_index="source", target_index="first")
    assert (first.migrated_count, first.errors) == (N_BIG, [])
    exported = Migration(target, parquet).migrate(source_index="first", target_index="export")
    assert (exported.migrated_count, exported.errors) == (N_BIG, [])
    second = Migration(parquet, target).migrate(source_index="export", target_index="second")
    assert (second.migrated_count, second.errors) == (N_BIG, [])

    info = target.describe_index("second")
    assert (info["dimension"], info["metric"], info["count"]) == (DIM_BIG, "dotproduct", N_BIG)
    assert info["namespaces"] == {"alpha": 120_000, "beta": 80_000}
    check = Migration(source, target).verify(source_index="source", target_index="second", deep=True)
    assert check.match and check.checked == N_BIG, check.summary()
    sample = [1, "doc-0", 119_999, "doc-119998"]
    fetched = target.connector.fetch("second", sample, "alpha")
    for row, vector_id in enumerate(fetched.ids):
        i = vector_id if isinstance(vector_id, int) else int(vector_id.split("-")[1])
        assert np.array_equal(fetched.values[row], values[i])
        assert fetched.metadata[row] == {"i": i, "title": f"document {i}", "tags": ["x", str(i % 7)]}
    assert sorted(map(str, fetched.ids)) == sorted(map(str, sample))


def test_pgvector_to_pgvector_reads_in_parallel(postgres_dsn, pg_schema) -> None:
    """Four worker processes read at least four page ranges, several of them at the same time."""
    values = np.random.default_rng(7).standard_normal((60_000, 256), dtype=np.float32)
    source = pg(postgres_dsn, pg_schema)
    source.create_index("wide", 256, "cosine")
    for lo in range(0, 60_000, 10_000):
        ids = list(range(lo, lo + 10_000))
        source.upsert(
            index="wide", vectors=VectorBatch(ids, values[lo : lo + 10_000], None, [{"i": i} for i in ids])
        )
    splits = source.connector.plan("wide", None, 1000)
    ranges = [r for s in splits for r in source.connector.split_restriction(s, s.start, s.stop)]
    assert len(ranges) >= 4

    target = pg(postgres_dsn, f"{pg_schema}_copy")
    with ActiveReads(postgres_dsn) as watch:
        result = Migration(source, target, pipeline_args=MULTI_PROCESS).migrate(
            source_index="wide", target_index="wide"
        )
    assert (result.migrated_count, result.errors) == (60_000, [])
    assert result.metrics["pgvector_ranges_read"] >= 4
    assert watch.most_overlapping() >= 2, f"page ranges were not read concurrently: {watch.periods}"
    check = Migration(source, target).verify(source_index="wide", target_index="wide", deep=True)
    assert check.match and check.checked == 60_000, check.summary()
    execute(postgres_dsn, sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(f"{pg_schema}_copy")))


# -- (b) a table made by hand ---------------------------------------------------------------------
HAND_ROWS = 1_500


def make_hand_table(dsn: str, schema: str) -> np.ndarray:
    table = sql.Identifier(schema, "hand")
    execute(
        dsn,
        sql.SQL(
            """CREATE TABLE {} (id bigint PRIMARY KEY, emb halfvec(384), title text, n integer,
               price numeric(10, 2), created timestamptz, ok boolean, tags text[], blob bytea)"""
        ).format(table),
    )
    halves = np.random.default_rng(3).standard_normal((HAND_ROWS, 384)).astype(np.float16)
    start = datetime(2024, 2, 29, 12, 30, tzinfo=UTC)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        copy_sql = sql.SQL("COPY {} FROM STDIN").format(table)
        with cur.copy(copy_sql) as copy:
            for i in range(HAND_ROWS):
                vector = "[" + ",".join(repr(float(x)) for x in halves[i]) + "]"
                title = None if i % 10 == 0 else f"title {i}"
                copy.write_row(
                    (
                        10**12 + i,
                        vector,
                        title,
                        i - 700,
                        Decimal(i) / 4,
                        start + timedelta(hours=i),
                        i % 3 == 0,
                        ["a", f"t{i % 4}"],
                        bytes([i % 256, 0, 255]),
                    )
                )
        cur.execute(sql.SQL("CREATE INDEX ON {} USING hnsw (emb halfvec_l2_ops)").format(table))
    return halves.astype(np.float32)


def test_hand_made_table_to_parquet_and_back(postgres_dsn, pg_schema, tmp_path) -> None:
    expected_values = make_hand_table(postgres_dsn, pg_schema)
    source = pg(postgres_dsn, pg_schema, vector_column="emb")
    info = source.describe_index("hand")
    assert (info["dimension"], info["metric"], info["count"]) == (384, "euclidean", HAND_ROWS)
    assert info["details"]["vector_type"] == "halfvec" and info["details"]["id_type"] == "int8"
    parquet = Client(provider="parquet", path=str(tmp_path / "export"))
    assert Migration(source, parquet).migrate(source_index="hand", target_index="hand").errors == []
    target = pg(postgres_dsn, pg_schema, vector_type="halfvec")
    back = Migration(parquet, target).migrate(source_index="hand", target_index="hand_copy")
    assert (back.migrated_count, back.errors) == (HAND_ROWS, [])

    original, copied = read_all(source, "hand"), read_all(target, "hand_copy")
    assert original.keys() == copied.keys() == {("", 10**12 + i) for i in range(HAND_ROWS)}
    for key, row in original.items():
        i = key[1] - 10**12
        assert np.array_equal(np.asarray(row["values"], dtype=np.float32), expected_values[i])
        assert copied[key]["values"] == row["values"]
        assert copied[key]["metadata"] == row["metadata"]
    assert original[("", 10**12 + 5)]["metadata"] == {
        "title": "title 5",
        "n": -695,
        "price": 1.25,
        "created": "2024-02-29T17:30:00+00:00",
        "ok": False,
        "tags": ["a", "t1"],
        "blob": "BQD/",  # bytea as base64
    }
    assert "title" not in original[("", 10**12)]["metadata"]  # NULL columns are left out
    assert target.describe_index("hand_copy")["metric"] == "euclidean"
    check = Migration(source, target).verify(source_index="hand", target_index="hand_copy", deep=True)
    assert check.match, check.summary()


# -- (c) hostile names ------------------------------------------------------------------------------
HOSTILE_TABLE = 'weird"; DROP TABLE x; --'
HOSTILE_TARGET = 'it\'s 100% %s %(x)s "evil"; DELETE FROM x; --'
HOSTILE_SCHEMA = 'sch"ema; --'


def test_hostile_names_as_source_and_target(postgres_dsn, pg_schema) -> None:
    execute(postgres_dsn, sql.SQL("CREATE TABLE {} (keep int)").format(sql.Identifier(pg_schema, "x")))
    execute(postgres_dsn, sql.SQL("INSERT INTO {} VALUES (1)").format(sql.Identifier(pg_schema, "x")))
    columns = {"vector_column": 'vec"; --', "namespace_column": "ns %s", "metadata_column": "m'eta"}
    source = pg(postgres_dsn, pg_schema, **columns)
    source.create_index(HOSTILE_TABLE, 8, "cosine", sparse=True)
    batches = [make_batch(30, "tenant'; --", seed=1), make_batch(20, "", seed=2)]
    for batch in batches:
        source.upsert(index=HOSTILE_TABLE, vectors=batch)
    target = pg(postgres_dsn, HOSTILE_SCHEMA, create_index=True)
    try:
        result = Migration(source, target).migrate(source_index=HOSTILE_TABLE, target_index=HOSTILE_TARGET)
        assert (result.migrated_count, result.errors) == (50, [])
        assert target.describe_index(HOSTILE_TARGET)["metric"] == "cosine"  # from the HNSW index built
        assert hnsw_indexes(postgres_dsn, HOSTILE_SCHEMA, HOSTILE_TARGET) == ["vector_cosine_ops"]
        check = Migration(source, target).verify(
            source_index=HOSTILE_TABLE, target_index=HOSTILE_TARGET, deep=True
        )
        assert check.match, check.summary()
        assert HOSTILE_TABLE in source.connector.list_indexes()
        assert target.connector.list_indexes() == [HOSTILE_TARGET]
        uri = Client.from_uri(
            f"{postgres_dsn.replace('postgresql', 'pgvector')}/{HOSTILE_TARGET.replace('%', '%25')}"
            f"?schema={HOSTILE_SCHEMA.replace(';', '%3B')}&namespace=tenant'%3B --"
        )
        assert uri.location.index == HOSTILE_TARGET and uri.location.namespace == "tenant'; --"
        assert uri.stats(HOSTILE_TARGET)["namespaces"]["tenant'; --"]["vector_count"] == 30
    finally:
        execute(
            postgres_dsn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(HOSTILE_SCHEMA))
        )
    assert execute(postgres_dsn, sql.SQL("SELECT keep FROM {}").format(sql.Identifier(pg_schema, "x"))) == [
        (1,)
    ]


# -- (d) errors -------------------------------------------------------------------------------------
def test_dimension_mismatch_names_table_column_and_record(postgres_dsn, pg_schema) -> None:
    client = pg(postgres_dsn, pg_schema)
    client.create_index("items", 8, "cosine")
    with pytest.raises(RecordRejected) as raised:
        client.connector.write("items", VectorBatch(["short-one"], np.ones((1, 4), dtype=np.float32)))
    message = str(raised.value)
    assert (
        "short-one" in message
        and '"items"' in message
        and "'embedding'" in message
        and "vector(8)" in message
    )


def test_nan_is_refused_by_name(postgres_dsn, pg_schema) -> None:
    client = pg(postgres_dsn, pg_schema)
    client.create_index("items", 3, "cosine")
    batch = VectorBatch(["fine", "broken"], np.array([[1, 2, 3], [1, np.nan, 3]], dtype=np.float32))
    assert list(client.connector.reject_reasons(batch)) == [1]
    with pytest.raises(RecordRejected) as raised:
        client.connector.write("items", batch)
    assert set(raised.value.reasons) == {"broken"}
    assert '"items"' in raised.value.reasons["broken"] and "NaN" in raised.value.reasons["broken"]
    assert client.stats(index="items")["total_vector_count"] == 0


def test_missing_extension_says_what_to_do(pg_database) -> None:
    client = Client(provider="pgvector", dsn=pg_database)
    assert client.list_indexes() == []
    for attempt in (lambda: client.create_index("items", 8), lambda: client.describe_index("items")):
        with pytest.raises(ConfigError, match="CREATE EXTENSION vector"):
            attempt()


def test_wrong_column_names_are_named(postgres_dsn, pg_schema) -> None:
    pg(postgres_dsn, pg_schema).create_index("items", 8, "cosine")
    with pytest.raises(ConfigError) as raised:
        pg(postgres_dsn, pg_schema, vector_column="embeddings").describe_index("items")
    message = str(raised.value)
    assert '"items"' in message and '"embeddings"' in message and '"embedding"' in message
    assert "vector_column" in message
    with pytest.raises(ConfigError, match="id_column"):
        pg(postgres_dsn, pg_schema, id_column="key").describe_index("items")
    with pytest.raises(IndexNotFound):
        pg(postgres_dsn, pg_schema).describe_index("no_such_table")


def test_password_never_leaks(postgres_server, pg_password, pg_password_dsn, pg_schema, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    good = pg(pg_password_dsn, pg_schema)
    good.create_index("items", 8, "cosine")
    good.upsert(index="items", vectors=make_batch(5, seed=1))
    assert good.stats(index="items")["total_vector_count"] == 5
    keyless = sql.SQL("CREATE TABLE {} (id text, embedding vector(8), metadata jsonb)")
    execute(pg_password_dsn, keyless.format(sql.Identifier(pg_schema, "keyless")))
    failures: list[Exception] = []
    attempts = [
        lambda: pg(
            postgres_server.dsn_for("postgres", "vm_secret_user", "wrong-" + pg_password), pg_schema
        ).list_indexes(),
        lambda: pg(pg_password_dsn.replace(str(postgres_server.port), "1"), pg_schema).list_indexes(),
        lambda: pg(pg_password_dsn, pg_schema, vector_column="nope").describe_index("items"),
        lambda: pg(pg_password_dsn, pg_schema).describe_index("missing"),
        lambda: pg(pg_password_dsn, pg_schema).create_index("huge", 20_000),
        lambda: good.connector.write("items", VectorBatch(["x"], np.ones((1, 3), dtype=np.float32))),
        lambda: Migration(
            pg(pg_password_dsn, pg_schema, metadata_column="nope"), Client(provider="memory")
        ).migrate(source_index="items", target_index="copy"),
        lambda: Migration(good, pg(pg_password_dsn, pg_schema)).migrate(
            source_index="items", target_index="keyless"
        ),
    ]
    for attempt in attempts:
        with pytest.raises(VectorMigrateError) as raised:
            attempt()
        failures.append(raised.value)
    kinds = [type(f) for f in failures]
    assert kinds[0] is ConfigError and kinds[1] is TransientError and RecordRejected in kinds
    for failure in failures:
        assert pg_password not in str(failure) and pg_password not in repr(failure)
    assert pg_password not in repr(good) and pg_password not in caplog.text


# -- other shapes of existing tables ---------------------------------------------------------------
def test_uuid_ids_varchar_namespaces_and_json_metadata(postgres_dsn, pg_schema) -> None:
    table = sql.Identifier(pg_schema, "docs")
    execute(
        postgres_dsn,
        sql.SQL("CREATE TABLE {} (id uuid PRIMARY KEY, tenant varchar(20), vec vector(3), info json)").format(
            table
        ),
    )
    execute(
        postgres_dsn,
        sql.SQL(
            """INSERT INTO {} VALUES
               ('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'acme', '[1,2,3]', '{{"k": "v"}}'),
               ('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', NULL, '[4,5,6]', '[1, 2]')"""
        ).format(table),
    )
    client = pg(
        postgres_dsn, pg_schema, namespace_column="tenant", vector_column="vec", metadata_column="info"
    )
    assert client.stats(index="docs")["namespaces"] == {"acme": {"vector_count": 1}, "": {"vector_count": 1}}
    rows = read_all(client, "docs")
    assert rows[("acme", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")]["metadata"] == {"k": "v"}
    assert rows[("", "b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12")]["metadata"] == {"info": [1, 2]}
    new_id = "c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13"
    upsert = [{"id": new_id, "values": [7, 8, 9], "metadata": {"n": 1}}]
    client.upsert(index="docs", vectors=upsert, namespace="acme")
    client.upsert(index="docs", vectors=upsert, namespace="acme")
    assert client.fetch(index="docs", ids=[new_id], namespace="acme")[new_id]["values"] == [7.0, 8.0, 9.0]
    assert client.stats(index="docs")["total_vector_count"] == 3
    with pytest.raises(RecordRejected, match="not a UUID"):
        client.upsert(index="docs", vectors=[{"id": "not-a-uuid", "values": [1, 1, 1]}])


def test_sparse_only_table_with_integer_ids(postgres_dsn, pg_schema) -> None:
    table = sql.Identifier(pg_schema, "terms")
    execute(postgres_dsn, sql.SQL("CREATE TABLE {} (id int4 PRIMARY KEY, sp sparsevec(100))").format(table))
    execute(
        postgres_dsn, sql.SQL("INSERT INTO {} VALUES (1, '{{1:0.5,100:2}}/100'), (2, NULL)").format(table)
    )
    client = pg(postgres_dsn, pg_schema, sparse_column="sp")
    info = client.describe_index("terms")
    assert (info["dimension"], info["sparse"], info["count"]) == (None, True, 2)
    rows = read_all(client, "terms")
    assert rows[("", 1)]["sparse_values"] == {"indices": [0, 99], "values": [0.5, 2.0]}
    assert "values" not in rows[("", 1)] and "sparse_values" not in rows[("", 2)]
    batch = VectorBatch([3, 4], None, SparseBlock.from_rows([([5], [1.0]), ([150], [1.0])]))
    with pytest.raises(RecordRejected) as raised:
        client.connector.write("terms", batch)
    assert set(raised.value.reasons) == {4} and "sparsevec(100)" in raised.value.reasons[4]
    client.connector.write("terms", batch.take([0]))
    assert read_all(client, "terms")[("", 3)]["sparse_values"] == {"indices": [5], "values": [1.0]}


def test_an_impossible_hnsw_index_is_refused_before_any_data_moves(postgres_dsn, pg_schema) -> None:
    source = Client(provider="memory", store=f"hnsw-{pg_schema}")
    source.upsert(index="wide", vectors=[{"id": "a", "values": np.ones(2_001)}])
    target = pg(postgres_dsn, pg_schema, create_index=True)
    with pytest.raises(ConfigError, match="up to 2000 dimensions; the source has 2001"):
        Migration(source, target).migrate(source_index="wide", target_index="wide")
    assert "wide" not in [i["name"] for i in target.list_indexes()]
