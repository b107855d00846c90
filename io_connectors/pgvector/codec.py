"""Binary transfer between ``VectorBatch`` and PostgreSQL, with numpy doing the per-value work.

Writing: a batch becomes a ``COPY ... FROM STDIN (FORMAT BINARY)`` stream, built a few hundred
rows at a time so the server parses one piece while the next is built; each piece's dense
vectors are laid out by one numpy operation (pgvector's binary ``vector`` is an int16 dimension,
an int16 zero and big-endian float32s; ``sparsevec`` is an int32 dimension, count and zero, then
0-based int32 indices and float32 values).

Reading: rows arrive from a binary cursor with pgvector and jsonb values as raw bytes and
``ctid`` as raw bytes (``register_loaders``); one ``numpy.frombuffer`` decodes a batch's
vectors and one ``json.loads`` its metadata.

What pgvector refuses whatever the table (``vector_refusals``, ``metadata_check``): 0 or more
than 16,000 dimensions, NaN or infinite values, sparse vectors with more than 16,000 entries, an
index beyond the sparse dimension, duplicate indices or explicit zeros (binary sparsevec input
refuses zeros), NUL characters (text and jsonb cannot hold U+0000), keys too long for the primary
key's btree, and metadata that is not JSON. ``table_refusals`` adds what one table cannot hold.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from psycopg.adapt import AdaptersMap
from psycopg.types.string import ByteaBinaryLoader

from io_connectors.core.decode import decode_isolated
from io_connectors.core.errors import PermanentError
from io_connectors.core.fields import DOCUMENT_KEY
from io_connectors.core.records import (
    DENSE_DTYPE,
    SPARSE_INDEX_DTYPE,
    IdValue,
    RecordError,
    SparseBlock,
    UnreadableRecords,
    VectorBatch,
    metadata_to_json,
)
from io_connectors.pgvector.schema import MAX_DIMENSION, SPARSE_DIMENSION, SPARSE_MAX_NNZ, TableLayout

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)
STAGE_COLUMNS = ("ns", "id", "id_is_int", "meta", "sparse", "dense")
MAX_KEY_BYTES = 2_600  # namespace + id must fit a btree index entry (at most 2,704 bytes)
TID_OID = 27
JSONB_OID = 3802
_NULL = struct.pack(">i", -1)
_TRUE = struct.pack(">ib", 1, 1)
_FALSE = struct.pack(">ib", 1, 0)
_INT32 = struct.Struct(">i")
_SPARSE_HEAD = struct.Struct(">iiii")  # field length, dimension, count, unused


# -- reading ---------------------------------------------------------------------------------
def register_loaders(adapters: AdaptersMap, oids: Iterable[int]) -> None:
    """pgvector types, jsonb and tid as their binary bytes (psycopg's C bytea loader, no Python
    call per value): decoded a batch at a time, not one object per row."""
    for oid in (*oids, JSONB_OID, TID_OID):
        adapters.register_loader(oid, ByteaBinaryLoader)


# Row layout of every read and fetch query (see sql.select_list).
PAGE, NS, ID, FLAG, DENSE, SPARSE, META, TEXT = range(8)

_TID = np.dtype([("page", ">u4"), ("item", ">u2")])


def row_pages(rows: Sequence[tuple]) -> np.ndarray:
    """The heap page of each row, from its binary ``ctid`` (a uint32 page, a uint16 item)."""
    return np.frombuffer(b"".join(row[PAGE] for row in rows), dtype=_TID)["page"].astype(np.int64)


@dataclass(frozen=True)
class RowShape:
    half: bool  # the dense column is halfvec (float16)
    metadata_key: str  # non-object metadata values are kept under this key
    extras: bool  # metadata built from plain columns: drop their NULLs
    text: bool = False  # a document text column: its value joins the metadata as DOCUMENT_KEY


def batches_from_rows(
    rows: Sequence[tuple], shape: RowShape, batch_size: int, where: str = ""
) -> Iterator[VectorBatch | UnreadableRecords]:
    """Batches of at most ``batch_size`` rows, one per namespace and dense width, in row order.

    A row that cannot be decoded (a null id, a bad integer flag) is reported alone, located by
    its page when its id is unreadable.
    """
    groups: dict[tuple[str, int], list[int]] = {}
    for i, row in enumerate(rows):
        dense = row[DENSE]
        groups.setdefault((row[NS], -1 if dense is None else len(dense)), []).append(i)
    for (namespace, width), members in groups.items():
        for lo in range(0, len(members), batch_size):
            picked = [rows[i] for i in members[lo : lo + batch_size]]
            yield from decode_isolated(
                len(picked),
                lambda chosen, picked=picked, ns=namespace, dense=width >= 0: _batch(
                    [picked[r] for r in chosen], ns, dense, shape
                ),
                lambda row, picked=picked: _row_id(picked[row]),
                namespace,
                where,
            )


def _row_id(row: tuple) -> IdValue | None:
    return None if row[ID] is None else (int(row[ID]) if row[FLAG] else row[ID])


def _batch(rows: list[tuple], namespace: str, has_dense: bool, shape: RowShape) -> VectorBatch:
    if any(r[ID] is None for r in rows):
        raise RecordError("field 'id' is null")
    ids: list[IdValue] = [int(r[ID]) if r[FLAG] else r[ID] for r in rows]
    values = _dense([r[DENSE] for r in rows], shape.half) if has_dense else None
    sparse = _sparse([r[SPARSE] for r in rows])
    metadata = _metadata([r[META] for r in rows], shape)
    if shape.text:
        metadata = [_with_text(m, r[TEXT], vector_id) for m, r, vector_id in zip(metadata, rows, ids)]
    return VectorBatch(ids, values, sparse, metadata, namespace)


def _with_text(
    metadata: dict[str, Any] | None, text: str | None, vector_id: IdValue
) -> dict[str, Any] | None:
    if text is None:
        return metadata
    if metadata and DOCUMENT_KEY in metadata:
        raise PermanentError(
            f"pgvector: record {vector_id!r} has a document text and also the metadata key "
            f"{DOCUMENT_KEY!r}, which the document text travels as; rename that metadata key first"
        )
    return {**(metadata or {}), DOCUMENT_KEY: text}


def _dense(raws: list[bytes], half: bool) -> np.ndarray:
    head = 2 if half else 1  # the 4-byte header counted in elements
    flat = np.frombuffer(b"".join(raws), dtype=">f2" if half else ">f4")
    return flat.reshape(len(raws), -1)[:, head:].astype(DENSE_DTYPE)


def _sparse(raws: list[bytes | None]) -> SparseBlock | None:
    present = np.fromiter((r is not None for r in raws), dtype=bool, count=len(raws))
    if not present.any():
        return None
    counts = np.fromiter((0 if r is None else _INT32.unpack_from(r, 4)[0] for r in raws), np.int64, len(raws))
    indptr = np.zeros(len(raws) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=SPARSE_INDEX_DTYPE)
    values = np.empty(int(indptr[-1]), dtype=DENSE_DTYPE)
    for i, raw in enumerate(raws):
        n = int(counts[i])
        if n:
            lo, hi = indptr[i], indptr[i + 1]
            indices[lo:hi] = np.frombuffer(raw, ">i4", n, 12)
            values[lo:hi] = np.frombuffer(raw, ">f4", n, 12 + 4 * n)
    return SparseBlock(indptr, indices, values, present)


def _metadata(raws: list[bytes | None], shape: RowShape) -> list[dict[str, Any] | None]:
    """Binary jsonb values (a version byte, then JSON text) parsed in one ``json.loads`` call."""
    if all(raw is None for raw in raws):
        return [None] * len(raws)
    values = json.loads(b"[" + b",".join(b"null" if raw is None else raw[1:] for raw in raws) + b"]")
    return [_metadata_value(value, shape) for value in values]


def _metadata_value(value: Any, shape: RowShape) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return {shape.metadata_key: value}
    if shape.extras:
        value = {k: v for k, v in value.items() if v is not None}
        return value or None
    return value


def as_stored(value: Any) -> Any:
    """``value`` as jsonb gives it back: jsonb keeps numbers as ``numeric``, so a float written in
    exponent form (magnitude 1e16 and up) returns as the integer it denotes, and -0.0 as 0.0."""
    if isinstance(value, float):
        if value == 0:
            return 0.0
        text = repr(value)
        return int(Decimal(text)) if "e+" in text else value
    if isinstance(value, dict):
        return {k: as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_stored(v) for v in value]
    return value


# -- writing ---------------------------------------------------------------------------------
def copy_pieces(batch: VectorBatch, sparse_dimension: int, piece_rows: int = 256) -> Iterator[bytes]:
    """The ``COPY FROM (FORMAT BINARY)`` payload for the staging table's STAGE_COLUMNS, in pieces.

    Pieces are encoded lazily so the server parses one while the next is built. The batch must
    have passed ``metadata_check`` (its metadata is JSON without U+0000).
    """
    yield COPY_HEADER
    namespace = batch.namespace.encode()
    row_head = struct.pack(">hi", len(STAGE_COLUMNS), len(namespace)) + namespace
    metadata = batch.metadata_json()
    for lo in range(0, len(batch), piece_rows):
        hi = min(lo + piece_rows, len(batch))
        dense = _dense_fields(None if batch.values is None else batch.values[lo:hi])
        sparse_rows = None if batch.sparse is None else batch.sparse.slice(lo, hi)
        sparse = _sparse_fields(sparse_rows, sparse_dimension)
        yield _encode_rows(row_head, batch.ids[lo:hi], metadata[lo:hi], dense, sparse)
    yield COPY_TRAILER


def _encode_rows(
    row_head: bytes,
    ids: Sequence[IdValue],
    metadata: Sequence[str | None],
    dense: Sequence[memoryview] | None,
    sparse: Sequence[bytes | None] | None,
) -> bytes:
    parts: list[Any] = []
    append = parts.append
    pack = _INT32.pack
    for row, vector_id in enumerate(ids):
        if isinstance(vector_id, int):
            text, flag = str(vector_id).encode(), _TRUE
        else:
            text, flag = vector_id.encode(), _FALSE
        text_meta = metadata[row]
        meta = None if text_meta is None else text_meta.encode()
        append(row_head)
        append(pack(len(text)))
        append(text)
        append(flag)
        append(_NULL if meta is None else pack(len(meta) + 1) + b"\x01" + meta)  # jsonb format version 1
        append(_NULL if sparse is None or sparse[row] is None else sparse[row])
        append(_NULL if dense is None else dense[row])
    return b"".join(parts)


def _dense_fields(values: np.ndarray | None) -> list[memoryview] | None:
    """Every row's complete ``vector`` field (length, header, big-endian floats) from one block."""
    if values is None:
        return None
    n, dim = values.shape
    stride = 8 + 4 * dim
    block = np.empty((n, stride), dtype=np.uint8)
    block[:, :8] = np.frombuffer(struct.pack(">ihh", 4 + 4 * dim, dim, 0), dtype=np.uint8)
    block[:, 8:] = values.astype(">f4").view(np.uint8).reshape(n, 4 * dim)
    view = memoryview(block.tobytes())
    return [view[i * stride : (i + 1) * stride] for i in range(n)]


def _sparse_fields(sparse: SparseBlock | None, dimension: int) -> list[bytes | None] | None:
    if sparse is None:
        return None
    fields: list[bytes | None] = []
    for row in range(len(sparse)):
        pair = sparse.row(row)
        if pair is None:
            fields.append(None)
            continue
        order = np.argsort(pair[0], kind="stable")
        n = len(order)
        head = _SPARSE_HEAD.pack(12 + 8 * n, dimension, n, 0)
        fields.append(head + pair[0][order].astype(">i4").tobytes() + pair[1][order].astype(">f4").tobytes())
    return fields


# -- what pgvector refuses, whatever the table ---------------------------------------------------
def vector_refusals(batch: VectorBatch) -> dict[int, str]:
    """Rows (by position) whose namespace, id or vectors pgvector refuses, with reasons."""
    reasons: dict[int, str] = {}

    def refuse(rows: Iterable[int], reason: str) -> None:
        for row in rows:
            reasons.setdefault(int(row), reason)

    everyone = range(len(batch))
    if "\x00" in batch.namespace:
        refuse(everyone, "namespace contains a NUL character (U+0000), which PostgreSQL text cannot hold")
    if batch.values is not None:
        if not 1 <= batch.values.shape[1] <= MAX_DIMENSION:
            refuse(everyone, f"has {batch.values.shape[1]} dimensions; pgvector holds 1 to {MAX_DIMENSION}")
        refuse(np.flatnonzero(~np.isfinite(batch.values).all(axis=1)), "dense values contain NaN or infinity")
    if batch.sparse is not None:
        for row in np.flatnonzero(batch.sparse.present):
            reason = sparse_refusal(*batch.sparse.row(int(row)))  # type: ignore[misc]
            if reason:
                refuse([row], reason)
    namespace_bytes = len(batch.namespace.encode())
    texts = [i for i in batch.ids if not isinstance(i, int)]
    if not texts or (
        "\x00" not in "\x01".join(texts) and namespace_bytes + 4 * max(map(len, texts)) <= MAX_KEY_BYTES
    ):
        return reasons  # no NUL and short enough (UTF-8 takes at most 4 bytes a character): no row to check
    for row, vector_id in enumerate(batch.ids):
        if isinstance(vector_id, int):
            continue
        if "\x00" in vector_id:
            refuse([row], "id contains a NUL character (U+0000), which PostgreSQL text cannot hold")
        elif namespace_bytes + len(vector_id.encode()) > MAX_KEY_BYTES:
            refuse([row], f"namespace and id take over {MAX_KEY_BYTES} bytes, too long for the primary key")
    return reasons


def sparse_refusal(indices: np.ndarray, values: np.ndarray) -> str | None:
    if len(indices) > SPARSE_MAX_NNZ:
        return (
            f"sparse vector has {len(indices)} entries; pgvector's sparsevec holds at most {SPARSE_MAX_NNZ}"
        )
    if len(indices) and int(indices.max()) >= SPARSE_DIMENSION:
        return (
            f"sparse index {int(indices.max())} is beyond pgvector's largest sparse dimension "
            f"({SPARSE_DIMENSION}: indices 0..{SPARSE_DIMENSION - 1})"
        )
    if len(np.unique(indices)) != len(indices):
        return "sparse vector has duplicate indices"
    if not np.isfinite(values).all():
        return "sparse values contain NaN or infinity"
    if (values == 0).any():
        return "sparse vector has explicit zero values, which pgvector's sparsevec does not store"
    return None


def metadata_check(batch: VectorBatch) -> dict[int, str]:
    """Rows whose metadata is not JSON, or holds U+0000 (which JSON text shows as the escape
    \\u0000), with reasons. Uses the batch's JSON text, encoded once and shared with the writer."""
    try:
        texts = batch.metadata_json()
    except RecordError:
        reasons = {}
        for row, meta in enumerate(batch.metadata):
            try:
                metadata_to_json(meta or {})
            except (TypeError, ValueError) as exc:
                reasons[row] = f"metadata is not valid JSON: {exc}"
        return reasons
    return {
        row: "metadata contains a NUL character (U+0000), which jsonb cannot hold"
        for row, text in enumerate(texts)
        if text is not None and "\\u0000" in text and _has_nul(batch.metadata[row])
    }


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


# -- what one table refuses ----------------------------------------------------------------------
_INT_RANGES = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_HALF_MAX = float(np.finfo(np.float16).max)


def table_refusals(layout: TableLayout, batch: VectorBatch) -> dict[int, str]:
    """Rows this table cannot hold (missing columns, dimension, id type), each with its reason."""
    reasons: dict[int, str] = {}

    def refuse(rows: Iterable[int], reason: str) -> None:
        for row in rows:
            reasons.setdefault(int(row), reason)

    everyone = range(len(batch))
    if batch.namespace and layout.namespace is None:
        refuse(
            everyone,
            f"has no namespace column {layout.names.namespace!r}; only the default namespace '' fits",
        )
    _dense_refusals(layout, batch, refuse)
    if batch.sparse is not None:
        present = np.flatnonzero(batch.sparse.present)
        if layout.sparse is None:
            refuse(
                present, f"has sparse values but the table has no sparsevec column {layout.names.sparse!r}"
            )
        else:
            for row in present:
                indices = batch.sparse.row(int(row))[0]  # type: ignore[index]
                if len(indices) and int(indices.max()) >= layout.sparse_dimension:
                    refuse(
                        [row],
                        f"column {layout.sparse.name!r} is sparsevec({layout.sparse_dimension}); "
                        f"sparse index {int(indices.max())} does not fit",
                    )
    if layout.text is not None:
        _text_refusals(layout.text.name, layout.text.not_null, batch, refuse)
    if layout.metadata is None:
        beside_text = {DOCUMENT_KEY} if layout.text is not None else set()
        with_metadata = [row for row, m in enumerate(batch.metadata) if m and set(m) - beside_text]
        refuse(
            with_metadata, f"has metadata but the table has no json/jsonb column {layout.names.metadata!r}"
        )
    if layout.id_kind != "text" or layout.id_flag is None:  # a text id with its flag takes any id
        for row, vector_id in enumerate(batch.ids):
            reason = _id_refusal(layout, vector_id)
            if reason:
                refuse([row], reason)
    return reasons


def _text_refusals(
    column: str, required: bool, batch: VectorBatch, refuse: Callable[[Iterable[int], str], None]
) -> None:
    """The document text (metadata key DOCUMENT_KEY) goes to a text column: it must be a string."""
    for row, metadata in enumerate(batch.metadata):
        text = (metadata or {}).get(DOCUMENT_KEY)
        if text is None and required:
            refuse(
                [row], f"column {column!r} needs a document text (metadata key {DOCUMENT_KEY!r}); none given"
            )
        elif text is not None and not isinstance(text, str):
            refuse(
                [row],
                f"the document text (metadata key {DOCUMENT_KEY!r}) for column {column!r} is not a string",
            )


def _dense_refusals(
    layout: TableLayout, batch: VectorBatch, refuse: Callable[[Iterable[int], str], None]
) -> None:
    everyone = range(len(batch))
    if batch.values is None:
        if layout.dense is not None and layout.dense.not_null:
            refuse(everyone, f"has no dense values but column {layout.dense.name!r} is NOT NULL")
        return
    if layout.dense is None:
        refuse(everyone, f"has dense values but the table has no vector column {layout.names.vector!r}")
        return
    column = f"column {layout.dense.name!r} is {layout.dense.type_name}({layout.dimension})"
    if layout.dimension is not None and batch.values.shape[1] != layout.dimension:
        refuse(everyone, f"{column}; this record has {batch.values.shape[1]} dense values")
    if layout.half:
        with np.errstate(over="ignore"):  # float16 rounds like pgvector's conversion; beyond it: inf
            overflow = np.isinf(batch.values.astype(np.float16)) & np.isfinite(batch.values)
        refuse(
            np.flatnonzero(overflow.any(axis=1)),
            f"{column}; a value exceeds halfvec's range (±{_HALF_MAX:g})",
        )


def _id_refusal(layout: TableLayout, vector_id: IdValue) -> str | None:
    column = f"id column {layout.id.name!r} is {layout.id.type_name}"
    if layout.id_kind == "int":
        limit = _INT_RANGES[layout.id.type_name]
        if not isinstance(vector_id, int):
            return f"{column}; the id {vector_id!r} is not an integer"
        if not -limit <= vector_id < limit:
            return f"{column}; the id {vector_id} is out of its range"
    elif layout.id_kind == "uuid":
        if not (isinstance(vector_id, str) and is_uuid(vector_id)):
            return f"{column}; the id {vector_id!r} is not a UUID"
    elif isinstance(vector_id, int) and layout.id_flag is None:
        return (
            f"{column} and the table has no boolean column {layout.names.id_flag!r} to mark integer ids, "
            f"so the integer id {vector_id} would come back as a string; add one (boolean NOT NULL DEFAULT "
            "false, in the primary key) or let vector-migrate create the table"
        )
    return None


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
