"""Qdrant (``qdrant://``, ``qdrant+https://``, ``qdrant+local://``, ``qdrant+edge://``).

One connector, three ways of reaching Qdrant (see ``options``): a server through
qdrant-client (REST or gRPC), qdrant-client's local mode, and the Rust engine embedded in the
process. An index is a collection.

- Ids: see ``ids`` (unsigned integers and canonical UUIDs pass; others map to UUIDs and
  come back as they were).
- Vectors: the dense values go to the unnamed vector (or ``vector_name``), sparse values to the
  named sparse vector ``sparse`` (or ``sparse_vector_name``); collections are created with the
  source's size and metric (cosine, dotproduct, euclidean, manhattan <-> Cosine, Dot, Euclid,
  Manhattan). Qdrant stores cosine vectors normalised to unit length: reads return the
  normalised vector (``Capabilities.normalizes_cosine``; verification compares accordingly).
  A sparse-only collection has no distance; it reports ``dotproduct``, how sparse vectors score.
- Namespaces (``namespaces``): a payload field (``_vm_namespace``, the default) or a
  collection per namespace (``namespace_mode="collection"``).
- Reads (``reading``): one split per namespace over positions ``[first id, last id]`` in
  Qdrant's id order, cut in ranges of about ``points_per_split`` points at quantiles of the ids
  (all of them up to 200,000 points, a random sample above). A range is read by scrolling from
  its start id; each point's position is claimed before it is yielded and the read stops at the
  first refused claim, so runner splits lose and duplicate nothing. Points written after
  planning beyond the last id are not read.
- Writes: upserts waiting for the result, chunked to the request limits; a refused chunk is
  bisected to name the refused records (``RecordRejected``), the rest is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from io_connectors.core.batching import chunk_batch
from io_connectors.core.contract import (
    Capabilities,
    Connector,
    ConnectorSpec,
    IndexInfo,
    Location,
    Split,
    Tracker,
    normalize_metric,
)
from io_connectors.core.errors import ConfigError, IndexNotFound, PermanentError, RecordRejected
from io_connectors.core.records import IdValue, UnreadableRecords, VectorBatch
from io_connectors.core.retry import with_retries
from io_connectors.qdrant.backend import Backend, CollectionShape, VectorNames
from io_connectors.qdrant.client_backend import QdrantClientBackend
from io_connectors.qdrant.edge_backend import EdgeBackend
from io_connectors.qdrant.ids import point_id, ranges_between
from io_connectors.qdrant.namespaces import NamespaceLayout, Place
from io_connectors.qdrant.options import (
    DEFAULT_SPARSE_NAME,
    QdrantSettings,
    parse_qdrant_uri,
    settings_from,
)
from io_connectors.qdrant.points import (
    payload_problem,
    reserved_keys,
    sparse_problems,
    to_batches,
    to_points,
)
from io_connectors.qdrant.reading import NamespaceReader

T = TypeVar("T")
FETCH_CHUNK = 1000


class QdrantConnector(Connector):
    provider = "qdrant"
    capabilities = Capabilities(normalizes_cosine=True, namespaces="emulated")
    # Qdrant's engine returns some payload floats one or two units in the last place away (measured with
    # qdrant-edge-py 0.9.0: 2,925 of 20,000 random floats).
    one_way_changes = frozenset({"float_ulp"})

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        self.settings: QdrantSettings = settings_from(spec.options)
        self.capabilities = self.settings.capabilities()  # per instance: it depends on the way in
        self._backend: Backend | None = None
        self._api_key: str | None = None
        self._shapes: dict[str, CollectionShape] = {}
        self._tenant_indexed: set[str] = set()

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        return parse_qdrant_uri(uri)

    # -- lifecycle -------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        text = self.spec.redact(text)
        return text.replace(self._api_key, "***") if self._api_key else text

    def open(self) -> None:
        if self._backend is not None:
            return
        settings = self.settings
        if settings.mode == "edge":
            assert settings.edge_root is not None
            self._backend = EdgeBackend(settings.edge_root, self.redact)
            return
        if settings.mode == "local":
            self._backend = QdrantClientBackend(self.redact, local=settings.local)
            return
        self._api_key = settings.api_key(self.spec.options)
        self._backend = QdrantClientBackend(
            self.redact, server={**(settings.server or {}), "api_key": self._api_key}
        )

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self.open()
        assert self._backend is not None
        return self._backend

    @property
    def layout(self) -> NamespaceLayout:
        settings = self.settings
        return NamespaceLayout(
            settings.namespace_mode, settings.namespace_field, self.backend, self._retrying
        )

    def _retrying(self, what: str, call: Callable[[], T]) -> T:
        return with_retries(call, f"qdrant: {what}")

    # -- namespaces and vector names ---------------------------------------------------------
    def _shape(self, collection: str) -> CollectionShape:
        if collection not in self._shapes:
            self._shapes[collection] = self._retrying(
                f"describe {collection!r}", lambda: self.backend.shape(collection)
            )
        return self._shapes[collection]

    def _names(self, shape: CollectionShape) -> VectorNames:
        dense = _choose("dense", self.settings.vector_name, sorted(shape.dense), "vector_name")
        sparse = _choose("sparse", self.settings.sparse_vector_name, list(shape.sparse), "sparse_vector_name")
        return VectorNames(dense, sparse)

    # -- indexes ---------------------------------------------------------------------------
    def list_indexes(self) -> list[str]:
        return self.layout.indexes()

    def describe_index(self, index: str) -> IndexInfo:
        shape = self._shape(index)
        names = self._names(shape)
        dimension, metric = shape.dense[names.dense] if names.dense is not None else (None, "dotproduct")
        counts = self.layout.counts(index)
        details = {
            "mode": self.settings.mode,
            "namespace_mode": self.settings.namespace_mode,
            "vector_name": names.dense,
            "sparse_vector_name": names.sparse,
        }
        return IndexInfo(
            index, dimension, metric, names.sparse is not None, sum(counts.values()), counts, details
        )

    def count(self, index: str, namespace: str | None = None) -> int:
        if namespace is None:
            return self.describe_index(index).count
        place = self.layout.place(index, namespace)
        self._shape(index)
        try:
            return self._retrying(
                f"count {place.collection!r}", lambda: self.backend.count(place.collection, place.where)
            )
        except IndexNotFound:
            return 0

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        metric = normalize_metric(metric)
        if dimension is None and not sparse:
            raise ConfigError(f"qdrant: index {name!r} needs a dimension, sparse vectors, or both")
        names = VectorNames(
            self.settings.vector_name or "" if dimension is not None else None,
            self.settings.sparse_vector_name or DEFAULT_SPARSE_NAME if sparse else None,
        )
        tenant = self.settings.namespace_field if self.settings.namespace_mode == "field" else None
        self._create(name, names, dimension, metric, tenant)

    def _create(
        self, name: str, names: VectorNames, dimension: int | None, metric: str, tenant: str | None
    ) -> None:
        def once() -> None:  # retried whole: a retry first looks whether the last attempt landed
            if name in self.backend.collections():
                found = self._dimension(self._shape(name))
                if found != dimension:
                    raise ConfigError(
                        f"qdrant: collection {name!r} exists with dimension {found}, not {dimension}"
                    )
                return
            self.backend.create(name, names, dimension, metric, tenant)

        self._shapes.pop(name, None)
        self._retrying(f"create {name!r}", once)
        self._shape(name)

    def _dimension(self, shape: CollectionShape) -> int | None:
        names = self._names(shape)
        return None if names.dense is None else shape.dense[names.dense][0]

    def delete_index(self, name: str) -> None:
        doomed = [name]
        if self.settings.namespace_mode == "collection":
            doomed += list(self.layout.namespace_collections(name).values())
        for collection in doomed:
            self._shapes.pop(collection, None)
            self._retrying(f"delete {collection!r}", lambda c=collection: self.backend.drop(c))

    # -- reading ---------------------------------------------------------------------------
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        self._shape(index)
        namespaces = [namespace] if namespace is not None else list(self.layout.counts(index))
        splits = []
        for ns in namespaces:
            reader = NamespaceReader(self.backend, self._retrying, self.layout.place(index, ns))
            try:
                split = reader.plan(index, ns, batch_size, self.settings.points_per_split)
            except IndexNotFound:  # a namespace collection that does not exist holds nothing
                split = None
            if split is not None:
                splits.append(split)
        return splits

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        return ranges_between(split.key.boundaries, start, stop)

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch | UnreadableRecords]:
        place = self.layout.place(split.index, split.namespace)
        shape = self._shape(place.collection)
        names = self._names(shape)
        dimension = self._dimension(shape) or 0
        reader = NamespaceReader(self.backend, self._retrying, place)
        for item in reader.read(split, tracker, names, dimension):
            yield (
                self.settings.payload.decode_batch(item, "qdrant") if isinstance(item, VectorBatch) else item
            )

    # -- writing ---------------------------------------------------------------------------
    def reject_reasons(self, batch: VectorBatch) -> dict[int, str]:
        reserved = reserved_keys(
            self.settings.namespace_field if self.settings.namespace_mode == "field" else None
        )
        reasons = sparse_problems(batch)
        for row, metadata in enumerate(batch.metadata):
            problem = payload_problem(metadata, reserved)
            if problem is not None:
                reasons.setdefault(row, problem)
        for row, problem in self.settings.payload.refusals(batch).items():
            reasons.setdefault(row, problem)
        return reasons

    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        place = self.layout.place(index, batch.namespace)
        names = self._writable(index, place, batch.namespace)
        caps = self.capabilities
        reasons: dict[IdValue, str] = {}
        for chunk in chunk_batch(
            batch, caps.max_batch_count, caps.max_batch_bytes, caps.request_bytes_per_value
        ):
            self._upsert(place, names, chunk, reasons)
        if reasons:
            raise RecordRejected(reasons)

    def _writable(self, index: str, place: Place, namespace: str) -> VectorNames:
        """The collection's vector names, creating a namespace collection or tenant index as needed."""
        base = self._shape(index)
        names = self._names(base)
        if place.collection != index and place.collection not in self._shapes:
            dense = base.dense.get(names.dense or "") if names.dense is not None else None
            self._create(
                place.collection,
                names,
                dense[0] if dense else None,
                dense[1] if dense else "dotproduct",
                None,
            )
        if place.field and namespace and index not in self._tenant_indexed:
            if place.field not in base.indexed_fields:
                self.backend.ensure_tenant_index(index, place.field)
            self._tenant_indexed.add(index)
        return names

    def _upsert(
        self, place: Place, names: VectorNames, batch: VectorBatch, reasons: dict[IdValue, str]
    ) -> None:
        """Write ``batch``; on a refusal, bisect to find the refused records (others get written)."""
        missing = _missing_vector(batch, names)
        if missing:
            reasons.update({batch.ids[row]: why for row, why in missing.items()})
            keep = [row for row in range(len(batch)) if row not in missing]
            if not keep:
                return
            batch = batch.take(keep)
        try:
            points = to_points(self.settings.payload.encode_batch(batch), place.id_key, place.field)
            self.backend.upsert(place.collection, names, points)
        except RecordRejected:
            raise
        except PermanentError as exc:
            if len(batch) == 1:
                reasons[batch.ids[0]] = str(exc)
                return
            middle = len(batch) // 2
            self._upsert(place, names, batch.slice(0, middle), reasons)
            self._upsert(place, names, batch.slice(middle, len(batch)), reasons)

    # -- point access ------------------------------------------------------------------------
    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        place = self.layout.place(index, namespace)
        self._shape(index)
        try:
            names = self._names(self._shape(place.collection))
        except IndexNotFound:
            return VectorBatch([], namespace=namespace)
        wanted = list(dict.fromkeys(point_id(i, place.id_key) for i in ids))
        found: list[VectorBatch | UnreadableRecords] = []
        for lo in range(0, len(wanted), FETCH_CHUNK):
            chunk = wanted[lo : lo + FETCH_CHUNK]
            points = self._retrying(
                "fetch", lambda c=chunk: self.backend.retrieve(place.collection, names, c)
            )
            rows = [r for r, payload in enumerate(points.payloads) if place.holds(payload)]
            found += to_batches(points, rows, namespace, place.field)
        found = [
            self.settings.payload.decode_batch(b, "qdrant")
            for b in found
            if isinstance(b, VectorBatch) and len(b)  # undecodable: not found
        ]
        return VectorBatch.concat(found) if found else VectorBatch([], namespace=namespace)

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        place = self.layout.place(index, namespace)
        self._shape(index)
        if delete_all and place.collection != index:
            self._shapes.pop(place.collection, None)
            self._retrying("drop namespace", lambda: self.backend.drop(place.collection))
            return
        doomed = None if delete_all else [point_id(i, place.id_key) for i in ids or ()]
        if doomed == []:
            return
        try:
            self._retrying(
                "delete",
                lambda: self.backend.delete(place.collection, doomed, place.where if delete_all else None),
            )
        except IndexNotFound:
            return


def _choose(kind: str, wanted: str | None, available: Sequence[str], option: str) -> str | None:
    if wanted is not None:
        if available and wanted not in available:
            raise ConfigError(
                f"qdrant: the collection has no {kind} vector {wanted!r}; it has {list(available)}"
            )
        return wanted if wanted in available else None
    if "" in available or len(available) == 1:
        return "" if "" in available else available[0]
    if not available:
        return None
    if kind == "sparse" and DEFAULT_SPARSE_NAME in available:
        return DEFAULT_SPARSE_NAME
    raise ConfigError(
        f"qdrant: the collection has several {kind} vectors {list(available)}: choose one with {option}"
    )


def _missing_vector(batch: VectorBatch, names: VectorNames) -> dict[int, str]:
    if batch.sparse is not None and names.sparse is None:
        return {
            int(r): "has sparse values but the collection has no sparse vector"
            for r in range(len(batch))
            if batch.sparse.present[r]
        }
    if batch.values is not None and names.dense is None:
        return dict.fromkeys(range(len(batch)), "has dense values but the collection has no dense vector")
    return {}
