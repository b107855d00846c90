"""Qdrant's Rust engine embedded in the process (qdrant-edge-py): one shard per collection.

``root/<collection>/`` is an edge shard directory (segments, WAL and the engine's own
``edge_config.json``, which records the vectors' sizes and distances). Shards are persistent and
opened lazily, once per process (``SharedStores``): the engine locks a shard's WAL, so a second
open in the same process would fail, and so does an open from another process while this one
holds it. Writes go through the WAL, so they are durable when ``update`` returns; shards are
flushed and closed when their last user closes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as qe

from io_connectors.core.errors import ConfigError, IndexNotFound
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
from io_connectors.qdrant.errors import Redact, translate_edge_error

T = TypeVar("T")
CONFIG_FILE = "edge_config.json"
SHARDS = SharedStores()


def _close(shard: Any) -> None:
    shard.flush()
    shard.close()


class EdgeBackend(Backend):
    def __init__(self, root: str, redact: Redact) -> None:
        self.root = Path(root)
        self._redact = redact
        self._held: dict[str, SharedHandle] = {}

    def close(self) -> None:
        for key, shared in self._held.items():
            SHARDS.release(key, shared)
        self._held = {}

    def _dir(self, name: str) -> Path:
        if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"qdrant edge: {name!r} is not a valid collection (folder) name")
        return self.root / name

    def _shard(self, name: str) -> SharedHandle:
        path = self._dir(name)
        key = os.path.realpath(path)
        shared = SHARDS.get(key)
        if shared is not None and self._held.get(key) is shared:
            return shared
        if not (path / CONFIG_FILE).is_file():
            raise IndexNotFound("qdrant", name)
        shared = self._call(
            "opening", name, lambda: SHARDS.acquire(key, lambda: qe.EdgeShard.load(str(path)), _close)
        )
        self._held[key] = shared
        return shared

    def _call(self, what: str, name: str | None, call: Callable[[], T]) -> T:
        try:
            return call()
        except Exception as exc:
            translated = translate_edge_error(exc, f"{what} {name!r}", name, self._redact)
            if translated is exc:
                raise
            raise translated from None

    def _on(self, what: str, name: str, call: Callable[[Any], T]) -> T:
        """Run ``call(shard)`` under the shard's lock, with errors translated."""
        shared = self._shard(name)

        def locked() -> T:
            with shared.lock:
                return call(shared.handle)

        return self._call(what, name, locked)

    # -- collections -------------------------------------------------------------------------
    def collections(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / CONFIG_FILE).is_file())

    def shape(self, name: str) -> CollectionShape:
        try:
            config = json.loads((self._dir(name) / CONFIG_FILE).read_text())
        except FileNotFoundError:
            raise IndexNotFound("qdrant", name) from None
        dense = {
            n: (v["size"], canonical_metric(v["distance"])) for n, v in config.get("vectors", {}).items()
        }
        indexed = self._on("describing", name, lambda s: frozenset(s.info().payload_schema))
        return CollectionShape(dense, tuple(sorted(config.get("sparse_vectors", {}))), indexed)

    def create(
        self, name: str, names: VectorNames, dimension: int | None, metric: str, tenant_field: str | None
    ) -> None:
        path = self._dir(name)
        dense = {}
        if dimension is not None:
            dense = {
                names.dense or "": qe.EdgeVectorParams(dimension, getattr(qe.Distance, distance_name(metric)))
            }
        sparse = {names.sparse: qe.EdgeSparseVectorParams()} if names.sparse else None
        config = qe.EdgeConfig(vectors=dense, sparse_vectors=sparse)
        key = os.path.realpath(path)
        shared = self._call(
            "creating",
            name,
            lambda: SHARDS.acquire(key, lambda: qe.EdgeShard.create(str(path), config), _close),
        )
        self._held[key] = shared
        if tenant_field:
            self.ensure_tenant_index(name, tenant_field)

    def drop(self, name: str) -> None:
        path = self._dir(name)
        key = os.path.realpath(path)
        SHARDS.discard(key)
        self._held.pop(key, None)
        shutil.rmtree(path, ignore_errors=True)

    def ensure_tenant_index(self, name: str, field: str) -> None:
        def index(shard: Any) -> None:
            if field not in shard.info().payload_schema:
                params = qe.KeywordIndexParams(is_tenant=True)
                shard.update(qe.UpdateOperation.create_field_index(field, params))

        self._on(f"indexing {field!r} of", name, index)

    # -- points ------------------------------------------------------------------------------
    def upsert(self, name: str, names: VectorNames, points: Points) -> None:
        dense_rows: Any = points.dense if points.dense is not None else [None] * len(points)
        if isinstance(dense_rows, np.ndarray):
            dense_rows = dense_rows.tolist()  # one conversion for the matrix: faster than per row
        batch = []
        for pid, dense, sparse, payload in zip(points.ids, dense_rows, points.sparse, points.payloads):
            vector: Any
            if sparse is None and names.dense == "" and dense is not None:
                vector = dense
            else:
                vector = {}
                if dense is not None:
                    vector[names.dense or ""] = dense
                if sparse is not None:
                    vector[names.sparse or ""] = qe.SparseVector(list(sparse[0]), list(sparse[1]))
            batch.append(qe.Point(pid, vector, payload))
        self._on("upserting into", name, lambda s: s.update(qe.UpdateOperation.upsert_points(batch)))

    def scroll(
        self,
        name: str,
        names: VectorNames,
        where: FieldFilter | None,
        offset: StoredId | None,
        limit: int,
        unchanged: UnchangedBound | None = None,
    ) -> Points:
        request = qe.ScrollRequest(
            offset=offset, limit=limit, filter=_filter(where, unchanged), with_payload=True, with_vector=True
        )
        records, next_offset = self._on("scrolling", name, lambda s: s.scroll(request))
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
        request = qe.ScrollRequest(
            offset=offset,
            limit=limit,
            filter=_filter(where, unchanged),
            with_payload=False,
            with_vector=False,
        )
        records, next_offset = self._on("scrolling ids of", name, lambda s: s.scroll(request))
        return [r.id for r in records], next_offset

    def retrieve(self, name: str, names: VectorNames, ids: Sequence[StoredId]) -> Points:
        records = self._on("retrieving points of", name, lambda s: s.retrieve(list(ids), True, True))
        return _points(records, names)

    def count(self, name: str, where: FieldFilter | None) -> int:
        request = qe.CountRequest(exact=True, filter=_filter(where))
        return int(self._on("counting", name, lambda s: s.count(request)))

    def facet(self, name: str, field: str) -> dict[str, int]:
        request = qe.FacetRequest(field, limit=FACET_LIMIT, exact=True)
        response = self._on(f"counting {field!r} values of", name, lambda s: s.facet(request))
        return {str(hit.value): int(hit.count) for hit in response}

    def field_values(self, name: str, field: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        offset: StoredId | None = None
        while True:
            request = qe.ScrollRequest(
                offset=offset,
                limit=10_000,
                with_payload=qe.PayloadSelector.Include([field]),
                with_vector=False,
            )
            records, offset = self._on(f"scrolling {field!r} of", name, lambda s, r=request: s.scroll(r))
            for record in records:
                value = (record.payload or {}).get(field)
                if isinstance(value, str) and value:
                    counts[value] = counts.get(value, 0) + 1
            if offset is None:
                return counts

    def sample(self, name: str, where: FieldFilter | None, n: int) -> list[StoredId]:
        request = qe.QueryRequest(
            limit=n, query=qe.Sample.Random, filter=_filter(where), with_payload=False, with_vector=False
        )
        return [p.id for p in self._on("sampling", name, lambda s: s.query(request))]

    def delete(self, name: str, ids: Sequence[StoredId] | None, where: FieldFilter | None) -> None:
        if ids is not None:
            operation = qe.UpdateOperation.delete_points(list(ids))
        else:
            operation = qe.UpdateOperation.delete_points_by_filter(_filter(where) or qe.Filter())
        self._on("deleting points of", name, lambda s: s.update(operation))


def _filter(where: FieldFilter | None, unchanged: UnchangedBound | None = None) -> qe.Filter | None:
    must: list[Any] = []
    if where is not None and where.value == "":
        must.append(qe.IsEmptyCondition(where.field))
    elif where is not None:
        must.append(qe.FieldCondition(where.field, match=qe.MatchValue(where.value)))
    must_not: list[Any] = []
    if unchanged is not None:
        must_not.append(qe.FieldCondition(unchanged[0], range=qe.RangeFloat(lte=unchanged[1])))
    return qe.Filter(must=must or None, must_not=must_not or None) if must or must_not else None


def _points(records: Sequence[Any], names: VectorNames) -> Points:
    """Records as ``Points``. Each dense vector goes into a float32 matrix as soon as it is read,
    so its Python list dies at once: holding a page of lists would wake the garbage collector
    over and over (it counts live container objects), which costs more than the copy."""
    ids, sparse, payloads = [], [], []
    present = np.zeros(len(records), dtype=bool)
    matrix: np.ndarray | None = None
    for row, record in enumerate(records):
        ids.append(record.id)
        payloads.append(record.payload or {})
        vector = record.vector
        if isinstance(vector, dict):
            dense = vector.get(names.dense) if names.dense is not None else None
            pair = vector.get(names.sparse) if names.sparse is not None else None
            sparse.append(None if pair is None else (pair.indices, pair.values))
        else:
            dense = vector if names.dense == "" else None
            sparse.append(None)
        if dense is not None:
            if matrix is None:
                matrix = np.empty((len(records), len(dense)), dtype=np.float32)
            matrix[row] = dense
            present[row] = True
    if matrix is None or present.all():
        return Points(ids, matrix, sparse, payloads)
    return Points(ids, [matrix[r] if present[r] else None for r in range(len(ids))], sparse, payloads)
