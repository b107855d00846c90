"""Public Beam transforms: read any vector store into a pipeline, write a pipeline into any store.

    with beam.Pipeline() as p:
        vectors = p | ReadFromVectorStore("pgvector://user@host/db/items")
        kept = vectors | beam.Map(my_reembed)            # VectorBatch -> VectorBatch
        written = kept | WriteToVectorStore("qdrant+edge:///data/qdrant/items")
        written.failed | beam.Map(print)                  # FailedRecords, one per refusal

``ReadFromVectorStore`` yields ``VectorBatch``es (``ToVectorDicts()`` turns them into one dict per
vector); ``WriteToVectorStore`` takes batches or dicts. A store is given as a URI or a ``Client``
(plus ``index``/``namespace`` when the URI does not name them). Planning, describing and creating
indexes happen on the driver when the pipeline is built; workers rebuild connectors from plain
specs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import apache_beam as beam

from io_connectors.beam.read import ReadVectors
from io_connectors.beam.write import ProgressSink, WriteVectors
from io_connectors.core.client import Client
from io_connectors.core.contract import IndexInfo, Split
from io_connectors.core.degrade import parse_policies
from io_connectors.core.errors import ConfigError, PermanentError
from io_connectors.core.failures import FAILED_TAG, FailedRecords
from transforms import AsBatches, MapIdsForTarget, NamespaceMap, Rechunk, RemapNamespaces, Validate

StoreRef = str | Client


def resolve_store(store: StoreRef, index: str | None, role: str) -> tuple[Client, str, str | None]:
    """A client, index and namespace from a URI or a client (explicit ``index`` wins)."""
    client = Client.from_uri(store) if isinstance(store, str) else store
    location = client.location
    index = index or (location.index if location else None)
    if not index:
        raise ConfigError(f"the {role} names no index: give index= or a URI that names one")
    return client, index, location.namespace if location else None


class ReadPlannedSplits(beam.PTransform):
    """Splits planned on the driver -> Reshuffle the split descriptions (never the vectors) ->
    the splittable read. Outputs tagged ``batches`` and ``failed``."""

    def __init__(self, source: Client, splits: Sequence[Split]) -> None:
        super().__init__()
        self._spec = source.spec
        self._splits = list(splits)

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        return (
            pbegin
            | "PlanSplits" >> beam.Create(self._splits, reshuffle=False)
            | "SpreadSplits" >> beam.Reshuffle()
            | "Read" >> ReadVectors(self._spec)
        )


class ReadFromVectorStore(beam.PTransform):
    """``p | ReadFromVectorStore(uri_or_client)`` -> a PCollection of ``VectorBatch``.

    ``namespace`` reads one namespace (default: every namespace, each batch carrying its own).
    Records that cannot be read fail the job with their description, unless
    ``failed_output=True``: then the result has tagged outputs ``batches`` and ``failed``
    (``FailedRecords``), as ``WriteToVectorStore`` has.
    """

    def __init__(
        self,
        source: StoreRef,
        index: str | None = None,
        namespace: str | None = None,
        batch_size: int = 1000,
        failed_output: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self._client, self._index, uri_namespace = resolve_store(source, index, "source")
        self._namespace = namespace if namespace is not None else uri_namespace
        self._batch_size = batch_size
        self._failed_output = failed_output

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        splits = self._client.connector.plan(self._index, self._namespace, self._batch_size)
        read = pbegin | ReadPlannedSplits(self._client, splits)
        if self._failed_output:
            return read
        _ = read[FAILED_TAG] | "FailOnUnreadable" >> beam.Map(_raise_failure)
        return read.batches


def _raise_failure(failure: FailedRecords) -> None:
    ids = f" ids {failure.ids[:20]!r}" if failure.ids else ""
    raise PermanentError(
        f"{failure.count} records of namespace {failure.namespace!r} could not be read{ids}: "
        f"{failure.message} (use failed_output=True to handle them in the pipeline)"
    )


class WriteResult(NamedTuple):
    """``written``: (namespace, ids written) per upsert; ``failed``: ``FailedRecords`` per refusal."""

    written: beam.PCollection
    failed: beam.PCollection


class WriteToVectorStore(beam.PTransform):
    """``batches_or_dicts | WriteToVectorStore(uri_or_client)`` -> ``WriteResult``.

    Each record is validated against what the target accepts, its namespace renamed by
    ``namespace_map``, ids mapped when the target cannot hold integers, and records upserted in
    chunks of ``chunk_size`` (capped by the target's limits). Refused records go to
    ``result.failed`` with their reason; the rest land. A missing index is created (with
    ``create_index``) from ``dimension``/``metric``/``sparse``. ``on_unsupported``
    (``{"sparse": "drop"}`` or ``"sparse=drop,metadata=drop"``, see ``core.degrade``) stores
    records without the parts the target cannot hold, counted, instead of refusing them whole.
    """

    def __init__(
        self,
        target: StoreRef,
        index: str | None = None,
        chunk_size: int | None = None,
        namespace_map: NamespaceMap | Mapping[str, str] | None = None,
        create_index: bool = True,
        dimension: int | None = None,
        metric: str = "cosine",
        sparse: bool = False,
        target_info: IndexInfo | None = None,
        progress: ProgressSink | None = None,
        on_unsupported: str | Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._client, self._index, _ = resolve_store(target, index, "target")
        self._policies = parse_policies(on_unsupported)
        caps = self._client.connector.capabilities
        self._chunk_size = int(min(chunk_size or caps.default_chunk_size, caps.max_batch_count or 2**31))
        if namespace_map is None or isinstance(namespace_map, NamespaceMap):
            self._mapping = namespace_map or NamespaceMap()
        else:
            self._mapping = NamespaceMap(dict(namespace_map))
        self._create = create_index
        self._shape = (dimension, metric, sparse)
        self._target_info = target_info
        self._progress = progress

    def _describe_target(self) -> IndexInfo:
        if self._target_info is not None:
            return self._target_info
        connector = self._client.connector
        dimension, metric, sparse = self._shape
        shape = IndexInfo(self._index, dimension, metric, sparse)
        connector.check_target(self._index, shape, self._policies)
        if self._index not in connector.list_indexes():
            if not self._create:
                raise ConfigError(f"target index {self._index!r} does not exist (and create_index is off)")
            if dimension is None and not sparse:
                raise ConfigError(
                    f"target index {self._index!r} does not exist; give dimension= (or sparse=True) to "
                    "create it"
                )
            connector.create_index(self._index, dimension, metric, sparse)
        info = connector.describe_index(self._index)
        if dimension is not None and info.dimension not in (None, dimension):
            raise ConfigError(f"target index {self._index!r} has dimension {info.dimension}, not {dimension}")
        return info

    def expand(self, elements: beam.PCollection) -> WriteResult:
        info = self._describe_target()
        caps = self._client.connector.capabilities
        batches = elements | "AsBatches" >> AsBatches(self._chunk_size)
        valid = batches.batches | "Validate" >> Validate(caps, info.dimension, self._policies)
        written = (
            valid.valid
            | "RemapNamespaces" >> RemapNamespaces(self._mapping)
            | "MapIds" >> MapIdsForTarget(caps.int_ids)
            | "Rechunk" >> Rechunk(self._chunk_size, caps.max_batch_bytes, caps.request_bytes_per_value)
            | "Upsert"
            >> WriteVectors(self._client.spec, self._index, self._progress, on_unsupported=self._policies)
        )
        failed = (batches[FAILED_TAG], valid[FAILED_TAG], written[FAILED_TAG]) | "Failures" >> beam.Flatten()
        return WriteResult(written.written, failed)
