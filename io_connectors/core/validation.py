"""Checks a batch against what its target accepts, before anything is sent.

Every problem names the record (by id) and what is wrong with it; the pipeline dead-letters
those records and writes the rest.
"""

from __future__ import annotations

import numpy as np

from io_connectors.core.contract import Capabilities
from io_connectors.core.records import RecordError, VectorBatch, metadata_to_json


def reject_reasons(batch: VectorBatch, caps: Capabilities, dimension: int | None) -> dict[int, str]:
    """Rows (by position in the batch) the target would refuse, each with its reason."""
    reasons: dict[int, str] = {}

    def refuse(row: int, reason: str) -> None:
        reasons.setdefault(row, reason)

    if batch.values is None:
        if dimension is not None and not caps.dense_optional:
            for row in range(len(batch)):
                refuse(row, f"has no dense values; the target index needs {dimension}")
    else:
        if dimension is not None and batch.values.shape[1] != dimension:
            for row in range(len(batch)):
                refuse(
                    row,
                    f"has {batch.values.shape[1]} dense values; the target index has dimension {dimension}",
                )
        if caps.max_dimension is not None and batch.values.shape[1] > caps.max_dimension:
            for row in range(len(batch)):
                refuse(
                    row,
                    f"dimension {batch.values.shape[1]} exceeds the target's maximum {caps.max_dimension}",
                )
        for row in np.flatnonzero(~np.isfinite(batch.values).all(axis=1)):
            refuse(int(row), "dense values contain NaN or infinity")
    if batch.sparse is not None:
        if not caps.sparse:
            for row in np.flatnonzero(batch.sparse.present):
                refuse(int(row), "has sparse values, which the target cannot store")
        bad_values = ~np.isfinite(batch.sparse.values)
        if bad_values.any():
            rows = np.searchsorted(batch.sparse.indptr, np.flatnonzero(bad_values), side="right") - 1
            for row in np.unique(rows):
                refuse(int(row), "sparse values contain NaN or infinity")
    for row, vector_id in enumerate(batch.ids):
        if isinstance(vector_id, str):
            if not vector_id and not caps.empty_ids:
                refuse(row, "id is empty, which the target does not allow")
            if caps.max_id_length is not None and len(vector_id) > caps.max_id_length:
                refuse(row, f"id is {len(vector_id)} characters; the target allows {caps.max_id_length}")
            if caps.ascii_ids_only and not vector_id.isascii():
                refuse(row, "id has non-ASCII characters, which the target does not allow")
    try:
        batch.metadata_json()
    except RecordError:
        for row, meta in enumerate(batch.metadata):
            try:
                metadata_to_json(meta or {})
            except (TypeError, ValueError) as exc:
                refuse(row, f"metadata is not JSON-serialisable: {exc}")
    return reasons
