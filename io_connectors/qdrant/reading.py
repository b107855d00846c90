"""Splittable reads of one namespace of a Qdrant collection, in id order.

Planning: a namespace becomes one ``Split`` over positions ``[first id, last id]`` (see
``ids`` for the position space), with range boundaries at quantiles of the positions that
hold points, so that ranges hold about ``points_per_split`` points each. Up to
``EXACT_PLAN_POINTS`` points, every id is listed (ids only: cheap) and the quantiles are exact;
above, a random sample of ``SAMPLE_SIZE`` ids gives them, and the last id is found by listing
the ids past the sample's largest.

Reading a range: pages of points from the range's start id, in id order. Each point's position
is claimed before the point is yielded and the read stops at the first refused claim (the end of
the range, or a split the runner made meanwhile), so ranges and splits lose and duplicate
nothing. Where every filtered request costs a scan of the whole collection (local mode), the
range's ids are listed once and the points fetched by id instead.

A namespace that holds every point of its collection (the usual case: one namespace) is read
without a filter: filtering on a field no point has still costs a payload lookup per point. Its
reads still check each point's namespace field, so points another namespace writes meanwhile are
skipped (their own split reads them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np

from io_connectors.core.contract import Split, Tracker
from io_connectors.core.records import UnreadableRecords, VectorBatch, metadata_nbytes
from io_connectors.qdrant.backend import (
    Backend,
    Points,
    StoredId,
    UnchangedBound,
    VectorNames,
    unchanged_bound,
)
from io_connectors.qdrant.ids import cut_positions, offset_at, position
from io_connectors.qdrant.namespaces import Place
from io_connectors.qdrant.points import to_batches

T = TypeVar("T")
Retrying = Callable[[str, Callable[[], T]], T]
EXACT_PLAN_POINTS = 200_000
SAMPLE_SIZE = 1000


@dataclass(frozen=True)
class RangePlan:
    """A split's ``key``: where to cut it, and whether its reads need the namespace filter."""

    boundaries: tuple[int, ...]
    filtered: bool


@dataclass(frozen=True)
class NamespaceReader:
    """Plans and reads one namespace (a ``Place``) through a backend, retrying what is transient.
    ``unchanged`` (a split's read hint, see ``unchanged_bound``) leaves the points it marks out of
    listings and pages."""

    backend: Backend
    retrying: Retrying
    place: Place
    unchanged: UnchangedBound | None = None

    def list_ids(self, offset: Any) -> Iterator[StoredId]:
        """Every id of the namespace from ``offset`` on, in order, a page at a time."""
        backend, place, unchanged = self.backend, self.place, self.unchanged
        while offset is not None:
            ids, offset = self.retrying(
                "list ids",
                lambda o=offset: backend.scroll_ids(
                    place.collection, place.where, o, backend.id_page_size, unchanged
                ),
            )
            yield from ids

    def plan(self, index: str, namespace: str, batch_size: int, per_split: int) -> Split | None:
        backend, place = self.backend, self.place
        count = self.retrying("count", lambda: backend.count(place.collection, place.where))
        if not count:
            return None
        filtered = place.where is not None
        if filtered and count == self.retrying("count", lambda: backend.count(place.collection, None)):
            return replace(self, place=place.unfiltered()).plan(index, namespace, batch_size, per_split)
        if count <= EXACT_PLAN_POINTS:
            held = [position(i) for i in self.list_ids(0)]
            if not held:
                return None
            start, stop = held[0], held[-1] + 1
        else:
            sampled = self.retrying(
                "sample", lambda: backend.sample(place.collection, place.where, SAMPLE_SIZE)
            )
            first, _ = self.retrying(
                "first id", lambda: backend.scroll_ids(place.collection, place.where, None, 1)
            )
            held = sorted({position(i) for i in [*first, *sampled]})
            if not held:
                return None
            tail = [position(i) for i in self.list_ids(offset_at(held[-1] + 1))]
            start, stop = held[0], max([held[-1], *tail]) + 1
        key = RangePlan(cut_positions(held, math.ceil(count / per_split), start, stop), filtered)
        return Split(index, namespace, start, stop, batch_size, key=key, estimated_count=count)

    def read(
        self, split: Split, tracker: Tracker, names: VectorNames, dimension: int
    ) -> Iterator[VectorBatch | UnreadableRecords]:
        """Read the tracker's range; ``self.place`` must be the one ``split`` was planned with."""
        namespace, field = self.place, self.place.field
        reader = replace(
            self,
            place=namespace if split.key.filtered else namespace.unfiltered(),
            unchanged=unchanged_bound(split.changed_since),
        )
        pages = reader._pages(names, tracker.current_restriction(), split.batch_size, dimension)
        claim, check = tracker.try_claim, namespace.where is not None and not split.key.filtered
        for points in pages:
            claimed = 0  # claims succeed for a prefix of the page
            for stored in points.ids:
                if not claim(stored if type(stored) is int else position(stored)):
                    break
                claimed += 1
            rows: Sequence[int] = range(claimed)
            if check:  # read without the filter: skip points another namespace wrote meanwhile
                rows = [row for row in rows if namespace.holds(points.payloads[row])]
            for lo in range(0, len(rows), split.batch_size):
                yield from to_batches(points, rows[lo : lo + split.batch_size], split.namespace, field)
            if claimed < len(points):
                return

    def _pages(
        self, names: VectorNames, restriction: Any, batch_size: int, dimension: int
    ) -> Iterator[Points]:
        backend, place, unchanged = self.backend, self.place, self.unchanged
        page_size = page_points(backend, batch_size, dimension, 256)
        if backend.scans_per_request:
            ids = []
            for stored in self.list_ids(offset_at(restriction.start)):
                if position(stored) >= restriction.stop:
                    break
                ids.append(stored)
            for lo in range(0, len(ids), page_size):
                chunk = ids[lo : lo + page_size]
                points = self.retrying(
                    "fetch page", lambda c=chunk: backend.retrieve(place.collection, names, c)
                )
                yield _in_id_order(points)
            return
        offset: Any = offset_at(restriction.start)
        while offset is not None:
            points = self.retrying(
                f"scroll {place.collection!r}",
                lambda o=offset, n=page_size: backend.scroll(
                    place.collection, names, place.where, o, n, unchanged
                ),
            )
            yield points
            offset = points.next_offset
            if len(points):  # tune the page to the payloads actually seen
                sample = points.payloads[:32]
                page_size = page_points(backend, batch_size, dimension, metadata_nbytes(sample) / len(sample))


def page_points(backend: Backend, batch_size: int, dimension: int, payload_bytes: float) -> int:
    """Points a page: at least the batch size, within the backend's response budget."""
    point_bytes = dimension * backend.read_bytes_per_value + payload_bytes + 64
    return max(1, min(max(batch_size, backend.min_page_size), int(backend.max_page_bytes // point_bytes)))


def _in_id_order(points: Points) -> Points:
    order = sorted(range(len(points)), key=lambda r: position(points.ids[r]))
    dense = points.dense
    if dense is not None:
        dense = dense[np.asarray(order)] if isinstance(dense, np.ndarray) else [dense[r] for r in order]
    return Points(
        [points.ids[r] for r in order],
        dense,
        [points.sparse[r] for r in order],
        [points.payloads[r] for r in order],
    )
