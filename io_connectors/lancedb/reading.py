"""Planning and reading a table by fragment, at one pinned table version.

A Lance dataset is a list of fragments (data files plus deletion files). A plan pins the
table's current version and groups consecutive fragments into splits of about
``rows_per_split`` rows of the namespace read; a split's key names the version and, for each
fragment, its id and how many of the namespace's rows it holds. Positions are chunk numbers:
position ``k`` owns the namespace's rows ``[k*batch_size, (k+1)*batch_size)`` of the split's
fragments taken in order. Reading a pinned version sees exactly the rows that were counted, so
any split point loses and duplicates nothing, and writes made after planning do not disturb
a running read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from io_connectors.core.contract import Split, Tracker
from io_connectors.lancedb.schema import Layout
from io_connectors.lancedb.sql import namespace_filter


@dataclass(frozen=True)
class FragmentRows:
    fragment_id: int
    rows: int


@dataclass(frozen=True)
class SplitKey:
    """Small and picklable: which version, which fragments, how many rows of the namespace each."""

    version: int
    fragments: tuple[FragmentRows, ...]


def namespace_counts(dataset, layout: Layout) -> list[tuple[int, dict[str, int]]]:
    """Per fragment (in dataset order): rows of each namespace, read from the namespace column."""
    out = []
    for fragment in dataset.get_fragments():
        if layout.namespace_column is None:
            counts = {"": fragment.count_rows()}
        else:
            column = fragment.to_table(columns=[layout.namespace_column]).column(0)
            counts = _value_counts(column)
        out.append((fragment.fragment_id, {ns: n for ns, n in counts.items() if n}))
    return out


def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in pc.value_counts(column).to_pylist():
        key = entry["values"] if entry["values"] is not None else ""
        counts[key] = counts.get(key, 0) + int(entry["counts"])
    return counts


def plan_splits(
    index: str,
    version: int,
    fragments: list[tuple[int, dict[str, int]]],
    namespaces: list[str],
    batch_size: int,
    rows_per_split: int,
) -> list[Split]:
    """Consecutive fragments grouped into splits of about ``rows_per_split`` rows, per namespace."""
    splits = []
    for namespace in namespaces:
        group: list[FragmentRows] = []
        for fragment_id, counts in fragments:
            rows = counts.get(namespace, 0)
            if rows:
                group.append(FragmentRows(fragment_id, rows))
            if group and sum(f.rows for f in group) >= rows_per_split:
                splits.append(_split(index, namespace, version, group, batch_size))
                group = []
        if group:
            splits.append(_split(index, namespace, version, group, batch_size))
    return splits


def _split(index: str, namespace: str, version: int, group: list[FragmentRows], batch_size: int) -> Split:
    total = sum(f.rows for f in group)
    chunks = -(-total // batch_size)
    return Split(index, namespace, 0, chunks, batch_size, SplitKey(version, tuple(group)), total)


def initial_ranges(split: Split, start: int, stop: int, rows_per_split: int) -> list[tuple[int, int]]:
    """Cut a position range into pieces of about ``rows_per_split`` rows for parallel reads."""
    step = max(1, rows_per_split // split.batch_size)
    return [(lo, min(lo + step, stop)) for lo in range(start, stop, step)]


def read_chunks(
    dataset,
    split: Split,
    layout: Layout,
    tracker: Tracker,
    convert: Callable[[pa.Table], object],
) -> Iterator[object]:
    """Claim each chunk position, then yield its rows converted; stop at the first refused claim."""
    key: SplitKey = split.key
    size = split.batch_size
    restriction = tracker.current_restriction()
    total = sum(f.rows for f in key.fragments)
    first, last = restriction.start * size, min(restriction.stop * size, total)
    batches = _row_range(dataset, key, layout, split.namespace, first, last, size)
    for position, chunk in enumerate(_chunks(batches, size), restriction.start):
        if not tracker.try_claim(position):
            return
        yield convert(chunk)


def _chunks(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Re-cut a stream of record batches into tables of exactly ``size`` rows (the last shorter)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


def _row_range(
    dataset, key: SplitKey, layout: Layout, namespace: str, first: int, last: int, size: int
) -> Iterator[pa.RecordBatch]:
    """The namespace's rows ``[first, last)`` of the split's fragments, in order, as Arrow batches."""
    condition = namespace_filter(layout, namespace)
    offset = 0
    for entry in key.fragments:
        lo, hi = max(first - offset, 0), min(last - offset, entry.rows)
        offset += entry.rows
        if lo >= hi:
            continue
        fragment = dataset.get_fragment(entry.fragment_id)
        yield from fragment.to_batches(
            columns=layout.columns, filter=condition, offset=lo, limit=hi - lo, batch_size=size
        )
