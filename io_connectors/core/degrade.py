"""Degradation policies: what to do with the part of a record the target cannot hold.

Per kind, ``refuse`` (the default: the whole record is refused with its reason) or ``drop`` (the
record is stored without that part, and the drop is counted):

- ``sparse``: the sparse vector (e.g. indices beyond pgvector's sparsevec dimension);
- ``metadata``: the metadata fields the target refuses (each field is checked alone; when the
  record is still refused, all of its metadata);
- ``id``: ``refuse`` only: a record cannot be stored without its id, and a changed id would make
  the copy unverifiable.

One mechanism for every provider: a refused record is rebuilt without the parts its policies
allow dropping and checked again with the same check that refused it (the target's
``reject_reasons``); only a variant that check accepts replaces the record. Nothing is dropped
from a record the target accepts, and a record whose refusal lies elsewhere (NaN values, an
over-long id) stays refused with its original reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from io_connectors.core.errors import ConfigError
from io_connectors.core.records import VectorBatch

ACTIONS: dict[str, tuple[str, ...]] = {
    "sparse": ("refuse", "drop"),
    "metadata": ("refuse", "drop"),
    "id": ("refuse",),
}
# Counter names (in the job's metrics and the result summary) of what was dropped.
SPARSE_DROPPED = "unsupported_sparse_dropped"  # records stored without their sparse vector
METADATA_DROPPED = "unsupported_metadata_fields_dropped"  # metadata fields left out
COUNTERS = (SPARSE_DROPPED, METADATA_DROPPED)

Check = Callable[[VectorBatch], Mapping[int, str]]


def parse_policies(value: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"sparse=drop,metadata=drop"`` or ``{"sparse": "drop"}`` -> a checked policy map.

    Kinds not named keep ``refuse``; unknown kinds or actions are a ``ConfigError``.
    """
    if not value:
        return {}
    if isinstance(value, str):
        pairs: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            kind, sep, action = item.partition("=")
            if not sep:
                raise ConfigError(f"on_unsupported: {item!r} is not KIND=ACTION (e.g. sparse=drop)")
            pairs[kind.strip()] = action.strip()
        value = pairs
    policies: dict[str, str] = {}
    for kind, action in value.items():
        if kind not in ACTIONS:
            raise ConfigError(f"on_unsupported: unknown kind {kind!r}; use one of {', '.join(ACTIONS)}")
        if action not in ACTIONS[kind]:
            raise ConfigError(f"on_unsupported: {kind} can be {' or '.join(ACTIONS[kind])}, not {action!r}")
        if action != "refuse":
            policies[kind] = action
    return policies


@dataclass
class Degraded:
    """The outcome for one batch: rows still refused, replacement records, and what was dropped."""

    refused: dict[int, str]
    replaced: dict[int, VectorBatch] = field(default_factory=dict)  # row -> its one-row variant
    dropped: Counter = field(default_factory=Counter)

    def apply(self, batch: VectorBatch) -> VectorBatch:
        """The batch without the refused rows, replaced rows in their degraded form."""
        pieces: list[VectorBatch] = []
        start = 0
        for row in sorted({*self.refused, *self.replaced}):
            if start < row:
                pieces.append(batch.slice(start, row))
            if row in self.replaced:
                pieces.append(self.replaced[row])
            start = row + 1
        if start < len(batch):
            pieces.append(batch.slice(start, len(batch)))
        if not pieces:
            return batch.take([])
        return VectorBatch.concat(pieces)


def degrade(
    batch: VectorBatch, reasons: Mapping[int, str], policies: Mapping[str, str], check: Check
) -> Degraded:
    """Try each refused row without the parts ``policies`` allow dropping; see the module doc."""
    outcome = Degraded(refused=dict(reasons))
    if not policies:
        return outcome
    for row in sorted(reasons):
        one = batch.take([row])
        dropped: Counter = Counter()
        if policies.get("sparse") == "drop" and one.sparse is not None and one.sparse.present.any():
            one = VectorBatch(one.ids, one.values, None, one.metadata, one.namespace)
            dropped[SPARSE_DROPPED] += 1
            if one.values is None:
                continue  # nothing would be left of the vector
        if check(one) and policies.get("metadata") == "drop" and one.metadata[0]:
            one, fields = _without_refused_fields(one, check)
            dropped[METADATA_DROPPED] += fields
        if not dropped or check(one):
            continue
        outcome.refused.pop(row)
        outcome.replaced[row] = one
        outcome.dropped.update(dropped)
    return outcome


def _without_refused_fields(one: VectorBatch, check: Check) -> tuple[VectorBatch, int]:
    """The one-row batch without the metadata fields refused alone (or without all of them)."""
    metadata = dict(one.metadata[0] or {})

    def variant(meta: dict) -> VectorBatch:
        return VectorBatch(one.ids, one.values, one.sparse, [meta or None], one.namespace)

    kept = {key: value for key, value in metadata.items() if not check(variant({key: value}))}
    if check(variant(kept)):
        kept = {}
    return variant(kept), len(metadata) - len(kept)
