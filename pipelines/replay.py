"""``replay``: write a dead-letter index back into the target, once the cause of the failures is fixed.

One Beam job reads the dead letter (the splittable read every migration uses) and writes it
through ``WriteToVectorStore`` into the target; it also records the (namespace, id) of every
record it read. After the job, the records that were read and did not fail again are deleted
from the dead letter; those that failed again stay there with nothing changed. Writing before
deleting keeps "source = target + dead letter" true at every moment: a record is in the target,
in the dead letter, or (between the two steps) in both, never in neither. A crash between the
steps leaves records in both, and the next replay upserts them again (idempotent).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from io_connectors.beam.transforms import ReadPlannedSplits, WriteToVectorStore
from io_connectors.core.client import Client
from io_connectors.core.failures import FAILED_TAG
from io_connectors.core.records import VectorBatch
from pipelines.planning import DEFAULT_BATCH_SIZE
from pipelines.runner import job_counters

if TYPE_CHECKING:
    from pipelines.migration import Migration, MigrationError

DELETE_CHUNK = 1000


@dataclass
class ReplayResult:
    """``replayed``: written into the target and removed from the dead letter; ``failed``: still
    failing, kept in the dead letter."""

    read_count: int
    replayed_count: int
    failed_count: int
    duration_seconds: float
    errors: list[MigrationError] = field(default_factory=list)
    metrics: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {
            "errors": [
                {"error_class": e.error_class, "message": e.message, "ids": e.ids[:20]} for e in self.errors
            ]
        }


def _keys(batch: VectorBatch) -> list[str]:
    return [json.dumps([batch.namespace, vector_id]) for vector_id in batch.ids]


def _same_id(vector_id: Any) -> str:
    """Ids compare as text: a target without integer ids reports a failed 5 as "5"."""
    return str(vector_id)


def replay_dead_letter(
    migration: Migration,
    dead_letter: Client,
    dead_letter_index: str,
    target_index: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int | None = None,
) -> ReplayResult:
    """See the module docstring; ``Migration.replay`` is the public entry point."""
    from pipelines.migration import _read_failures

    started = time.monotonic()
    runner = migration._runner()
    splits = dead_letter.connector.plan(dead_letter_index, None, batch_size)
    scratch = tempfile.mkdtemp(prefix="vector-migrate-replay-")
    pipeline = beam.Pipeline(runner=runner.runner, options=runner.options)
    read = pipeline | "ReadDeadLetter" >> ReadPlannedSplits(dead_letter, splits)
    _ = (
        read.batches
        | "ReadKeys" >> beam.FlatMap(_keys)
        | "WriteReadKeys" >> beam.io.WriteToText(FileSystems.join(scratch, "read"))
    )
    written = read.batches | "Write" >> WriteToVectorStore(
        migration.target, target_index, chunk_size=chunk_size
    )
    _ = (
        (read[FAILED_TAG], written.failed)
        | "Failures" >> beam.Flatten()
        | "FailureJson" >> beam.Map(lambda f: json.dumps(f.as_dict(), default=str))
        | "WriteFailures"
        >> beam.io.WriteToText(FileSystems.join(scratch, "failures"), file_name_suffix=".jsonl")
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = job_counters(result)
    errors = _read_failures(scratch)
    still_failing = {(e.namespace, _same_id(i)) for e in errors for i in e.ids}
    done: dict[str, list[Any]] = {}
    for match in FileSystems.match([FileSystems.join(scratch, "read*")])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            for line in handle.read().decode().splitlines():
                namespace, vector_id = json.loads(line)
                if (namespace, _same_id(vector_id)) not in still_failing:
                    done.setdefault(namespace, []).append(vector_id)
    shutil.rmtree(scratch, ignore_errors=True)
    for namespace, ids in done.items():
        for start in range(0, len(ids), DELETE_CHUNK):
            dead_letter.connector.delete(dead_letter_index, ids[start : start + DELETE_CHUNK], namespace)
    migration.target.connector.finalize_index(target_index)
    return ReplayResult(
        read_count=counters.get("vectors_read", 0),
        replayed_count=sum(len(ids) for ids in done.values()),
        failed_count=sum(e.count for e in errors),
        duration_seconds=time.monotonic() - started,
        errors=errors,
        metrics=counters,
    )
