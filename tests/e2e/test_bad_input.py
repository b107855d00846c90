"""The bad-input battery: one damaged Parquet export (one kind of damage per namespace, see
``tests/badinput/export.py``) migrated once into every target; each case asserts its exact outcome.

Every case's namespace holds ``good-1`` and ``good-2`` next to the bad record(s): the good ones
must land, the bad ones must be reported with their id (or position), stage and reason, and the
balance *source = written + failed* must hold wherever the source count is exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from io_connectors import Client, ConfigError
from pipelines import Migration
from pipelines.migration import MigrationError, MigrationResult
from pipelines.state import StateStore
from tests.badinput.export import CASES, HOSTILE_NAMESPACE, LONG_ID, write_export
from tests.conformance.suite import unique_name
from tests.fixtures.pinecone import PINECONE_TEST_KEY

TARGETS = ("memory", "parquet", "pgvector", "qdrant", "pinecone")
GOOD = ["good-1", "good-2"]


@dataclass(frozen=True)
class Expect:
    """One case's outcome: its errors as (stage, error_class, ids, count, words of the message),
    the ids that land, and whether the source count is exact (a file that cannot be opened
    hides how many records it held)."""

    errors: tuple[tuple[str, str, tuple, int, str], ...]
    landed: tuple = tuple(GOOD)
    exact: bool = True


def refused(stage: str, error_class: str, ids: tuple, words: str) -> Expect:
    return Expect(((stage, error_class, ids, len(ids), words),))


LANDS = Expect((), (*GOOD, "bad"))
NAN = refused("validate", "InvalidRecord", ("bad",), "dense values contain NaN or infinity")
PG_KEY = "id and namespace take"  # pgvector: the primary key entry would be too large

EXPECTED: dict[str, Expect] = {
    "nan": NAN,
    "inf": NAN,
    "null-vector": refused("read", "UnreadableRecord", ("bad",), "field 'values' is null"),
    "ragged": refused("read", "UnreadableRecord", ("bad",), "field 'values' has 5 values"),
    "wrong-dimension": refused(
        "validate", "InvalidRecord", ("bad",), "has 3 dense values; the target index has dimension 4"
    ),
    "empty-id": Expect((), (*GOOD, "")),
    "long-id": Expect((), (*GOOD, LONG_ID)),
    "non-ascii-id": Expect((), (*GOOD, "bäd-ü")),
    "duplicate-id": Expect((("duplicate", "DuplicateId", ("twice",), 2, "every copy failed"),)),
    "bad-json": refused("read", "UnreadableRecord", ("bad",), "field 'metadata' is not valid JSON"),
    "big-metadata": LANDS,
    "deep-metadata": LANDS,
    "nul-character": LANDS,
    "unreadable-file": Expect(
        (
            (
                "read",
                "ArrowInvalid",
                (),
                0,
                "unreadable-file/part-1.parquet: the file cannot be read, number of records unknown",
            ),
        ),
        exact=False,
    ),
    "corrupt-row-group": Expect(
        (("read", "OSError", ("lost-1", "lost-2", "lost-3"), 3, "row group 0: the row group cannot be read"),)
    ),
    "wrong-columns": Expect(
        (("read", "UnreadableRecord", (), 1, "has no column 'id' (columns: key, values)"),)
    ),
    HOSTILE_NAMESPACE: NAN,
}

# What a target's own limits change (Pinecone: ASCII ids of 1..512 characters, 40 KB of
# metadata; pgvector: no NUL in text or jsonb, a primary key entry of at most ~2.6 KB).
OVERRIDES: dict[tuple[str, str], Expect] = {
    ("pinecone", "empty-id"): refused("validate", "InvalidRecord", ("",), "id is empty"),
    ("pinecone", "long-id"): refused(
        "validate", "InvalidRecord", (LONG_ID,), "id is 3000 characters; the target allows 512"
    ),
    ("pinecone", "non-ascii-id"): refused("validate", "InvalidRecord", ("bäd-ü",), "non-ASCII"),
    ("pinecone", "big-metadata"): refused("write", "RecordRejected", ("bad",), "Pinecone allows 40960 bytes"),
    ("pgvector", "long-id"): refused("write", "RecordRejected", (LONG_ID,), "bytes"),
    ("pgvector", "nul-character"): refused("write", "RecordRejected", ("bad",), "NUL"),
}


@dataclass
class Outcome:
    result: MigrationResult
    fetch: Callable[[str, list], list]


def _target_client(name: str, tmp: Path, request: pytest.FixtureRequest) -> Client:
    if name == "memory":
        return Client(provider="memory", store=unique_name("battery"))
    if name == "parquet":
        return Client(provider="parquet", path=str(tmp / "parquet-target"))
    if name == "qdrant":
        return Client(provider="qdrant", edge_path=str(tmp / "qdrant-edge"))
    if name == "pgvector":
        return Client(provider="pgvector", dsn=request.getfixturevalue("postgres_dsn"))
    server = request.getfixturevalue("pinecone_session_server")
    server.clear_faults()
    return Client(provider="pinecone", api_key=PINECONE_TEST_KEY, host=server.url)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Client:
    root = tmp_path_factory.mktemp("bad-export")
    write_export(root)
    return Client(provider="parquet", path=str(root))


@pytest.fixture(scope="module", params=TARGETS)
def outcome(
    request, export: Client, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Outcome]]:
    """One migration of the whole export into the target; every case reads its namespace."""
    target = _target_client(request.param, tmp_path_factory.mktemp(request.param), request)
    index = unique_name("battery")
    result = Migration(export, target).migrate(source_index="export", target_index=index)
    yield request.param, Outcome(result, lambda ns, ids: list(target.connector.fetch(index, ids, ns).ids))
    target.connector.delete_index(index)
    target.close()


def _errors_of(result: MigrationResult, namespace: str) -> list[MigrationError]:
    return sorted((e for e in result.errors if e.namespace == namespace), key=lambda e: e.stage)


@pytest.mark.parametrize(
    "case", list(CASES), ids=lambda c: "hostile-namespace" if c == HOSTILE_NAMESPACE else c
)
def test_bad_input_case(case: str, outcome: tuple[str, Outcome]) -> None:
    target, run = outcome
    expect = OVERRIDES.get((target, case), EXPECTED[case])
    errors = _errors_of(run.result, case)
    assert [(e.stage, e.error_class, tuple(e.ids), e.count) for e in errors] == [
        (stage, cls, ids, count) for stage, cls, ids, count, _ in expect.errors
    ]
    for error, (*_, words) in zip(errors, expect.errors):
        assert words in error.message, error.message
    asked = [*GOOD, "bad", "twice", "", LONG_ID, "bäd-ü", "lost-1"]
    if target == "pinecone":  # ids Pinecone cannot hold are never asked for
        asked = [i for i in asked if i and i.isascii() and len(i) <= 512]
    assert sorted(run.fetch(case, asked)) == sorted(i for i in expect.landed if i in asked)
    balance = run.result.accounting[case]
    assert balance["written"] == len(expect.landed)
    assert balance["failed"] == sum(count for *_, count, _ in expect.errors)
    if expect.exact:
        assert balance["source"] == balance["written"] + balance["failed"]
    else:
        assert balance["source"] is None


def test_totals_add_up(outcome: tuple[str, Outcome]) -> None:
    """failed_count counts every failed record; migrated_count counts distinct records landed."""
    target, run = outcome
    expected = [OVERRIDES.get((target, case), EXPECTED[case]) for case in CASES]
    assert run.result.migrated_count == sum(len(e.landed) for e in expected)
    assert run.result.failed_count == sum(count for e in expected for *_, count, _ in e.errors)


# -- the issue's reproduction -------------------------------------------------------------
def _issue_export(root: Path) -> Client:
    """50 good records; part-x1: NaN, inf, an empty id, a second ``ok3``, a 10,000-character id;
    part-x2: ``badjson`` with metadata ``{not json`` and a good record ``fine``."""
    folder = root / "src" / "__default__"
    folder.mkdir(parents=True)
    (root / "src" / "_index.json").write_text(json.dumps({"dimension": 4, "metric": "cosine"}))

    def write(name: str, ids: list[str], values: list, metadata: list) -> None:
        table = pa.table(
            {"id": ids, "values": pa.array(values, type=pa.list_(pa.float32())), "metadata": metadata}
        )
        pq.write_table(table, folder / name)

    write(
        "part-0.parquet",
        [f"ok{i}" for i in range(50)],
        [[1, 2, 3, 4]] * 50,
        [json.dumps({"i": i}) for i in range(50)],
    )
    nan, inf = float("nan"), float("inf")
    write(
        "part-x1.parquet",
        ["nan", "inf", "", "ok3", "x" * 10_000],
        [[nan, 1, 1, 1], [inf, 1, 1, 1], [1, 1, 1, 1], [4, 3, 2, 1], [1, 1, 1, 1]],
        [None] * 5,
    )
    write("part-x2.parquet", ["badjson", "fine"], [[1, 1, 1, 1]] * 2, ["{not json", "{}"])
    return Client(provider="parquet", path=str(root))


@pytest.mark.parametrize("checkpointed", [False, True], ids=["one-job", "checkpointed"])
@pytest.mark.parametrize("policy", ["fail", "keep-last"])
def test_the_issue_example_accounts_for_every_source_record(
    tmp_path, policy: str, checkpointed: bool
) -> None:
    """Checkpointed, each file is read by a job of its own, so the id two files hold ("ok3") is a
    duplicate no single job sees: the waves' listed ids find it."""
    source = _issue_export(tmp_path)
    target = Client(provider="memory", store=unique_name("issue"))
    waves = {"state": str(tmp_path / "state"), "checkpoints": 3} if checkpointed else {}
    result = Migration(source, target).migrate(
        source_index="src", target_index="dst", duplicates=policy, **waves
    )
    if checkpointed:  # the two files holding "ok3" were read by different jobs
        store = StateStore(str(tmp_path / "state"))
        pieces = store.read_pieces()
        assert pieces is not None
        wave_of = {str(pieces[n].key): m["wave"] for m in store.markers() for n in m["pieces"]}
        assert len(set(wave_of.values())) >= 2, wave_of
        assert wave_of["src/__default__/part-0.parquet"] != wave_of["src/__default__/part-x1.parquet"]
    failures = {(e.stage, tuple(e.ids), e.count) for e in result.errors}
    duplicate = ("duplicate", ("ok3",), 2 if policy == "fail" else 1)
    assert failures == {("read", ("badjson",), 1), ("validate", ("nan", "inf"), 2), duplicate}
    landed = {*(f"ok{i}" for i in range(50)), "fine", "", "x" * 10_000}
    if policy == "fail":
        landed.discard("ok3")
    assert set(target.fetch(index="dst", ids=[*landed, "ok3", "badjson", "nan", "inf"])) == landed
    assert result.source_count == 57 == result.migrated_count + result.failed_count
    assert result.migrated_count == len(landed)
    assert result.accounting == {"": {"source": 57, "written": len(landed), "failed": 57 - len(landed)}}


def test_a_shortfall_against_the_source_is_an_integrity_error(tmp_path, monkeypatch) -> None:
    """A read that loses records without reporting them is caught by the source balance."""
    from io_connectors.parquet.connector import ParquetConnector

    source = _issue_export(tmp_path)
    original = ParquetConnector.read

    def lossy(self, split, tracker):
        for item in original(self, split, tracker):
            if not split.key.endswith("part-x2.parquet"):
                yield item

    monkeypatch.setattr(ParquetConnector, "read", lossy)
    with pytest.raises(
        Exception, match=r"namespace '': source holds 57 but .* 2 record\(s\) unaccounted for"
    ):
        Migration(source, Client(provider="memory", store=unique_name("t"))).migrate(
            source_index="src", target_index="dst"
        )


# -- refused before any data moves ----------------------------------------------------------
@pytest.fixture
def small_source() -> Client:
    source = Client(provider="memory", store=unique_name("small"))
    source.create_index("idx", 4, metric="cosine")
    source.upsert(index="idx", vectors=[{"id": "a", "values": [1, 2, 3, 4]}], namespace="tenant")
    return source


@pytest.mark.parametrize("target_name", TARGETS)
@pytest.mark.parametrize("shape", [(8, "cosine"), (4, "euclidean")], ids=["dimension", "metric"])
def test_a_target_of_another_shape_is_refused(small_source, target_name, shape, tmp_path, request) -> None:
    target = _target_client(target_name, tmp_path, request)
    index = unique_name("shape")
    target.create_index(index, shape[0], metric=shape[1])
    try:
        words = "dimension 8" if shape[0] == 8 else "euclidean metric"
        with pytest.raises(ConfigError, match=words):
            Migration(small_source, target).migrate(source_index="idx", target_index=index)
        assert target.connector.count(index) == 0
    finally:
        target.connector.delete_index(index)


def test_source_equal_to_target_is_refused(small_source) -> None:
    twin = Client(provider="memory", store=small_source.spec.options["store"])
    with pytest.raises(ConfigError, match="same index 'idx'"):
        Migration(small_source, twin).migrate(source_index="idx", target_index="idx")
    result = Migration(small_source, twin).migrate(
        source_index="idx", target_index="idx", source_namespace="tenant", target_namespace="copy"
    )
    assert result.migrated_count == 1  # another namespace of the same index is a copy, allowed


def test_a_missing_source_namespace_is_refused(small_source) -> None:
    with pytest.raises(ConfigError, match=r"no namespace 'tenat'.*'tenant'"):
        Migration(small_source, Client(provider="memory")).migrate(
            source_index="idx", target_index="idx", source_namespace="tenat"
        )


@pytest.mark.parametrize("name", ["../escape", "a/b", "", "."])
def test_hostile_parquet_index_names_are_refused(tmp_path, name: str) -> None:
    client = Client(provider="parquet", path=str(tmp_path / "root"))
    with pytest.raises(ConfigError, match="not a valid index"):
        client.create_index(name, 4)
    assert not (tmp_path / "escape").exists()


def test_hostile_pgvector_table_names_stay_identifiers(postgres_dsn: str) -> None:
    client = Client(provider="pgvector", dsn=postgres_dsn)
    name = 'vm"; DROP TABLE x; --'
    client.create_index(name, 4)
    try:
        client.upsert(index=name, vectors=[{"id": "a", "values": np.ones(4).tolist()}])
        assert list(client.fetch(index=name, ids=["a"])) == ["a"]
    finally:
        client.delete_index(name)


def test_deep_verification_does_not_match_over_unreadable_source_records(tmp_path) -> None:
    source = _issue_export(tmp_path)
    target = Client(provider="memory", store=unique_name("verify"))
    migration = Migration(source, target)
    migration.migrate(source_index="src", target_index="dst")
    verification = migration.verify(source_index="src", target_index="dst", deep=True)
    assert not verification.match and verification.unreadable_count == 1  # badjson


def test_a_keyless_pgvector_table_with_a_null_id_and_a_duplicate_id(
    postgres_dsn: str, pg_schema: str
) -> None:
    """A table another tool made without a key: the null id fails alone (by its position), the
    id two rows share is reported by the duplicates pass, the rest land."""
    from psycopg import sql

    from tests.e2e.test_pgvector_e2e import execute

    table = sql.Identifier(pg_schema, "keyless")
    execute(
        postgres_dsn, sql.SQL("CREATE TABLE {} (id text, embedding vector(4), metadata jsonb)").format(table)
    )
    rows = [
        ("a", "[1,2,3,4]"),
        ("b", "[1,2,3,4]"),
        (None, "[1,1,1,1]"),
        ("b", "[4,3,2,1]"),
        ("c", "[1,2,3,4]"),
    ]
    for vector_id, vector in rows:
        execute(
            postgres_dsn, sql.SQL("INSERT INTO {} VALUES (%s, %s, '{{}}')").format(table), (vector_id, vector)
        )
    source = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    target = Client(provider="memory", store=unique_name("keyless"))
    result = Migration(source, target).migrate(source_index="keyless", target_index="dst")
    failures = sorted((e.stage, tuple(e.ids), e.count) for e in result.errors)
    assert failures == [("duplicate", ("b",), 2), ("read", (), 1)]
    assert "field 'id' is null" in next(e.message for e in result.errors if e.stage == "read")
    assert sorted(target.fetch(index="dst", ids=["a", "b", "c"])) == ["a", "c"]
    assert result.accounting == {"": {"source": 5, "written": 2, "failed": 3}}


def test_the_cli_reports_the_balance_and_takes_the_duplicates_policy(tmp_path, capsys) -> None:
    from pipelines import cli

    _issue_export(tmp_path)
    store = unique_name("cli")
    args = ["migrate", "--source", f"parquet://{tmp_path}/src", "--target", f"memory://dst?store={store}"]
    assert cli.main([*args, "--duplicates", "keep-last"]) == 1  # records failed
    out = capsys.readouterr().out
    assert "namespace '': source 57 = written 53 + failed 4" in out
    assert "[duplicate] DuplicateId" in out and "'ok3'" in out


def test_a_reused_failures_folder_does_not_carry_old_duplicates(tmp_path) -> None:
    source = _issue_export(tmp_path / "export")
    report = str(tmp_path / "report")
    first = Migration(source, Client(provider="memory", store=unique_name("a"))).migrate(
        source_index="src", target_index="dst", failures_path=report
    )
    assert any(e.stage == "duplicate" for e in first.errors)
    single = Client(provider="memory", store=unique_name("one"))
    single.upsert(index="one", vectors=[{"id": "x", "values": [1, 2, 3, 4]}])
    second = Migration(single, Client(provider="memory", store=unique_name("b"))).migrate(
        source_index="one", target_index="dst", failures_path=report
    )
    assert second.errors == [] and second.accounting == {"": {"source": 1, "written": 1, "failed": 0}}
