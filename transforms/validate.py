"""Validate batches against the target's declared capabilities; refused records are dead-lettered."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics

from io_connectors.core.coder import batches as beam_batches
from io_connectors.core.contract import Capabilities
from io_connectors.core.degrade import COUNTERS, degrade
from io_connectors.core.failures import FAILED_TAG, FailedRecords
from io_connectors.core.records import VectorBatch
from io_connectors.core.retry import METRICS_NAMESPACE
from io_connectors.core.validation import reject_reasons


class ValidateFn(beam.DoFn):
    def __init__(
        self,
        capabilities: Capabilities,
        dimension: int | None,
        on_unsupported: Mapping[str, str] | None = None,
    ) -> None:
        self._caps = capabilities
        self._dimension = dimension
        self._policies = dict(on_unsupported or {})
        self._invalid = Metrics.counter(METRICS_NAMESPACE, "vectors_invalid")
        self._dropped = {name: Metrics.counter(METRICS_NAMESPACE, name) for name in COUNTERS}

    def _check(self, batch: VectorBatch) -> dict[int, str]:
        return reject_reasons(batch, self._caps, self._dimension)

    def process(self, batch: VectorBatch) -> Iterator[Any]:
        reasons = self._check(batch)
        if not reasons:
            yield batch
            return
        outcome = degrade(batch, reasons, self._policies, self._check)
        for name, count in outcome.dropped.items():
            self._dropped[name].inc(count)
        reasons = outcome.refused
        if not reasons:
            yield outcome.apply(batch)
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
        kept = outcome.apply(batch)
        if len(kept):
            yield kept


class Validate(beam.PTransform):
    """``batches | Validate(caps, dimension)`` -> tagged outputs ``valid`` and ``failed``."""

    def __init__(
        self,
        capabilities: Capabilities,
        dimension: int | None,
        on_unsupported: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._fn = ValidateFn(capabilities, dimension, on_unsupported)

    def expand(self, batches: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return batches | beam_batches(beam.ParDo(self._fn)).with_outputs(FAILED_TAG, main="valid")
