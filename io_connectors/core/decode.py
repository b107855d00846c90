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
    A failing chunk is bisected, so k bad rows among n cost about k * log2(n) smaller decodes.
    """
    if n == 0:
        return
    pieces: list[tuple[Sequence[int], VectorBatch]] = []
    reasons: dict[int, str] = {}
    _bisect(build, range(n), pieces, reasons)
    reasons.update(_dimension_outliers(pieces))
    good = [batch for rows, batch in pieces if rows[0] not in reasons]
    if good:
        yield VectorBatch.concat(good)
    yield from _reports(reasons, row_id, namespace, where, first_position)


def _bisect(
    build: BuildRows,
    rows: Sequence[int],
    pieces: list[tuple[Sequence[int], VectorBatch]],
    reasons: dict[int, str],
) -> None:
    try:
        pieces.append((rows, build(rows)))
    except DECODE_ERRORS as exc:
        if len(rows) == 1:
            reasons[rows[0]] = _reason(exc)
            return
        middle = len(rows) // 2
        _bisect(build, rows[:middle], pieces, reasons)
        _bisect(build, rows[middle:], pieces, reasons)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, RecordError) else f"{type(exc).__name__}: {text}"


def _dimension_outliers(pieces: list[tuple[Sequence[int], VectorBatch]]) -> dict[int, str]:
    """Rows whose dense part disagrees with most rows of the chunk (null or another length)."""
    dims: Counter[int] = Counter()
    for rows, batch in pieces:
        if batch.dimension is not None:
            dims[batch.dimension] += len(rows)
    if not dims:
        return {}
    expected = dims.most_common(1)[0][0]
    outliers = {}
    for rows, batch in pieces:
        if batch.dimension is None:
            reason = f"field 'values' is null; the other records read with it have {expected} values"
        elif batch.dimension != expected:
            reason = (
                f"field 'values' has {batch.dimension} values; the other records read with it have {expected}"
            )
        else:
            continue
        outliers.update(dict.fromkeys(rows, reason))
    return outliers


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
