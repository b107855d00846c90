"""Splittable reads of a Chroma collection by offset pages, and why they are complete.

Chroma has no id-range scan: ``collection.get(limit, offset)`` pages through a collection in its
storage order (the order records were first inserted: an upsert of an existing id keeps its
place, a deleted and re-added id moves to the end). So a read position is an offset in that
order: a namespace (a collection, see ``namespaces``) becomes one ``Split`` over ``[0, count)``,
cut into ranges of ``records_per_split`` offsets for parallel reading. A range is read in pages
from its start offset; each record's offset is claimed before the record is yielded and the read
stops at the first refused claim, so ranges and runner splits lose and duplicate nothing.

Completeness: offsets name the same records for as long as the collection does not change, so
the read is exact for a collection nobody writes to during the migration (the rule for every
source, see the README). A change is detected rather than trusted away: a page that comes back
short inside the planned count means records vanished, and after each range the collection's
count is compared with the count the split was planned with; either raises ``IntegrityError``,
which fails that split loudly (it is reported with the migration's errors) instead of passing
off a shifted read as complete. Re-run the migration from a quiet source: writes are upserts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from io_connectors.chroma.codec import from_result
from io_connectors.chroma.store import ChromaStore
from io_connectors.core.contract import Split, Tracker
from io_connectors.core.errors import IntegrityError
from io_connectors.core.records import VectorBatch

INCLUDE = ["embeddings", "metadatas", "documents"]
MAX_PAGE_BYTES = 16 << 20  # a response page, as JSON
JSON_BYTES_PER_VALUE = 20  # a float64 printed in full, and a comma
MIN_PAGE, MAX_PAGE = 100, 5000


@dataclass(frozen=True)
class ReadKey:
    """A split's ``key``: the collection to read and where to cut it."""

    collection: str
    per_split: int


def plan_collection(
    store: ChromaStore, index: str, namespace: str, collection: str, batch_size: int, per_split: int
) -> Split | None:
    """The split reading one namespace's collection, or None when it is empty."""
    count = store.count(collection)
    if not count:
        return None
    return Split(index, namespace, 0, count, batch_size, ReadKey(collection, per_split), count)


def initial_ranges(split: Split, start: int, stop: int) -> list[tuple[int, int]]:
    step = split.key.per_split
    return [(lo, min(lo + step, stop)) for lo in range(start, stop, step)] or [(start, stop)]


def page_size(batch_size: int, dimension: int) -> int:
    """Records a page: about the batch size, within the response budget."""
    by_bytes = MAX_PAGE_BYTES // (dimension * JSON_BYTES_PER_VALUE + 512)
    return max(1, min(max(batch_size, MIN_PAGE), MAX_PAGE, by_bytes))


def read_range(store: ChromaStore, split: Split, tracker: Tracker, dimension: int) -> Iterator[VectorBatch]:
    """Read the tracker's range of ``split`` (see the module docstring)."""
    name = split.key.collection
    collection = store.collection(name)
    position = tracker.current_restriction().start
    page = page_size(split.batch_size, dimension)
    while True:
        stop = min(tracker.current_restriction().stop, split.stop)
        if position >= stop:
            break
        limit = min(page, stop - position)
        result = store.call(
            f"read {name!r}",
            name,
            lambda o=position, n=limit: collection.get(limit=n, offset=o, include=INCLUDE),
        )
        found = len(result["ids"])
        if result.get("embeddings") is not None:  # float64 from the client; once per page
            result["embeddings"] = np.asarray(result["embeddings"], dtype=np.float32)
        claimed = 0
        while claimed < found and tracker.try_claim(position + claimed):
            claimed += 1
        for lo in range(0, claimed, split.batch_size):
            yield from_result(result, range(lo, min(lo + split.batch_size, claimed)), split.namespace)
        if claimed < found:
            return
        if found < limit:
            raise IntegrityError(
                f"chroma: collection {name!r} ended at offset {position + found}, but {split.stop} "
                "records were planned: records were deleted during the read. Migrate from a quiet "
                "source and run again (writes are idempotent)."
            )
        position += found
    check_unchanged(store, split)


def check_unchanged(store: ChromaStore, split: Split) -> None:
    now = store.count(split.key.collection)
    if now != split.estimated_count:
        raise IntegrityError(
            f"chroma: collection {split.key.collection!r} holds {now} records, but {split.estimated_count} "
            "were planned: it changed during the read, so offsets shifted and records may have been "
            "missed or read twice. Migrate from a quiet source and run again (writes are idempotent)."
        )
