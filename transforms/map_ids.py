"""Id mapping for targets that cannot store integer ids: integers become decimal strings.

Counted (``ids_converted_to_string``) and documented, never silent. Targets with their own id
rules (Qdrant's UUIDs) map ids inside their connector, where the reverse mapping lives.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from io_connectors.core.batching import ids_as_strings
from io_connectors.core.coder import batches as beam_batches
from io_connectors.core.records import VectorBatch
from io_connectors.core.retry import METRICS_NAMESPACE


class _IntIdsToStrings(beam.DoFn):
    def __init__(self) -> None:
        self._converted = Metrics.counter(METRICS_NAMESPACE, "ids_converted_to_string")

    def process(self, batch: VectorBatch):
        mapped, converted = ids_as_strings(batch)
        if converted:
            self._converted.inc(converted)
        yield mapped


class MapIdsForTarget(beam.PTransform):
    def __init__(self, target_accepts_int_ids: bool) -> None:
        super().__init__()
        self._accepts_ints = target_accepts_int_ids

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        if self._accepts_ints:
            return batches
        return batches | beam_batches(beam.ParDo(_IntIdsToStrings()))
