"""Plain dicts per vector <-> VectorBatch, for Beam users who work with one vector at a time.

A dict has the client API's vector shape: ``{"id", "values", "sparse_values", "metadata"}``,
plus ``"namespace"`` (default ""). Batches are what moves fast; dicts are the convenience.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from io_connectors.core.coder import batches
from io_connectors.core.failures import FAILED_TAG, FailedRecords
from io_connectors.core.records import RecordError, VectorBatch

DEFAULT_DICTS_PER_BATCH = 500


def batch_to_dicts(batch: VectorBatch) -> list[dict[str, Any]]:
    """One dict per vector, with its namespace."""
    rows = batch.to_dicts()
    for row in rows:
        row["namespace"] = batch.namespace
    return rows


class ToVectorDicts(beam.PTransform):
    """``batches | ToVectorDicts()`` -> one plain dict per vector (see the module docstring)."""

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | beam.FlatMap(batch_to_dicts)


class AsBatchesFn(beam.DoFn):
    """Passes ``VectorBatch``es through and gathers dicts into batches per namespace.

    A dict that is not a valid vector goes to the failed output, named by its id (or its
    position in the bundle when it has none); the others are batched as usual.
    """

    def __init__(self, max_count: int = DEFAULT_DICTS_PER_BATCH) -> None:
        self._max_count = max_count
        self._pending: dict[str, list[Mapping[str, Any]]] = {}
        self._seen = 0

    def start_bundle(self) -> None:
        self._pending, self._seen = {}, 0

    def process(self, element: Any) -> Iterator[Any]:
        if isinstance(element, VectorBatch):
            yield element
            return
        self._seen += 1
        if not isinstance(element, Mapping):
            yield _failed([], "", f"element #{self._seen} is a {type(element).__name__}, not a vector dict")
            return
        namespace = str(element.get("namespace") or "")
        pending = self._pending.setdefault(namespace, [])
        pending.append(element)
        if len(pending) >= self._max_count:
            yield from self._flush(namespace)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for namespace in list(self._pending):
            for out in self._flush(namespace):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, _windowed(out.value))
                else:
                    yield _windowed(out)

    def _flush(self, namespace: str) -> Iterator[Any]:
        rows = self._pending.pop(namespace, [])
        try:
            yield VectorBatch.from_dicts(rows, namespace)
            return
        except RecordError:
            pass  # find the bad rows one by one; the rest still go as one batch
        by_dimension: dict[int | None, list[Mapping[str, Any]]] = {}
        for row in rows:
            try:
                single = VectorBatch.from_dicts([row], namespace)
            except RecordError as exc:
                yield _failed([row.get("id")] if row.get("id") is not None else [], namespace, str(exc))
            else:
                by_dimension.setdefault(single.dimension, []).append(row)
        # One batch per dimension: the validation step then refuses the odd ones by id.
        for group in by_dimension.values():
            yield VectorBatch.from_dicts(group, namespace)


def _failed(ids: list[Any], namespace: str, message: str) -> beam.pvalue.TaggedOutput:
    return beam.pvalue.TaggedOutput(
        FAILED_TAG, FailedRecords("convert", namespace, ids, "RecordError", message, count=1)
    )


def _windowed(value: Any) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class AsBatches(beam.PTransform):
    """``dicts_or_batches | AsBatches(n)`` -> tagged outputs ``batches`` and ``failed``."""

    def __init__(self, max_count: int = DEFAULT_DICTS_PER_BATCH) -> None:
        super().__init__()
        self._fn = AsBatchesFn(max_count)

    def expand(self, elements: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return elements | batches(beam.ParDo(self._fn)).with_outputs(FAILED_TAG, main="batches")
