"""Proving a copy: counts (as the seed's ``verify``), and record by record.

The deep check reads both sides with the same splittable reads as a migration, reduces every
record to a digest keyed by (namespace, id), and joins the two sides. A record matches when its
metadata and sparse values are equal and its dense values are bit-for-bit equal, or, for a
target that normalises cosine vectors (Qdrant), equal after normalisation within a tolerance,
judged by 16 fixed random projections of the unit vector. A differing record is explained field
by field (``pipelines.differences``); the target's documented one-way changes (float rounding,
cosine normalisation, its metadata rule) are counted in ``known_changes``, apart from real
differences, and do not fail the check.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from io_connectors.beam.read import ReadVectors
from io_connectors.core.client import Client
from io_connectors.core.contract import ConnectorSpec
from io_connectors.core.records import Metadata, VectorBatch
from io_connectors.core.registry import make_connector
from io_connectors.core.retry import METRICS_NAMESPACE
from pipelines.differences import (
    DENSE_SHOWN,
    KNOWN_CHANGES,
    RecordDigest,
    canonical_json,
    explain,
    field_digest,
)
from pipelines.locations import remove_dir, scratch_dir
from pipelines.runner import RunnerChoice, job_counters

SKETCH_SIZE = 16
SKETCH_TOLERANCE = 1e-4
RECORDS_PER_BUCKET = 10_000  # a bucket's digests are compared in one worker's memory
MAX_BUCKETS = 4096


@dataclass
class VerificationResult:
    match: bool
    source_count: int
    target_count: int
    deep: bool = False
    checked: int = 0
    missing_count: int = 0
    extra_count: int = 0
    different_count: int = 0
    # Records either side could not read (undecodable rows, unreadable ranges): never a match.
    unreadable_count: int = 0
    known_changes: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[Any]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, int]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """Seed-style access: ``verification["match"]``."""
        return getattr(self, key)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


def _count(client: Client, index: str, namespace: str | None) -> tuple[int, dict[str, int]]:
    info = client.index_info(index)
    if namespace is None:
        return info.count, dict(info.namespaces)
    count = int(info.namespaces.get(namespace, 0))
    return count, {namespace: count}


def verify_counts(
    source: Client,
    target: Client,
    source_index: str,
    target_index: str,
    source_namespace: str | None,
    target_namespace: str | None,
) -> VerificationResult:
    if source_namespace is not None and target_namespace is None:
        target_namespace = source_namespace
    source_count, source_ns = _count(source, source_index, source_namespace)
    target_count, target_ns = _count(target, target_index, target_namespace)
    per_namespace = {}
    if source_namespace is None and target_namespace is None:
        for ns in sorted(set(source_ns) | set(target_ns)):
            per_namespace[ns] = {"source": source_ns.get(ns, 0), "target": target_ns.get(ns, 0)}
    match = source_count == target_count and all(v["source"] == v["target"] for v in per_namespace.values())
    return VerificationResult(match, source_count, target_count, namespaces=per_namespace)


_PROJECTIONS: dict[int, np.ndarray] = {}


def sketch_rows(values: np.ndarray) -> np.ndarray:
    """(n, SKETCH_SIZE) projections of each row's unit vector on fixed random directions: equal
    within SKETCH_TOLERANCE for a vector and its normalised copy."""
    dimension = values.shape[1]
    if dimension not in _PROJECTIONS:
        rng = np.random.default_rng(20261125 + dimension)
        _PROJECTIONS[dimension] = rng.standard_normal((dimension, SKETCH_SIZE)).astype(np.float64)
    wide = values.astype(np.float64)
    norms = np.linalg.norm(wide, axis=1, keepdims=True)
    unit = np.divide(wide, norms, out=np.zeros_like(wide), where=norms > 0)
    return unit @ _PROJECTIONS[dimension]


class DigestFn(beam.DoFn):
    """(namespace, id) -> digest, applying the migration's namespace and id mapping."""

    def __init__(
        self,
        side: str,
        namespace_map: dict[str, str],
        ints_as_strings: bool,
        sketch: bool,
        stored_as: ConnectorSpec | None = None,
    ) -> None:
        self._side = side
        self._map = namespace_map
        self._ints_as_strings = ints_as_strings
        self._sketch = sketch
        self._stored_as = stored_as  # the target, whose documented metadata transforms apply
        self._stored: Callable[[Metadata | None], Metadata | None] | None = None

    def setup(self) -> None:
        if self._stored_as is not None:
            self._stored = make_connector(self._stored_as).stored_metadata

    def process(self, batch: VectorBatch):
        namespace = self._map.get(batch.namespace, batch.namespace)
        rewritten = [False] * len(batch)
        if self._stored is not None:
            metadata = [self._stored(m) for m in batch.metadata]
            rewritten = [
                a is not b and canonical_json(a) != canonical_json(b)
                for a, b in zip(metadata, batch.metadata)
            ]
            batch = VectorBatch(batch.ids, batch.values, batch.sparse, metadata, batch.namespace)
        sketches = None
        if self._sketch and batch.values is not None:
            sketches = sketch_rows(batch.values)
        for row, vector_id in enumerate(batch.ids):
            if self._ints_as_strings and isinstance(vector_id, int):
                vector_id = str(vector_id)
            yield (namespace, vector_id), (self._side, _digest(batch, row, sketches, rewritten[row]))


def _digest(batch: VectorBatch, row: int, sketches: np.ndarray | None, rewritten: bool) -> RecordDigest:
    meta = batch.metadata[row]
    fields = None if meta is None else tuple(sorted((k, field_digest(v)) for k, v in meta.items()))
    sparse_hash = hashlib.blake2b(digest_size=16)
    sparse = None if batch.sparse is None else batch.sparse.row(row)
    if sparse is not None and len(sparse[0]):
        order = np.argsort(sparse[0], kind="stable")
        sparse_hash.update(sparse[0][order].tobytes())
        sparse_hash.update(sparse[1][order].tobytes())
    values = None if batch.values is None else batch.values[row]
    dense = b"" if values is None else hashlib.blake2b(values.tobytes(), digest_size=16).digest()
    head = () if values is None else tuple(float(x) for x in values[:DENSE_SHOWN])
    sketch = None if sketches is None else tuple(float(x) for x in sketches[row])
    return RecordDigest(fields, sparse_hash.digest(), dense, head, sketch, rewritten)


def same_record(
    source: RecordDigest, target: RecordDigest, tolerant: bool, declared: frozenset[str] = frozenset()
) -> bool:
    """The two digests differ by nothing but the target's documented one-way changes."""
    real, _ = explain(source, target, tolerant, SKETCH_TOLERANCE, declared)
    return not real


class BucketDigestsFn(beam.DoFn):
    """A batch -> one ``(bucket, (side, [(key, digest fields)]))`` element per bucket its records
    fall in. The join shuffles these lists, not one element per record: Beam costs tens of
    microseconds per shuffled element, which made a per-record join most of a deep verify."""

    def __init__(self, side: str, digest: DigestFn, buckets: int) -> None:
        self._side = side
        self._digest = digest
        self._buckets = buckets

    def setup(self) -> None:
        self._digest.setup()

    def process(self, batch: VectorBatch):
        grouped: dict[int, list[tuple]] = {}
        for key, (_, d) in self._digest.process(batch):
            # a plain tuple pickles several times faster than the dataclass
            digest = (d.fields, d.sparse, d.dense, d.dense_head, d.sketch, d.rewritten)
            grouped.setdefault(zlib.crc32(repr(key).encode()) % self._buckets, []).append((key, digest))
        for bucket, rows in grouped.items():
            yield bucket, (self._side, rows)


class CompareFn(beam.DoFn):
    """One bucket's digests of both sides, record by record: counters and examples."""

    def __init__(self, tolerant: bool, declared: frozenset[str] = frozenset()) -> None:
        self._tolerant = tolerant
        self._declared = declared
        self._counters = {
            kind: Metrics.counter(METRICS_NAMESPACE, f"verify_{kind}")
            for kind in ("checked", "missing", "extra", "different", "matched", *KNOWN_CHANGES)
        }

    def process(self, element):
        _, sides = element
        source: dict[Any, tuple] = {}
        target: dict[Any, tuple] = {}
        for side, rows in sides:
            # the first copy of a key, as a per-record join's first element would be
            held = source if side == "source" else target
            for key, digest in rows:
                held.setdefault(key, digest)
        counts = dict.fromkeys(self._counters, 0)
        for key in [*source, *(k for k in target if k not in source)]:
            counts["checked"] += 1
            example: dict[str, Any] = {"namespace": key[0], "id": key[1]}
            if key not in target:
                kind = "missing"
            elif key not in source:
                kind = "extra"
            else:
                real, known = explain(
                    RecordDigest(*source[key]),
                    RecordDigest(*target[key]),
                    self._tolerant,
                    SKETCH_TOLERANCE,
                    self._declared,
                )
                for change in known:
                    counts[change] += 1
                kind = "different" if real else "matched"
                example["fields"] = real
            counts[kind] += 1
            if kind != "matched":
                yield beam.pvalue.TaggedOutput(kind, example)
        for kind, count in counts.items():
            if count:
                self._counters[kind].inc(count)


def verify_contents(
    source: Client,
    target: Client,
    source_index: str,
    target_index: str,
    source_namespace: str | None,
    target_namespace: str | None,
    runner: RunnerChoice,
    batch_size: int,
    max_examples: int,
) -> VerificationResult:
    examples_root = runner.side_file_root(None, "verify examples")
    if source_namespace is not None and target_namespace is None:
        target_namespace = source_namespace
    counts = verify_counts(source, target, source_index, target_index, source_namespace, target_namespace)
    renames = {source_namespace: target_namespace} if source_namespace is not None else {}
    caps = target.connector.capabilities
    tolerant = caps.normalizes_cosine and source.index_info(source_index).metric == "cosine"
    examples_dir = scratch_dir(examples_root, "vector-migrate-verify")
    buckets = max(1, min(MAX_BUCKETS, max(counts.source_count, counts.target_count) // RECORDS_PER_BUCKET))
    pipeline = beam.Pipeline(runner=runner.runner, options=runner.options)
    sides = []
    for side, client, index, namespace in (
        ("source", source, source_index, source_namespace),
        ("target", target, target_index, target_namespace),
    ):
        splits = client.connector.plan(index, namespace, batch_size)
        read = (
            pipeline
            | f"Plan{side}" >> beam.Create(splits, reshuffle=False)
            | f"Spread{side}" >> beam.Reshuffle()
            | f"Read{side}" >> ReadVectors(client.spec)
        )
        digest = DigestFn(
            side,
            renames if side == "source" else {},
            side == "source" and not caps.int_ids,
            tolerant,
            stored_as=target.spec if side == "source" else None,
        )
        sides.append(read.batches | f"Digest{side}" >> beam.ParDo(BucketDigestsFn(side, digest, buckets)))
    compared = (
        sides
        | "BothSides" >> beam.Flatten()
        | "ByBucket" >> beam.GroupByKey()
        | "Compare"
        >> beam.ParDo(CompareFn(tolerant, target.connector.one_way_changes)).with_outputs(
            "missing", "extra", "different"
        )
    )
    for kind in ("missing", "extra", "different"):
        _ = (
            compared[kind]
            | f"Sample{kind}" >> beam.combiners.Sample.FixedSizeGlobally(max_examples)
            | f"Json{kind}" >> beam.Map(json.dumps, default=str)
            | f"Write{kind}"
            >> beam.io.WriteToText(FileSystems.join(examples_dir, kind), file_name_suffix=".json")
        )
    result = pipeline.run()
    result.wait_until_finish()
    totals = job_counters(result)
    examples = {}
    for kind in ("missing", "extra", "different"):
        for match in FileSystems.match([FileSystems.join(examples_dir, f"{kind}*")])[0].metadata_list:
            with FileSystems.open(match.path) as handle:
                text = handle.read().decode().strip()
                if text:
                    examples[kind] = json.loads(text)
    remove_dir(examples_dir)
    missing, extra, different = (totals.get(f"verify_{k}", 0) for k in ("missing", "extra", "different"))
    unreadable = totals.get("vectors_unreadable", 0)
    failed_reads = totals.get("read_failures", 0)
    return VerificationResult(
        match=counts.match and not (missing or extra or different or unreadable or failed_reads),
        source_count=counts.source_count,
        target_count=counts.target_count,
        deep=True,
        checked=totals.get("verify_checked", 0),
        missing_count=missing,
        extra_count=extra,
        different_count=different,
        unreadable_count=unreadable,
        known_changes={k: totals[f"verify_{k}"] for k in KNOWN_CHANGES if totals.get(f"verify_{k}")},
        examples={k: v for k, v in examples.items() if v},
        namespaces=counts.namespaces,
    )
