"""Opt-in (``preserve_types=true``): numbers and lists come back as they were sent.

Pinecone's metadata rule (``metadata``) returns every number as a float, integers beyond 2**53
as strings and lists that are not all strings as JSON strings, and nothing on the way back can
tell which. With ``preserve_types``, each record whose top-level metadata fields the rule
retypes carries one more field, ``_vm_types``: a JSON string mapping each such field to its
original kind (``int``, ``bigint``, ``json``); reading restores them and removes the field.
Nested objects are still flattened to dotted keys (their values are restored by the same rule
under the dotted name). A source record that already has a ``_vm_types`` field is refused.
Other readers of the index see the extra field and the retyped values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from io_connectors.pinecone.metadata import SAFE_INTEGER, MetadataRefused

TYPES_FIELD = "_vm_types"


def _kind(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return "int" if -SAFE_INTEGER <= value <= SAFE_INTEGER else "bigint"
    if isinstance(value, list | tuple) and not all(isinstance(item, str) for item in value):
        return "json"
    return None


def _flat_kinds(obj: Mapping[str, Any], prefix: str, out: dict[str, str]) -> None:
    for key, value in obj.items():
        if isinstance(value, Mapping):
            _flat_kinds(value, f"{prefix}{key}.", out)
        elif (kind := _kind(value)) is not None:
            out[f"{prefix}{key}"] = kind


def type_record(original: Mapping[str, Any] | None) -> str | None:
    """The ``_vm_types`` value for ``original`` metadata, or None when nothing is retyped."""
    if original is None:
        return None
    if TYPES_FIELD in original:
        raise MetadataRefused(f"metadata field {TYPES_FIELD!r} is reserved by the preserve_types option")
    kinds: dict[str, str] = {}
    _flat_kinds(original, "", kinds)
    return orjson.dumps(kinds, option=orjson.OPT_SORT_KEYS).decode() if kinds else None


def with_types(stored: dict[str, Any] | None, original: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Converted metadata plus its ``_vm_types`` field (when anything is retyped)."""
    record = type_record(original)
    if stored is None or record is None:
        return stored
    return {**stored, TYPES_FIELD: record}


def restore(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """Metadata as read, with the retyped fields turned back and ``_vm_types`` removed."""
    if not metadata or TYPES_FIELD not in metadata:
        return metadata
    out = dict(metadata)
    kinds = orjson.loads(out.pop(TYPES_FIELD))
    for key, kind in kinds.items():
        if key not in out:
            continue
        out[key] = _restored(kind, out[key])
    return out


def _restored(kind: str, value: Any) -> Any:
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "bigint" and isinstance(value, str):
        return int(value)
    if kind == "json" and isinstance(value, str):
        return orjson.loads(value)
    return value
