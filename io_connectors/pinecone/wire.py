"""The vectors' wire form: request bodies sent to Pinecone's REST API and responses read back.

Values travel as JSON numbers. A float32 handed to the SDK as a Python float (a double) prints
17 significant digits (``0.10000000149011612``), about 20 bytes a value; Pinecone stores float32,
so the connector sends instead the shortest double of 8 or 9 significant digits that rounds to
the very same float32, checked value by value (the exact double is kept where none does). About
11-13 bytes a value: little more than half the request bytes, and of the requests.

Upsert bodies are built once, as bytes: each vector is serialised straight from its numpy
rows with the encoder the SDK uses (orjson, which writes a float64 array exactly as it writes the
same Python floats), its metadata taken as the metadata rule already encoded it. So every
request's size is exact, with no second encoding and no Python list of floats on the way, and
requests are packed to at most 1,000 vectors and ``REQUEST_BYTES`` bytes. Fetches send ids in
the query string, so their batches are bounded by the encoded length of the ids as well as by
count (a 1,000-id fetch of long ids overflows the request line that servers and proxies accept).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
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
_EXACT_POWERS = 22  # 10**k is an exact double for |k| <= 22
_BLOCK_VALUES = 1 << 15
_BLOCK_ROWS = 64  # rows encoded at a time


def short_doubles(values: np.ndarray) -> np.ndarray:
    """``values`` (float32, any shape) as a C-ordered float64 array of short decimal forms.

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
    return out.reshape(exact.shape)


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


def _doubles(values: np.ndarray, compact: bool) -> np.ndarray:
    """float32 values as the doubles sent: short forms (``compact``) or exact ones, C-ordered
    (orjson serialises only contiguous arrays)."""
    doubles = short_doubles(values) if compact else np.asarray(values, dtype=DENSE_DTYPE).astype(np.float64)
    return np.ascontiguousarray(doubles)


def _json_array(values: np.ndarray) -> bytes:
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_rows(
    ids: Sequence[str], batch: VectorBatch, metadata: Sequence[bytes | None], compact: bool
) -> Iterator[bytes]:
    """Each vector as the JSON object of an upsert body, ``metadata`` being each row's metadata
    already encoded. Lazily, a block of rows at a time, so the first requests are on their way
    while later rows are encoded. A row without dense values (a sparse index) carries
    ``"values":[]``, as the SDK sends it; an empty sparse part next to dense values is left out
    (it holds nothing, and Pinecone refuses empty sparse vectors)."""
    sparse = None if batch.sparse is None else _sparse_parts(batch.sparse, compact)
    for lo in range(0, len(ids), _BLOCK_ROWS):
        dense = None if batch.values is None else _doubles(batch.values[lo : lo + _BLOCK_ROWS], compact)
        for row in range(lo, min(lo + _BLOCK_ROWS, len(ids))):
            parts = [b'{"id":', orjson.dumps(ids[row]), b',"values":']
            parts.append(b"[]" if dense is None else _json_array(dense[row - lo]))
            if sparse is not None and sparse[row] is not None:
                parts += (b',"sparseValues":', sparse[row])
            if metadata[row] is not None:
                parts += (b',"metadata":', metadata[row])
            parts.append(b"}")
            yield b"".join(parts)


def _sparse_parts(block: SparseBlock, compact: bool) -> list[bytes | None]:
    """Each row's sparse vector as ``{"indices":[...],"values":[...]}``, None where it has none."""
    indices = np.ascontiguousarray(block.indices)
    values = _doubles(block.values, compact)
    bounds = block.indptr.tolist()
    return [
        b'{"indices":' + _json_array(indices[lo:hi]) + b',"values":' + _json_array(values[lo:hi]) + b"}"
        if present and hi > lo
        else None
        for lo, hi, present in zip(bounds[:-1], bounds[1:], block.present.tolist())
    ]


@dataclass(frozen=True)
class UpsertRequest:
    """One upsert request: its body, ready to send, and the ids of the vectors it carries."""

    body: bytes
    ids: list[str]


def pack_requests(
    rows: Iterable[bytes],
    ids: Sequence[str],
    namespace: str,
    max_count: int = MAX_UPSERT_VECTORS,
    max_bytes: int = REQUEST_BYTES,
) -> Iterator[UpsertRequest]:
    """Consecutive ``rows`` (encoded vectors, with their ``ids``) grouped into upsert bodies of
    at most ``max_count`` vectors and ``max_bytes`` bytes each, sizes counted exactly; each
    request is yielded as soon as it is full."""
    head = b'{"vectors":['
    tail = b"]" + (b',"namespace":' + orjson.dumps(namespace) if namespace else b"") + b"}"
    frame = len(head) + len(tail)
    current: list[bytes] = []
    used = lo = 0
    for row in rows:
        if current and (len(current) >= max_count or used + 1 + len(row) > max_bytes):
            yield UpsertRequest(head + b",".join(current) + tail, list(ids[lo : lo + len(current)]))
            lo += len(current)
            current = []
        used = frame + len(row) if not current else used + 1 + len(row)  # a comma between rows
        current.append(row)
    if current:
        yield UpsertRequest(head + b",".join(current) + tail, list(ids[lo : lo + len(current)]))


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
