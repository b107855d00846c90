"""Batches <-> Qdrant points: ids, payloads and the fields this connector adds to them.

A point's payload is the record's metadata plus, when needed, fields the connector owns:
``_vm_id``/``_vm_id_kind`` (the original id of a mapped point, see ``ids``), the
namespace field (``_vm_namespace`` by default, in the payload-field namespace mode, absent for
the default namespace) and ``_vm_empty`` (metadata that was an empty mapping rather than none).
Reading strips them all, so metadata comes back exactly as written. Records whose metadata uses
one of these keys are refused, by name, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from io_connectors.core.decode import decode_isolated
from io_connectors.core.records import DENSE_DTYPE, Metadata, SparseBlock, UnreadableRecords, VectorBatch
from io_connectors.qdrant.backend import Points
from io_connectors.qdrant.ids import ID_FIELD, ID_KIND_FIELD, id_fields, point_id, restore_ids

EMPTY_FIELD = "_vm_empty"
PAYLOAD_INT_MIN, PAYLOAD_INT_MAX = -(2**63), 2**64 - 1  # JSON numbers Qdrant keeps exactly


def reserved_keys(namespace_field: str | None) -> frozenset[str]:
    keys = {ID_FIELD, ID_KIND_FIELD, EMPTY_FIELD}
    if namespace_field:
        keys.add(namespace_field)
    return frozenset(keys)


def to_points(batch: VectorBatch, namespace_key: str, namespace_field: str | None) -> Points:
    """Points for a batch. ``namespace_key`` goes into derived ids (see ``point_id``);
    ``namespace_field`` (when namespaces share a collection) gets the batch's namespace."""
    ids, payloads = [], []
    tag = {namespace_field: batch.namespace} if namespace_field and batch.namespace else {}
    for vector_id, metadata in zip(batch.ids, batch.metadata):
        payload: dict[str, Any] = dict(metadata) if metadata else {}
        if metadata is not None and not metadata:
            payload[EMPTY_FIELD] = True
        payload.update(id_fields(vector_id, namespace_key))
        payload.update(tag)
        ids.append(point_id(vector_id, namespace_key))
        payloads.append(payload)
    sparse: list[Any] = [None] * len(batch)
    if batch.sparse is not None:
        for row in np.flatnonzero(batch.sparse.present):
            indices, values = batch.sparse.row(int(row))  # type: ignore[misc]
            sparse[row] = (indices.tolist(), values.tolist())
    return Points(ids, batch.values, sparse, payloads)


def to_batches(
    points: Points, rows: Sequence[int], namespace: str, namespace_field: str | None
) -> Iterator[VectorBatch | UnreadableRecords]:
    """The given rows of ``points`` as batches of ``namespace``: one batch, or two when some
    points lack the dense vector (a batch holds dense values for all its rows or for none)."""
    if not len(rows):
        return
    dense = points.dense if points.dense is not None else [None] * len(points)
    without = [] if isinstance(dense, np.ndarray) else [i for i in rows if dense[i] is None]
    if not without:
        yield from _isolated(points, rows, namespace, namespace_field, True)
        return
    with_dense = [i for i in rows if dense[i] is not None]
    for group, has_dense in ((with_dense, True), (without, False)):
        if group:
            yield from _isolated(points, group, namespace, namespace_field, has_dense)


def _isolated(
    points: Points, rows: Sequence[int], namespace: str, namespace_field: str | None, has_dense: bool
) -> Iterator[VectorBatch | UnreadableRecords]:
    """A point whose payload cannot give back its record (a tampered id field) fails alone,
    reported by its stored point id."""
    yield from decode_isolated(
        len(rows),
        lambda chosen: _batch(points, [rows[r] for r in chosen], namespace, namespace_field, has_dense),
        lambda r: (
            str(points.ids[rows[r]]) if not isinstance(points.ids[rows[r]], int) else points.ids[rows[r]]
        ),
        namespace,
    )


def _batch(
    points: Points, rows: Sequence[int], namespace: str, namespace_field: str | None, has_dense: bool
) -> VectorBatch:
    payloads = [dict(points.payloads[i]) for i in rows]  # copies: edited in place below
    ids = restore_ids([points.ids[i] for i in rows], payloads)
    metadata: list[Metadata | None] = []
    for payload in payloads:
        empty = payload.pop(EMPTY_FIELD, None)
        if namespace_field:
            payload.pop(namespace_field, None)
        metadata.append(payload if payload or empty else None)
    values = None
    if isinstance(points.dense, np.ndarray):
        values = points.dense[np.asarray(rows, dtype=np.intp)]
    elif has_dense:
        values = np.asarray([points.dense[i] for i in rows], dtype=DENSE_DTYPE)  # type: ignore[index]
    sparse_rows = [points.sparse[i] for i in rows]
    sparse = SparseBlock.from_rows(sparse_rows) if any(r is not None for r in sparse_rows) else None
    return VectorBatch(ids, values, sparse, metadata, namespace)


def payload_problem(metadata: Metadata | None, reserved: frozenset[str]) -> str | None:
    """Why Qdrant cannot keep this metadata exactly, or None."""
    if not metadata:
        return None
    clash = sorted(reserved.intersection(metadata))
    if clash:
        return f"metadata uses the key(s) {clash}, which the Qdrant connector reserves"
    bad = _first_out_of_range(metadata)
    if bad is not None:
        return f"metadata holds the integer {bad}, outside the 64-bit range Qdrant payloads keep exactly"
    return None


def _first_out_of_range(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if not PAYLOAD_INT_MIN <= value <= PAYLOAD_INT_MAX else None
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        bad = _first_out_of_range(child)
        if bad is not None:
            return bad
    return None


def sparse_problems(batch: VectorBatch) -> dict[int, str]:
    """Rows whose sparse vector repeats an index (Qdrant refuses those)."""
    if batch.sparse is None:
        return {}
    problems = {}
    indptr, indices = batch.sparse.indptr, batch.sparse.indices
    for row in np.flatnonzero(np.diff(indptr) > 1):
        chunk = indices[indptr[row] : indptr[row + 1]]
        if len(np.unique(chunk)) != len(chunk):
            problems[int(row)] = "sparse vector repeats an index"
    return problems
