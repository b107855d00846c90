"""Arrow columns of a LanceDB table <-> ``VectorBatch``, without per-row work on vectors.

Dense vectors move as one flat float32 buffer reshaped into a matrix (and back into a
``fixed_size_list`` column) without copying; ids and metadata are the only per-row Python work.
Foreign tables' columns become metadata keys; values JSON cannot hold are converted the one
documented way: dates and times to ISO 8601 text, durations to seconds, decimals to their exact
decimal text, binary values to base64 text.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from io_connectors.core.errors import RecordRejected
from io_connectors.core.fields import DOCUMENT_KEY
from io_connectors.core.records import (
    DENSE_DTYPE,
    IdValue,
    Metadata,
    RecordError,
    SparseBlock,
    VectorBatch,
    check_id,
    metadata_from_json,
)
from io_connectors.lancedb.schema import ID, ID_IS_INT, METADATA, NAMESPACE, SPARSE, VECTOR, Layout

Rows = pa.RecordBatch | pa.Table


# -- writing -----------------------------------------------------------------------------------
def batch_to_table(batch: VectorBatch, schema: pa.Schema, dimension: int) -> pa.Table:
    """The rows of ``batch`` in this project's layout, one row per id (the last one wins).

    A batch that repeats an id is an upsert of that id twice; LanceDB's merge refuses a source
    that matches one target row twice, so only the last occurrence is written.
    """
    if batch.values is None or batch.values.shape[1] != dimension:
        got = "no dense values" if batch.values is None else f"{batch.values.shape[1]} dense values"
        raise RecordRejected({i: f"has {got}; the table has dimension {dimension}" for i in batch.ids})
    last = {vector_id: row for row, vector_id in enumerate(batch.ids)}
    if len(last) != len(batch):
        batch = batch.take(sorted(last.values()))
    n = len(batch)
    ids = batch.ids
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(batch.values.reshape(-1)), dimension)
    sparse = batch.sparse.to_arrow() if batch.sparse is not None else pa.nulls(n, schema.field(SPARSE).type)
    columns = {
        NAMESPACE: pa.repeat(pa.scalar(batch.namespace, pa.string()), n),
        ID: pa.array([i if isinstance(i, str) else str(i) for i in ids], pa.string()),
        ID_IS_INT: pa.array(np.fromiter((isinstance(i, int) for i in ids), dtype=bool, count=n)),
        VECTOR: vectors,
        SPARSE: sparse.cast(schema.field(SPARSE).type),
        METADATA: pa.array(batch.metadata_json(), pa.string()),
    }
    return pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)


# -- reading -----------------------------------------------------------------------------------
def rows_to_batch(rows: Rows, layout: Layout, namespace: str) -> VectorBatch:
    """One batch of read rows (the columns ``layout.columns``) as a ``VectorBatch``."""
    ids = _native_ids(rows) if layout.native else _foreign_ids(rows, layout.id_column)
    values = dense_matrix(rows.column(layout.vector_column), ids)
    sparse = None
    if layout.sparse_column is not None:
        column = _single_chunk(rows.column(layout.sparse_column))
        if column.null_count < len(column):
            sparse = SparseBlock.from_arrow(column)
    if layout.native:
        encoded = rows.column(METADATA).to_pylist()
        return VectorBatch(ids, values, sparse, parse_metadata(encoded, ids), namespace, encoded)
    return VectorBatch(ids, values, sparse, _foreign_metadata(rows, layout), namespace)


def parse_metadata(encoded: list[str | None], ids: list[IdValue]) -> list[Metadata | None]:
    """JSON metadata of a whole batch in one decoder call (most of a read's time otherwise);
    row by row, naming the record, only when something in the batch is not a JSON object."""
    try:
        parsed = json.loads("[" + ",".join("null" if m is None else m for m in encoded) + "]")
    except ValueError:
        parsed = None
    if parsed is None or len(parsed) != len(encoded) or not all(m is None or type(m) is dict for m in parsed):
        return [None if m is None else metadata_from_json(m, ids[i]) for i, m in enumerate(encoded)]
    return parsed


def dense_matrix(column: pa.Array | pa.ChunkedArray, ids: list[IdValue]) -> np.ndarray:
    """A list or fixed-size-list column of floats as an ``(n, dimension)`` float32 matrix."""
    column = _single_chunk(column)
    n = len(column)
    if column.null_count:
        missing = [ids[i] for i in np.flatnonzero(~column.is_valid().to_numpy(zero_copy_only=False))[:5]]
        raise RecordError(f"vectors {missing} have no dense values")
    if pa.types.is_fixed_size_list(column.type):
        dimension = column.type.list_size
    else:
        lengths = pc.list_value_length(column).to_numpy()
        if n and lengths.min() != lengths.max():
            bad = int(np.argmax(lengths != lengths[0]))
            raise RecordError(f"vector {ids[bad]!r} has {lengths[bad]} dense values, expected {lengths[0]}")
        dimension = int(lengths[0]) if n else 0
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return flat.astype(DENSE_DTYPE, copy=False).reshape(n, dimension)


def _native_ids(rows: Rows) -> list[IdValue]:
    raw = rows.column(ID).to_pylist()
    flags = rows.column(ID_IS_INT).to_pylist()
    return [int(v) if flag else v for v, flag in zip(raw, flags)]


def _foreign_ids(rows: Rows, column_name: str) -> list[IdValue]:
    ids = rows.column(column_name).to_pylist()
    for row, vector_id in enumerate(ids):
        if vector_id is None:
            raise RecordError(f"row {row} of the read has no id (column {column_name!r} is null)")
        check_id(vector_id)
    return ids


def _foreign_metadata(rows: Rows, layout: Layout) -> list[Metadata | None]:
    """Every mapped column as a metadata key; the text column under ``DOCUMENT_KEY``."""
    named = [(name, name) for name in layout.metadata_columns]
    if layout.text_column is not None:
        named.append((layout.text_column, DOCUMENT_KEY))
    if not named:
        return [None] * rows.num_rows
    values = {key: _json_values(rows.column(name)) for name, key in named}
    return [{key: column[row] for key, column in values.items()} for row in range(rows.num_rows)]


def _json_values(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    values = column.to_pylist()
    if _plain(column.type):
        return values
    return [_jsonable(v) for v in values]


def _plain(kind: pa.DataType) -> bool:
    """Types whose Python values JSON already holds (strings, numbers, bools, nested lists/structs)."""
    if pa.types.is_dictionary(kind):
        return _plain(kind.value_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _plain(kind.value_type)
    if pa.types.is_struct(kind):
        return all(_plain(kind.field(i).type) for i in range(kind.num_fields))
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _single_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column
