"""What the Qdrant connector needs from a way of reaching Qdrant, and the plain data it passes.

Two backends implement it: ``QdrantClientBackend`` (a server through qdrant-client over REST or
gRPC, and qdrant-client's local mode, which is the same client API) and ``EdgeBackend`` (the
Rust engine embedded through qdrant-edge-py). Backends speak in Qdrant terms (collections, point
ids, payloads) and translate their vendor's exceptions into this project's error families; ids,
namespaces and metadata are the connector's business.

Embedded stores (a local-mode folder, an edge shard, a ``:memory:`` store) can be opened by one
client at a time: the folder is locked. Beam runs several DoFn instances in one worker process,
each calling ``open()``; ``SharedStores`` hands them all the one open handle, counting
references, and closes it when the last user closes. Another *process* cannot open the store
while this one holds it: such stores are declared ``in_process_only``.
"""

from __future__ import annotations

import abc
import atexit
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from io_connectors.core.contract import ChangedSince
from io_connectors.core.errors import ConfigError

LOG = logging.getLogger(__name__)
# Canonical metric names (``normalize_metric``) <-> Qdrant distance names.
DISTANCES = {"cosine": "Cosine", "euclidean": "Euclid", "dotproduct": "Dot", "manhattan": "Manhattan"}
METRICS = {v: k for k, v in DISTANCES.items()}

StoredId = int | str | uuid.UUID
FACET_LIMIT = 10_000  # namespaces counted by one facet request; more are counted by a scan
SparseRow = tuple[Sequence[int], Sequence[float]]


@dataclass(frozen=True)
class CollectionShape:
    """A collection's vectors: dense ones by name (size, canonical metric), sparse names, and
    the payload fields that have an index."""

    dense: Mapping[str, tuple[int, str]]
    sparse: tuple[str, ...]
    indexed_fields: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FieldFilter:
    """Points whose payload ``field`` equals ``value``; ``value == ""`` selects the points that
    have no such field (the default namespace)."""

    field: str
    value: str


UnchangedBound = tuple[str, float]
#: Integers up to here are exact as the float64 values Qdrant's range conditions compare.
EXACT_FLOAT_INTEGERS = 2**53


def unchanged_bound(changed: ChangedSince | None) -> UnchangedBound | None:
    """A ``ChangedSince`` read hint as (field, bound): points whose numeric ``field`` is at most
    ``bound`` are unchanged and may be left out; every other point (field missing, not a number,
    greater) is read. None where Qdrant cannot express the hint exactly: a string watermark
    (Qdrant's datetime ranges parse times, they do not compare text) or an integer beyond
    float64's exact range."""
    if changed is None or (number := changed.number) is None or abs(number) >= EXACT_FLOAT_INTEGERS:
        return None
    return changed.field, float(number)


@dataclass
class Points:
    """Points to write or points read, row-aligned. ``dense`` is a float32 matrix when every point
    has a dense vector, else a list of rows with None where a point has none (or None: no point
    has one). Payloads are fresh dicts the receiver may edit."""

    ids: list[StoredId]
    dense: Sequence[Any] | np.ndarray | None
    sparse: list[SparseRow | None]
    payloads: list[dict[str, Any]]
    next_offset: StoredId | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class VectorNames:
    """Which named vectors of a collection hold the dense and the sparse values."""

    dense: str | None
    sparse: str | None


class Backend(abc.ABC):
    """One way of reaching Qdrant. Every method raises this project's error families."""

    #: Smallest useful scroll page.
    min_page_size: int = 1
    #: Ids a listing request asks for.
    id_page_size: int = 10_000
    #: True where every filtered request scans the whole collection (local mode): reads then
    #: list a range's ids once and fetch the points by id.
    scans_per_request: bool = False
    #: Approximate bytes one vector value costs in a read response.
    read_bytes_per_value: float = 4.0
    #: Largest response page worth asking for, in bytes.
    max_page_bytes: int = 16 << 20

    @abc.abstractmethod
    def collections(self) -> list[str]: ...

    @abc.abstractmethod
    def shape(self, name: str) -> CollectionShape:
        """Raise ``IndexNotFound`` for a missing collection."""

    @abc.abstractmethod
    def create(
        self, name: str, names: VectorNames, dimension: int | None, metric: str, tenant_field: str | None
    ) -> None:
        """Create a collection; ``tenant_field`` gets a keyword payload index marked as tenant."""

    @abc.abstractmethod
    def drop(self, name: str) -> None: ...

    @abc.abstractmethod
    def ensure_tenant_index(self, name: str, field: str) -> None: ...

    @abc.abstractmethod
    def upsert(self, name: str, names: VectorNames, points: Points) -> None:
        """Write and wait until the points are applied."""

    @abc.abstractmethod
    def scroll(
        self,
        name: str,
        names: VectorNames,
        where: FieldFilter | None,
        offset: StoredId | None,
        limit: int,
        unchanged: UnchangedBound | None = None,
    ) -> Points:
        """Points in id order from ``offset``, with vectors and payloads, and the next offset;
        ``unchanged`` (see ``unchanged_bound``) leaves out the points it marks."""

    @abc.abstractmethod
    def scroll_ids(
        self,
        name: str,
        where: FieldFilter | None,
        offset: StoredId | None,
        limit: int,
        unchanged: UnchangedBound | None = None,
    ) -> tuple[list[StoredId], StoredId | None]: ...

    @abc.abstractmethod
    def retrieve(self, name: str, names: VectorNames, ids: Sequence[StoredId]) -> Points: ...

    @abc.abstractmethod
    def count(self, name: str, where: FieldFilter | None) -> int: ...

    @abc.abstractmethod
    def facet(self, name: str, field: str) -> dict[str, int]:
        """Exact point counts per value of an indexed keyword field."""

    @abc.abstractmethod
    def field_values(self, name: str, field: str) -> dict[str, int]:
        """Point counts per value of ``field`` by scrolling payloads: for unindexed fields."""

    @abc.abstractmethod
    def sample(self, name: str, where: FieldFilter | None, n: int) -> list[StoredId]:
        """Ids of up to ``n`` random points."""

    @abc.abstractmethod
    def delete(self, name: str, ids: Sequence[StoredId] | None, where: FieldFilter | None) -> None:
        """Delete the given ids, or (ids None) every point matching ``where`` (all when None)."""

    def close(self) -> None:
        """Release what the backend opened."""


@dataclass
class SharedHandle:
    handle: Any
    closer: Callable[[Any], None] | None
    lock: threading.RLock = field(default_factory=threading.RLock)
    users: int = 0

    def close(self) -> None:
        if self.closer is not None:
            with self.lock:
                self.closer(self.handle)


class SharedStores:
    """Process-wide open handles, keyed by what they open (a resolved path, a store name).

    ``acquire`` opens on first use and counts users; ``release`` closes after the last one.
    A handle without a ``closer`` stays open for the life of the process (a ``:memory:`` store,
    whose data would vanish); the others are closed at interpreter exit if still open. Each
    handle comes with a lock, for engines that are not thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, SharedHandle] = {}
        atexit.register(self.close_all)

    def acquire(
        self, key: str, opener: Callable[[], Any], closer: Callable[[Any], None] | None
    ) -> SharedHandle:
        with self._lock:
            shared = self._open.get(key)
            if shared is None:
                shared = SharedHandle(opener(), closer)
                self._open[key] = shared
            shared.users += 1
            return shared

    def get(self, key: str) -> SharedHandle | None:
        with self._lock:
            return self._open.get(key)

    def release(self, key: str, expected: SharedHandle) -> None:
        """One user fewer; ``expected`` guards against releasing a handle opened after a discard."""
        with self._lock:
            shared = self._open.get(key)
            if shared is not expected:
                return
            shared.users -= 1
            if shared.users > 0 or shared.closer is None:
                return
            del self._open[key]
        shared.close()

    def discard(self, key: str) -> None:
        """Close and forget a handle whatever its users (its store is being deleted)."""
        with self._lock:
            shared = self._open.pop(key, None)
        if shared is not None:
            shared.close()

    def close_all(self) -> None:
        """At interpreter exit: close what is still open, best effort (a store may be gone)."""
        with self._lock:
            handles, self._open = list(self._open.values()), {}
        for shared in handles:
            try:
                shared.close()
            except Exception as exc:
                LOG.warning("closing an embedded Qdrant store at exit failed: %s", exc)


def distance_name(metric: str) -> str:
    try:
        return DISTANCES[metric]
    except KeyError:
        raise ConfigError(f"qdrant: unsupported metric {metric!r}") from None


def canonical_metric(distance: str) -> str:
    try:
        return METRICS[distance]
    except KeyError:
        raise ConfigError(f"qdrant: unknown distance {distance!r}") from None
