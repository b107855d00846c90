"""Batches <-> Chroma records (string ids, embeddings, metadatas, documents), without loss.

- **Ids**: Chroma ids are strings. An integer id is stored as its decimal text with the
  metadata flag ``_vm_id_kind: "int"``, and comes back as an integer. (So the integer 42 and the
  string "42" are one record in a namespace, as in pgvector.)
- **Documents**: the metadata key ``DOCUMENT_KEY`` ("text"), when it holds a string, is written
  as the record's document and read back from it. A "text" value that is not a string stays an
  ordinary metadata value (and the record has no document). A record written by another tool
  with both a document and a metadata key "text" reads as the document under "text" and its
  metadata value under ``FOREIGN_TEXT_KEY`` ("metadata_text").
- **Metadata**: Chroma keeps str, bool, 64-bit int and float values, and non-empty lists of one
  of those types, under keys that are not empty and do not start with ``#``, ``$`` or
  ``chroma:`` (the server refuses the first ones and silently drops ``chroma:`` keys). Every
  entry it cannot keep exactly as it is (nested objects, nulls, empty or mixed lists, integers
  beyond 64 bits, such keys) goes, as one JSON object, into the reserved key ``_vm_json``, and
  reading merges it back: the encoding is reversible, so metadata reads back exactly as written
  (those entries just cannot be used in Chroma ``where`` filters). An empty mapping (which
  Chroma refuses) is stored as ``_vm_empty: true``.

Records whose metadata uses one of the reserved keys (``_vm_id_kind``, ``_vm_json``,
``_vm_empty``) are refused by name before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from io_connectors.core.fields import DOCUMENT_KEY
from io_connectors.core.records import IdValue, Metadata, VectorBatch

ID_KIND_KEY = "_vm_id_kind"
JSON_KEY = "_vm_json"
EMPTY_KEY = "_vm_empty"
RESERVED_KEYS = frozenset({ID_KIND_KEY, JSON_KEY, EMPTY_KEY})
FOREIGN_TEXT_KEY = "metadata_text"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SCALARS = (str, bool, int, float)


@dataclass
class ChromaRows:
    """What one upsert sends: row-aligned ids, embeddings, metadatas and documents."""

    ids: list[str]
    embeddings: np.ndarray
    metadatas: list[dict[str, Any] | None]
    documents: list[str | None]


def chroma_id(vector_id: IdValue) -> str:
    return str(vector_id)


def reserved_key_problem(metadata: Metadata | None) -> str | None:
    """Why a record cannot be written (its metadata uses a key this connector owns), or None."""
    clash = sorted(RESERVED_KEYS.intersection(metadata or ()))
    if clash:
        return f"metadata uses the key(s) {clash}, which the Chroma connector reserves"
    return None


def native_key(key: str) -> bool:
    return bool(key) and key[0] not in "#$" and not key.startswith("chroma:")


def native_value(value: Any) -> bool:
    """Whether Chroma keeps ``value`` exactly as it is (type included)."""
    if isinstance(value, (bool, str, float)):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, list) and value:
        kind = type(value[0])
        return kind in _SCALARS and all(type(v) is kind and native_value(v) for v in value)
    return False


def encode_metadata(
    metadata: Metadata | None, vector_id: IdValue
) -> tuple[dict[str, Any] | None, str | None]:
    """Chroma metadata and document for one record."""
    document = None
    stored: dict[str, Any] = {}
    foreign: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if key == DOCUMENT_KEY and isinstance(value, str):
            document = value
        elif native_key(key) and native_value(value):
            stored[key] = value
        else:
            foreign[key] = value
    if foreign:
        stored[JSON_KEY] = json.dumps(foreign, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if metadata is not None and not metadata:
        stored[EMPTY_KEY] = True
    if isinstance(vector_id, int):
        stored[ID_KIND_KEY] = "int"
    return stored or None, document


def decode_metadata(
    stored: dict[str, Any] | None, document: str | None, raw_id: str
) -> tuple[IdValue, Metadata | None]:
    """The record's id (kind restored) and metadata (document and JSON entries merged back)."""
    metadata = dict(stored) if stored else {}
    vector_id: IdValue = int(raw_id) if metadata.pop(ID_KIND_KEY, None) == "int" else raw_id
    empty = metadata.pop(EMPTY_KEY, None)
    encoded = metadata.pop(JSON_KEY, None)
    if isinstance(encoded, str):
        metadata.update(json.loads(encoded))
    if document is not None:
        if DOCUMENT_KEY in metadata:
            metadata[FOREIGN_TEXT_KEY] = metadata.pop(DOCUMENT_KEY)
        metadata[DOCUMENT_KEY] = document
    return vector_id, metadata if metadata or empty else None


def to_rows(batch: VectorBatch) -> ChromaRows:
    """A batch as Chroma rows (the batch must have dense values: Chroma requires them)."""
    assert batch.values is not None, "Chroma records need dense values"
    metadatas, documents = [], []
    for vector_id, metadata in zip(batch.ids, batch.metadata):
        stored, document = encode_metadata(metadata, vector_id)
        metadatas.append(stored)
        documents.append(document)
    return ChromaRows([chroma_id(i) for i in batch.ids], batch.values, metadatas, documents)


def from_result(result: dict[str, Any], rows: Sequence[int], namespace: str) -> VectorBatch:
    """The given rows of a ``get`` result (with embeddings, metadatas, documents) as a batch."""
    raw_ids = result["ids"]
    metadatas = result.get("metadatas") or [None] * len(raw_ids)
    documents = result.get("documents") or [None] * len(raw_ids)
    ids: list[IdValue] = []
    metadata: list[Metadata | None] = []
    for row in rows:
        vector_id, meta = decode_metadata(metadatas[row], documents[row], raw_ids[row])
        ids.append(vector_id)
        metadata.append(meta)
    embeddings = result.get("embeddings")
    values = None
    if embeddings is not None and len(rows):
        values = np.asarray(embeddings, dtype=np.float32)[np.asarray(rows, dtype=np.intp)]
    return VectorBatch(ids, values, None, metadata, namespace)


def replacement_metadata(new: dict[str, Any] | None, old: dict[str, Any] | None) -> dict[str, Any] | None:
    """What to send so a stored record's metadata becomes ``new``: Chroma merges an upsert's
    metadata into the stored one, so keys only the stored record has are sent as None (Chroma
    deletes a key set to None)."""
    gone = [key for key in (old or {}) if key not in (new or {})]
    if not gone:
        return new
    return {**(new or {}), **dict.fromkeys(gone)}
