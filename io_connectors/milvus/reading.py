"""Splittable reads of one namespace of a Milvus collection, in primary-key order.

Positions (integers, as Beam's offset trackers need) follow the primary key's order:

- INT64 keys: position = key + 2**63;
- VARCHAR keys: Milvus orders them by their UTF-8 bytes, which is the order of their code
  points. A split records the prefix all keys of its namespace share (``"\\x1f9:tenant-1"`` for
  this connector's keys of namespace ``tenant-1``); the next ``DIGITS`` code points after it,
  each plus one (0 marks the end of the key), are the digits of the position in base
  ``0x110001``. Keys sharing those code points share a position: a claim owns them all.

Planning lists the namespace's keys once (keys only, a page of up to 16,384 at a time), keeping
an evenly thinned sample of at most ``SAMPLE_SIZE`` positions, and cuts ``[first, last]`` at
quantiles of the sample into ranges of about ``rows_per_split`` records.

Reading a range queries ``key >= lower`` (then ``key > last key read``), a page at a time, in
Milvus' iterator mode, which returns the smallest matching keys in key order. Each position is
claimed before its records are yielded and the read stops at the first refused claim, so splits
at any position lose and duplicate nothing. Records written after planning beyond the last
key are not read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from io_connectors.core.contract import Split, Tracker
from io_connectors.core.records import VectorBatch
from io_connectors.milvus.codec import to_batch
from io_connectors.milvus.options import MAX_QUERY_LIMIT
from io_connectors.milvus.schema import Layout

BASE = 0x110001  # one more than the number of code points
DIGITS = 10
STR_END = BASE**DIGITS
INT_OFFSET = 2**63
SAMPLE_SIZE = 4096
PAGE_BYTES = 8 * 1024 * 1024
Query = Callable[..., list[dict[str, Any]]]


@dataclass(frozen=True)
class KeyRange:
    """A split's ``key``: the key kind, the shared prefix of VARCHAR keys, and the cuts."""

    kind: str  # "int" | "str"
    prefix: str
    boundaries: tuple[int, ...]


def position(key: Any, kind: str, prefix: str = "") -> int:
    if kind == "int":
        return int(key) + INT_OFFSET
    if not key.startswith(prefix):
        return -1 if key < prefix else STR_END
    tail = key[len(prefix) : len(prefix) + DIGITS]
    value = 0
    for i in range(DIGITS):
        value = value * BASE + (ord(tail[i]) + 1 if i < len(tail) else 0)
    return value


def lower_key(pos: int, kind: str, prefix: str = "") -> Any:
    """A key at or before every key whose position is at least ``pos``."""
    if kind == "int":
        return max(pos - INT_OFFSET, -INT_OFFSET)
    digits = []
    for _ in range(DIGITS):
        pos, digit = divmod(max(pos, 0), BASE)
        digits.append(digit)
    chars = []
    for digit in reversed(digits):
        code = digit - 1
        if code < 1 or 0xD800 <= code <= 0xDFFF:  # end, NUL, or a surrogate: a shorter key is lower
            break
        chars.append(chr(code))
    return prefix + "".join(chars)


def common_prefix(first: str, last: str) -> str:
    size = 0
    for a, b in zip(first, last):
        if a != b:
            break
        size += 1
    return first[:size]


def cut(sample: Sequence[int], parts: int, start: int, stop: int) -> tuple[int, ...]:
    inside = sorted(p for p in sample if start < p < stop)
    if parts < 2 or not inside:
        return ()
    return tuple(sorted({inside[(k * len(inside)) // parts] for k in range(1, parts)}))


def ranges_between(boundaries: Sequence[int], start: int, stop: int) -> list[tuple[int, int]]:
    cuts = [start, *(b for b in boundaries if start < b < stop), stop]
    return [(lo, hi) for lo, hi in itertools.pairwise(cuts) if lo < hi] or [(start, stop)]


@dataclass
class KeySample:
    """An evenly thinned sample of one namespace's keys, fed in key order."""

    kind: str
    keys: list[Any] = field(default_factory=list)
    stride: int = 1
    seen: int = 0
    first: Any = None
    last: Any = None

    def add(self, key: Any) -> None:
        if self.seen % self.stride == 0:
            self.keys.append(key)
        self.seen += 1
        self.first = key if self.first is None else self.first
        self.last = key
        if len(self.keys) > 2 * SAMPLE_SIZE:  # keep every other sampled key: still evenly spaced
            self.keys, self.stride = self.keys[::2], self.stride * 2

    def split(self, index: str, namespace: str, batch_size: int, rows_per_split: int) -> Split | None:
        """One split over ``[first, last]``, cut at sample quantiles into ranges of about
        ``rows_per_split`` records."""
        if self.first is None:
            return None
        kind = self.kind
        prefix = common_prefix(self.first, self.last) if kind == "str" else ""
        start, stop = position(self.first, kind, prefix), position(self.last, kind, prefix) + 1
        positions = [position(k, kind, prefix) for k in self.keys]
        parts = -(-self.seen // rows_per_split)
        key_range = KeyRange(kind, prefix, cut(positions, parts, start, stop))
        return Split(index, namespace, start, stop, batch_size, key=key_range, estimated_count=self.seen)


def literal(value: Any) -> str:
    """``value`` as a Milvus expression literal (milvus-lite has no expression templates)."""
    if isinstance(value, int):
        return str(int(value))
    return '"' + "".join(_ESCAPES.get(char, char) for char in str(value)) + '"'


# The escapes both Milvus and milvus-lite parse; other characters stand for themselves.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class NamespaceReader:
    """Plans and reads one namespace of one collection through ``query`` (retried by the caller)."""

    layout: Layout
    namespace: str
    query: Query
    every_namespace: bool = False  # list keys of all namespaces (counting them)

    def _filter(self, clause: str) -> str:
        if self.layout.namespace_field and not self.every_namespace:
            return f"{clause} and {self.layout.namespace_field} == {literal(self.namespace)}"
        return clause

    def pages(self, fields: list[str], lower: Any, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Rows from ``lower`` on (inclusive), a page at a time, in key order."""
        key = self.layout.key_field
        expr = self._filter(f"{key} >= {literal(lower)}")
        while True:
            rows = self.query(expr, fields, page_size)
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            expr = self._filter(f"{key} > {literal(rows[-1][key])}")

    def plan(self, batch_size: int, rows_per_split: int, index: str) -> Split | None:
        sample = KeySample(self.layout.key_kind)
        lowest = -INT_OFFSET if sample.kind == "int" else ""
        for rows in self.pages([self.layout.key_field], lowest, MAX_QUERY_LIMIT):
            for row in rows:
                sample.add(row[self.layout.key_field])
        return sample.split(index, self.namespace, batch_size, rows_per_split)

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch]:
        key_range: KeyRange = split.key
        restriction = tracker.current_restriction()
        layout, key = self.layout, self.layout.key_field
        fields = layout.output_fields()
        page_size = page_rows(layout, split.batch_size)
        lower = lower_key(restriction.start, key_range.kind, key_range.prefix)
        claimed = None
        pending: list[dict[str, Any]] = []
        for rows in self.pages(fields, lower, page_size):
            for row in rows:
                pos = position(row[key], key_range.kind, key_range.prefix)
                if pos < restriction.start:
                    continue  # before the range: the previous range owns it
                if pos != claimed:
                    if not tracker.try_claim(pos):
                        yield from self._batches(pending, split.batch_size)
                        return
                    claimed = pos
                pending.append(row)
            yield from self._batches(pending, split.batch_size, keep_tail=True)
        yield from self._batches(pending, split.batch_size)

    def _batches(
        self, pending: list[dict[str, Any]], size: int, keep_tail: bool = False
    ) -> Iterator[VectorBatch]:
        """Decode and yield full batches from ``pending`` (and the tail unless ``keep_tail``)."""
        while len(pending) >= size or (pending and not keep_tail):
            chunk = pending[:size]
            del pending[:size]
            yield to_batch(self.layout, chunk, self.namespace)


def page_rows(layout: Layout, batch_size: int) -> int:
    """Rows per query page: at least a batch, within Milvus' limit and a response budget."""
    row_bytes = (layout.dimension or 0) * 4 + 512
    return max(1, min(MAX_QUERY_LIMIT, max(batch_size, PAGE_BYTES // row_bytes)))
