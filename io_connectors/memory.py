"""In-process vector stores (``memory://``), for tests and development.

Stores live in this Python process, keyed by store name, so a migration that reads or writes
them must run its workers in this process (Beam's in-memory runner). Workers in other
processes see no such store and fail with an error that says so.

Like the seed library's memory provider, every ``Client(provider="memory")`` has a store of its
own: the client fixes a private store name in its spec once, so the Beam workers it is shipped
to (in this process) reach the same store. ``store="name"`` shares a named store between
clients, and a ``memory://INDEX`` URI names the shared ``default`` store (``?store=NAME`` another
one), so CLI runs and several URIs in one process see the same data.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

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
from io_connectors.core.decode import decode_isolated
from io_connectors.core.errors import ConfigError, IndexNotFound, RecordRejected
from io_connectors.core.records import (
    IdValue,
    SparseBlock,
    UnreadableRecords,
    VectorBatch,
    id_sort_key,
    metadata_from_json,
)

DEFAULT_STORE = "default"  # the store memory:// URIs name when they give no ?store=
# Metadata is kept as JSON text: cheap to copy out, and immune to callers mutating their dicts.
_Row = tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray] | None, str | None]


@dataclass
class _Namespace:
    rows: dict[IdValue, _Row] = field(default_factory=dict)
    _sorted: list[IdValue] | None = None

    def sorted_ids(self) -> list[IdValue]:
        if self._sorted is None:
            self._sorted = sorted(self.rows, key=id_sort_key)
        return self._sorted

    def changed(self) -> None:
        self._sorted = None


@dataclass
class _Index:
    dimension: int | None
    metric: str
    sparse: bool
    namespaces: dict[str, _Namespace] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_STORES: dict[str, dict[str, _Index]] = {}
_STORES_LOCK = threading.Lock()
_OWNER_PID = os.getpid()


def _store(name: str) -> dict[str, _Index]:
    with _STORES_LOCK:
        return _STORES.setdefault(name, {})


def reset_store(name: str = DEFAULT_STORE) -> None:
    """Drop every index of a store (test isolation)."""
    with _STORES_LOCK:
        _STORES.pop(name, None)


class MemoryConnector(Connector):
    provider = "memory"
    capabilities = Capabilities(in_process_only=True, dense_optional=True, default_chunk_size=1000)

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        self.store_name = str(spec.options.get("store", DEFAULT_STORE))

    @classmethod
    def client_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """A client without ``store=`` gets a private store, named once for all its workers."""
        if options.get("store"):
            return dict(options)
        return {**options, "store": f"client-{uuid.uuid4().hex}"}

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        index = (parts.netloc + parts.path).strip("/") or None
        options = {"store": query.get("store") or DEFAULT_STORE}
        return Location(ConnectorSpec("memory", options), index, query.get("namespace"))

    @property
    def _indexes(self) -> dict[str, _Index]:
        return _store(self.store_name)

    def _index(self, name: str) -> _Index:
        try:
            return self._indexes[name]
        except KeyError:
            hint = ""
            if os.getpid() != _OWNER_PID or not any(_STORES.values()):
                hint = (
                    " (memory:// stores exist only in the process that created them; run with "
                    "the in-memory runner, or migrate through parquet:// or a server)"
                )
            raise (
                IndexNotFound("memory", name)
                if not hint
                else ConfigError(f"memory: index {name!r} does not exist in process {os.getpid()}{hint}")
            ) from None

    def list_indexes(self) -> list[str]:
        return sorted(self._indexes)

    def describe_index(self, index: str) -> IndexInfo:
        idx = self._index(index)
        with idx.lock:
            counts = {ns: len(data.rows) for ns, data in idx.namespaces.items() if data.rows}
        return IndexInfo(index, idx.dimension, idx.metric, idx.sparse, sum(counts.values()), counts)

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        metric = normalize_metric(metric)
        existing = self._indexes.get(name)
        if existing is not None:
            if existing.dimension != dimension:
                raise ConfigError(
                    f"memory: index {name!r} exists with dimension {existing.dimension}, not {dimension}"
                )
            return
        self._indexes[name] = _Index(dimension, metric, sparse)

    def delete_index(self, name: str) -> None:
        self._indexes.pop(name, None)

    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        """One split a namespace; positions are blocks of ``batch_size`` ids in id order."""
        idx = self._index(index)
        with idx.lock:
            names = [namespace] if namespace is not None else sorted(idx.namespaces)
            sizes = {ns: len(idx.namespaces[ns].rows) if ns in idx.namespaces else 0 for ns in names}
        return [
            Split(index, ns, 0, -(-n // batch_size), batch_size, key=self.store_name, estimated_count=n)
            for ns, n in sizes.items()
            if n
        ]

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        return [(lo, min(lo + 4, stop)) for lo in range(start, stop, 4)] or [(start, stop)]

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch | UnreadableRecords]:
        """Claims a block, then yields its ids: a claimed block owns all of its ids; a row that
        cannot be decoded fails alone."""
        idx = self._index(split.index)
        with idx.lock:
            ids = idx.namespaces.get(split.namespace, _Namespace()).sorted_ids()
        size = split.batch_size
        for block in range(tracker.current_restriction().start, -(-len(ids) // size)):
            if not tracker.try_claim(block):
                return
            block_ids = ids[block * size : (block + 1) * size]
            yield from decode_isolated(
                len(block_ids),
                lambda rows, chunk=block_ids: self._batch(idx, split.namespace, [chunk[r] for r in rows]),
                block_ids.__getitem__,
                split.namespace,
                f"memory store {self.store_name!r}",
                block * size,
            )

    def range_count(self, split: Split, start: int, stop: int) -> int | None:
        idx = self._index(split.index)
        with idx.lock:
            total = len(idx.namespaces.get(split.namespace, _Namespace()).rows)
        return max(0, min(stop * split.batch_size, total) - start * split.batch_size)

    def _batch(self, idx: _Index, namespace: str, ids: Sequence[IdValue]) -> VectorBatch:
        with idx.lock:
            rows = idx.namespaces.get(namespace, _Namespace()).rows
            found = [(i, rows[i]) for i in ids if i in rows]
        dense = [r[0] for _, r in found]
        values = None if not found or dense[0] is None else np.stack(dense)
        sparse_rows = [r[1] for _, r in found]
        sparse = SparseBlock.from_rows(sparse_rows) if any(s is not None for s in sparse_rows) else None
        metadata = [None if r[2] is None else metadata_from_json(r[2], i) for i, r in found]
        encoded = [r[2] for _, r in found]
        return VectorBatch([i for i, _ in found], values, sparse, metadata, namespace, encoded)

    def write(self, index: str, batch: VectorBatch) -> None:
        idx = self._index(index)
        if idx.dimension is not None and batch.dimension not in (None, idx.dimension):
            raise RecordRejected(
                {
                    i: f"has {batch.dimension} dense values, index {index!r} has dimension {idx.dimension}"
                    for i in batch.ids
                }
            )
        with idx.lock:
            ns = idx.namespaces.setdefault(batch.namespace, _Namespace())
            encoded = batch.metadata_json()
            for row, vector_id in enumerate(batch.ids):
                dense = None if batch.values is None else batch.values[row].copy()
                sparse = None if batch.sparse is None else batch.sparse.row(row)
                if sparse is not None:
                    sparse = (sparse[0].copy(), sparse[1].copy())
                ns.rows[vector_id] = (dense, sparse, encoded[row])
            ns.changed()

    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        return self._batch(self._index(index), namespace, list(ids))

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        idx = self._index(index)
        with idx.lock:
            ns = idx.namespaces.get(namespace)
            if ns is None:
                return
            if delete_all:
                del idx.namespaces[namespace]
                return
            for vector_id in ids or ():
                ns.rows.pop(vector_id, None)
            ns.changed()
