"""The chromadb client behind the connector: opening it, finding collections, and every call
retried and translated (``errors``).

Both ways in are chromadb's own clients: ``HttpClient`` for a server, ``PersistentClient`` for a
local folder (Chroma's Rust engine in this process; clients of one folder in one process share
one engine, so several DoFns can open it). Telemetry is switched off: nothing leaves the machine.
Collections are opened without an embedding function: records always carry their vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from io_connectors.chroma.errors import Redact, translate
from io_connectors.chroma.options import ChromaSettings
from io_connectors.core.contract import normalize_metric
from io_connectors.core.errors import ConfigError, IndexNotFound
from io_connectors.core.retry import with_retries

T = TypeVar("T")
DIMENSION_KEY = "vm_dimension"  # collection metadata: the dimension an empty collection was made for
SPACES = {"cosine": "cosine", "euclidean": "l2", "dotproduct": "ip"}
METRICS = {space: metric for metric, space in SPACES.items()}


class ChromaStore:
    """One open chromadb client and the collections it has looked up."""

    def __init__(self, settings: ChromaSettings, options: Mapping[str, Any], redact: Redact) -> None:
        import chromadb
        from chromadb.config import Settings

        self.redact = redact
        target = dict(tenant=settings.tenant, database=settings.database)
        where = {k: v for k, v in target.items() if v}
        chroma_settings = Settings(anonymized_telemetry=False)
        if settings.mode == "local":
            assert settings.path is not None
            opener = lambda: chromadb.PersistentClient(  # noqa: E731
                path=settings.path, settings=chroma_settings, **where
            )
        else:
            headers = settings.headers(options)
            opener = lambda: chromadb.HttpClient(  # noqa: E731
                host=settings.host, port=settings.port, ssl=settings.ssl, headers=headers,
                settings=chroma_settings, **where,
            )  # fmt: skip
        self.client = self.call("connect", None, opener)
        self._collections: dict[str, Any] = {}
        self._max_batch: int | None = None

    def close(self) -> None:
        self._collections.clear()
        self.client.close()

    def call(self, what: str, collection: str | None, call: Callable[[], T]) -> T:
        """``call`` with transient failures retried and every failure in our error families."""

        def once() -> T:
            try:
                return call()
            except Exception as exc:
                translated = translate(exc, what, collection, self.redact)
                if translated is exc:
                    raise
                raise translated from None

        return with_retries(once, f"chroma: {what}")

    # -- collections -------------------------------------------------------------------------
    @property
    def max_batch_size(self) -> int:
        """Records one request may carry, as the client reports it."""
        if self._max_batch is None:
            self._max_batch = max(1, int(self.call("max batch size", None, self.client.get_max_batch_size)))
        return self._max_batch

    def names(self) -> list[str]:
        collections = self.call("list collections", None, self.client.list_collections)
        return sorted(c if isinstance(c, str) else c.name for c in collections)

    def collection(self, name: str) -> Any:
        """The collection ``name``; ``IndexNotFound`` when it does not exist."""
        if name not in self._collections:
            self._collections[name] = self.call(
                f"open {name!r}", name, lambda: self.client.get_collection(name, embedding_function=None)
            )
        return self._collections[name]

    def maybe(self, name: str) -> Any | None:
        try:
            return self.collection(name)
        except IndexNotFound:
            return None

    def create(self, name: str, dimension: int, metric: str) -> Any:
        """Create ``name`` (or open it when it exists: several writers may race to create it)."""
        space = space_of(metric)
        self._collections[name] = self.call(
            f"create {name!r}",
            None,
            lambda: self.client.get_or_create_collection(
                name,
                configuration={"hnsw": {"space": space}},
                metadata={DIMENSION_KEY: dimension},
                embedding_function=None,
            ),
        )
        return self._collections[name]

    def drop(self, name: str) -> None:
        self._collections.pop(name, None)
        self.call(f"delete {name!r}", name, lambda: self.client.delete_collection(name))

    def forget(self, name: str) -> None:
        self._collections.pop(name, None)

    def count(self, name: str) -> int:
        collection = self.collection(name)
        return int(self.call(f"count {name!r}", name, collection.count))

    def dimension(self, name: str) -> int | None:
        """The collection's dimension: Chroma's own once a record is in, else the one recorded
        at creation, else (a foreign empty collection) unknown."""
        collection = self.collection(name)
        model = getattr(collection, "_model", None)
        found = getattr(model, "dimension", None)
        if found:
            return int(found)
        recorded = (collection.metadata or {}).get(DIMENSION_KEY)
        if isinstance(recorded, int) and not isinstance(recorded, bool):
            return recorded
        first = self.call(f"peek {name!r}", name, lambda: collection.get(limit=1, include=["embeddings"]))
        embeddings = first.get("embeddings")
        return len(embeddings[0]) if embeddings is not None and len(embeddings) else None

    def metric(self, name: str) -> str:
        """The collection's distance as a canonical metric (Chroma's default is l2)."""
        collection = self.collection(name)
        config = getattr(collection, "configuration_json", None) or {}
        for section in ("hnsw", "spann"):
            space = (config.get(section) or {}).get("space")
            if space:
                return metric_of(space)
        legacy = (collection.metadata or {}).get("hnsw:space")
        return metric_of(legacy or "l2")


def space_of(metric: str) -> str:
    canonical = normalize_metric(metric)
    if canonical not in SPACES:
        raise ConfigError(f"chroma: metric {metric!r} is not supported; use one of {', '.join(SPACES)}")
    return SPACES[canonical]


def metric_of(space: str) -> str:
    try:
        return METRICS[str(space).lower()]
    except KeyError:
        raise ConfigError(f"chroma: unknown distance space {space!r}") from None
