"""Qdrant through qdrant-client: a server (REST, or gRPC with ``prefer_grpc``) or local mode.

Local mode (``:memory:`` or a folder) is qdrant-client's own Python implementation of the same
API, so both share every line here. Its folder is locked by the one client that opened it, and
a ``:memory:`` store lives inside its client object: both are opened once per process and shared
(``SharedStores``); local mode is not thread-safe, so calls on a shared client hold its lock.
A ``:memory:`` store stays open for the life of the process, like ``memory://`` stores.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models

from io_connectors.qdrant.backend import (
    FACET_LIMIT,
    Backend,
    CollectionShape,
    FieldFilter,
    Points,
    SharedHandle,
    SharedStores,
    StoredId,
    UnchangedBound,
    VectorNames,
    canonical_metric,
    distance_name,
)
from io_connectors.qdrant.errors import Redact, translate_client_error

T = TypeVar("T")
LOCAL_STORES = SharedStores()


class QdrantClientBackend(Backend):
    """``server`` holds QdrantClient keyword arguments for a server; otherwise ``local`` names a
    local-mode store: ``":memory:<store>"`` or a folder path."""

    def __init__(
        self, redact: Redact, server: dict[str, Any] | None = None, local: str | None = None
    ) -> None:
        self._redact = redact
        self._local_key: str | None = None
        self._shared: SharedHandle | None = None
        self._lock: Any = contextlib.nullcontext()
        if server is not None:
            self._client = QdrantClient(**server, check_compatibility=False)
            self.read_bytes_per_value = 4.0 if server.get("prefer_grpc") else 20.0
            self.max_page_bytes = 3 << 20 if server.get("prefer_grpc") else 24 << 20
        else:
            assert local is not None
            self._local_key = local if local.startswith(":memory:") else os.path.realpath(local)
            in_memory = self._local_key.startswith(":memory:")
            closer = None if in_memory else _close_client  # a :memory: store lives with its client
            shared = self._call(
                "open", None, lambda: LOCAL_STORES.acquire(self._local_key, self._open_local, closer)
            )
            self._shared, self._client, self._lock = shared, shared.handle, shared.lock
            # each filtered local-mode request scans and sorts the whole collection: ask rarely
            self.scans_per_request, self.id_page_size = True, 10_000_000

    def _open_local(self) -> QdrantClient:
        assert self._local_key is not None
        if self._local_key.startswith(":memory:"):
            return QdrantClient(location=":memory:")
        return QdrantClient(path=self._local_key, force_disable_check_same_thread=True)

    def close(self) -> None:
        if self._shared is None:
            self._client.close()
        else:
            assert self._local_key is not None
            LOCAL_STORES.release(self._local_key, self._shared)

    def _call(self, what: str, collection: str | None, call: Callable[[], T]) -> T:
        try:
            with self._lock:
                return call()
        except Exception as exc:
            translated = translate_client_error(exc, what, collection, self._redact)
            if translated is exc:
                raise
            raise translated from None

    # -- collections -------------------------------------------------------------------------
    def collections(self) -> list[str]:
        response = self._call("listing collections", None, self._client.get_collections)
        return sorted(c.name for c in response.collections)

    def shape(self, name: str) -> CollectionShape:
        info = self._call(f"describing {name!r}", name, lambda: self._client.get_collection(name))
        params = info.config.params
        vectors = params.vectors or {}
        if isinstance(vectors, models.VectorParams):
            vectors = {"": vectors}
        dense = {n: (v.size, canonical_metric(_enum_value(v.distance))) for n, v in vectors.items()}
        sparse = tuple(sorted(params.sparse_vectors or {}))
        return CollectionShape(dense, sparse, frozenset(info.payload_schema or {}))

    def create(
        self, name: str, names: VectorNames, dimension: int | None, metric: str, tenant_field: str | None
    ) -> None:
        dense: Any = {}
        if dimension is not None:
            params = models.VectorParams(size=dimension, distance=models.Distance(distance_name(metric)))
            dense = params if not names.dense else {names.dense: params}
        sparse = {names.sparse: models.SparseVectorParams()} if names.sparse else None
        self._call(
            f"creating {name!r}",
            None,
            lambda: self._client.create_collection(name, vectors_config=dense, sparse_vectors_config=sparse),
        )
        if tenant_field:
            self.ensure_tenant_index(name, tenant_field)

    def drop(self, name: str) -> None:
        self._call(f"deleting {name!r}", None, lambda: self._client.delete_collection(name))

    def ensure_tenant_index(self, name: str, field: str) -> None:
        if self._shared is not None:
            return  # local mode has no payload indexes (filters scan; facets work without one)
        schema = models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
        self._call(
            f"indexing {field!r} of {name!r}",
            name,
            lambda: self._client.create_payload_index(name, field, field_schema=schema, wait=True),
        )

    # -- points ------------------------------------------------------------------------------
    def upsert(self, name: str, names: VectorNames, points: Points) -> None:
        structs = [
            models.PointStruct(id=pid, vector=vector, payload=payload)
            for pid, vector, payload in zip(points.ids, _vectors(names, points), points.payloads)
        ]
        self._call(
            f"upserting {len(structs)} points into {name!r}",
            name,
            lambda: self._client.upsert(name, structs, wait=True),
        )

    def scroll(
        self,
        name: str,
        names: VectorNames,
        where: FieldFilter | None,
        offset: StoredId | None,
        limit: int,
        unchanged: UnchangedBound | None = None,
    ) -> Points:
        records, next_offset = self._call(
            f"scrolling {name!r}",
            name,
            lambda: self._client.scroll(
                name,
                scroll_filter=_filter(where, unchanged),
                limit=limit,
                offset=offset,
                with_payload=True,
                with_vectors=True,
            ),
        )
        points = _points(records, names)
        points.next_offset = next_offset
        return points

    def scroll_ids(
        self,
        name: str,
        where: FieldFilter | None,
        offset: StoredId | None,
        limit: int,
        unchanged: UnchangedBound | None = None,
    ) -> tuple[list[StoredId], StoredId | None]:
        records, next_offset = self._call(
            f"scrolling ids of {name!r}",
            name,
            lambda: self._client.scroll(
                name, scroll_filter=_filter(where, unchanged), limit=limit, offset=offset, with_payload=False
            ),
        )
        return [r.id for r in records], next_offset

    def retrieve(self, name: str, names: VectorNames, ids: Sequence[StoredId]) -> Points:
        records = self._call(
            f"retrieving points of {name!r}",
            name,
            lambda: self._client.retrieve(name, list(ids), with_payload=True, with_vectors=True),
        )
        return _points(records, names)

    def count(self, name: str, where: FieldFilter | None) -> int:
        result = self._call(
            f"counting {name!r}", name, lambda: self._client.count(name, count_filter=_filter(where))
        )
        return int(result.count)

    def facet(self, name: str, field: str) -> dict[str, int]:
        response = self._call(
            f"counting {field!r} values of {name!r}",
            name,
            lambda: self._client.facet(name, field, limit=FACET_LIMIT, exact=True),
        )
        return {str(hit.value): int(hit.count) for hit in response.hits}

    def field_values(self, name: str, field: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        offset: StoredId | None = None
        while True:
            records, offset = self._call(
                f"scrolling {field!r} of {name!r}",
                name,
                lambda o=offset: self._client.scroll(name, limit=10_000, offset=o, with_payload=[field]),
            )
            for record in records:
                value = (record.payload or {}).get(field)
                if isinstance(value, str) and value:
                    counts[value] = counts.get(value, 0) + 1
            if offset is None:
                return counts

    def sample(self, name: str, where: FieldFilter | None, n: int) -> list[StoredId]:
        response = self._call(
            f"sampling {name!r}",
            name,
            lambda: self._client.query_points(
                name,
                query=models.SampleQuery(sample=models.Sample.RANDOM),
                query_filter=_filter(where),
                limit=n,
                with_payload=False,
                with_vectors=False,
            ),
        )
        return [p.id for p in response.points]

    def delete(self, name: str, ids: Sequence[StoredId] | None, where: FieldFilter | None) -> None:
        selector: Any = (
            models.PointIdsList(points=list(ids))
            if ids is not None
            else models.FilterSelector(filter=_filter(where) or models.Filter())
        )
        self._call(
            f"deleting points of {name!r}", name, lambda: self._client.delete(name, selector, wait=True)
        )


def _close_client(client: QdrantClient) -> None:
    client.close()


def _enum_value(value: Any) -> str:
    return value.value if hasattr(value, "value") else str(value)


def _filter(where: FieldFilter | None, unchanged: UnchangedBound | None = None) -> models.Filter | None:
    must: list[models.Condition] = []
    if where is not None and where.value == "":
        must.append(models.IsEmptyCondition(is_empty=models.PayloadField(key=where.field)))
    elif where is not None:
        must.append(models.FieldCondition(key=where.field, match=models.MatchValue(value=where.value)))
    must_not: list[models.Condition] = []
    if unchanged is not None:
        must_not.append(models.FieldCondition(key=unchanged[0], range=models.Range(lte=unchanged[1])))
    return models.Filter(must=must or None, must_not=must_not or None) if must or must_not else None


def _vectors(names: VectorNames, points: Points) -> Iterator[Any]:
    dense_rows: Any = points.dense if points.dense is not None else [None] * len(points)
    if isinstance(dense_rows, np.ndarray):
        dense_rows = dense_rows.tolist()  # one conversion for the matrix: much faster than per row
    for dense_list, sparse in zip(dense_rows, points.sparse):
        if sparse is None and names.dense == "" and dense_list is not None:
            yield dense_list
            continue
        vector: dict[str, Any] = {}
        if dense_list is not None:
            vector[names.dense or ""] = dense_list
        if sparse is not None:
            vector[names.sparse or ""] = models.SparseVector(indices=list(sparse[0]), values=list(sparse[1]))
        yield vector


def _points(records: Sequence[Any], names: VectorNames) -> Points:
    ids, dense, sparse, payloads = [], [], [], []
    for record in records:
        ids.append(record.id)
        payloads.append(dict(record.payload or {}))
        vector = record.vector
        if isinstance(vector, dict):
            dense.append(vector.get(names.dense) if names.dense is not None else None)
            row = vector.get(names.sparse) if names.sparse is not None else None
            sparse.append(None if row is None else (row.indices, row.values))
        else:
            dense.append(vector if names.dense == "" else None)
            sparse.append(None)
    return Points(ids, dense, sparse, payloads)
