"""What differs between a source record and its copy, field by field, and which differences are
documented one-way changes of the target rather than real ones.

A record's digest keeps each metadata field's value when it is small (numbers, booleans, short
strings and lists: what engines round or retype) and a hash otherwise, the sparse part's hash,
the dense part's hash and its first values. Comparing two digests names each differing field
with both values (or their hashes), so a report says ``metadata.score: 0.1 -> 0.10000000000000002``
instead of only an id.

Known one-way changes (declared by the target connector's ``one_way_changes``):

- ``float_ulp``: a float metadata value that came back one or two units in the last place away
  (Qdrant's engine parses some payload floats so);
- ``cosine_normalised``: dense values stored as the unit vector (Qdrant with cosine), judged
  by projections of the unit vector;
- ``metadata_rule``: metadata rewritten by the target's documented rule (Pinecone: integers
  become floats, number lists JSON strings); the expected form is computed from the source, so
  such records compare equal and are counted here.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

SMALL_JSON = 80  # characters: metadata values up to this size are kept whole in the digest
DENSE_SHOWN = 4
# Qdrant's engine (qdrant-edge-py 0.9.0) returned 2,919 of 20,000 random payload floats one unit in
# the last place away and 6 two units away, none further.
MAX_ULPS = 2  # leading dense values shown for a dense difference
FLOAT_ULP = "float_ulp"
COSINE_NORMALISED = "cosine_normalised"
METADATA_RULE = "metadata_rule"
KNOWN_CHANGES = (FLOAT_ULP, COSINE_NORMALISED, METADATA_RULE)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def field_digest(value: Any) -> Any:
    """The value itself when small, else a tagged hash of its canonical JSON."""
    text = canonical_json(value)
    if len(text) <= SMALL_JSON:
        return value
    return {"blake2b": hashlib.blake2b(text.encode(), digest_size=12).hexdigest(), "chars": len(text)}


@dataclass(frozen=True)
class RecordDigest:
    fields: tuple[tuple[str, Any], ...] | None  # metadata field -> value or hash; None: no metadata
    sparse: bytes
    dense: bytes  # dense values, bit for bit (hash)
    dense_head: tuple[float, ...]
    sketch: tuple[float, ...] | None  # projections of the unit dense vector
    rewritten: bool = False  # the target's documented metadata rule changed this record's metadata


def _within_one_ulp(a: Any, b: Any) -> bool:
    """Equal but for floats (also inside lists and objects) at most ``MAX_ULPS`` units in the
    last place apart."""
    if type(a) is float and type(b) is float:
        if a == b:
            return True
        if not (math.isfinite(a) and math.isfinite(b)) or (a < 0) != (b < 0):
            return False
        steps = abs(int(np.float64(a).view(np.int64)) - int(np.float64(b).view(np.int64)))
        return steps <= MAX_ULPS
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_within_one_ulp(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_within_one_ulp(a[k], b[k]) for k in a)
    return canonical_json(a) == canonical_json(b)


def explain(
    source: RecordDigest,
    target: RecordDigest,
    tolerant: bool,
    sketch_tolerance: float,
    declared: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], set[str]]:
    """(real differences as {field, source, target}, known one-way changes seen).

    ``declared``: the one-way changes the target documents (``Connector.one_way_changes``)."""
    real: list[dict[str, Any]] = []
    known: set[str] = set()
    if source.rewritten:
        known.add(METADATA_RULE)
    if source.fields != target.fields:
        if source.fields is None or target.fields is None:
            real.append({"field": "metadata", "source": source.fields, "target": target.fields})
        else:
            a, b = dict(source.fields), dict(target.fields)
            for key in sorted(set(a) | set(b)):
                left, right = a.get(key, "<absent>"), b.get(key, "<absent>")
                if canonical_json(left) == canonical_json(right):
                    continue
                if FLOAT_ULP in declared and _within_one_ulp(left, right):
                    known.add(FLOAT_ULP)
                else:
                    real.append({"field": f"metadata.{key}", "source": left, "target": right})
    if source.sparse != target.sparse:
        real.append({"field": "sparse_values", "source": source.sparse.hex(), "target": target.sparse.hex()})
    if source.dense != target.dense:
        close = (
            tolerant
            and source.sketch is not None
            and target.sketch is not None
            and bool(np.allclose(source.sketch, target.sketch, atol=sketch_tolerance, rtol=0))
        )
        if close:
            known.add(COSINE_NORMALISED)
        else:
            real.append(
                {"field": "values", "source": list(source.dense_head), "target": list(target.dense_head)}
            )
    return real, known
