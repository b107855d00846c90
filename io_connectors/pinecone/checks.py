"""What Pinecone refuses, found before anything is sent, each refusal naming its reason.

``vector_refusals`` needs only the records (ids, namespace, dense and sparse values; metadata
is ``metadata``'s); ``index_refusals`` also needs the target index's shape.
"""

from __future__ import annotations

import numpy as np

from io_connectors.core.records import VectorBatch
from io_connectors.pinecone.wire import MAX_SPARSE_VALUES

MAX_ID_LENGTH = 512
MAX_NAMESPACE_LENGTH = 512


def id_problem(vector_id: str) -> str | None:
    """Pinecone ids are 1-512 characters of ASCII without NUL."""
    if not vector_id:
        return "id is empty"
    if len(vector_id) > MAX_ID_LENGTH:
        return f"id is {len(vector_id)} characters; Pinecone allows {MAX_ID_LENGTH}"
    if not vector_id.isascii():
        return "id has non-ASCII characters, which Pinecone does not allow"
    if "\x00" in vector_id:
        return "id contains a NUL character, which Pinecone does not allow"
    return None


def vector_refusals(batch: VectorBatch) -> dict[int, str]:
    """Rows (by position) Pinecone would refuse whatever the index and the metadata, with why."""
    reasons: dict[int, str] = {}
    namespace = batch.namespace
    if len(namespace) > MAX_NAMESPACE_LENGTH or not namespace.isascii() or "\x00" in namespace:
        return dict.fromkeys(
            range(len(batch)), f"namespace {namespace!r} is not 1-512 ASCII characters, as Pinecone needs"
        )
    for row, vector_id in enumerate(batch.ids):
        problem = id_problem(str(vector_id))
        if problem is not None:
            reasons[row] = problem
    if batch.values is not None:
        for row in np.flatnonzero(~batch.values.any(axis=1)):
            reasons.setdefault(int(row), "dense values are all zero, which Pinecone refuses")
    lengths = np.zeros(len(batch), dtype=np.int64) if batch.sparse is None else np.diff(batch.sparse.indptr)
    if batch.sparse is not None:
        for row in np.flatnonzero(lengths > MAX_SPARSE_VALUES):
            reasons.setdefault(
                int(row), f"sparse vector has {lengths[row]} values; Pinecone allows {MAX_SPARSE_VALUES}"
            )
        for row in np.flatnonzero(lengths > 1):
            indices = batch.sparse.indices[batch.sparse.indptr[row] : batch.sparse.indptr[row + 1]]
            if len(np.unique(indices)) != len(indices):
                reasons.setdefault(int(row), "sparse vector repeats an index, which Pinecone refuses")
    if batch.values is None:
        for row in np.flatnonzero(lengths == 0):
            reasons.setdefault(int(row), "has neither dense values nor a non-empty sparse vector")
    return reasons


def index_refusals(batch: VectorBatch, index: str, dimension: int | None, metric: str) -> dict[int, str]:
    """Rows the index ``index`` (of ``dimension``, None for a sparse index, and ``metric``) refuses."""
    everything = range(len(batch))
    if dimension is None:
        if batch.values is not None:
            return dict.fromkeys(everything, f"has dense values; index {index!r} is a sparse index")
        return {}
    if batch.values is None:
        return dict.fromkeys(everything, f"has no dense values; index {index!r} has dimension {dimension}")
    if batch.values.shape[1] != dimension:
        return dict.fromkeys(
            everything, f"has {batch.values.shape[1]} dense values; index {index!r} has dimension {dimension}"
        )
    if batch.sparse is None or metric == "dotproduct":
        return {}
    rows = np.flatnonzero(np.diff(batch.sparse.indptr) > 0)
    return dict.fromkeys(
        (int(r) for r in rows),
        f"has sparse values, which Pinecone keeps only in dotproduct indexes; {index!r} uses {metric}",
    )
