"""``sync``: bring a target up to date with its source, writing only what differs.

One Beam job reads both sides, fingerprints every batch (``pipelines/fingerprints.py``), joins
the fingerprints by (target namespace, target id) bucket by bucket and rechecks the records whose
fingerprints differ with deep verify's per-record rules (``pipelines/sync_compare.py``). Source
records missing from the target, or still different after the recheck, are upserted through the
same ``WriteToVectorStore`` a migration uses (same namespace map, id mapping, validation,
chunking and failure handling). With ``delete_extra`` the target records no source record maps
to are deleted; with ``dry_run`` nothing is written and the counts say what would be.

Fetching by id after the join (rather than carrying every vector through the shuffle) keeps the
shuffle to small fingerprints: a 1% change moves 1% of the vectors. A record deleted from the
source between the read and the fetch is simply not written (the next pass deletes it from the
target when ``delete_extra`` is on).

``changed_since=FIELD``: the target is not read; source records whose metadata ``FIELD`` is
greater than the watermark the last sync stored in the state are upserted, and the new watermark
(the largest value seen) is stored once the job succeeded. ``FIELD`` must grow with every update
(a version counter, or a timestamp fine enough that no update shares the watermark's value).
The source splits carry the watermark as a ``ChangedSince`` read hint: connectors that can
filter in their query (pgvector; Qdrant for numeric watermarks) read only the records that may
have changed, others scan in full; ``ChangedSinceFn`` applies the exact test either way. Also
saved: the target read and the join.
Deletions cannot be seen through an update-time field, so ``delete_extra`` is refused with it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from io_connectors.beam.read import ReadVectors
from io_connectors.beam.transforms import ReadPlannedSplits, WriteToVectorStore
from io_connectors.core.contract import ChangedSince, Connector, ConnectorSpec
from io_connectors.core.errors import ConfigError
from io_connectors.core.failures import FAILED_TAG
from io_connectors.core.records import VectorBatch
from io_connectors.core.registry import make_connector
from io_connectors.core.retry import METRICS_NAMESPACE
from pipelines.planning import DEFAULT_BATCH_SIZE, ensure_target, plan_migration
from pipelines.runner import job_counters
from pipelines.state import StateStore, default_location
from pipelines.sync_compare import SOURCE, TARGET, FingerprintFn, JoinFn, RecheckFn

if TYPE_CHECKING:
    from pipelines.migration import Migration, MigrationError

SYNC_STATE = "sync.json"
RECORDS_PER_BUCKET = 250_000  # a bucket's fingerprints (~100 bytes a record) are joined in one worker
MAX_BUCKETS = 4096


@dataclass
class SyncResult:
    """What a sync found and did; ``written``/``deleted`` are 0 on a dry run."""

    missing_count: int
    different_count: int
    extra_count: int
    matched_count: int
    written_count: int
    deleted_count: int
    failed_count: int
    dry_run: bool
    duration_seconds: float
    changed_count: int = 0
    errors: list[MigrationError] = field(default_factory=list)
    metrics: dict[str, int] = field(default_factory=dict)

    @property
    def in_sync(self) -> bool:
        """Nothing was found to differ (the target already matched before this pass)."""
        return not (self.missing_count or self.different_count or self.extra_count or self.changed_count)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {
            "errors": [
                {"error_class": e.error_class, "message": e.message, "ids": e.ids[:20]} for e in self.errors
            ]
        }


class IdChunks(beam.PTransform):
    """(namespace, id) -> (namespace, up to ``size`` ids), spread over workers.

    A GroupByKey per namespace, not ``GroupIntoBatches``: two of those (whose timers flush the
    last batch) in one job lost the counters of one of them on the in-process runner here. Only
    ids are grouped, so even a namespace of millions fits a worker."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def expand(self, keyed: beam.PCollection) -> beam.PCollection:
        size = self._size
        return (
            keyed
            | "ByNamespace" >> beam.GroupByKey()
            | "Chunk" >> beam.FlatMap(_chunks, size)
            | "Spread" >> beam.Reshuffle()
        )


def _chunks(element: tuple[str, Any], size: int) -> Iterator[tuple[str, list[Any]]]:
    namespace, ids = element
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield namespace, ids[start : start + size]


class _ConnectorFn(beam.DoFn):
    def __init__(self, spec: ConnectorSpec, index: str) -> None:
        self._spec = spec
        self._index = index
        self.connector: Connector | None = None

    def setup(self) -> None:
        self.connector = make_connector(self._spec)
        self.connector.open()

    def teardown(self) -> None:
        if self.connector is not None:
            self.connector.close()


class FetchFn(_ConnectorFn):
    """(source namespace, ids) -> the source's current records, as one batch."""

    def process(self, element: tuple[str, list[Any]]) -> Iterator[VectorBatch]:
        namespace, ids = element
        assert self.connector is not None
        batch = self.connector.fetch(self._index, list(ids), namespace)
        if len(batch):
            yield batch.with_namespace(namespace)


class DeleteFn(_ConnectorFn):
    """(target namespace, ids) -> deleted from the target."""

    def __init__(self, spec: ConnectorSpec, index: str) -> None:
        super().__init__(spec, index)
        self._deleted = Metrics.counter(METRICS_NAMESPACE, "sync_deleted")

    def process(self, element: tuple[str, list[Any]]) -> None:
        namespace, ids = element
        assert self.connector is not None
        self.connector.delete(self._index, list(ids), namespace)
        self._deleted.inc(len(ids))


class ChangedSinceFn(beam.DoFn):
    """Keeps the rows whose ``field`` is after ``since``; tags every value seen as ``seen``."""

    def __init__(self, field_name: str, since: Any) -> None:
        self._field = field_name
        self._since = since
        self._changed = Metrics.counter(METRICS_NAMESPACE, "sync_changed")

    def process(self, batch: VectorBatch) -> Iterator[Any]:
        keep = []
        for row, metadata in enumerate(batch.metadata):
            value = (metadata or {}).get(self._field)
            if value is None:
                raise ConfigError(
                    f"record {batch.ids[row]!r} of namespace {batch.namespace!r} has no {self._field!r} "
                    "metadata field; --changed-since needs it on every record"
                )
            yield beam.pvalue.TaggedOutput("seen", value)
            if self._since is None or value > self._since:
                keep.append(row)
        if keep:
            self._changed.inc(len(keep))
            yield batch.take(keep)


def sync_indexes(
    migration: Migration,
    source_index: str,
    target_index: str,
    source_namespace: str | None = None,
    target_namespace: str | None = None,
    namespace_map: Mapping[str, str] | None = None,
    delete_extra: bool = False,
    dry_run: bool = False,
    changed_since: str | None = None,
    state: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    chunk_size: int | None = None,
) -> SyncResult:
    """See the module docstring; ``Migration.sync`` is the public entry point."""
    from pipelines.migration import _read_failures

    started = time.monotonic()
    if changed_since and delete_extra:
        raise ConfigError(
            "--changed-since cannot see deletions (they leave no update time); run a full sync with "
            "--delete-extra to mirror them"
        )
    source, target = migration.source, migration.target
    runner = migration._runner()
    plan = plan_migration(
        source, target, source_index, target_index, source_namespace, target_namespace,
        batch_size, chunk_size, namespace_map,
    )  # fmt: skip
    target_info = plan.target if dry_run else ensure_target(target, plan, True)
    store = StateStore(state or default_location(source.spec, source_index, target.spec, target_index))
    watermark = (store.read_json(SYNC_STATE) or {}).get(changed_since) if changed_since else None
    scratch = tempfile.mkdtemp(prefix="vector-migrate-sync-")
    pipeline = beam.Pipeline(runner=runner.runner, options=runner.options)
    splits = plan.splits
    if changed_since and watermark is not None:  # a hint connectors may push into their reads
        splits = [replace(split, changed_since=ChangedSince(changed_since, watermark)) for split in splits]
    source_read = pipeline | "ReadSource" >> ReadPlannedSplits(source, splits)
    failed = [source_read[FAILED_TAG]]
    if changed_since:
        changed = source_read.batches | "ChangedSince" >> beam.ParDo(
            ChangedSinceFn(changed_since, watermark)
        ).with_outputs("seen", main="changed")
        _ = (
            changed.seen
            | "Newest" >> beam.CombineGlobally(max).without_defaults()
            | "NewestJson" >> beam.Map(lambda v: json.dumps(v, default=str))
            | "WriteNewest" >> beam.io.WriteToText(FileSystems.join(scratch, "newest"))
        )
        to_write = changed.changed
    else:
        tolerant = target.connector.capabilities.normalizes_cosine and plan.source.metric == "cosine"
        int_as_str = not target.connector.capabilities.int_ids
        buckets = max(1, min(MAX_BUCKETS, -(-plan.total // RECORDS_PER_BUCKET)))
        sides = [
            source_read.batches
            | "FingerprintSource"
            >> beam.ParDo(FingerprintFn(SOURCE, buckets, plan.namespaces, int_as_str, tolerant, target.spec))
        ]
        target_namespaces = sorted(set(plan.namespaces.values())) if source_namespace is not None else [None]
        target_splits = [] if target_info is None else [
            split for ns in target_namespaces for split in target.connector.plan(target_index, ns, batch_size)
        ]  # fmt: skip
        target_read = (
            pipeline
            | "PlanTarget" >> beam.Create(target_splits, reshuffle=False)
            | "SpreadTarget" >> beam.Reshuffle()
            | "ReadTarget" >> ReadVectors(target.spec)
        )
        failed.append(target_read[FAILED_TAG])
        sides.append(
            target_read.batches
            | "FingerprintTarget" >> beam.ParDo(FingerprintFn(TARGET, buckets, tolerant=tolerant))
        )
        compared = (
            sides
            | "BothSides" >> beam.Flatten()
            | "ByBucket" >> beam.GroupByKey()
            | "Join" >> beam.ParDo(JoinFn(tolerant)).with_outputs("write", "recheck", "delete")
        )
        recheck = RecheckFn(
            (source.spec, source_index),
            (target.spec, target_index),
            plan.namespaces,
            int_as_str,
            tolerant,
            target.connector.one_way_changes,
        )
        different = (
            compared.recheck
            | "CandidatesByNamespace" >> IdChunks(batch_size)
            | "Recheck" >> beam.ParDo(recheck)
        )
        missing = (
            compared.write
            | "ByNamespace" >> IdChunks(batch_size)
            | "FetchMissing" >> beam.ParDo(FetchFn(source.spec, source_index))
        )
        to_write = (missing, different) | "Changed" >> beam.Flatten()
        if delete_extra and not dry_run:
            _ = (
                compared.delete
                | "ExtraByNamespace" >> IdChunks(batch_size)
                | "DeleteExtra" >> beam.ParDo(DeleteFn(target.spec, target_index))
            )
    if not dry_run:
        written = to_write | "Write" >> WriteToVectorStore(
            target,
            target_index,
            chunk_size=plan.chunk_size,
            namespace_map=plan.mapping,
            target_info=target_info,
        )
        failed.append(written.failed)
    _ = (
        tuple(failed)
        | "Failures" >> beam.Flatten()
        | "FailureJson" >> beam.Map(lambda f: json.dumps(f.as_dict(), default=str))
        | "WriteFailures"
        >> beam.io.WriteToText(FileSystems.join(scratch, "failures"), file_name_suffix=".jsonl")
    )
    result = pipeline.run()
    result.wait_until_finish()
    counters = job_counters(result)
    errors = _read_failures(scratch)
    if changed_since and not dry_run and not errors:
        newest = _read_newest(scratch)
        if newest is not None:
            store.write_json(SYNC_STATE, {**(store.read_json(SYNC_STATE) or {}), changed_since: newest})
    shutil.rmtree(scratch, ignore_errors=True)
    if not dry_run:
        target.connector.finalize_index(target_index)
    return SyncResult(
        missing_count=counters.get("sync_missing", 0),
        different_count=counters.get("sync_different", 0),
        extra_count=counters.get("sync_extra", 0),
        matched_count=counters.get("sync_matched", 0),
        written_count=counters.get("vectors_written", 0),
        deleted_count=counters.get("sync_deleted", 0),
        failed_count=sum(e.count for e in errors),
        dry_run=dry_run,
        duration_seconds=time.monotonic() - started,
        changed_count=counters.get("sync_changed", 0),
        errors=errors,
        metrics=counters,
    )


def _read_newest(directory: str) -> Any:
    values = []
    for match in FileSystems.match([FileSystems.join(directory, "newest*")])[0].metadata_list:
        with FileSystems.open(match.path) as handle:
            values += [json.loads(line) for line in handle.read().decode().splitlines() if line.strip()]
    return max(values) if values else None
