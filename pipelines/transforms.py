"""``MigrateVectors``: a whole migration as one composite Beam transform.

    with beam.Pipeline() as p:
        result = p | MigrateVectors("parquet:///exports/products", "pgvector://user@host/db/products")
        result.failed | beam.Map(log_failure)

It is the pipeline ``Migration.migrate`` runs (which adds live progress, the failure report, the
dead letter and the accounting around it), so a migration inside a user's ETL job behaves exactly
as one from the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import apache_beam as beam

from io_connectors.beam.transforms import ReadPlannedSplits, StoreRef, WriteToVectorStore, resolve_store
from io_connectors.beam.write import ProgressSink
from io_connectors.core.client import Client
from io_connectors.core.degrade import parse_policies
from io_connectors.core.failures import FAILED_TAG
from pipelines.planning import DEFAULT_BATCH_SIZE, MigrationPlan, ensure_target, plan_migration


class MigrateResult(NamedTuple):
    """``written``: (target namespace, ids written) per upsert; ``failed``: every ``FailedRecords``."""

    written: beam.PCollection
    failed: beam.PCollection


class MigrateVectors(beam.PTransform):
    """Read every vector of the source, remap namespaces, validate, rechunk and upsert into the
    target; records that fail at any step come out in ``failed``.

    ``source``/``target`` are URIs or ``Client``s; arguments mirror ``Migration.migrate``. A
    precomputed ``plan`` (from ``plan_migration``) is used as it is.
    """

    def __init__(
        self,
        source: StoreRef,
        target: StoreRef,
        source_index: str | None = None,
        target_index: str | None = None,
        source_namespace: str | None = None,
        target_namespace: str | None = None,
        namespace_map: Mapping[str, str] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        chunk_size: int | None = None,
        create_target: bool = True,
        plan: MigrationPlan | None = None,
        progress: ProgressSink | None = None,
        on_unsupported: str | Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._policies = parse_policies(on_unsupported)
        if plan is not None:
            source_index, target_index = source_index or plan.source.name, target_index or plan.target_index
        self._source, source_index, uri_source_ns = resolve_store(source, source_index, "source")
        self._target, target_index, uri_target_ns = resolve_store(target, target_index, "target")
        self._plan = plan or plan_migration(
            self._source,
            self._target,
            source_index,
            target_index,
            source_namespace if source_namespace is not None else uri_source_ns,
            target_namespace if target_namespace is not None else uri_target_ns,
            batch_size,
            chunk_size,
            namespace_map,
            self._policies,
        )
        self._create_target = create_target
        self._progress = progress

    @property
    def plan(self) -> MigrationPlan:
        return self._plan

    @property
    def target(self) -> Client:
        return self._target

    def expand(self, pbegin: beam.pvalue.PBegin) -> MigrateResult:
        plan = self._plan
        target_info = ensure_target(self._target, plan, self._create_target)
        # An index created just now starts empty: a connector may write it faster (pgvector COPYs).
        target = self._target if plan.target is not None else self._target.for_new_index()
        read = pbegin | "Read" >> ReadPlannedSplits(self._source, plan.splits)
        written = read.batches | "Write" >> WriteToVectorStore(
            target,
            plan.target_index,
            chunk_size=plan.chunk_size,
            namespace_map=plan.mapping,
            target_info=target_info,
            progress=self._progress,
            on_unsupported=self._policies,
        )
        failed = (read[FAILED_TAG], written.failed) | "Failures" >> beam.Flatten()
        return MigrateResult(written.written, failed)
