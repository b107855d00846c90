"""The vectors' wire form: request bodies sent to Pinecone's REST API and responses read back.

Values travel as JSON numbers. A float32 handed to the SDK as a Python float (a double) prints
17 significant digits (``0.10000000149011612``), about 20 bytes a value; Pinecone stores float32,
so the connector sends instead the shortest double of 8 or 9 significant digits that rounds to
the very same float32, checked value by value (the exact double is kept where none does). About
11-13 bytes a value: little more than half the request bytes, and of the requests.

Request sizes are measured, not estimated: every vector is serialised once with the encoder the
SDK uses (orjson) to learn its exact size, and requests are packed to at most 1,000 vectors and
``REQUEST_BYTES`` bytes. Fetches send ids in the query string, so their batches are bounded by
the encoded length of the ids as well as by count (a 1,000-id fetch of long ids overflows the
request line that servers and proxies accept).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson

from io_connectors.core.records import DENSE_DTYPE, SPARSE_INDEX_DTYPE, SparseBlock, VectorBatch

MAX_UPSERT_VECTORS = 1000
MAX_FETCH_IDS = 1000
MAX_DELETE_IDS = 1000
MAX_SPARSE_VALUES = 2048
# Pinecone documents "up to 2 MB" a request; decimal megabytes keep ~95 KB under 2 MiB.
REQUEST_BYTES = 2_000_000
# Everything in an upsert body around the vectors: '{"vectors":[', '],"namespace":' and so on.
_BODY_FRAME_BYTES = 64
_EXACT_POWERS = 22  # 10**k is an exact double for |k| <= 22
_BLOCK_VALUES = 1 << 15
_BLOCK_ROWS = 128


def compact_floats(values: np.ndarray) -> list[Any]:
    """``values`` (float32, any shape) as nested lists of doubles with short decimal forms.

    Each double is the nearest one to the float32 value rounded to 8 (else 9) significant
    digits, kept only where it converts back to exactly that float32; elsewhere the exact double
    is used. So the server, parsing the number and storing float32, stores the original bits.
    Large arrays are worked through in blocks that stay in the processor's cache.
    """
    exact = np.asarray(values, dtype=DENSE_DTYPE)
    flat32 = exact.reshape(-1)
    out = flat32.astype(np.float64)
    for lo in range(0, len(flat32), _BLOCK_VALUES):
        _shorten(flat32[lo : lo + _BLOCK_VALUES], out[lo : lo + _BLOCK_VALUES])
    return out.reshape(exact.shape).tolist()


def _shorten(exact: np.ndarray, out: np.ndarray) -> None:
    """Overwrite ``out`` (the doubles of ``exact``) with short doubles where they round-trip."""
    magnitude = np.abs(out)
    todo = np.flatnonzero((magnitude > 0) & np.isfinite(magnitude))
    exponent = np.floor(np.log10(magnitude[todo]))
    for digits in (8, 9):
        shift = digits - 1 - exponent
        usable = np.abs(shift) <= _EXACT_POWERS
        todo, shift, exponent = todo[usable], shift[usable], exponent[usable]
        scale = np.power(10.0, np.abs(shift))
        value = out[todo]
        up = shift >= 0
        candidate = np.where(up, np.rint(value * scale) / scale, np.rint(value / scale) * scale)
        same = candidate.astype(DENSE_DTYPE) == exact[todo]
        out[todo[same]] = candidate[same]
        todo, exponent = todo[~same], exponent[~same]


def upsert_rows(
    ids: Sequence[str], batch: VectorBatch, metadata: Sequence[dict[str, Any] | None], compact: bool
) -> list[dict[str, Any]]:
    """Vectors in the SDK's dict form. A row without dense values (a sparse index) carries
    ``"values": []``, as the SDK sends it; an empty sparse part next to dense values is left out
    (it holds nothing, and Pinecone refuses empty sparse vectors)."""
    encode = compact_floats if compact else (lambda a: np.asarray(a, dtype=DENSE_DTYPE).tolist())
    dense = None
    if batch.values is not None:  # in blocks of rows: faster than one huge list of floats
        blocks = (encode(batch.values[lo : lo + _BLOCK_ROWS]) for lo in range(0, len(ids), _BLOCK_ROWS))
        dense = [row for block in blocks for row in block]
    sparse = _sparse_rows(batch.sparse, encode) if batch.sparse is not None else None
    rows = []
    for row, vector_id in enumerate(ids):
        item: dict[str, Any] = {"id": vector_id, "values": [] if dense is None else dense[row]}
        if sparse is not None and sparse[row] is not None:
            item["sparse_values"] = sparse[row]
        if metadata[row] is not None:
            item["metadata"] = metadata[row]
        rows.append(item)
    return rows


def _sparse_rows(block: SparseBlock, encode: Any) -> list[dict[str, list[Any]] | None]:
    indices = block.indices.tolist()
    values = encode(block.values)
    bounds = block.indptr.tolist()
    return [
        {"indices": indices[lo:hi], "values": values[lo:hi]} if present and hi > lo else None
        for lo, hi, present in zip(bounds[:-1], bounds[1:], block.present.tolist())
    ]


def pack_requests(
    rows: Sequence[dict[str, Any]], max_count: int = MAX_UPSERT_VECTORS, max_bytes: int = REQUEST_BYTES
) -> list[list[dict[str, Any]]]:
    """Consecutive groups of ``rows``, each at most ``max_count`` rows and ``max_bytes`` bytes
    of request body. Sizes are measured by serialising each row as the SDK will (the SDK names
    the sparse field ``sparseValues``, one byte shorter, so the measure errs on the safe side)."""
    requests: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = _BODY_FRAME_BYTES
    for row in rows:
        size = len(orjson.dumps(row)) + 1  # the comma between rows
        if current and (len(current) >= max_count or used + size > max_bytes):
            requests.append(current)
            current, used = [], _BODY_FRAME_BYTES
        current.append(row)
        used += size
    if current:
        requests.append(current)
    return requests


def id_batches(ids: Sequence[str], max_count: int, max_query_bytes: int) -> Iterator[list[str]]:
    """Consecutive groups of ``ids`` within ``max_count`` ids and ``max_query_bytes`` bytes of
    query string (``ids=<id>&`` each, percent-encoded: an upper bound on what httpx sends)."""
    current: list[str] = []
    used = 0
    for vector_id in ids:
        size = len(quote(vector_id, safe="")) + 5
        if current and (len(current) >= max_count or used + size > max_query_bytes):
            yield current
            current, used = [], 0
        current.append(vector_id)
        used += size
    if current:
        yield current


def batch_from_fetch(found: Mapping[str, Any], ids: Sequence[str], namespace: str) -> VectorBatch:
    """The fetched vectors among ``ids``, in the order asked for, as a batch."""
    vectors = [found[i] for i in dict.fromkeys(ids) if i in found]
    if not vectors:
        return VectorBatch([], namespace=namespace)
    values = None
    if any(len(v.values) for v in vectors):
        values = np.array([v.values for v in vectors], dtype=DENSE_DTYPE)
    sparse_rows = [
        (
            np.asarray(v.sparse_values.indices, dtype=SPARSE_INDEX_DTYPE),
            np.asarray(v.sparse_values.values, dtype=DENSE_DTYPE),
        )
        if v.sparse_values is not None
        else None
        for v in vectors
    ]
    sparse = SparseBlock.from_rows(sparse_rows) if any(r is not None for r in sparse_rows) else None
    metadata = [None if v.metadata is None else dict(v.metadata) for v in vectors]
    return VectorBatch([v.id for v in vectors], values, sparse, metadata, namespace)
