"""The generic batched sink: each incoming batch is one idempotent upsert to the target.

A refused batch never stops the job and never vanishes: records the target names as refused
go to the failed output with its reason and the rest are written again; a batch refused as a
whole is bisected until the refused records are isolated. Errors that no retry or bisection can
fix (configuration, credentials, a missing index) fail the job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Protocol

import apache_beam as beam
from apache_beam.metrics import Metrics

from io_connectors.core.contract import Connector, ConnectorSpec
from io_connectors.core.errors import ConfigError, PermanentError, RecordRejected
from io_connectors.core.failures import FAILED_TAG, FailedRecords
from io_connectors.core.records import VectorBatch
from io_connectors.core.registry import make_connector
from io_connectors.core.retry import METRICS_NAMESPACE, with_retries

LOG = logging.getLogger(__name__)


class ProgressSink(Protocol):
    """Where written counts go while the job runs (picklable; opened on the worker)."""

    def open(self) -> None: ...

    def report(self, namespace: str, written: int, failed: int) -> None: ...

    def close(self) -> None: ...


class WriteBatchesFn(beam.DoFn):
    """``counter_prefix`` keeps a second sink (the dead-letter index) out of the main counts."""

    def __init__(
        self, spec: ConnectorSpec, index: str, progress: ProgressSink | None = None, counter_prefix: str = ""
    ) -> None:
        self._spec = spec
        self._index = index
        self._progress = progress
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
            yield from self._dead_letter_rows(batch, reasons)
            batch = batch.take([row for row in range(len(batch)) if row not in reasons])
        if len(batch):
            yield from self._write(batch)

    def _write(self, batch: VectorBatch) -> Iterator[Any]:
        assert self.connector is not None
        try:
            with_retries(lambda: self.connector.write(self._index, batch), f"upsert into {self._index!r}")
        except ConfigError:
            raise
        except RecordRejected as exc:
            rows = {row: exc.reasons[v] for row, v in enumerate(batch.ids) if v in exc.reasons}
            if not rows:
                yield from self._bisect_or_fail(batch, exc)
                return
            yield from self._dead_letter_rows(batch, rows)
            rest = [row for row in range(len(batch)) if row not in rows]
            if rest:
                yield from self._write(batch.take(rest))
        except PermanentError as exc:
            yield from self._bisect_or_fail(batch, exc)
        except Exception as exc:  # retries exhausted or an unexpected failure: report the records
            detail = self._spec.redact(f"{type(exc).__name__}: {exc}")
            LOG.error("upsert of %d vectors into %r failed: %s", len(batch), self._index, detail)
            yield self._dead_letter(batch, exc)
        else:
            self._written.inc(len(batch))
            self._batches.inc()
            if self._progress is not None:
                self._progress.report(batch.namespace, len(batch), 0)
            yield batch.namespace, list(batch.ids)

    def _bisect_or_fail(self, batch: VectorBatch, exc: Exception) -> Iterator[Any]:
        if len(batch) == 1:
            yield self._dead_letter(batch, exc)
            return
        middle = len(batch) // 2
        yield from self._write(batch.slice(0, middle))
        yield from self._write(batch.slice(middle, len(batch)))

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
    """

    def __init__(
        self, spec: ConnectorSpec, index: str, progress: ProgressSink | None = None, counter_prefix: str = ""
    ) -> None:
        super().__init__()
        self._fn = WriteBatchesFn(spec, index, progress, counter_prefix)

    def expand(self, batches: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return batches | beam.ParDo(self._fn).with_outputs(FAILED_TAG, main="written")
