"""``sync``: after 1% updates, deletes and inserts in the source only those records are written
(or deleted), the target deep-verifies clean, and a sync racing a writer converges."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from io_connectors import Client, ConfigError, VectorBatch
from pipelines import Migration
from tests.conformance.suite import unique_name

N = 10_000
DIM = 8
CHANGE = N // 100  # 1%


def batch(ids: list, seed: int, version: int = 0, scores: bool = False) -> VectorBatch:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((len(ids), DIM), dtype=np.float32)
    metadata = [{"k": str(i), "version": version, "updated": version} for i in ids]
    if scores:  # random floats: some come back from Qdrant a unit in the last place away
        for meta, score in zip(metadata, rng.random(len(ids)).tolist()):
            meta["score"] = score
    return VectorBatch(ids, values, None, metadata, "ns")


def migrated_pair(target: Client | None = None, scores: bool = False) -> tuple[Client, Client, Migration]:
    source = Client(provider="memory", store=unique_name("sync-src"))
    target = target or Client(provider="memory", store=unique_name("sync-dst"))
    source.create_index("src", DIM, "cosine")
    source.connector.write("src", batch([f"v{i}" if i % 2 else i for i in range(N)], seed=1, scores=scores))
    migration = Migration(source, target)
    assert migration.migrate("src", "dst").migrated_count == N
    return source, target, migration


def change_one_percent(source: Client) -> None:
    """1% updated (new values and metadata), 1% deleted, 1% inserted."""
    updated = [f"v{i}" for i in range(1, 2 * CHANGE, 2)]
    source.connector.write("src", batch(updated, seed=2, version=1))
    source.connector.delete("src", list(range(0, 2 * CHANGE, 2)), "ns")
    source.connector.write("src", batch([f"new-{i}" for i in range(CHANGE)], seed=3, version=1))


def test_sync_writes_only_the_changed_records_and_mirrors_deletes() -> None:
    source, _, migration = migrated_pair()
    change_one_percent(source)

    preview = migration.sync("src", "dst", delete_extra=True, dry_run=True)
    assert (preview.missing_count, preview.different_count, preview.extra_count) == (CHANGE, CHANGE, CHANGE)
    assert preview.written_count == 0 and preview.deleted_count == 0
    assert not migration.verify("src", "dst", deep=True).match  # a dry run changes nothing

    kept = migration.sync("src", "dst")
    assert (kept.missing_count, kept.different_count, kept.extra_count) == (CHANGE, CHANGE, CHANGE)
    assert kept.written_count == 2 * CHANGE and kept.deleted_count == 0
    assert kept.matched_count == N - 2 * CHANGE
    assert migration.verify("src", "dst", deep=True).extra_count == CHANGE  # deletes not mirrored

    mirrored = migration.sync("src", "dst", delete_extra=True)
    assert mirrored.written_count == 0 and mirrored.deleted_count == CHANGE
    verification = migration.verify("src", "dst", deep=True)
    assert verification.match, verification.summary()
    assert migration.sync("src", "dst", delete_extra=True).in_sync


def test_sync_into_pgvector_writes_only_the_changes(postgres_dsn: str, pg_schema: str) -> None:
    target = Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    source, _, migration = migrated_pair(target)
    change_one_percent(source)
    result = migration.sync("src", "dst", delete_extra=True)
    assert result.written_count == 2 * CHANGE and result.deleted_count == CHANGE
    assert migration.verify("src", "dst", deep=True).match


def test_sync_into_qdrant_judges_its_one_way_changes_as_verify_does(tmp_path) -> None:
    """Qdrant's engine stores cosine vectors normalised and returns some payload floats a unit in
    the last place away: such copies are not rewritten, while real changes are."""
    target = Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    source, _, migration = migrated_pair(target, scores=True)
    settled = migration.sync("src", "dst", delete_extra=True)
    assert settled.in_sync and settled.written_count == 0, settled.summary()
    assert settled.matched_count == N
    assert settled.metrics.get("sync_candidates", 0) > 0  # the ulp-rounded ones, rechecked by verify's rules
    change_one_percent(source)
    result = migration.sync("src", "dst", delete_extra=True)
    assert (result.missing_count, result.different_count, result.extra_count) == (CHANGE, CHANGE, CHANGE)
    assert result.written_count == 2 * CHANGE and result.deleted_count == CHANGE
    assert migration.verify("src", "dst", deep=True).match


def test_sync_converges_within_three_passes_after_a_concurrent_writer_stops() -> None:
    source, _, migration = migrated_pair()
    stop = threading.Event()

    def writer() -> None:
        round_ = 0
        while not stop.is_set():
            round_ += 1
            ids = [f"v{(round_ * 37 + j) % N | 1}" for j in range(50)] + [f"w{round_}-{j}" for j in range(20)]
            source.connector.write("src", batch(ids, seed=100 + round_, version=round_))
            source.connector.delete("src", [2 * ((round_ * 11) % (N // 2))], "ns")
            time.sleep(0.01)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    during = migration.sync("src", "dst", delete_extra=True)
    stop.set()
    thread.join()
    assert during.written_count > 0
    passes = []
    for _ in range(3):
        passes.append(migration.sync("src", "dst", delete_extra=True))
        if passes[-1].in_sync:
            break
    assert passes[-1].in_sync, [p.summary() for p in passes]
    assert migration.verify("src", "dst", deep=True).match


def test_changed_since_writes_records_updated_after_the_last_sync(tmp_path) -> None:
    source, _, migration = migrated_pair()
    state = str(tmp_path / "state")
    first = migration.sync("src", "dst", changed_since="updated", state=state)
    assert first.changed_count == N  # no watermark yet: every record counts as changed
    change_one_percent(source)
    second = migration.sync("src", "dst", changed_since="updated", state=state)
    assert second.changed_count == 2 * CHANGE and second.written_count == 2 * CHANGE
    with pytest.raises(ConfigError, match="cannot see deletions"):
        migration.sync("src", "dst", changed_since="updated", delete_extra=True)


def stamped(ids: list, seed: int, version: int, as_text: bool) -> VectorBatch:
    """A batch whose ``updated`` field is the version, or an ISO time growing with it."""
    rows = batch(ids, seed, version)
    if as_text:
        for meta in rows.metadata:
            meta["updated"] = f"2026-12-{version + 1:02d}T08:00:00Z"
    return rows


# (source, watermark as ISO text?, whether the source reads only what the watermark lets through)
CHANGED_SINCE_CASES = [
    ("pgvector", False, True),
    ("pgvector", True, True),  # compared as text in the "C" collation
    ("qdrant-edge", False, True),
    ("qdrant-local", False, True),  # qdrant-client's local mode: ids listed with the filter
    ("qdrant-edge", True, False),  # Qdrant's ranges do not compare text: a full scan, still exact
]


def changed_since_source(kind: str, postgres_dsn: str, pg_schema: str, tmp_path) -> Client:
    if kind == "pgvector":
        return Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema)
    if kind == "qdrant-edge":
        return Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    return Client(provider="qdrant", path=str(tmp_path / "local"))


@pytest.mark.parametrize(("kind", "as_text", "pushed_down"), CHANGED_SINCE_CASES)
def test_changed_since_reads_only_the_changed_records_where_the_source_can_filter(
    postgres_dsn: str, pg_schema: str, tmp_path, kind: str, as_text: bool, pushed_down: bool
) -> None:
    source = changed_since_source(kind, postgres_dsn, pg_schema, tmp_path)
    source.create_index("src", DIM, "cosine")
    source.connector.write("src", stamped([f"v{i}" for i in range(N)], seed=1, version=0, as_text=as_text))
    migration = Migration(source, Client(provider="memory", store=unique_name("sync-dst")))
    assert migration.migrate("src", "dst").migrated_count == N
    state = str(tmp_path / "state")
    first = migration.sync("src", "dst", changed_since="updated", state=state)
    assert first.metrics["vectors_read"] == N  # no watermark yet: the whole source

    updated, inserted = [f"v{i}" for i in range(0, N, 100)], [f"new-{i}" for i in range(CHANGE)]
    source.connector.write("src", stamped(updated, seed=2, version=1, as_text=as_text))
    source.connector.write("src", stamped(inserted, seed=3, version=1, as_text=as_text))
    second = migration.sync("src", "dst", changed_since="updated", state=state)
    assert second.metrics["vectors_read"] == (2 * CHANGE if pushed_down else N + CHANGE)
    assert second.changed_count == second.written_count == 2 * CHANGE
    assert migration.verify("src", "dst", deep=True).match
    again = migration.sync("src", "dst", changed_since="updated", state=state)
    assert again.changed_count == 0 and again.written_count == 0
    assert again.metrics.get("vectors_read", 0) == (0 if pushed_down else N + CHANGE)

    bare = VectorBatch(["bare"], np.ones((1, DIM), np.float32), None, [{"k": "no time"}], "ns")
    source.connector.write("src", bare)  # pushed down or not, a record without the field is reported
    with pytest.raises(Exception, match="record 'bare' of namespace 'ns' has no 'updated' metadata field"):
        migration.sync("src", "dst", changed_since="updated", state=state)


def test_sync_and_replay_from_the_command_line(capsys) -> None:
    from pipelines import cli

    source, target, _ = migrated_pair()
    change_one_percent(source)
    src, dst = source.spec.options["store"], target.spec.options["store"]
    args = [
        "sync",
        "--source",
        f"memory://src?store={src}",
        "--target",
        f"memory://dst?store={dst}",
        "--json",
    ]
    assert cli.main([*args, "--dry-run"]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert (preview["missing_count"], preview["written_count"]) == (CHANGE, 0)
    assert cli.main([*args, "--delete-extra"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["written_count"], done["deleted_count"]) == (2 * CHANGE, CHANGE)
