"""Pinecone's metadata rule: what the connector does to metadata Pinecone cannot hold.

Pinecone keeps, per record, a flat object whose values are strings, numbers, booleans or lists
of strings: no nulls, no nested objects, no other lists, field names not starting with ``$``,
at most 40 KB (40,960 bytes of compact JSON). Numbers are stored as 64-bit floats. Rather than
refusing every record that carries richer metadata, the connector applies this documented,
deterministic rule before sending, in this order:

1. **Nested objects are flattened** to dotted keys: ``{"a": {"b": 1, "c": {"d": "x"}}}`` becomes
   ``{"a.b": 1, "a.c.d": "x"}`` (depth-first, in the object's key order).
2. **Nulls are dropped**, and so are empty objects: ``{"a": None, "b": {}}`` becomes ``{}``.
3. **Lists that are not all strings are JSON-encoded** into one string (compact, UTF-8 kept):
   ``[1, 2]`` becomes ``"[1,2]"``, ``["a", None]`` becomes ``'["a",null]'``. Lists of strings
   (and empty lists) are kept as they are.
4. **Integers beyond ±2**53**, which a 64-bit float cannot hold exactly, become decimal strings.
5. Strings, booleans and other numbers are kept. Pinecone returns every number as a float:
   ``2019`` comes back as ``2019.0``.

A record is refused (reported in the failed records, with the reason, never sent) when after
the rule two keys collide (``{"a.b": 1, "a": {"b": 2}}``), a key starts with ``$``, or the
metadata is larger than 40 KB.

Beam counters (namespace ``vector_migrate``) count the records written whose metadata each step
changed: ``pinecone_metadata_flattened``, ``pinecone_metadata_nulls_dropped``,
``pinecone_metadata_lists_encoded``, ``pinecone_metadata_ints_stringified``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from apache_beam.metrics import Metrics

from io_connectors.core.retry import METRICS_NAMESPACE

MAX_METADATA_BYTES = 40 * 1024
SAFE_INTEGER = 2**53
STEPS = ("flattened", "nulls_dropped", "lists_encoded", "ints_stringified")
_COUNTERS = {step: Metrics.counter(METRICS_NAMESPACE, f"pinecone_metadata_{step}") for step in STEPS}


class MetadataRefused(ValueError):
    """The record's metadata cannot be stored in Pinecone even after the rule."""


def to_pinecone(metadata: Mapping[str, Any] | None) -> tuple[dict[str, Any] | None, frozenset[str]]:
    """``metadata`` as Pinecone can hold it, and the steps of the rule that changed it.

    Raises ``MetadataRefused`` (with the reason) for metadata the rule cannot make fit.
    """
    value, _, steps = _converted(metadata)
    return value, steps


def _converted(
    metadata: Mapping[str, Any] | None,
) -> tuple[dict[str, Any] | None, bytes | None, frozenset[str]]:
    """``to_pinecone`` and the converted metadata's compact JSON (measured, then sent as is)."""
    if metadata is None:
        return None, None, frozenset()
    out: dict[str, Any] = {}
    steps: set[str] = set()
    _flatten(metadata, "", out, steps)
    encoded = orjson.dumps(out)
    if len(encoded) > MAX_METADATA_BYTES:
        raise MetadataRefused(
            f"metadata is {len(encoded)} bytes after Pinecone's metadata rule; Pinecone allows "
            f"{MAX_METADATA_BYTES} bytes per record"
        )
    return out, encoded, frozenset(steps)


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, Any], steps: set[str]) -> None:
    for key, value in obj.items():
        if not isinstance(key, str):
            raise MetadataRefused(f"metadata key {key!r} is not a string")
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            steps.add("flattened" if value else "nulls_dropped")
            _flatten(value, f"{name}.", out, steps)
            continue
        if value is None:
            steps.add("nulls_dropped")
            continue
        if name.startswith("$"):
            raise MetadataRefused(f"metadata key {name!r} starts with '$', which Pinecone does not allow")
        if name in out:
            raise MetadataRefused(
                f"metadata key {name!r} occurs twice once nested objects are flattened to dotted keys"
            )
        out[name] = _value(value, steps)


def _value(value: Any, steps: set[str]) -> Any:
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if -SAFE_INTEGER <= value <= SAFE_INTEGER:
            return value
        steps.add("ints_stringified")
        return str(value)
    if isinstance(value, list | tuple):
        if all(isinstance(item, str) for item in value):
            return list(value)
        steps.add("lists_encoded")
        try:
            return orjson.dumps(value).decode()
        except TypeError as exc:
            raise MetadataRefused(f"metadata list cannot be JSON-encoded: {exc}") from None
    raise MetadataRefused(f"metadata value of type {type(value).__name__} cannot be stored")


@dataclass
class Conversion:
    """The metadata rule applied to every row of a batch."""

    metadata: list[dict[str, Any] | None]  # the converted rows (None where refused)
    encoded: list[bytes | None]  # their compact JSON, as an upsert body carries it
    changed: Counter[str]  # how many rows each step changed
    refused: dict[int, str]  # the rows (by position) the rule cannot make fit, with the reason


def convert_all(metadata: Sequence[Mapping[str, Any] | None]) -> Conversion:
    conversion = Conversion([], [], Counter(), {})
    for row, value in enumerate(metadata):
        try:
            stored, encoded, steps = _converted(value)
        except MetadataRefused as exc:
            conversion.refused[row] = str(exc)
            stored, encoded, steps = None, None, frozenset()
        conversion.metadata.append(stored)
        conversion.encoded.append(encoded)
        conversion.changed.update(steps)
    return conversion


def count_changes(changed: Counter[str]) -> None:
    """Add rows changed per step to the Beam counters (no-ops outside a pipeline)."""
    for step, rows in changed.items():
        _COUNTERS[step].inc(rows)


def as_stored(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What Pinecone returns for ``metadata`` written through the connector: the rule applied,
    and every number a float (Pinecone stores doubles)."""
    value, _ = to_pinecone(metadata)
    return None if value is None else {k: _as_double(v) for k, v in value.items()}


def _as_double(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value
