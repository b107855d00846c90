"""Cutting batches to what a target accepts: at most N vectors and at most B bytes a request."""

from __future__ import annotations

import numpy as np

from io_connectors.core.records import VectorBatch

ROW_OVERHEAD_BYTES = 48  # field names, separators and framing around each vector in a request


def row_nbytes(batch: VectorBatch, bytes_per_value: float) -> np.ndarray:
    """Estimated request size of each row, for a protocol spending ``bytes_per_value`` a float."""
    n = len(batch)
    sizes = np.full(n, ROW_OVERHEAD_BYTES, dtype=np.float64)
    if batch.values is not None:
        sizes += batch.values.shape[1] * bytes_per_value
    if batch.sparse is not None:
        sizes += np.diff(batch.sparse.indptr) * (2 * bytes_per_value)
    sizes += np.fromiter((len(str(i)) for i in batch.ids), dtype=np.float64, count=n)
    sizes += np.fromiter(
        (0 if m is None else len(m.encode()) for m in batch.metadata_json()), dtype=np.float64, count=n
    )
    return sizes


def chunk_batch(
    batch: VectorBatch,
    max_count: int | None,
    max_bytes: int | None = None,
    bytes_per_value: float = 4.0,
) -> list[VectorBatch]:
    """Consecutive slices of ``batch``, each within ``max_count`` rows and ``max_bytes`` bytes.

    A single row larger than ``max_bytes`` still forms a chunk of its own: the target decides
    whether to refuse it, and its refusal names the record.
    """
    n = len(batch)
    if n == 0:
        return []
    limit = max_count or n
    if max_bytes is None:
        return [batch.slice(lo, min(lo + limit, n)) for lo in range(0, n, limit)]
    sizes = row_nbytes(batch, bytes_per_value)
    chunks, start, used = [], 0, 0.0
    for row in range(n):
        if row > start and (row - start >= limit or used + sizes[row] > max_bytes):
            chunks.append(batch.slice(start, row))
            start, used = row, 0.0
        used += sizes[row]
    chunks.append(batch.slice(start, n))
    return chunks


def ids_as_strings(batch: VectorBatch) -> tuple[VectorBatch, int]:
    """For targets without integer ids: integers become decimal strings. Returns the count changed."""
    converted = sum(isinstance(i, int) for i in batch.ids)
    if not converted:
        return batch, 0
    ids = [str(i) for i in batch.ids]
    return VectorBatch(ids, batch.values, batch.sparse, batch.metadata, batch.namespace), converted
