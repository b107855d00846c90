"""The generic batched sink: each incoming batch is one idempotent upsert to the target.

A refused batch never stops the job and never vanishes: records the target names as refused
go to the failed output with its reason and the rest are written again; a batch refused as a
whole is bisected until the refused records are isolated. Errors that no retry or bisection can
fix (configuration, credentials, a missing index) fail the job.

Before bisecting, a few records of the refused batch (first, middle, last) are tried alone. When
each is refused for the same reason as the whole batch (a NOT NULL or CHECK constraint, a
missing column, a type: the error's ``reason`` without the failing row), the refusal is the
target's, not the records': the job fails at once with that one error, naming the table, column
or constraint, instead of bisecting every batch down to thousands of identical single-row
errors while nothing can land. Failing (rather than dead-lettering every record under that
error) is the choice because no later batch could be written either, and a configuration error
is fixed by changing the target or the options and running again, not by replaying records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import apache_beam as beam
from apache_beam.metrics import Metrics

from io_connectors.core.contract import Connector, ConnectorSpec
from io_connectors.core.degrade import COUNTERS, degrade
from io_connectors.core.errors import ConfigError, PermanentError, RecordRejected
from io_connectors.core.failures import FAILED_TAG, FailedRecords
from io_connectors.core.records import IdValue, VectorBatch
from io_connectors.core.registry import make_connector
from io_connectors.core.retry import METRICS_NAMESPACE, with_retries

LOG = logging.getLogger(__name__)


PROBES = 3  # records of a refused batch tried alone before bisecting it


class BatchRefused(ConfigError):
    """The target refuses every record for the same reason: its configuration, not the data."""

    def __init__(self, reason: str, index: str, size: int, probes: int) -> None:
        super().__init__(
            f"the target {index!r} refuses every record for the same reason, so the job stops before "
            f"more data moves: {reason} (a batch of {size} records and {probes} of them tried alone "
            "were all refused alike: a constraint, column or type of the target does not fit what "
            "is written; change the target table/collection or the options, then run again)"
        )
        self.reason = reason


class ProgressSink(Protocol):
    """Where written counts go while the job runs (picklable; opened on the worker)."""

    def open(self) -> None: ...

    def report(self, namespace: str, written: int, failed: int) -> None: ...

    def close(self) -> None: ...


class WriteBatchesFn(beam.DoFn):
    """``counter_prefix`` keeps a second sink (the dead-letter index) out of the main counts."""

    def __init__(
        self,
        spec: ConnectorSpec,
        index: str,
        progress: ProgressSink | None = None,
        counter_prefix: str = "",
        on_unsupported: Mapping[str, str] | None = None,
    ) -> None:
        self._spec = spec
        self._index = index
        self._progress = progress
        self._policies = dict(on_unsupported or {})
        self._dropped = {
            name: Metrics.counter(METRICS_NAMESPACE, f"{counter_prefix}{name}") for name in COUNTERS
        }
        self._written = Metrics.counter(METRICS_NAMESPACE, f"{counter_prefix}vectors_written")
        self._batches = Metrics.counter(METRICS_NAMESPACE, f"{counter_prefix}batches_written")
        self._failed = Metrics.counter(METRICS_NAMESPACE, f"{counter_prefix}vectors_failed")
        self.connector: Connector | None = None

    def setup(self) -> None:
        self.connector = make_connector(self._spec)
        self.connector.open()
        if self._progress is not None:
            self._progress.open()

    def teardown(self) -> None:
        if self.connector is not None:
            self.connector.close()
        if self._progress is not None:
            self._progress.close()

    def process(self, batch: VectorBatch) -> Iterator[Any]:
        assert self.connector is not None
        reasons = self.connector.reject_reasons(batch)
        if reasons:
            outcome = degrade(batch, reasons, self._policies, self.connector.reject_reasons)
            for name, count in outcome.dropped.items():
                self._dropped[name].inc(count)
            yield from self._dead_letter_rows(batch, outcome.refused)
            batch = outcome.apply(batch)
        if len(batch):
            yield from self._write(batch)

    def _write(self, batch: VectorBatch, probe: bool = True) -> Iterator[Any]:
        """Upsert ``batch``; on a refusal of the whole batch, ``probe`` first checks whether the
        refusal is batch-wide (only for batches as they arrive, not for bisected halves)."""
        assert self.connector is not None
        try:
            with_retries(lambda: self.connector.write(self._index, batch), f"upsert into {self._index!r}")
        except ConfigError:
            raise
        except RecordRejected as exc:
            rows = {row: exc.reasons[v] for row, v in enumerate(batch.ids) if v in exc.reasons}
            if not rows:
                yield from self._bisect_or_fail(batch, exc, probe)
                return
            yield from self._dead_letter_rows(batch, rows)
            rest = [row for row in range(len(batch)) if row not in rows]
            if rest:
                yield from self._write(batch.take(rest), probe=False)
        except PermanentError as exc:
            yield from self._bisect_or_fail(batch, exc, probe)
        except Exception as exc:  # retries exhausted or an unexpected failure: report the records
            detail = self._spec.redact(f"{type(exc).__name__}: {exc}")
            LOG.error("upsert of %d vectors into %r failed: %s", len(batch), self._index, detail)
            yield self._dead_letter(batch, exc)
        else:
            yield self._landed(batch)

    def _landed(self, batch: VectorBatch) -> tuple[str, list[IdValue]]:
        self._written.inc(len(batch))
        self._batches.inc()
        if self._progress is not None:
            self._progress.report(batch.namespace, len(batch), 0)
        return batch.namespace, list(batch.ids)

    def _bisect_or_fail(self, batch: VectorBatch, exc: PermanentError, probe: bool = False) -> Iterator[Any]:
        if len(batch) == 1:
            yield self._dead_letter(batch, exc)
            return
        if probe and len(batch) >= PROBES:
            yield from self._probe_then_bisect(batch, exc)
            return
        middle = len(batch) // 2
        yield from self._write(batch.slice(0, middle), probe=False)
        yield from self._write(batch.slice(middle, len(batch)), probe=False)

    def _probe_then_bisect(self, batch: VectorBatch, exc: PermanentError) -> Iterator[Any]:
        """Try a few records alone; fail the job when all are refused for the batch's reason."""
        assert self.connector is not None
        rows = sorted({0, len(batch) // 2, len(batch) - 1})
        outputs: list[Any] = []
        alike = 0
        for row in rows:
            one = batch.take([row])
            try:
                with_retries(
                    lambda one=one: self.connector.write(self._index, one), f"upsert into {self._index!r}"
                )
            except ConfigError:
                raise
            except PermanentError as probe_exc:
                alike += probe_exc.reason == exc.reason
                outputs.append(self._dead_letter(one, probe_exc))
            except Exception as probe_exc:  # not the batch's reason: bisection isolates the records
                outputs.append(self._dead_letter(one, probe_exc))
            else:
                outputs.append(self._landed(one))
        if alike == len(rows):
            raise BatchRefused(self._spec.redact(exc.reason), self._index, len(batch), len(rows))
        yield from outputs
        rest = [row for row in range(len(batch)) if row not in rows]
        middle = len(rest) // 2
        for part in (rest[:middle], rest[middle:]):
            if part:
                yield from self._write(batch.take(part), probe=False)

    def _dead_letter(self, batch: VectorBatch, exc: Exception) -> beam.pvalue.TaggedOutput:
        self._failed.inc(len(batch))
        if self._progress is not None:
            self._progress.report(batch.namespace, 0, len(batch))
        message = self._spec.redact(str(exc))
        return beam.pvalue.TaggedOutput(
            FAILED_TAG,
            FailedRecords("write", batch.namespace, list(batch.ids), type(exc).__name__, message, batch),
        )

    def _dead_letter_rows(self, batch: VectorBatch, reasons: dict[int, str]) -> Iterator[Any]:
        for row, reason in sorted(reasons.items()):
            yield self._dead_letter(batch.take([row]), RecordRejected({batch.ids[row]: reason}))


class WriteVectors(beam.PTransform):
    """``batches | WriteVectors(spec, index)`` -> tagged outputs ``written`` and ``failed``.

    ``written`` holds ``(namespace, ids)`` of every successful upsert (ids only, for accounting).
    ``on_unsupported`` (see ``core.degrade``) stores records without the parts the target
    refuses, where the user asked for that, instead of refusing them whole.
    """

    def __init__(
        self,
        spec: ConnectorSpec,
        index: str,
        progress: ProgressSink | None = None,
        counter_prefix: str = "",
        on_unsupported: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._fn = WriteBatchesFn(spec, index, progress, counter_prefix, on_unsupported)

    def expand(self, batches: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return batches | beam.ParDo(self._fn).with_outputs(FAILED_TAG, main="written")
