"""The pieces of a checkpointed migration: secrets kept out of the state, balanced waves,
markers and failure reports of interrupted waves."""

from __future__ import annotations

from pathlib import Path

from io_connectors.core.contract import ConnectorSpec, Split
from pipelines.checkpoint import _drop_unmarked_reports, explain_difference, group_waves
from pipelines.state import StateStore, default_location, describe_spec


def test_the_state_never_holds_a_password_or_api_key() -> None:
    pg = ConnectorSpec("pgvector", {"dsn": "postgresql://app:s3cr3t-pw@db:5432/prod", "schema": "x"})
    pc = ConnectorSpec("pinecone", {"api_key": "pc-live-key-123", "host": "h"})
    text = repr([describe_spec(pg), describe_spec(pc), default_location(pg, "a", pc, "b")])
    assert "s3cr3t-pw" not in text and "pc-live-key-123" not in text
    assert "db:5432/prod" in text  # the DSN still says where the data is


def test_waves_are_consecutive_and_about_equal() -> None:
    pieces = [Split("i", "", n, n + 1, 10, estimated_count=100) for n in range(30)]
    waves = group_waves(pieces, list(range(30)), 10)
    assert [n for wave in waves for n in wave] == list(range(30))
    assert {len(w) for w in waves} == {3}
    assert group_waves(pieces, [4, 9, 20], 10) == [[4, 9, 20]]


def test_a_difference_is_explained_part_by_part() -> None:
    then = {"source": 1, "source_shape": {"count": 10}, "target": 2, "options": 3}
    now = {**then, "source_shape": {"count": 11}}
    assert explain_difference(then, now) == (
        "the source's contents (count, namespaces or shape) changed: {'count': 10} then, {'count': 11} now"
    )


def test_markers_round_trip_and_unmarked_reports_go(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path))
    store.write_marker("run001-wave0000", {"wave": "run001-wave0000", "pieces": [0, 1]})
    assert store.markers() == [{"wave": "run001-wave0000", "pieces": [0, 1]}]
    failures = tmp_path / "failures"
    failures.mkdir()
    for wave in ("run001-wave0000", "run001-wave0001"):
        (failures / f"failures-{wave}-00000-of-00001.jsonl").write_text("{}\n")
        (failures / f"accounting-{wave}-3f2a.jsonl").write_text("{}\n")
    (failures / "failures-duplicates.jsonl").write_text("{}\n")  # settled afresh by every run
    _drop_unmarked_reports(str(failures), {"run001-wave0000"})
    assert sorted(p.name for p in failures.iterdir()) == [
        "accounting-run001-wave0000-3f2a.jsonl",
        "failures-run001-wave0000-00000-of-00001.jsonl",
    ]
    store.reset()
    assert store.markers() == [] and not list(failures.iterdir())
