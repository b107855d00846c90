"""Milvus (``milvus://``, ``milvus+https://``, ``milvus+lite://``) through pymilvus' MilvusClient.

An index is a collection (``schema`` says what a collection this connector creates holds, and
how other collections are read). Namespaces are the values of a partition-key field
(``namespace``): Milvus routes each to one of the collection's partitions and prunes queries
filtered on it, with no cap on how many namespaces there are and no rules on their names (why
not a partition per namespace: see ``schema``). The default namespace is the empty string.

- Ids: int and str ids both kept, in one VARCHAR primary key that also carries the namespace
  (``codec``); collections made elsewhere give int ids (INT64 keys) or str ids (VARCHAR keys).
- Vectors: FLOAT_VECTOR (and FLOAT16/BFLOAT16 read as float32), SPARSE_FLOAT_VECTOR; metrics
  COSINE, L2, IP <-> cosine, euclidean, dotproduct. Milvus stores cosine vectors as given.
- Reads (``reading``): ranges of the primary key in key order; the collection is loaded first
  when it is not.
- Writes: ``upsert`` (idempotent), chunked to the request limits; rows the collection cannot hold
  and rows the server refuses (found by bisecting a refused chunk) raise ``RecordRejected``
  naming them, after the rest is written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from io_connectors.core.batching import chunk_batch
from io_connectors.core.contract import (
    Connector,
    ConnectorSpec,
    IndexInfo,
    Location,
    Split,
    Tracker,
    normalize_metric,
)
from io_connectors.core.errors import ConfigError, PermanentError, RecordRejected
from io_connectors.core.records import IdValue, RecordError, VectorBatch, metadata_to_json
from io_connectors.core.retry import with_retries
from io_connectors.milvus.codec import key_of, to_batch, to_rows
from io_connectors.milvus.errors import translate
from io_connectors.milvus.options import (
    MAX_ID_BYTES,
    MAX_METADATA_BYTES,
    MAX_NAMESPACE_BYTES,
    MAX_QUERY_LIMIT,
    MilvusSettings,
    parse_milvus_uri,
    settings_from,
)
from io_connectors.milvus.reading import KeySample, NamespaceReader, literal, ranges_between
from io_connectors.milvus.schema import (
    INDEX_PROPERTY,
    METRICS,
    Layout,
    collection_name,
    layout_from,
    may_be_mapped,
    new_collection,
)

T = TypeVar("T")
_LITE_USERS: dict[str, int] = {}  # open connectors per milvus-lite file in this process
_LITE_LOCK = threading.Lock()
ITERATOR_MODE = {"iterator": "True", "reduce_stop_for_best": "True"}  # smallest keys, in key order
STRONG = {"consistency_level": "Strong"}  # reads see every write acknowledged before them


class MilvusConnector(Connector):
    provider = "milvus"

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        self.settings: MilvusSettings = settings_from(spec.options)
        self.capabilities = self.settings.capabilities()
        self._client: Any = None
        self._token: str | None = None
        self._layouts: dict[str, Layout] = {}
        self._loaded: set[str] = set()

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        return parse_milvus_uri(uri)

    # -- lifecycle -------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        text = self.spec.redact(text)
        return text.replace(self._token, "***") if self._token else text

    def open(self) -> None:
        if self._client is not None:
            return
        from pymilvus import MilvusClient

        arguments = self.settings.client_arguments(self.spec.options)
        self._token = arguments.get("token") or arguments.get("password")
        self._client = self._call("connect", None, lambda: MilvusClient(**arguments))
        if self.settings.mode == "lite":
            with _LITE_LOCK:
                _LITE_USERS[self.settings.uri] = _LITE_USERS.get(self.settings.uri, 0) + 1

    def close(self) -> None:
        """Close the client; the last connector on a milvus-lite file also stops its engine, which
        frees the file for other processes (pymilvus would keep it until this process exits)."""
        if self._client is None:
            return
        self._client.close()
        self._client = None
        if self.settings.mode == "lite":
            with _LITE_LOCK:
                _LITE_USERS[self.settings.uri] -= 1
                last = _LITE_USERS[self.settings.uri] == 0
            if last:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(self.settings.uri)

    @property
    def client(self) -> Any:
        if self._client is None:
            self.open()
        return self._client

    def _call(self, what: str, collection: str | None, call: Callable[[], T]) -> T:
        """``call`` with vendor errors translated and transient ones retried."""

        def once() -> T:
            try:
                return call()
            except Exception as exc:
                raise translate(exc, what, collection, self.redact) from None

        return with_retries(once, f"milvus: {what}")

    # -- collections -----------------------------------------------------------------------
    def layout(self, index: str) -> Layout:
        if index not in self._layouts:
            name = collection_name(index)
            described = self._call(
                f"describe {index!r}", index, lambda: self.client.describe_collection(name)
            )
            layout = layout_from(described, "cosine", self.spec.options)
            self._layouts[index] = replace(layout, metric=self._metric(name, layout.dense_field))
        return self._layouts[index]

    def _metric(self, name: str, dense_field: str | None) -> str:
        if dense_field is None:
            return "dotproduct"  # sparse vectors score by inner product
        indexes = self._call(
            "list indexes", name, lambda: self.client.list_indexes(name, field_name=dense_field)
        )
        for index_name in indexes:
            info = self._call(
                "describe index", name, lambda n=index_name: self.client.describe_index(name, n)
            )
            metric = str(info.get("metric_type", "")).upper()
            if metric in METRICS:
                return METRICS[metric]
        return "cosine"  # no index yet: Milvus' default metric

    def _ensure_loaded(self, layout: Layout) -> None:
        name = layout.collection
        if name in self._loaded:
            return
        state = self._call("load state", name, lambda: self.client.get_load_state(name))
        if "NotLoad" in str(state.get("state")):
            self._call(f"load {name!r}", name, lambda: self.client.load_collection(name))
        self._loaded.add(name)

    def list_indexes(self) -> list[str]:
        names = self._call("list collections", None, lambda: self.client.list_collections())
        out = []
        for name in names:
            if may_be_mapped(name):
                described = self._call("describe", name, lambda n=name: self.client.describe_collection(n))
                name = (described.get("properties") or {}).get(INDEX_PROPERTY, name)
            out.append(name)
        return sorted(out)

    def describe_index(self, index: str) -> IndexInfo:
        layout = self.layout(index)
        counts = self._namespace_counts(layout)
        details = {
            "collection": layout.collection,
            "primary_key": layout.key_kind,
            "created_here": layout.ours,
        }
        return IndexInfo(
            index,
            layout.dimension,
            layout.metric,
            layout.sparse_field is not None,
            sum(counts.values()),
            counts,
            details,
        )

    def _namespace_counts(self, layout: Layout) -> dict[str, int]:
        """Records per namespace: a scan of the namespace field (Milvus has no GROUP BY count)."""
        self._ensure_loaded(layout)
        total = self._count(layout, None)
        if layout.namespace_field is None or not total:
            return {"": total} if total else {}
        counts: dict[str, int] = {}
        field = layout.namespace_field
        reader = NamespaceReader(layout, "", self._query(layout), every_namespace=True)
        for rows in reader.pages([layout.key_field, field], _lowest(layout), MAX_QUERY_LIMIT):
            for row in rows:
                counts[row[field]] = counts.get(row[field], 0) + 1
        return counts

    def _count(self, layout: Layout, namespace: str | None) -> int:
        name, field = layout.collection, layout.namespace_field
        expr = f"{field} == {literal(namespace)}" if namespace is not None and field else ""
        rows = self._call(
            "count", name, lambda: self.client.query(name, filter=expr, output_fields=["count(*)"], **STRONG)
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def count(self, index: str, namespace: str | None = None) -> int:
        layout = self.layout(index)
        self._ensure_loaded(layout)
        if namespace and layout.namespace_field is None:
            return 0
        return self._count(layout, namespace)

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        metric = normalize_metric(metric)
        if dimension is None and not sparse:
            raise ConfigError(f"milvus: index {name!r} needs a dimension, sparse vectors, or both")
        collection = collection_name(name)

        def once() -> None:  # retried whole: a retry first looks whether the last attempt landed
            if self.client.has_collection(collection):
                self._layouts.pop(name, None)
                found = self.layout(name).dimension
                if found != dimension:
                    raise ConfigError(
                        f"milvus: collection {collection!r} exists with dimension {found}, not {dimension}"
                    )
                return
            new_collection(self.client, name, dimension, metric, sparse)

        self._call(f"create {name!r}", None, once)
        self._layouts.pop(name, None)

    def delete_index(self, name: str) -> None:
        collection = collection_name(name)
        self._layouts.pop(name, None)
        self._loaded.discard(collection)
        self._call(f"drop {name!r}", None, lambda: self.client.drop_collection(collection))

    # -- reading ---------------------------------------------------------------------------
    def _query(self, layout: Layout) -> Callable[..., list[dict[str, Any]]]:
        name = layout.collection

        def query(expr: str, fields: list[str], limit: int) -> list[dict[str, Any]]:
            return self._call(
                f"query {name!r}",
                name,
                lambda: self.client.query(
                    name, filter=expr, output_fields=fields, limit=limit, **ITERATOR_MODE, **STRONG
                ),
            )

        return query

    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        layout = self.layout(index)
        self._ensure_loaded(layout)
        per_split = self.settings.rows_per_split
        if namespace is not None or layout.namespace_field is None:
            if namespace and layout.namespace_field is None:
                return []
            split = NamespaceReader(layout, namespace or "", self._query(layout)).plan(
                batch_size, per_split, index
            )
            return [] if split is None else [split]
        samples: dict[str, KeySample] = {}  # every namespace in one scan of keys and namespaces
        key, field = layout.key_field, layout.namespace_field
        reader = NamespaceReader(layout, "", self._query(layout), every_namespace=True)
        for rows in reader.pages([key, field], _lowest(layout), MAX_QUERY_LIMIT):
            for row in rows:
                samples.setdefault(row[field], KeySample(layout.key_kind)).add(row[key])
        splits = [samples[ns].split(index, ns, batch_size, per_split) for ns in sorted(samples)]
        return [s for s in splits if s is not None]

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        return ranges_between(split.key.boundaries, start, stop)

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch]:
        layout = self.layout(split.index)
        self._ensure_loaded(layout)
        yield from NamespaceReader(layout, split.namespace, self._query(layout)).read(split, tracker)

    # -- writing ---------------------------------------------------------------------------
    def reject_reasons(self, batch: VectorBatch) -> dict[int, str]:
        reasons: dict[int, str] = {}
        if len(batch.namespace.encode()) > MAX_NAMESPACE_BYTES:
            return dict.fromkeys(range(len(batch)), f"namespace is over {MAX_NAMESPACE_BYTES} bytes")
        for row, vector_id in enumerate(batch.ids):
            if len(str(vector_id).encode()) > MAX_ID_BYTES:
                reasons[row] = f"id is over {MAX_ID_BYTES} bytes (UTF-8)"
        for row, metadata in enumerate(batch.metadata):
            if metadata is not None and len(metadata_to_json(metadata).encode()) > MAX_METADATA_BYTES:
                reasons.setdefault(
                    row, f"metadata is over Milvus' {MAX_METADATA_BYTES} bytes for a JSON value"
                )
        if batch.sparse is not None:
            for row in range(len(batch)):
                sparse = batch.sparse.row(row)
                if sparse is not None and (sparse[1] < 0).any():
                    reasons.setdefault(row, "sparse vector has negative weights, which Milvus refuses")
                elif sparse is not None and not sparse[1].any():
                    reasons.setdefault(row, "sparse vector has no non-zero weight, which Milvus refuses")
        return reasons

    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        layout = self.layout(index)
        caps = self.capabilities
        reasons: dict[IdValue, str] = {}
        for chunk in chunk_batch(
            batch, caps.max_batch_count, caps.max_batch_bytes, caps.request_bytes_per_value
        ):
            rows, refused = to_rows(layout, chunk)
            reasons.update({chunk.ids[row]: why for row, why in refused.items()})
            kept = [chunk.ids[i] for i in range(len(chunk)) if i not in refused]
            self._upsert(layout, rows, kept, reasons)
        if reasons:
            raise RecordRejected(reasons)

    def _upsert(
        self, layout: Layout, rows: list[dict[str, Any]], ids: list[IdValue], reasons: dict[IdValue, str]
    ) -> None:
        """Upsert ``rows``; on a refusal, bisect to name the refused records (the others land)."""
        if not rows:
            return
        name = layout.collection
        try:
            self._call(f"upsert into {name!r}", name, lambda: self.client.upsert(name, rows))
        except PermanentError as exc:
            if isinstance(exc, RecordRejected):
                raise
            if len(rows) == 1:
                reasons[ids[0]] = str(exc)
                return
            middle = len(rows) // 2
            self._upsert(layout, rows[:middle], ids[:middle], reasons)
            self._upsert(layout, rows[middle:], ids[middle:], reasons)

    # -- point access ----------------------------------------------------------------------
    def _keys(self, layout: Layout, ids: Sequence[IdValue], namespace: str) -> list[IdValue]:
        keys = []
        for vector_id in dict.fromkeys(ids):
            try:
                keys.append(key_of(layout, vector_id, namespace))
            except RecordError:
                continue  # an id this collection cannot hold is not in it
        return keys

    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        layout = self.layout(index)
        self._ensure_loaded(layout)
        keys = self._keys(layout, ids, namespace)
        if namespace and layout.namespace_field is None:
            keys = []
        found: list[dict[str, Any]] = []
        name, fields = layout.collection, layout.output_fields()
        for lo in range(0, len(keys), MAX_QUERY_LIMIT):
            chunk = keys[lo : lo + MAX_QUERY_LIMIT]
            found += self._call(
                "fetch", name, lambda c=chunk: self.client.get(name, ids=c, output_fields=fields, **STRONG)
            )
        if layout.namespace_field:
            found = [row for row in found if row.get(layout.namespace_field) == namespace]
        return to_batch(layout, found, namespace)

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        layout = self.layout(index)
        name = layout.collection
        if delete_all:
            if layout.namespace_field:
                expr = f"{layout.namespace_field} == {literal(namespace)}"
            elif namespace:
                return
            else:
                expr = f"{layout.key_field} >= {literal(_lowest(layout))}"
            self._call("delete", name, lambda: self.client.delete(name, filter=expr))
            return
        keys = self._keys(layout, ids or (), namespace)
        if keys and not (namespace and layout.namespace_field is None):
            self._call("delete", name, lambda: self.client.delete(name, ids=keys))


def _lowest(layout: Layout) -> Any:
    return -(2**63) if layout.key_kind == "int" else ""
