"""Sync's comparison: fingerprints per bucket, a vectorised join, and a recheck of candidates.

1. ``FingerprintFn``: a batch -> its fingerprints (``pipelines.fingerprints``), one pickled part
   per join bucket it touches. Beam shuffles bytes, a few per batch, never an object per record.
2. ``JoinFn``: per bucket, a sort/search join of the keys in numpy. A source key absent from
   the target is ``missing`` (written); a target key no source record maps to is ``extra``
   (deleted with ``delete_extra``); equal fingerprints are ``matched``; the rest are candidates.
3. ``RecheckFn``: candidates are fetched from both sides by id, in chunks, and judged by deep
   verify's per-record digest and rules (``verify.same_record``: the target's documented one-way
   changes, cosine normalisation, ...); those still different are written from the fetched batch.
   Only the few records whose exact fingerprints differ pay for per-record Python.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Mapping
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from io_connectors.core.contract import Connector, ConnectorSpec
from io_connectors.core.records import VectorBatch
from io_connectors.core.registry import make_connector
from io_connectors.core.retry import METRICS_NAMESPACE
from pipelines.fingerprints import Fingerprints, concat, fingerprint, target_ids
from pipelines.verify import SKETCH_TOLERANCE, DigestFn, same_record, sketch_rows

SOURCE, TARGET = "source", "target"


def _stored_rule(spec: ConnectorSpec | None) -> Any:
    """The target's documented metadata rule, or None when it keeps metadata as written."""
    if spec is None:
        return None
    connector = make_connector(spec)
    if type(connector).stored_metadata is Connector.stored_metadata:
        return None
    return connector.stored_metadata


class FingerprintFn(beam.DoFn):
    """A batch -> (bucket, (side, pickled ``Fingerprints`` of its rows in that bucket))."""

    def __init__(
        self,
        side: str,
        buckets: int,
        namespace_map: Mapping[str, str] | None = None,
        ints_as_strings: bool = False,
        tolerant: bool = False,
        stored_as: ConnectorSpec | None = None,
    ) -> None:
        self._side = side
        self._buckets = buckets
        self._map = dict(namespace_map or {})
        self._ints_as_strings = ints_as_strings
        self._tolerant = tolerant
        self._stored_as = stored_as
        self._stored: Any = None

    def setup(self) -> None:
        self._stored = _stored_rule(self._stored_as)

    def process(self, batch: VectorBatch) -> Iterator[tuple[int, tuple[str, bytes]]]:
        prints = fingerprint(
            batch,
            self._map.get(batch.namespace, batch.namespace),
            self._ints_as_strings,
            self._buckets,
            self._stored,
            sketch_rows if self._tolerant else None,
        )
        order = np.argsort(prints.buckets, kind="stable")
        bounds = np.flatnonzero(np.diff(prints.buckets[order])) + 1
        for rows in np.split(order, bounds):
            if len(rows):
                part = prints.take(rows)
                yield int(part.buckets[0]), (self._side, pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))


MISSING, MATCHED, CANDIDATE = 0, 1, 2


def join_bucket(
    source: list[Fingerprints], target: list[Fingerprints], tolerant: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(state of each source row: MISSING, MATCHED or CANDIDATE, in ``source`` order;
    mask of the target rows no source row maps to, in ``target`` order)."""
    s_keys, s_fields, s_dense, s_sketch = concat(source)
    t_keys, t_fields, t_dense, t_sketch = concat(target)
    states = np.zeros(len(s_keys), np.int8)
    extra = np.ones(len(t_keys), bool)
    if len(t_keys) and len(s_keys):
        order = np.argsort(t_keys, kind="stable")
        sorted_keys = t_keys[order]
        at = np.minimum(np.searchsorted(sorted_keys, s_keys), len(order) - 1)
        found = sorted_keys[at] == s_keys
        held = order[at]
        same = (s_fields == t_fields[held]) & (s_dense == t_dense[held])
        if tolerant and s_sketch is not None and t_sketch is not None:
            close = np.all(np.abs(s_sketch - t_sketch[held]) <= SKETCH_TOLERANCE, axis=1)
            same |= (s_fields == t_fields[held]) & close
        states[found] = CANDIDATE
        states[found & same] = MATCHED
        extra[held[found]] = False
    return states, extra


class JoinFn(beam.DoFn):
    """(bucket, parts of both sides) -> tagged ``write`` (source namespace, id) for a missing
    record, ``recheck`` (source namespace, id) for a candidate, ``delete`` (target namespace,
    target id) for an extra one."""

    def __init__(self, tolerant: bool) -> None:
        self._tolerant = tolerant
        self._counters = {
            kind: Metrics.counter(METRICS_NAMESPACE, f"sync_{kind}")
            for kind in ("missing", "extra", "matched", "candidates")
        }

    def process(self, element: tuple[int, Any]) -> Iterator[Any]:
        _, sides = element
        parts: dict[str, list[Fingerprints]] = {SOURCE: [], TARGET: []}
        for side, payload in sides:
            parts[side].append(pickle.loads(payload))
        states, extra = join_bucket(parts[SOURCE], parts[TARGET], self._tolerant)
        row = 0
        for part in parts[SOURCE]:
            own = states[row : row + len(part.ids)]
            for position in np.flatnonzero(own != MATCHED).tolist():
                tag = "write" if own[position] == MISSING else "recheck"
                yield beam.pvalue.TaggedOutput(tag, (part.namespace, part.ids[position]))
            row += len(part.ids)
        row = 0
        for part in parts[TARGET]:
            for position in np.flatnonzero(extra[row : row + len(part.ids)]).tolist():
                yield beam.pvalue.TaggedOutput("delete", (part.namespace, part.ids[position]))
            row += len(part.ids)
        counts = np.bincount(states, minlength=3)
        for kind, count in (
            ("missing", counts[MISSING]), ("matched", counts[MATCHED]), ("candidates", counts[CANDIDATE]),
            ("extra", extra.sum()),
        ):  # fmt: skip
            if count:
                self._counters[kind].inc(int(count))


class RecheckFn(beam.DoFn):
    """(source namespace, ids) -> the source records that really differ from their copy, as one
    batch to write; judged by deep verify's digest and rules (see the module docstring)."""

    def __init__(
        self,
        source: tuple[ConnectorSpec, str],
        target: tuple[ConnectorSpec, str],
        namespace_map: Mapping[str, str],
        ints_as_strings: bool,
        tolerant: bool,
        declared: frozenset[str],
    ) -> None:
        self._source_spec, self._source_index = source
        self._target_spec, self._target_index = target
        self._map = dict(namespace_map)
        self._ints_as_strings = ints_as_strings
        self._tolerant = tolerant
        self._declared = declared
        self._connectors: list[Connector] = []
        self._counters = {
            kind: Metrics.counter(METRICS_NAMESPACE, f"sync_{kind}") for kind in ("different", "matched")
        }

    def setup(self) -> None:
        self._connectors = [make_connector(self._source_spec), make_connector(self._target_spec)]
        for connector in self._connectors:
            connector.open()
        self._digests = (
            DigestFn(SOURCE, self._map, self._ints_as_strings, self._tolerant, self._target_spec),
            DigestFn(TARGET, {}, False, self._tolerant),
        )
        for digest in self._digests:
            digest.setup()

    def teardown(self) -> None:
        for connector in self._connectors:
            connector.close()

    def process(self, element: tuple[str, list[Any]]) -> Iterator[VectorBatch]:
        namespace, ids = element
        current = self._connectors[0].fetch(self._source_index, list(ids), namespace)
        # a record deleted from the source since the read is left out: the next pass sees it as extra
        keep = self._still_different(current.with_namespace(namespace)) if len(current) else []
        if len(current) - len(keep):
            self._counters["matched"].inc(len(current) - len(keep))
        if keep:
            self._counters["different"].inc(len(keep))
            yield current.with_namespace(namespace).take(keep)

    def _still_different(self, current: VectorBatch) -> list[int]:
        """Rows of ``current`` whose copy is absent or differs by more than the documented changes."""
        target_namespace = self._map.get(current.namespace, current.namespace)
        held = self._connectors[1].fetch(
            self._target_index, target_ids(current.ids, self._ints_as_strings), target_namespace
        )
        copies = {
            key: digest
            for key, (_, digest) in self._digests[1].process(held.with_namespace(target_namespace))
        }
        keep = []
        for row, (key, (_, digest)) in enumerate(self._digests[0].process(current)):
            copy = copies.get(key)
            if copy is None or not same_record(digest, copy, self._tolerant, self._declared):
                keep.append(row)
        return keep
