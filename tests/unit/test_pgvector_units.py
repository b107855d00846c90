"""The pgvector connector's pure parts: URIs, secrets, what it refuses and why, id de-duplication
and page-range planning. Nothing here needs a server (constructing a connector does no I/O)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from psycopg.conninfo import conninfo_to_dict

from io_connectors import Client, ConfigError, SparseBlock, Split, VectorBatch, parse_uri
from io_connectors.pgvector.codec import metadata_check, table_refusals, vector_refusals
from io_connectors.pgvector.connector import PgvectorConnector, ReadKey, _last_of_each_id
from io_connectors.pgvector.schema import Column, ColumnNames, TableLayout
from io_connectors.pgvector.session import Session

PASSWORD = "s3cr%t@pw"
DSN = "postgresql://alice:s3cr%25t%40pw@db.example:5433/vectors"


# -- URIs --------------------------------------------------------------------------------------
def test_pgvector_uri_with_table_in_the_path() -> None:
    location = parse_uri(
        "pgvector://alice:pw@db.example:5433/vectors/items?schema=search&namespace=tenant-1"
        "&vector_column=emb&sslmode=require&create_index=true"
    )
    assert location.spec.provider == "pgvector"
    assert (location.index, location.namespace) == ("items", "tenant-1")
    assert dict(location.spec.options) == {
        "dsn": "postgresql://alice:pw@db.example:5433/vectors?sslmode=require",
        "schema": "search",
        "vector_column": "emb",
        "create_index": "true",
    }


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_uri_with_table_in_the_query(scheme: str) -> None:
    location = parse_uri(f"{scheme}://alice@db.example/vectors?table=items&connect_timeout=5")
    assert (location.index, location.namespace) == ("items", None)
    assert location.spec.options["dsn"] == "postgresql://alice@db.example/vectors?connect_timeout=5"


def test_libpq_parameters_stay_in_the_dsn_as_libpq_reads_them() -> None:
    location = parse_uri("pgvector://u@h/db/t?options=-c%20synchronous_commit%3Doff&application_name=a%2Bb")
    dsn = location.spec.options["dsn"]
    assert dsn == "postgresql://u@h/db?options=-c%20synchronous_commit%3Doff&application_name=a%2Bb"
    assert conninfo_to_dict(dsn)["options"] == "-c synchronous_commit=off"


def test_uri_without_table_and_with_an_encoded_one() -> None:
    assert parse_uri("pgvector://db.example/vectors").index is None
    encoded = parse_uri("pgvector://db.example/vectors/odd%22%3B%20name%2Fx%25")
    assert encoded.index == 'odd"; name/x%'


def test_bad_uri_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_uri("postgresql://alice:topsecret@db.example/vectors/items")
    assert "?table=" in str(raised.value) and "topsecret" not in str(raised.value)


def test_dsn_is_required() -> None:
    with pytest.raises(ConfigError, match="'dsn'"):
        PgvectorConnector(Client(provider="pgvector").spec)


# -- secrets -----------------------------------------------------------------------------------
def test_redaction_masks_the_dsn_and_its_decoded_password() -> None:
    client = Client(provider="pgvector", dsn=DSN)
    session = Session(DSN)
    text = f"failed for {DSN}; password was {PASSWORD}"
    redacted = session.redact(text)
    assert PASSWORD not in redacted and "s3cr%25t%40pw" not in redacted
    assert PASSWORD not in repr(client) and "s3cr" not in repr(client)


# -- what pgvector refuses ---------------------------------------------------------------------
def test_vector_refusals_name_each_problem() -> None:
    values = np.ones((4, 3), dtype=np.float32)
    values[1, 2] = np.nan
    values[2, 0] = np.inf
    batch = VectorBatch(["ok", "nan", "inf", "nul\x00id"], values)
    reasons = vector_refusals(batch)
    assert set(reasons) == {1, 2, 3}
    assert "NaN" in reasons[1] and "NaN or infinity" in reasons[2] and "NUL" in reasons[3]


def test_too_many_dimensions_and_too_long_keys() -> None:
    wide = VectorBatch(["a"], np.ones((1, 16_001), dtype=np.float32))
    assert "16000" in vector_refusals(wide)[0]
    long_id = VectorBatch(["x" * 2_601, "y" * 100], np.ones((2, 2), dtype=np.float32))
    assert list(vector_refusals(long_id)) == [0]


@pytest.mark.parametrize(
    ("indices", "values", "expected"),
    [
        (list(range(16_001)), [1.0] * 16_001, "at most 16000"),
        ([3, 1_000_000_000], [1.0, 2.0], "largest sparse dimension"),
        ([5, 5], [1.0, 2.0], "duplicate"),
        ([1, 2], [0.0, 2.0], "zero"),
        ([1, 2], [np.nan, 2.0], "NaN"),
    ],
)
def test_sparse_refusals(indices: list[int], values: list[float], expected: str) -> None:
    sparse = SparseBlock.from_rows([([0, 999_999_999], [1.0, 2.0]), (indices, values), None])
    batch = VectorBatch(["fine", "bad", "none"], None, sparse)
    reasons = vector_refusals(batch)
    assert list(reasons) == [1] and expected in reasons[1]


def test_namespace_with_nul_refuses_every_row() -> None:
    batch = VectorBatch([1, 2], np.ones((2, 2), dtype=np.float32), namespace="a\x00b")
    assert set(vector_refusals(batch)) == {0, 1}


def test_metadata_with_nul_is_refused_but_a_backslash_u_text_is_not() -> None:
    metadata = [{"a": "fine"}, {"nested": [{"k\x00": 1}]}, {"text": "\\u0000 literally"}, None]
    batch = VectorBatch([1, 2, 3, 4], np.ones((4, 2), dtype=np.float32), metadata=metadata)
    reasons = metadata_check(batch)
    assert set(reasons) == {1} and "NUL" in reasons[1]
    not_json = VectorBatch(
        [1, 2], np.ones((2, 2), dtype=np.float32), metadata=[{"x": float("nan")}, {"y": 1}]
    )
    assert set(metadata_check(not_json)) == {0} and "JSON" in metadata_check(not_json)[0]


# -- what one table refuses ----------------------------------------------------------------------
def layout(
    id_type: str = "text", flag: bool = True, namespace: bool = True, dense: str = "vector"
) -> TableLayout:
    kind = {"int8": "int", "int4": "int", "uuid": "uuid"}.get(id_type, "text")
    return TableLayout(
        schema="public",
        table="items",
        relid=1,
        id=Column("id", id_type, -1, True),
        id_kind=kind,
        id_flag=Column("id_is_int", "bool", -1, True) if flag else None,
        namespace=Column("namespace", "text", -1, True) if namespace else None,
        dense=Column("embedding", dense, 3, False),
        sparse=None,
        metadata=None,
        extras=(),
        metric="cosine",
        sparse_declared=False,
        conflict_key=("id",),
        names=ColumnNames(),
    )


def test_table_refusals_for_ids_the_id_column_cannot_hold() -> None:
    ids = [5, "abc", 2**63, "0b6f2a1e-8d3c-4c9e-9f3c-1a2b3c4d5e6f"]
    batch = VectorBatch(ids, np.ones((4, 3), dtype=np.float32))
    assert set(table_refusals(layout("int8", flag=False), batch)) == {1, 3, 2}
    assert set(table_refusals(layout("uuid", flag=False), batch)) == {0, 1, 2}
    text_without_flag = table_refusals(layout("text", flag=False), batch)
    assert set(text_without_flag) == {0, 2} and "id_is_int" in text_without_flag[0]
    assert table_refusals(layout("text"), batch) == {}


def test_table_refusals_for_missing_columns_dimension_and_halfvec_range() -> None:
    batch = VectorBatch(
        ["a", "b"],
        np.array([[1, 2, 3], [70_000, 0, 0]], dtype=np.float32),
        SparseBlock.from_rows([([1], [1.0]), None]),
        [{"m": 1}, None],
        namespace="tenant",
    )
    reasons = table_refusals(layout(namespace=False, dense="halfvec"), batch)
    assert set(reasons) == {0, 1} and "namespace" in reasons[0] and "namespace" in reasons[1]
    wrong_dimension = VectorBatch(["a"], np.ones((1, 4), dtype=np.float32))
    assert "vector(3)" in table_refusals(layout(), wrong_dimension)[0]
    halfvec = table_refusals(layout(dense="halfvec"), batch.with_namespace(""))
    assert "sparsevec" in halfvec[0] and "halfvec's range" in halfvec[1]


# -- ids and page ranges -------------------------------------------------------------------------
def test_repeated_ids_keep_their_last_occurrence() -> None:
    assert _last_of_each_id([1, "1", 2, 1, "x"]) == [1, 2, 3, 4]
    assert _last_of_each_id([1, "1", 2]) is None
    spellings = ["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]
    assert _last_of_each_id(spellings, canonical_uuids=True) == [1]


@pytest.mark.parametrize(
    ("start", "stop", "rows_per_page", "batch"), [(0, 100, 50.0, 64), (7, 31, 0.5, 16), (3, 4, 9.0, 1)]
)
def test_split_restriction_tiles_the_range(start: int, stop: int, rows_per_page: float, batch: int) -> None:
    connector = PgvectorConnector(Client(provider="pgvector", dsn=DSN).spec)
    split = Split("items", "", 0, 100, batch, ReadKey(True, rows_per_page), 1000)
    ranges = connector.split_restriction(split, start, stop)
    assert ranges[0][0] == start and ranges[-1][1] == stop
    assert all(lo < hi for lo, hi in ranges)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
