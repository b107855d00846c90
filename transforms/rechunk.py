"""Rechunk batches to what the target accepts: at most N vectors and B bytes a request.

Small batches of one namespace are merged and large ones cut, within a bundle; vectors never
cross a shuffle here. What is left at the end of a bundle is flushed as a final, smaller chunk.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from io_connectors.core.batching import chunk_batch
from io_connectors.core.coder import batches as beam_batches
from io_connectors.core.records import VectorBatch


class RechunkFn(beam.DoFn):
    def __init__(self, max_count: int, max_bytes: int | None, bytes_per_value: float) -> None:
        if max_count < 1:
            raise ValueError(f"chunk size must be at least 1, got {max_count}")
        self._max_count = max_count
        self._max_bytes = max_bytes
        self._bytes_per_value = bytes_per_value
        self._pending: dict[str, list[VectorBatch]] = {}
        self._pending_count: dict[str, int] = {}

    def start_bundle(self) -> None:
        self._pending, self._pending_count = {}, {}

    def process(self, batch: VectorBatch) -> Iterator[VectorBatch]:
        ns = batch.namespace
        self._pending.setdefault(ns, []).append(batch)
        self._pending_count[ns] = self._pending_count.get(ns, 0) + len(batch)
        if self._pending_count[ns] < self._max_count:
            return
        chunks = self._chunks(self._pending.pop(ns))
        last = chunks.pop()
        yield from chunks
        if len(last) == self._max_count:
            yield last
            self._pending_count[ns] = 0
        else:
            self._pending[ns] = [last]
            self._pending_count[ns] = len(last)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for batches in self._pending.values():
            for chunk in self._chunks(batches):
                yield WindowedValue(chunk, MIN_TIMESTAMP, [GlobalWindow()])
        self._pending, self._pending_count = {}, {}

    def _chunks(self, batches: list[VectorBatch]) -> list[VectorBatch]:
        merged = VectorBatch.concat(batches)
        return chunk_batch(merged, self._max_count, self._max_bytes, self._bytes_per_value) or []


class Rechunk(beam.PTransform):
    def __init__(self, max_count: int, max_bytes: int | None = None, bytes_per_value: float = 4.0) -> None:
        super().__init__()
        self._fn = RechunkFn(max_count, max_bytes, bytes_per_value)

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | beam_batches(beam.ParDo(self._fn))
