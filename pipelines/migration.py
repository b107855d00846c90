"""The Python API, mirroring the seed: ``Migration(source, target).migrate(...)`` and ``.verify(...)``.

migration = Migration(source_client, target_client)
result = migration.migrate(source_index="products", target_index="products",
                           on_progress=lambda s: print(s["percentage"]))
result.migrated_count, result.batches, result.errors
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from io_connectors.beam.write import WriteVectors
from io_connectors.core.client import Client
from io_connectors.core.contract import IndexInfo
from io_connectors.core.degrade import COUNTERS as DEGRADE_COUNTERS
from io_connectors.core.degrade import parse_policies
from io_connectors.core.errors import ConfigError, IntegrityError
from io_connectors.core.failures import FailedRecords
from pipelines.planning import DEFAULT_BATCH_SIZE, MigrationPlan, plan_migration
from pipelines.progress import ProgressCallback, ProgressListener, ProgressState
from pipelines.runner import RunConfig, choose_runner, job_counters
from pipelines.transforms import MigrateVectors
from pipelines.verify import VerificationResult, verify_contents, verify_counts

LOG = logging.getLogger(__name__)
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
        on_unsupported: str | Mapping[str, str] | None = None,
    ) -> MigrationResult:
        """Copy every vector of ``source_index`` (one namespace, or all) into ``target_index``.

        ``batch_size`` vectors are read at a time, ``chunk_size`` vectors upserted at a time
        (capped by what the target accepts). Records that fail are reported in
        ``result.errors`` and, with ``dead_letter``, written to that client's index so they
        can be replayed; the migration carries on past them. ``on_unsupported``
        (``{"sparse": "drop"}``, see ``io_connectors.core.degrade``) stores records without the
        parts the target cannot hold instead of refusing them whole; the drops are counted in
        ``result.metrics`` and listed under ``degraded`` in the summary.
        """
        started = time.monotonic()
        runner = choose_runner(self.run_config, self.pipeline_args)
        self._check_in_process(runner.in_process)
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
        failures_dir: str | None = failures_path or tempfile.mkdtemp(prefix="vector-migrate-failures-")
        LOG.info(
            "migrating %d vectors in %d splits from %s/%s to %s/%s, chunks of %d",
            plan.total,
            len(plan.splits),
            self.source.provider,
            source_index,
            self.target.provider,
            target_index,
            plan.chunk_size,
        )
        state = ProgressState(
            total=plan.total, chunk_size=plan.chunk_size, namespace_totals=plan.namespace_totals()
        )
        with ProgressListener(state, on_progress) as listener:
            pipeline = beam.Pipeline(runner=runner.runner, options=runner.options)
            migrated = pipeline | "Migrate" >> MigrateVectors(
                self.source,
                self.target,
                create_target=create_target,
                plan=plan,
                on_unsupported=on_unsupported,
                progress=listener.sink() if runner.is_local else None,
            )
            _ = (
                migrated.failed
                | "FailureJson" >> beam.Map(lambda f: json.dumps(f.as_dict(), default=str))
                | "WriteFailures"
                >> beam.io.WriteToText(FileSystems.join(failures_dir, "failures"), file_name_suffix=".jsonl")
            )
            if dead_letter is not None:
                self._prepare_dead_letter(dead_letter, dead_letter_index, plan.source)
                _ = (
                    migrated.failed
                    | "FailedRecords" >> beam.FlatMap(lambda f: [f.batch] if f.batch is not None else [])
                    | "DeadLetter"
                    >> WriteVectors(dead_letter.spec, dead_letter_index, counter_prefix="dead_letter_")
                )
            result = pipeline.run()
            self._wait(result, state, on_progress, runner.is_local)
        counters = job_counters(result)
        _final_progress(state, counters, on_progress)
        errors = _read_failures(failures_dir)
        if failures_path is None and not errors:
            shutil.rmtree(failures_dir, ignore_errors=True)  # a temporary report with nothing in it
            failures_dir = None
        migration = MigrationResult(
            migrated_count=counters.get("vectors_written", 0),
            batches=counters.get("batches_written", 0),
            errors=errors,
            failed_count=sum(e.count for e in errors),
            read_count=counters.get("vectors_read", 0),
            source_count=plan.total,
            duration_seconds=time.monotonic() - started,
            metrics=counters,
            failures_path=failures_dir,
        )
        self._check_accounting(migration, fail_on_integrity_error)
        self.target.connector.finalize_index(target_index)
        return migration

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
                state.failed = counters.get("vectors_failed", 0) + counters.get("vectors_invalid", 0)
                state.batches = counters.get("batches_written", 0)
            if on_progress is not None:
                on_progress(state.snapshot())
        if outcome and outcome[0] is not None:
            raise outcome[0]

    @staticmethod
    def _check_accounting(result: MigrationResult, strict: bool) -> None:
        """Every record read must be written or reported failed: nothing may vanish."""
        counted = (
            result.migrated_count
            + result.metrics.get("vectors_failed", 0)
            + result.metrics.get("vectors_invalid", 0)
        )
        if counted != result.read_count:
            message = (
                f"{result.read_count} vectors read but {result.migrated_count} written and "
                f"{counted - result.migrated_count} reported failed"
            )
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


def _final_progress(
    state: ProgressState, counters: dict[str, int], on_progress: ProgressCallback | None
) -> None:
    """One last report from the job's own metrics when the live reports fell short of them."""
    final = (
        counters.get("vectors_written", 0),
        counters.get("vectors_failed", 0) + counters.get("vectors_invalid", 0),
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


__all__ = ["FailedRecords", "Migration", "MigrationError", "MigrationPlan", "MigrationResult"]
