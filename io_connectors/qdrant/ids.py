"""Qdrant point ids without loss, and the position space a split read claims.

Qdrant accepts only unsigned 64-bit integers and UUIDs as point ids. An integer in
``0..2**64-1`` and a canonical UUID string (lowercase, hyphenated: what ``str(uuid.UUID(x))``
gives) are stored as they are. Every other id (negative or huge integers, upper-case or braced
UUIDs, arbitrary and unicode strings) is stored under a deterministic UUID, version 5 in a fixed
project namespace, and the original id is kept in the payload: ``_vm_id`` holds it as text and
``_vm_id_kind`` is ``"int"`` for integers. Reading restores the original id and strips both
fields, so ``"doc-1"`` comes back as ``"doc-1"`` and ``-5`` as ``-5``.

When several namespaces share one collection (the payload-field namespace mode), the same id may
live in two namespaces; there every id of a non-default namespace is mapped, with the namespace
mixed into the UUID, so the two points never collide.

Positions: Qdrant orders points by id, integers first, then UUIDs by their 128-bit value (the
server, local mode and the embedded engine agree; the tests check it). Position ``i`` is
integer id ``i`` for ``i < 2**64`` and UUID ``i - 2**64`` above, so scrolling in id order visits
strictly increasing positions, and a position is a valid scroll offset.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import MutableMapping, Sequence
from typing import Any

from io_connectors.core.records import IdValue, RecordError

ID_FIELD = "_vm_id"
ID_KIND_FIELD = "_vm_id_kind"
ID_NAMESPACE = uuid.UUID("6f1c1b8e-4f5a-5d3e-9c57-7a2d0e4b9a10")  # fixed forever: ids depend on it

INT_SPACE = 2**64
UUID_SPACE = 2**128
POSITION_END = INT_SPACE + UUID_SPACE

PointId = int | str


def is_canonical_uuid(text: str) -> bool:
    if len(text) != 36:
        return False
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def is_native(vector_id: IdValue) -> bool:
    """True when Qdrant can store ``vector_id`` exactly as it is."""
    if isinstance(vector_id, int):
        return 0 <= vector_id < INT_SPACE
    return is_canonical_uuid(vector_id)


def point_id(vector_id: IdValue, namespace_key: str = "") -> PointId:
    """The Qdrant point id of ``vector_id``.

    ``namespace_key`` is empty when the id's namespace has its collection to itself; otherwise
    it is the namespace, which is mixed into the derived UUID (length-prefixed, so no choice of
    namespace and id can collide with another).
    """
    if not namespace_key and is_native(vector_id):
        return vector_id
    kind = "int" if isinstance(vector_id, int) else "str"
    name = f"{len(namespace_key)}:{namespace_key}|{kind}|{vector_id}"
    return str(uuid.uuid5(ID_NAMESPACE, name))


def id_fields(vector_id: IdValue, namespace_key: str = "") -> dict[str, str]:
    """Payload fields that let a mapped id be restored; empty for ids stored as they are."""
    if not namespace_key and is_native(vector_id):
        return {}
    if isinstance(vector_id, int):
        return {ID_FIELD: str(vector_id), ID_KIND_FIELD: "int"}
    return {ID_FIELD: vector_id}


def original_id(stored: int | str | uuid.UUID, payload: MutableMapping[str, Any]) -> IdValue:
    """The id a point was written with; removes the id fields from ``payload``."""
    raw = payload.pop(ID_FIELD, None)
    kind = payload.pop(ID_KIND_FIELD, None)
    if raw is not None:
        if kind != "int":
            return str(raw)
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise RecordError(
                f"payload field {ID_FIELD!r} holds {raw!r}, marked as an integer id but not one"
            ) from None
    return stored if isinstance(stored, int) else str(stored)


def position(stored: int | str | uuid.UUID) -> int:
    """Position of a stored point id in the read position space."""
    if isinstance(stored, int):
        return stored
    value = stored if isinstance(stored, uuid.UUID) else uuid.UUID(stored)
    return INT_SPACE + value.int


def offset_at(pos: int) -> PointId:
    """The smallest point id at or after ``pos``: a scroll offset."""
    if pos < INT_SPACE:
        return max(pos, 0)
    return str(uuid.UUID(int=min(pos - INT_SPACE, UUID_SPACE - 1)))


def cut_positions(sample: Sequence[int], parts: int, start: int, stop: int) -> tuple[int, ...]:
    """Boundaries cutting ``[start, stop)`` into about ``parts`` ranges of equal point counts,
    judged by a sample of the positions that hold points."""
    inside = sorted(p for p in sample if start < p < stop)
    if parts < 2 or not inside:
        return ()
    return tuple(sorted({inside[(k * len(inside)) // parts] for k in range(1, parts)}))


def ranges_between(boundaries: Sequence[int], start: int, stop: int) -> list[tuple[int, int]]:
    """``[start, stop)`` cut at the boundaries that fall strictly inside it."""
    cuts = [start, *(b for b in boundaries if start < b < stop), stop]
    return [(lo, hi) for lo, hi in itertools.pairwise(cuts) if lo < hi] or [(start, stop)]


def restore_ids(
    stored: Sequence[int | str | uuid.UUID], payloads: Sequence[MutableMapping[str, Any]]
) -> list[IdValue]:
    return [original_id(s, p) for s, p in zip(stored, payloads)]
