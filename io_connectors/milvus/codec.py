"""Records to Milvus rows and back, and the primary keys of this connector's collections.

Keys (collections this connector creates, see ``schema``): a string id of the default
namespace is its own key, so those collections read naturally elsewhere; any other record is
keyed ``"\\x1f" + len(namespace) + ":" + namespace + kind + id`` with kind ``i`` (int) or ``s``
(str). The length prefix makes the key unambiguous whatever the namespace holds; a string id
that itself starts with ``"\\x1f"`` takes the long form too. So ``5`` and ``"5"`` are two keys,
and so is one id in two namespaces. In other collections the key is the id itself (INT64 or
VARCHAR).

Rows: dense values as float32 lists; FLOAT16/BFLOAT16 vectors read from Milvus (bytes or arrays)
are widened to float32. Sparse vectors as ``{index: weight}``. A value the connector cannot
decode raises ``RecordError`` naming the record and the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from io_connectors.core.records import IdValue, RecordError, SparseBlock, VectorBatch
from io_connectors.milvus.schema import Layout

MARK = "\x1f"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# A row without sparse values in a dense+sparse collection: Milvus needs one non-zero weight.
PLACEHOLDER_SPARSE = {2**32 - 2: 1e-30}


def encode_key(vector_id: IdValue, namespace: str) -> str:
    if not namespace and isinstance(vector_id, str) and not vector_id.startswith(MARK):
        return vector_id
    kind = "i" if isinstance(vector_id, int) else "s"
    return f"{MARK}{len(namespace)}:{namespace}{kind}{vector_id}"


def decode_key(key: str) -> IdValue:
    if not key.startswith(MARK):
        return key
    length, sep, rest = key[1:].partition(":")
    if not sep or not length.isdigit() or len(rest) <= int(length):
        raise RecordError(f"primary key {key!r} is not in this connector's key form")
    kind, text = rest[int(length)], rest[int(length) + 1 :]
    if kind == "i":
        try:
            return int(text)
        except ValueError:
            raise RecordError(f"primary key {key!r} marks an int id but holds {text!r}") from None
    if kind != "s":
        raise RecordError(f"primary key {key!r} has unknown id kind {kind!r}")
    return text


def key_of(layout: Layout, vector_id: IdValue, namespace: str) -> IdValue:
    """The primary key value for a record, or RecordError when the collection cannot hold it."""
    if layout.ours:
        return encode_key(vector_id, namespace)
    if layout.key_kind == "int":
        if not isinstance(vector_id, int):
            raise RecordError(
                f"vector {vector_id!r}: the collection's primary key is INT64; the id is a string"
            )
        if not INT64_MIN <= vector_id <= INT64_MAX:
            raise RecordError(f"vector {vector_id!r}: id outside the INT64 primary key's range")
        return vector_id
    if not isinstance(vector_id, str):
        raise RecordError(f"vector {vector_id!r}: the collection's primary key is VARCHAR; the id is an int")
    return vector_id


def id_of(layout: Layout, key: Any) -> IdValue:
    if layout.ours:
        return decode_key(str(key))
    return int(key) if layout.key_kind == "int" else str(key)


def to_rows(layout: Layout, batch: VectorBatch) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Rows to upsert, and the batch rows (by position) this collection cannot hold, with reasons."""
    rows: list[dict[str, Any]] = []
    refused: dict[int, str] = {}
    namespace = batch.namespace
    if namespace and layout.namespace_field is None:
        return [], dict.fromkeys(
            range(len(batch)), f"the collection has no namespace field for namespace {namespace!r}"
        )
    for i, vector_id in enumerate(batch.ids):
        try:
            row = _row(layout, batch, i, vector_id, namespace)
        except RecordError as exc:
            refused[i] = str(exc)
            continue
        rows.append(row)
    return rows, refused


def _row(layout: Layout, batch: VectorBatch, i: int, vector_id: IdValue, namespace: str) -> dict[str, Any]:
    row: dict[str, Any] = {layout.key_field: key_of(layout, vector_id, namespace)}
    if layout.namespace_field:
        row[layout.namespace_field] = namespace
    if layout.dense_field:
        if batch.values is None:
            raise RecordError(
                f"vector {vector_id!r}: the collection needs dense values of dimension {layout.dimension}"
            )
        row[layout.dense_field] = batch.values[i]
    elif batch.values is not None:
        raise RecordError(
            f"vector {vector_id!r}: has dense values but the collection has no dense vector field"
        )
    sparse = None if batch.sparse is None else batch.sparse.row(i)
    if sparse is not None and layout.sparse_field is None:
        raise RecordError(
            f"vector {vector_id!r}: has sparse values but the collection has no sparse vector field"
        )
    if layout.sparse_field:
        if sparse is not None and np.any(sparse[1] != 0):
            row[layout.sparse_field] = dict(zip(sparse[0].tolist(), sparse[1].tolist()))
        elif sparse is not None:
            raise RecordError(
                f"vector {vector_id!r}: Milvus needs a sparse vector with at least one non-zero weight"
            )
        elif layout.sparse_flag_field is None:
            raise RecordError(f"vector {vector_id!r}: the collection needs sparse values on every record")
        else:
            row[layout.sparse_field] = PLACEHOLDER_SPARSE
        if layout.sparse_flag_field:
            row[layout.sparse_flag_field] = sparse is not None
    metadata = batch.metadata[i]
    if layout.metadata_field:
        row[layout.metadata_field] = metadata
    elif metadata:
        clash = sorted(
            set(metadata)
            & {layout.key_field, layout.namespace_field, layout.dense_field, layout.sparse_field}
        )
        if not layout.dynamic or clash:
            why = (
                f"keys {clash} are field names"
                if clash
                else "the collection has no metadata or dynamic field"
            )
            raise RecordError(f"vector {vector_id!r}: metadata cannot be stored: {why}")
        row.update(metadata)
    return row


def to_batch(layout: Layout, rows: Sequence[Mapping[str, Any]], namespace: str) -> VectorBatch:
    """A batch of ``namespace`` from query results (every row of that namespace)."""
    ids = [id_of(layout, row[layout.key_field]) for row in rows]
    values = None
    if layout.dense_field:
        values = np.empty((len(rows), layout.dimension or 0), dtype=np.float32)
        for i, row in enumerate(rows):
            values[i] = dense_values(row.get(layout.dense_field), layout, ids[i])
    sparse = None
    if layout.sparse_field:
        flag = layout.sparse_flag_field
        sparse_rows = [
            _sparse(row.get(layout.sparse_field), ids[i]) if (flag is None or row.get(flag)) else None
            for i, row in enumerate(rows)
        ]
        if any(r is not None for r in sparse_rows):
            sparse = SparseBlock.from_rows(sparse_rows)
    metadata = [_metadata(layout, row, ids[i]) for i, row in enumerate(rows)]
    return VectorBatch(ids, values, sparse, metadata, namespace)


def dense_values(value: Any, layout: Layout, vector_id: IdValue) -> np.ndarray:
    """One dense vector as float32, whatever form pymilvus returned it in."""
    if value is None:
        raise RecordError(f"vector {vector_id!r}: no dense values stored")
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], (bytes, bytearray)):
        value = value[0]
    if isinstance(value, (bytes, bytearray)):
        if layout.dense_type == "float16":
            array = np.frombuffer(value, dtype=np.float16)
        elif layout.dense_type == "bfloat16":
            array = (np.frombuffer(value, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(value, dtype=np.float32)
    else:
        array = np.asarray(value)
    if array.shape != (layout.dimension,):
        raise RecordError(
            f"vector {vector_id!r}: {array.size} dense values stored, expected {layout.dimension}"
        )
    result = array.astype(np.float32)
    if not np.isfinite(result).all():
        raise RecordError(f"vector {vector_id!r}: dense values contain NaN or infinity")
    return result


def _sparse(value: Any, vector_id: IdValue) -> tuple[list[int], list[float]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RecordError(
            f"vector {vector_id!r}: sparse values of type {type(value).__name__} cannot be read"
        )
    pairs = sorted((int(k), float(v)) for k, v in value.items())
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _metadata(layout: Layout, row: Mapping[str, Any], vector_id: IdValue) -> dict[str, Any] | None:
    if layout.ours:
        stored = row.get(layout.metadata_field) if layout.metadata_field else None
        if stored is not None and not isinstance(stored, dict):
            raise RecordError(
                f"vector {vector_id!r}: metadata JSON is a {type(stored).__name__}, not an object"
            )
        return stored
    merged: dict[str, Any] = {}
    if layout.metadata_field and isinstance(row.get(layout.metadata_field), dict):
        merged.update(row[layout.metadata_field])
    elif layout.metadata_field and row.get(layout.metadata_field) is not None:
        merged[layout.metadata_field] = row[layout.metadata_field]
    for name in layout.scalar_fields:
        if row.get(name) is not None:
            merged[name] = _plain(row[name])
    dynamic = row.get("$meta")
    if isinstance(dynamic, dict):
        merged.update(dynamic)
    known = set(layout.output_fields())
    merged.update({k: _plain(v) for k, v in row.items() if k not in known})  # dynamic keys pymilvus flattened
    return merged or None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
