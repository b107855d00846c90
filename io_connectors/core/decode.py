"""Record-level isolation for reads: one undecodable row fails alone, its neighbours still move.

Every connector decodes a chunk of source rows (an Arrow batch, database rows, points, fetched
vectors) into one ``VectorBatch`` in a single vectorised step. ``decode_isolated`` keeps that
step as the whole cost when nothing is wrong; only when it raises does it decode the rows one by
one to find the bad ones, and yields the good rows as one batch and each bad row as an
``UnreadableRecords`` naming the record (by id, or by position when the id itself is unreadable)
and the problem.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa

from io_connectors.core.records import IdValue, RecordError, UnreadableRecords, VectorBatch

# What decoding a malformed row raises: our own RecordError and what numpy, json, Arrow and the
# drivers raise on values of the wrong kind. Anything else (I/O, configuration) is not a row's fault.
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    RecordError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    pa.ArrowException,
)

BuildRows = Callable[[Sequence[int]], VectorBatch]
RowId = Callable[[int], "IdValue | None"]


def decode_isolated(
    n: int,
    build: BuildRows,
    row_id: RowId,
    namespace: str,
    where: str = "",
    first_position: int = 0,
) -> Iterator[VectorBatch | UnreadableRecords]:
    """Decode rows ``0..n-1`` with ``build(rows)``; isolate the rows that make it fail.

    ``build`` turns the given row numbers into one batch (raising on a malformed row),
    ``row_id`` reads one row's id for the report (None when unreadable). Positions reported
    for rows without a readable id are ``first_position + row``, located by ``where``.
    """
    if n == 0:
        return
    try:
        yield build(range(n))
        return
    except DECODE_ERRORS:
        pass
    singles: dict[int, VectorBatch] = {}
    reasons: dict[int, str] = {}
    for row in range(n):
        try:
            singles[row] = build([row])
        except DECODE_ERRORS as exc:
            reasons[row] = _reason(exc)
    reasons.update(_dimension_outliers(singles))
    good = [row for row in singles if row not in reasons]
    if good:
        yield _together(build, good, singles)
    yield from _reports(reasons, row_id, namespace, where, first_position)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, RecordError) else f"{type(exc).__name__}: {text}"


def _dimension_outliers(singles: dict[int, VectorBatch]) -> dict[int, str]:
    """Rows whose dense part disagrees with the rest of the chunk (null or another length)."""
    dims = Counter(b.dimension for b in singles.values() if b.dimension is not None)
    if not dims:
        return {}
    expected = dims.most_common(1)[0][0]
    outliers = {}
    for row, batch in singles.items():
        if batch.dimension is None:
            outliers[row] = f"field 'values' is null; the other records read with it have {expected} values"
        elif batch.dimension != expected:
            outliers[row] = (
                f"field 'values' has {batch.dimension} values; the other records read with it have {expected}"
            )
    return outliers


def _together(build: BuildRows, rows: list[int], singles: dict[int, VectorBatch]) -> VectorBatch:
    try:
        return build(rows)
    except DECODE_ERRORS:
        return VectorBatch.concat([singles[row] for row in rows])


def _reports(
    reasons: dict[int, str], row_id: RowId, namespace: str, where: str, first_position: int
) -> Iterator[UnreadableRecords]:
    by_reason: dict[str, tuple[list[IdValue], list[int]]] = defaultdict(lambda: ([], []))
    for row, reason in sorted(reasons.items()):
        ids, positions = by_reason[reason]
        vector_id = _safe_id(row_id, row)
        if vector_id is None:
            positions.append(first_position + row)
        else:
            ids.append(vector_id)
    for reason, (ids, positions) in by_reason.items():
        if ids:
            yield UnreadableRecords(namespace, reason, ids=tuple(ids), where=where)
        if positions:
            yield UnreadableRecords(namespace, reason, positions=tuple(positions), where=where)


def _safe_id(row_id: RowId, row: int) -> IdValue | None:
    try:
        vector_id = row_id(row)
    except DECODE_ERRORS:
        return None
    if isinstance(vector_id, bool) or not isinstance(vector_id, (int, str)):
        return None
    return vector_id


def decode_arrow(
    table: pa.RecordBatch | pa.Table, namespace: str, where: str = "", first_position: int = 0
) -> Iterator[VectorBatch | UnreadableRecords]:
    """``VectorBatch.from_arrow`` with record-level isolation (see ``decode_isolated``)."""
    if "id" not in table.schema.names:
        yield UnreadableRecords(
            namespace,
            f"no 'id' column (columns: {', '.join(table.schema.names)})",
            count=table.num_rows,
            where=where,
        )
        return
    yield from decode_isolated(
        table.num_rows,
        lambda rows: VectorBatch.from_arrow(
            table if len(rows) == table.num_rows else table.take(pa.array(rows, type=pa.int64())), namespace
        ),
        lambda row: _arrow_id(table, row),
        namespace,
        where,
        first_position,
    )


def _arrow_id(table: pa.RecordBatch | pa.Table, row: int) -> IdValue | None:
    raw = table.column("id")[row].as_py()
    if raw is None:
        return None
    if "id_is_int" in table.schema.names and table.column("id_is_int")[row].as_py():
        try:
            return int(raw)
        except ValueError:
            return str(raw)
    return raw
