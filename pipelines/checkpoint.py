"""Checkpointed migrations: run in waves, mark each finished wave, resume what is not marked.

Why waves of Beam jobs and not markers from inside one job: a read range is "done" only when
every record read from it is durable in the target or dead-lettered, but the read and the write
are different steps, ``Rechunk`` merges batches of several ranges, and runners commit bundles
together. The end of a job is the one point where all of that is known for sure: when
``wait_until_finish`` returns, every record of the job's ranges has been upserted (each upsert is
synchronous and durable when it returns) or written to the failure report and dead letter. So
the plan's splits are cut into pieces (the connector's own ``split_restriction``), the pieces
grouped into ``checkpoints`` waves of about equal size, each wave run as one job, and its marker
written by the driver only after the job succeeded. A kill loses at most the wave in flight,
whose records are upserted again (idempotently) on resume. The cost is one job start-up per wave
(about a second locally; minutes on Dataflow, where fewer checkpoints suit better).

The pieces are stored with the state and reused on resume, so a connector whose planning is not
deterministic (Qdrant samples its id boundaries at random above a size) still resumes exactly.
A resume re-describes both sides and refuses when the source, the target or an option differs
from what the state recorded (``fingerprint``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from apache_beam.io.filesystems import FileSystems

from io_connectors.core.client import Client
from io_connectors.core.contract import Split
from io_connectors.core.errors import ConfigError
from pipelines.accounting import ACCOUNTING_FILE
from pipelines.planning import MigrationPlan, ensure_target
from pipelines.progress import ProgressCallback, ProgressListener, ProgressState
from pipelines.runner import RunnerChoice
from pipelines.state import MANIFEST, StateStore, default_location, describe_spec

if TYPE_CHECKING:
    from pipelines.migration import Migration, MigrationResult

LOG = logging.getLogger(__name__)
WAVE_FILE = re.compile(r"(?:failures|accounting)-(run\d+-wave\d+)-")
SUMMED_COUNTERS = (
    "vectors_read",
    "batches_read",
    "read_failures",
    "vectors_written",
    "batches_written",
    "vectors_failed",
    "vectors_invalid",
    "dead_letter_vectors_written",
    "dead_letter_vectors_failed",
)


def fingerprint(source: Client, target: Client, plan: MigrationPlan) -> dict[str, Any]:
    """What must not change between a run and its resume (no secrets: specs are masked)."""
    info = plan.source
    described = {
        "source": {**describe_spec(source.spec), "index": info.name},
        "source_shape": {
            "count": plan.total,
            "namespaces": {ns: int(n) for ns, n in sorted(info.namespaces.items())},
            "dimension": info.dimension,
            "metric": info.metric,
            "sparse": info.sparse,
        },
        "target": {**describe_spec(target.spec), "index": plan.target_index},
        "options": {
            "namespaces": dict(sorted(plan.namespaces.items())),
            "batch_size": plan.batch_size,
            "chunk_size": plan.chunk_size,
        },
    }
    return json.loads(json.dumps(described, default=str))  # as it reads back from the state


def explain_difference(then: dict[str, Any], now: dict[str, Any]) -> str:
    """Which part of the fingerprint changed, in words."""
    reasons = []
    for part, label in (
        ("source", "the source store or index"),
        ("source_shape", "the source's contents (count, namespaces or shape)"),
        ("target", "the target store or index"),
        ("options", "the migration options (namespaces, batch or chunk size)"),
    ):
        if then.get(part) != now.get(part):
            reasons.append(f"{label} changed: {then.get(part)} then, {now.get(part)} now")
    return "; ".join(reasons)


def cut_pieces(source: Client, splits: list[Split]) -> list[Split]:
    """Each split cut where the connector cuts it for parallel reading; a piece's estimated
    count is its share of the split's (the connector's sub-ranges are meant to be even)."""
    pieces = []
    for split in splits:
        ranges = source.connector.split_restriction(split, split.start, split.stop) or [
            (split.start, split.stop)
        ]
        for start, stop in ranges:
            share = None if split.estimated_count is None else max(1, split.estimated_count // len(ranges))
            pieces.append(replace(split, start=start, stop=stop, estimated_count=share))
    return pieces


def group_waves(pieces: list[Split], todo: list[int], checkpoints: int) -> list[list[int]]:
    """Consecutive pieces of ``todo`` in waves of about ``1/checkpoints`` of all records."""
    weights = [p.estimated_count or 1 for p in pieces]
    per_wave = max(1.0, sum(weights) / max(1, checkpoints))
    waves: list[list[int]] = []
    current: list[int] = []
    weight = 0.0
    for number in todo:
        current.append(number)
        weight += weights[number]
        if weight >= per_wave:
            waves.append(current)
            current, weight = [], 0.0
    if current:
        waves.append(current)
    return waves


def _sum(markers: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for marker in markers:
        for name, value in marker.get("counters", {}).items():
            totals[name] = totals.get(name, 0) + int(value)
    return totals


def _drop_unmarked_reports(directory: str, finished: set[str]) -> None:
    """Failure reports and written-id tallies of waves a kill interrupted (their records are read
    again, and would count twice), and the duplicates report, which every run settles afresh."""
    patterns = [FileSystems.join(directory, f"{name}-*") for name in ("failures", ACCOUNTING_FILE)]
    found = [m for result in FileSystems.match(patterns) for m in result.metadata_list]
    stale = [m.path for m in found if (w := WAVE_FILE.search(m.path)) is None or w.group(1) not in finished]
    if stale:
        FileSystems.delete(stale)


def run_checkpointed(
    migration: Migration,
    plan: MigrationPlan,
    runner: RunnerChoice,
    *,
    source_index: str,
    source_namespace: str | None,
    duplicates: str,
    state: str | None,
    resume: bool,
    checkpoints: int,
    on_progress: ProgressCallback | None,
    create_target: bool,
    failures_path: str | None,
    dead_letter: Client | None,
    dead_letter_index: str,
    strict: bool,
    started: float,
    on_unsupported: str | Mapping[str, str] | None = None,
) -> MigrationResult:
    """``Migration.migrate`` with checkpoints; counts cover every run of this migration, and the
    finished waves' written-id tallies (which list their ids, so an id two waves wrote is a
    duplicate too) settle the duplicates policy and the per-namespace balance at the end of
    each run."""
    from pipelines.migration import MigrationResult, _read_failures

    if checkpoints < 1:
        raise ConfigError(f"checkpoints must be at least 1, got {checkpoints}")
    source, target = migration.source, migration.target
    store = StateStore(
        state or default_location(source.spec, plan.source.name, target.spec, plan.target_index)
    )
    now = fingerprint(source, target, plan)
    manifest = store.read_json(MANIFEST) if resume else None
    if manifest is not None and manifest["fingerprint"] != now:
        raise ConfigError(
            f"cannot resume from the state at {store.location}: "
            f"{explain_difference(manifest['fingerprint'], now)}. Run without --resume to start over "
            "(upserts are idempotent), or use sync to bring the target up to date"
        )
    pieces = store.read_pieces() if manifest is not None else None
    if manifest is None or pieces is None:
        store.reset()
        pieces = cut_pieces(source, plan.splits)
        store.write_pieces(pieces)
        manifest = {"fingerprint": now, "pieces": len(pieces), "runs": 0}
    manifest["runs"] += 1
    store.write_json(MANIFEST, manifest)
    earlier = store.markers()
    done = {number for marker in earlier for number in marker["pieces"]}
    todo = [n for n in range(len(pieces)) if n not in done]
    LOG.info(
        "state %s: %d of %d pieces done by earlier runs, %d to read",
        store.location,
        len(done),
        len(pieces),
        len(todo),
    )
    plan = replace(plan, target=ensure_target(target, plan, create_target))
    if dead_letter is not None:
        migration._prepare_dead_letter(dead_letter, dead_letter_index, plan.source)
    failures_dir = failures_path or store.failures_dir()
    _drop_unmarked_reports(failures_dir, {m["wave"] for m in earlier})
    before = _sum(earlier)
    progress = ProgressState(
        total=plan.total, chunk_size=plan.chunk_size, namespace_totals=plan.namespace_totals()
    )
    this_run: dict[str, int] = {}
    with ProgressListener(progress, on_progress) as listener:
        for number, wave in enumerate(group_waves(pieces, todo, checkpoints)):
            name = f"run{manifest['runs']:03d}-wave{number:04d}"
            progress.migrated = before.get("vectors_written", 0) + this_run.get("vectors_written", 0)
            progress.failed = sum(
                before.get(k, 0) + this_run.get(k, 0) for k in ("vectors_failed", "vectors_invalid")
            )
            counters = migration._run_job(
                plan,
                [pieces[n] for n in wave],
                runner,
                listener,
                progress,
                on_progress,
                create_target,
                FileSystems.join(failures_dir, f"failures-{name}"),
                dead_letter,
                dead_letter_index,
                account_writes_to=FileSystems.join(failures_dir, f"{ACCOUNTING_FILE}-{name}"),
                on_unsupported=on_unsupported,
                account_ids=True,
            )
            kept = {k: int(v) for k, v in counters.items() if k in SUMMED_COUNTERS}
            store.write_marker(name, {"wave": name, "pieces": wave, "counters": kept})
            for key, value in kept.items():
                this_run[key] = this_run.get(key, 0) + value
    totals = dict(before)
    for key, value in this_run.items():
        totals[key] = totals.get(key, 0) + value
    if on_progress is not None:
        progress.migrated = totals.get("vectors_written", 0)
        progress.failed = totals.get("vectors_failed", 0) + totals.get("vectors_invalid", 0)
        on_progress(progress.snapshot())
    errors = _read_failures(failures_dir)
    ledger, errors = migration._settle(plan, source_index, source_namespace, failures_dir, errors, duplicates)
    metrics = {
        **totals,
        "vectors_read_this_run": this_run.get("vectors_read", 0),
        "vectors_written_this_run": this_run.get("vectors_written", 0),
        "pieces": len(pieces),
        "pieces_done_before": len(done),
        "runs": manifest["runs"],
    }
    result = MigrationResult(
        migrated_count=sum(ledger.migrated.values()),
        batches=totals.get("batches_written", 0),
        errors=errors,
        failed_count=sum(e.count for e in errors),
        read_count=totals.get("vectors_read", 0),
        source_count=plan.total,
        duration_seconds=time.monotonic() - started,
        metrics=metrics,
        failures_path=failures_dir,
        accounting=ledger.as_dict(),
    )
    migration._check_accounting(result, ledger, strict)
    target.connector.finalize_index(plan.target_index)
    return result
