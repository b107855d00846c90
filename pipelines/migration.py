"""The Python API, mirroring the seed: ``Migration(source, target).migrate(...)`` and ``.verify(...)``.

migration = Migration(source_client, target_client)
result = migration.migrate(source_index="products", target_index="products",
                           on_progress=lambda s: print(s["percentage"]))
result.migrated_count, result.batches, result.errors
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from io_connectors.beam.write import WriteVectors
from io_connectors.core.client import Client
from io_connectors.core.contract import IndexInfo, Split
from io_connectors.core.degrade import COUNTERS as DEGRADE_COUNTERS
from io_connectors.core.degrade import parse_policies
from io_connectors.core.errors import ConfigError, IntegrityError
from io_connectors.core.failures import FailedRecords
from pipelines.accounting import (
    ACCOUNTING_FILE,
    CountWrittenIds,
    Ledger,
    check_duplicates_policy,
    clear_previous,
    exact_source_counts,
    failed_by_target_namespace,
    read_tallies,
    settle,
    shortfall_message,
    write_duplicate_failures,
)
from pipelines.job_graph import refuse_secrets_in_job_graph
from pipelines.locations import remove_dir, scratch_dir
from pipelines.planning import DEFAULT_BATCH_SIZE, MigrationPlan, plan_migration
from pipelines.progress import ProgressCallback, ProgressListener, ProgressState
from pipelines.replay import ReplayResult, replay_dead_letter
from pipelines.runner import RunConfig, RunnerChoice, choose_runner, job_counters
from pipelines.side_files import WriteLines
from pipelines.sync import SyncResult, sync_indexes
from pipelines.transforms import MigrateVectors
from pipelines.verify import VerificationResult, verify_contents, verify_counts

LOG = logging.getLogger(__name__)
DEFAULT_CHECKPOINTS = 20
REMOTE_POLL_SECONDS = 5.0


@dataclass
class MigrationError:
    """One failure: its class and message, the stage it happened in, and the ids it concerns."""

    error_class: str
    message: str
    ids: list[Any]
    namespace: str
    stage: str
    count: int

    def __str__(self) -> str:
        return f"{self.error_class}: {self.message}"


@dataclass
class MigrationResult:
    migrated_count: int
    batches: int
    errors: list[MigrationError]
    failed_count: int
    read_count: int
    source_count: int
    duration_seconds: float
    metrics: dict[str, int] = field(default_factory=dict)
    failures_path: str | None = None
    # Per target namespace: source count (None where not exact), written (distinct), failed.
    accounting: dict[str, dict[str, int | None]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and self.read_count == self.migrated_count

    def __getitem__(self, key: str) -> Any:
        """Seed-style access: ``result["migrated_count"]``."""
        return getattr(self, key)

    def summary(self) -> dict[str, Any]:
        return {
            "migrated_count": self.migrated_count,
            "batches": self.batches,
            "failed_count": self.failed_count,
            "read_count": self.read_count,
            "source_count": self.source_count,
            "duration_seconds": round(self.duration_seconds, 3),
            "vectors_per_second": round(self.migrated_count / self.duration_seconds, 1)
            if self.duration_seconds
            else 0.0,
            "errors": [
                {
                    "error_class": e.error_class,
                    "message": e.message,
                    "stage": e.stage,
                    "namespace": e.namespace,
                    "count": e.count,
                    "ids": e.ids[:20],
                }
                for e in self.errors
            ],
            "metrics": self.metrics,
            "degraded": {name: self.metrics[name] for name in DEGRADE_COUNTERS if self.metrics.get(name)},
            "failures_path": self.failures_path,
            "accounting": self.accounting,
        }


class Migration:
    """Copies vectors from ``source`` to ``target`` as a Beam pipeline.

    ``run_config`` chooses the runner (default: Beam's in-process runner); ``pipeline_args``
    are Beam pipeline options passed through (``["--direct_running_mode=multi_processing"]``).
    """

    def __init__(
        self,
        source: Client,
        target: Client,
        run_config: RunConfig | str | Path | None = None,
        pipeline_args: list[str] | None = None,
    ) -> None:
        self.source = source
        self.target = target
        if isinstance(run_config, (str, Path)):
            run_config = RunConfig.load(run_config)
        self.run_config = run_config
        self.pipeline_args = list(pipeline_args or [])

    # -- migrate ---------------------------------------------------------------------------
    def migrate(
        self,
        source_index: str,
        target_index: str,
        source_namespace: str | None = None,
        target_namespace: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_size: int | None = None,
        on_progress: ProgressCallback | None = None,
        namespace_map: Mapping[str, str] | None = None,
        create_target: bool = True,
        failures_path: str | None = None,
        dead_letter: Client | None = None,
        dead_letter_index: str = "dead-letter",
        fail_on_integrity_error: bool = True,
        duplicates: str = "fail",
        state: str | None = None,
        resume: bool = False,
        checkpoints: int = DEFAULT_CHECKPOINTS,
        on_unsupported: str | Mapping[str, str] | None = None,
    ) -> MigrationResult:
        """Copy every vector of ``source_index`` (one namespace, or all) into ``target_index``.

        ``batch_size`` vectors are read at a time, ``chunk_size`` vectors upserted at a time
        (capped by what the target accepts). Records that fail are reported in
        ``result.errors`` and, with ``dead_letter``, written to that client's index so they
        can be replayed; the migration carries on past them. ``duplicates`` says what happens to
        ids several source records share: "fail" (every copy) or "keep-last" (see
        ``pipelines.accounting``).

        With ``state`` (a folder or object-store URI) or ``resume``, the migration runs in
        ``checkpoints`` waves and marks each finished wave there; ``resume=True`` reads only what
        earlier runs did not finish (see ``pipelines/checkpoint.py``).
        ``on_unsupported``
        (``{"sparse": "drop"}``, see ``io_connectors.core.degrade``) stores records without the
        parts the target cannot hold instead of refusing them whole; the drops are counted in
        ``result.metrics`` and listed under ``degraded`` in the summary.
        """
        started = time.monotonic()
        check_duplicates_policy(duplicates)
        runner = choose_runner(self.run_config, self.pipeline_args)
        self._check_in_process(runner.in_process)
        failures_root = runner.side_file_root(failures_path, "failure reports")
        plan = self.plan(
            source_index,
            target_index,
            source_namespace,
            target_namespace,
            batch_size,
            chunk_size,
            namespace_map,
            on_unsupported,
        )
        if state is not None or resume:
            from pipelines.checkpoint import run_checkpointed  # the checkpointed path, waves of splits

            return run_checkpointed(
                self,
                plan,
                runner,
                source_index=source_index,
                source_namespace=source_namespace,
                duplicates=duplicates,
                state=state,
                resume=resume,
                checkpoints=checkpoints,
                on_progress=on_progress,
                create_target=create_target,
                failures_path=failures_path,
                dead_letter=dead_letter,
                dead_letter_index=dead_letter_index,
                strict=fail_on_integrity_error,
                started=started,
                on_unsupported=on_unsupported,
            )
        failures_dir: str | None = failures_path or scratch_dir(failures_root, "vector-migrate-failures")
        clear_previous(failures_dir)
        progress = ProgressState(
            total=plan.total, chunk_size=plan.chunk_size, namespace_totals=plan.namespace_totals()
        )
        if dead_letter is not None:
            self._prepare_dead_letter(dead_letter, dead_letter_index, plan.source)
        with ProgressListener(progress, on_progress) as listener:
            counters = self._run_job(
                plan,
                plan.splits,
                runner,
                listener,
                progress,
                on_progress,
                create_target,
                FileSystems.join(failures_dir, "failures"),
                dead_letter,
                dead_letter_index,
                account_writes_to=FileSystems.join(failures_dir, ACCOUNTING_FILE),
                on_unsupported=on_unsupported,
            )
        _final_progress(progress, counters, on_progress)
        errors = _read_failures(failures_dir)
        ledger, errors = self._settle(plan, source_index, source_namespace, failures_dir, errors, duplicates)
        if failures_path is None and not errors:
            remove_dir(failures_dir)  # a temporary report with nothing in it
            failures_dir = None
        migration = MigrationResult(
            migrated_count=sum(ledger.migrated.values()),
            batches=counters.get("batches_written", 0),
            errors=errors,
            failed_count=sum(e.count for e in errors),
            read_count=counters.get("vectors_read", 0),
            source_count=plan.total,
            duration_seconds=time.monotonic() - started,
            metrics=counters,
            failures_path=failures_dir,
            accounting=ledger.as_dict(),
        )
        self._check_accounting(migration, ledger, fail_on_integrity_error)
        self.target.connector.finalize_index(target_index)
        return migration

    def _settle(
        self,
        plan: MigrationPlan,
        source_index: str,
        source_namespace: str | None,
        failures_dir: str,
        errors: list[MigrationError],
        duplicates: str,
    ) -> tuple[Ledger, list[MigrationError]]:
        """The written-id tallies in ``failures_dir`` against the source's counts: the duplicates
        policy applied (and reported there) and the per-namespace balance; the errors with the
        duplicates added."""
        ledger = settle(
            read_tallies(failures_dir),
            failed_by_target_namespace(((e.stage, e.namespace, e.count) for e in errors), plan.mapping),
            exact_source_counts(
                self.source.connector,
                source_index,
                plan.namespaces,
                plan.source.namespaces if source_namespace is None else {source_namespace: plan.total},
            ),
            duplicates,
            lambda namespace, ids: self.target.connector.delete(plan.target_index, ids, namespace),
        )
        write_duplicate_failures(failures_dir, ledger.duplicates)
        return ledger, errors + [
            MigrationError("DuplicateId", d.message, d.ids, d.namespace, "duplicate", d.failed_copies)
            for d in ledger.duplicates
        ]

    def _run_job(
        self,
        plan: MigrationPlan,
        splits: list[Split],
        runner: RunnerChoice,
        listener: ProgressListener,
        progress: ProgressState,
        on_progress: ProgressCallback | None,
        create_target: bool,
        failures_prefix: str,
        dead_letter: Client | None,
        dead_letter_index: str,
        account_writes_to: str | None = None,
        on_unsupported: str | Mapping[str, str] | None = None,
        account_ids: bool = False,
    ) -> dict[str, int]:
        """One Beam job reading ``splits`` of ``plan`` into the target; its counters.

        ``account_writes_to``: where the per-namespace tally of written ids goes (the duplicate
        and source-balance checks of ``pipelines.accounting``); ``account_ids``: list the ids
        there too (one of several jobs of a migration)."""
        LOG.info(
            "migrating %d vectors in %d splits from %s/%s to %s/%s, chunks of %d",
            plan.total,
            len(splits),
            self.source.provider,
            plan.source.name,
            self.target.provider,
            plan.target_index,
            plan.chunk_size,
        )
        pipeline = beam.Pipeline(runner=runner.runner, options=runner.options)
        migrated = pipeline | "Migrate" >> MigrateVectors(
            self.source,
            self.target,
            create_target=create_target,
            plan=replace(plan, splits=list(splits)),
            on_unsupported=on_unsupported,
            progress=listener.sink() if runner.on_this_machine else None,
        )
        if account_writes_to is not None:
            _ = migrated.written | "AccountWrites" >> CountWrittenIds(
                account_writes_to, runner.retries_bundles, keep_ids=account_ids
            )
        _ = (
            migrated.failed
            | "FailureJson" >> beam.Map(lambda f: json.dumps(f.as_dict(), default=str))
            | "WriteFailures" >> WriteLines(failures_prefix, ".jsonl", runner.retries_bundles)
        )
        if dead_letter is not None:
            _ = (
                migrated.failed
                | "FailedRecords" >> beam.FlatMap(lambda f: [f.batch] if f.batch is not None else [])
                | "DeadLetter"
                >> WriteVectors(dead_letter.spec, dead_letter_index, counter_prefix="dead_letter_")
            )
        if runner.remote:
            specs = [self.source.spec, self.target.spec, *([dead_letter.spec] if dead_letter else [])]
            refuse_secrets_in_job_graph(pipeline, specs)
        result = pipeline.run()
        self._wait(result, progress, on_progress, runner.is_local)
        return job_counters(result)

    def _runner(self) -> RunnerChoice:
        runner = choose_runner(self.run_config, self.pipeline_args)
        self._check_in_process(runner.in_process)
        return runner

    def _check_in_process(self, in_process: bool) -> None:
        for role, client in (("source", self.source), ("target", self.target)):
            if client.connector.capabilities.in_process_only and not in_process:
                raise ConfigError(
                    f"the {role} is a {client.provider}:// store, which lives in this process, but the "
                    "runner runs workers in other processes; use the in-memory runner "
                    "(--direct_running_mode=in_memory) or parquet:// instead"
                )

    def plan(
        self,
        source_index: str,
        target_index: str,
        source_namespace: str | None = None,
        target_namespace: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_size: int | None = None,
        namespace_map: Mapping[str, str] | None = None,
        on_unsupported: str | Mapping[str, str] | None = None,
    ) -> MigrationPlan:
        """What ``migrate`` with these arguments would do, changing nothing on either side."""
        return plan_migration(
            self.source,
            self.target,
            source_index,
            target_index,
            source_namespace,
            target_namespace,
            batch_size,
            chunk_size,
            namespace_map,
            parse_policies(on_unsupported),
        )

    def _prepare_dead_letter(self, client: Client, index: str, source: IndexInfo) -> None:
        if index not in client.connector.list_indexes():
            client.connector.create_index(index, source.dimension, source.metric, source.sparse)

    @staticmethod
    def _wait(result: Any, state: ProgressState, on_progress: ProgressCallback | None, local: bool) -> None:
        """Local runners have finished here. Remote ones are waited for in a thread (some runners
        collect their final metrics inside ``wait_until_finish``) while their live metrics are polled."""
        if local:
            result.wait_until_finish()
            return
        outcome: list[BaseException | None] = []

        def wait() -> None:
            try:
                result.wait_until_finish()
                outcome.append(None)
            except BaseException as exc:  # re-raised in the caller's thread
                outcome.append(exc)

        waiter = threading.Thread(target=wait, name="migration-wait", daemon=True)
        waiter.start()
        while waiter.is_alive():
            waiter.join(timeout=REMOTE_POLL_SECONDS)
            counters = job_counters(result, committed=False)
            if counters:
                state.migrated = counters.get("vectors_written", 0)
                state.failed = _failed_so_far(counters)
                state.batches = counters.get("batches_written", 0)
            if on_progress is not None:
                on_progress(state.snapshot())
        if outcome and outcome[0] is not None:
            raise outcome[0]

    @staticmethod
    def _check_accounting(result: MigrationResult, ledger: Ledger | None, strict: bool) -> None:
        """Every record read must be written or reported failed, and every source record (where
        the source count is exact) read or reported unreadable: nothing may vanish."""
        written = result.metrics.get("vectors_written", 0)
        counted = written + result.metrics.get("vectors_failed", 0) + result.metrics.get("vectors_invalid", 0)
        messages = []
        if counted != result.read_count:
            messages.append(
                f"{result.read_count} vectors read but {written} written "
                f"and {counted - written} reported failed"
            )
        if ledger is not None and ledger.shortfalls():
            messages.append(shortfall_message(ledger))
        for message in messages:
            if strict:
                raise IntegrityError(message)
            LOG.error(message)

    # -- verify ----------------------------------------------------------------------------
    def verify(
        self,
        source_index: str,
        target_index: str,
        source_namespace: str | None = None,
        target_namespace: str | None = None,
        deep: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_examples: int = 20,
    ) -> VerificationResult:
        """Compare the two sides: counts (as the seed does) and, with ``deep``, every record."""
        if not deep:
            return verify_counts(
                self.source, self.target, source_index, target_index, source_namespace, target_namespace
            )
        runner = choose_runner(self.run_config, self.pipeline_args)
        self._check_in_process(runner.in_process)
        return verify_contents(
            self.source,
            self.target,
            source_index,
            target_index,
            source_namespace,
            target_namespace,
            runner,
            batch_size,
            max_examples,
        )

    # -- sync and replay -------------------------------------------------------------------------
    def sync(
        self,
        source_index: str,
        target_index: str,
        source_namespace: str | None = None,
        target_namespace: str | None = None,
        namespace_map: Mapping[str, str] | None = None,
        delete_extra: bool = False,
        dry_run: bool = False,
        changed_since: str | None = None,
        state: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_size: int | None = None,
    ) -> SyncResult:
        """Write only the source records missing from or different in the target (see
        ``pipelines/sync.py``); ``delete_extra`` deletes target records the source lacks."""
        return sync_indexes(
            self,
            source_index,
            target_index,
            source_namespace,
            target_namespace,
            namespace_map,
            delete_extra,
            dry_run,
            changed_since,
            state,
            batch_size,
            chunk_size,
        )

    def replay(
        self,
        dead_letter: Client,
        target_index: str,
        dead_letter_index: str = "dead-letter",
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_size: int | None = None,
    ) -> ReplayResult:
        """Write ``dead_letter``'s index back into this migration's target; records that fail
        again stay in the dead letter, the rest leave it (see ``pipelines/replay.py``)."""
        return replay_dead_letter(self, dead_letter, dead_letter_index, target_index, batch_size, chunk_size)


def _failed_so_far(counters: Mapping[str, int]) -> int:
    """Records reported failed at any step, from the job's counters (for progress reports)."""
    return sum(counters.get(name, 0) for name in ("vectors_failed", "vectors_invalid", "vectors_unreadable"))


def _final_progress(
    state: ProgressState, counters: dict[str, int], on_progress: ProgressCallback | None
) -> None:
    """One last report from the job's own metrics when the live reports fell short of them."""
    final = (
        counters.get("vectors_written", 0),
        _failed_so_far(counters),
        counters.get("batches_written", 0),
    )
    if (state.migrated, state.failed, state.batches) != final:
        state.migrated, state.failed, state.batches = final
        if on_progress is not None:
            on_progress(state.snapshot())


def _read_failures(directory: str) -> list[MigrationError]:
    errors = []
    for match in FileSystems.match([FileSystems.join(directory, "failures*")])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            for line in handle.read().decode().splitlines():
                if line.strip():
                    record = json.loads(line)
                    errors.append(
                        MigrationError(
                            record["error_class"],
                            record["message"],
                            record["ids"],
                            record["namespace"],
                            record["stage"],
                            record["count"],
                        )
                    )
    return errors


__all__ = [
    "FailedRecords",
    "Migration",
    "MigrationError",
    "MigrationPlan",
    "MigrationResult",
    "ReplayResult",
    "SyncResult",
]
