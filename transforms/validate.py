"""Validate batches against the target's declared capabilities; refused records are dead-lettered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from io_connectors.core.contract import Capabilities
from io_connectors.core.failures import FAILED_TAG, FailedRecords
from io_connectors.core.records import VectorBatch
from io_connectors.core.retry import METRICS_NAMESPACE
from io_connectors.core.validation import reject_reasons


class ValidateFn(beam.DoFn):
    def __init__(self, capabilities: Capabilities, dimension: int | None) -> None:
        self._caps = capabilities
        self._dimension = dimension
        self._invalid = Metrics.counter(METRICS_NAMESPACE, "vectors_invalid")

    def process(self, batch: VectorBatch) -> Iterator[Any]:
        reasons = reject_reasons(batch, self._caps, self._dimension)
        if not reasons:
            yield batch
            return
        self._invalid.inc(len(reasons))
        by_reason: dict[str, list[int]] = defaultdict(list)
        for row, reason in reasons.items():
            by_reason[reason].append(row)
        for reason, rows in by_reason.items():
            refused = batch.take(rows)
            yield beam.pvalue.TaggedOutput(
                FAILED_TAG,
                FailedRecords(
                    "validate", batch.namespace, list(refused.ids), "InvalidRecord", reason, refused
                ),
            )
        keep = [row for row in range(len(batch)) if row not in reasons]
        if keep:
            yield batch.take(keep)


class Validate(beam.PTransform):
    """``batches | Validate(caps, dimension)`` -> tagged outputs ``valid`` and ``failed``."""

    def __init__(self, capabilities: Capabilities, dimension: int | None) -> None:
        super().__init__()
        self._fn = ValidateFn(capabilities, dimension)

    def expand(self, batches: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return batches | beam.ParDo(self._fn).with_outputs(FAILED_TAG, main="valid")
