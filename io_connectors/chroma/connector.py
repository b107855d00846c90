"""Chroma (``chroma://``, ``chroma+https://``, ``chroma+local://``).

One connector, two ways of reaching Chroma (see ``options``): a server through chromadb's HTTP
client, and chromadb's persistent local client. An index is a collection; tenant and database
are options.

- Namespaces (``namespaces``): one collection per namespace, ``INDEX__NS``; the default
  namespace is the collection INDEX itself.
- Records (``codec``): ids as strings (integer ids flagged and restored), the metadata key
  "text" as the record's document, metadata Chroma cannot keep JSON-encoded under a reserved
  key and decoded on read. No sparse vectors (Chroma's sparse vectors are a Chroma Cloud
  feature: the local engine refuses them), so ``Capabilities.sparse`` is False and records with
  sparse values are refused by name.
- Reads (``reading``): offset pages in the collection's storage order, completeness checked.
- Writes: upserts chunked by the batch size the client reports (and a byte cap). Chroma merges
  an upsert into a stored record (metadata keys the new record lacks survive, and a missing
  document does not clear the stored one), so each chunk first looks up which of its ids exist
  and sends stale keys as None; a stored record whose document must go is deleted first. A
  refused chunk is bisected so the refused records are named and the rest is written.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from io_connectors.chroma import namespaces
from io_connectors.chroma.codec import (
    chroma_id,
    from_result,
    replacement_metadata,
    reserved_key_problem,
    to_rows,
)
from io_connectors.chroma.options import ChromaSettings, parse_chroma_uri, settings_from
from io_connectors.chroma.reading import initial_ranges, plan_collection, read_range
from io_connectors.chroma.store import ChromaStore, space_of
from io_connectors.core.batching import chunk_batch
from io_connectors.core.contract import (
    Capabilities,
    Connector,
    ConnectorSpec,
    IndexInfo,
    Location,
    Split,
    Tracker,
)
from io_connectors.core.errors import ConfigError, PermanentError, RecordRejected
from io_connectors.core.records import IdValue, VectorBatch
from io_connectors.core.secrets import redact


class ChromaConnector(Connector):
    provider = "chroma"
    capabilities = Capabilities(sparse=False, namespaces="emulated")

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        self.settings: ChromaSettings = settings_from(spec.options)
        self.capabilities = self.settings.capabilities()  # per instance: it depends on the way in
        self._store: ChromaStore | None = None
        self._secrets: list[str] = []

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        return parse_chroma_uri(uri)

    # -- lifecycle -------------------------------------------------------------------------
    def redact(self, text: str) -> str:
        return redact(self.spec.redact(text), self._secrets)

    def open(self) -> None:
        if self._store is None:
            if self.settings.mode == "http":  # keys read from the environment are secrets too
                self._secrets = self.settings.secret_values(self.spec.options)
            self._store = ChromaStore(self.settings, self.spec.options, self.redact)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> ChromaStore:
        if self._store is None:
            self.open()
        assert self._store is not None
        return self._store

    # -- indexes ---------------------------------------------------------------------------
    def list_indexes(self) -> list[str]:
        return namespaces.indexes(self.store.names())

    def _namespaces(self, index: str) -> dict[str, str]:
        """Namespace -> collection for ``index``, which must exist."""
        self.store.collection(index)
        return namespaces.index_collections(index, self.store.names())

    def describe_index(self, index: str) -> IndexInfo:
        store = self.store
        store.forget(index)  # Chroma learns a collection's dimension at its first insert
        found = self._namespaces(index)
        counts = {ns: store.count(name) for ns, name in found.items()}
        counts = {ns: n for ns, n in counts.items() if n}
        details = {"mode": self.settings.mode, "collections": found}
        return IndexInfo(
            index, store.dimension(index), store.metric(index), False, sum(counts.values()), counts, details
        )

    def count(self, index: str, namespace: str | None = None) -> int:
        if namespace is None:
            return self.describe_index(index).count
        self.store.collection(index)
        name = namespaces.collection_name(index, namespace)
        return self.store.count(name) if self.store.maybe(name) is not None else 0

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        namespaces.check_index_name(name)
        if dimension is None:
            raise ConfigError(f"chroma: index {name!r} needs a dimension (Chroma stores dense vectors only)")
        space_of(metric)  # refuse an unsupported metric before creating anything
        existing = self.store.maybe(name)
        if existing is not None:
            self.store.forget(name)
            found = self.store.dimension(name)
            if found is not None and found != dimension:
                raise ConfigError(
                    f"chroma: collection {name!r} exists with dimension {found}, not {dimension}"
                )
            return
        self.store.create(name, dimension, metric)

    def delete_index(self, name: str) -> None:
        for collection in reversed(self._namespaces(name).values()):  # the index itself last
            self.store.drop(collection)

    # -- reading ---------------------------------------------------------------------------
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        found = self._namespaces(index)
        if namespace is not None:
            found = {namespace: found[namespace]} if namespace in found else {}
        per_split = self.settings.records_per_split
        planned = (
            plan_collection(self.store, index, ns, c, batch_size, per_split) for ns, c in found.items()
        )
        return [split for split in planned if split is not None]

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        return initial_ranges(split, start, stop)

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch]:
        dimension = self.store.dimension(split.key.collection) or 0
        yield from read_range(self.store, split, tracker, dimension)

    # -- writing ---------------------------------------------------------------------------
    def reject_reasons(self, batch: VectorBatch) -> dict[int, str]:
        reasons = {}
        for row, metadata in enumerate(batch.metadata):
            problem = reserved_key_problem(metadata)
            if problem is not None:
                reasons[row] = problem
        if batch.values is None:
            reasons.update(dict.fromkeys(range(len(batch)), "has no dense values; Chroma records need them"))
        return reasons

    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        reasons: dict[IdValue, str] = {}
        refused = self.reject_reasons(batch)
        if refused:
            reasons.update({batch.ids[row]: why for row, why in refused.items()})
            batch = batch.take([row for row in range(len(batch)) if row not in refused])
        if len(batch):
            collection = self._writable(index, batch.namespace)
            caps = self.capabilities
            limit = self.store.max_batch_size
            for chunk in chunk_batch(batch, limit, caps.max_batch_bytes, caps.request_bytes_per_value):
                self._upsert(collection, chunk, reasons)
        if reasons:
            raise RecordRejected(reasons)

    def _writable(self, index: str, namespace: str) -> str:
        """The collection of ``namespace``, created like the index's when it is new."""
        name = namespaces.collection_name(index, namespace)
        if name != index and self.store.maybe(name) is None:
            dimension = self.store.dimension(index)
            if dimension is None:
                raise ConfigError(
                    f"chroma: index {index!r} has no known dimension to create namespace {namespace!r}"
                )
            self.store.create(name, dimension, self.store.metric(index))
        else:
            self.store.collection(name)
        return name

    def _upsert(self, name: str, batch: VectorBatch, reasons: dict[IdValue, str]) -> None:
        """Upsert ``batch`` as a replacement; on a refusal, bisect to name the refused records."""
        try:
            self._replace(name, batch)
        except PermanentError as exc:
            if len(batch) == 1:
                reasons[batch.ids[0]] = str(exc)
                return
            middle = len(batch) // 2
            self._upsert(name, batch.slice(0, middle), reasons)
            self._upsert(name, batch.slice(middle, len(batch)), reasons)

    def _replace(self, name: str, batch: VectorBatch) -> None:
        store, collection, rows = self.store, self.store.collection(name), to_rows(batch)
        stored = store.call(
            f"look up {name!r}",
            name,
            lambda: collection.get(ids=rows.ids, include=["metadatas", "documents"]),
        )
        if stored["ids"]:
            position = {chroma_id: row for row, chroma_id in enumerate(rows.ids)}
            clear = []
            for found, old_meta, old_doc in zip(stored["ids"], stored["metadatas"], stored["documents"]):
                row = position[found]
                rows.metadatas[row] = replacement_metadata(rows.metadatas[row], old_meta)
                if old_doc is not None and rows.documents[row] is None:
                    clear.append(found)
            if clear:  # an upsert cannot remove a document: remove the record, then write it
                store.call(f"clear documents in {name!r}", name, lambda: collection.delete(ids=clear))
        store.call(
            f"upsert into {name!r}",
            name,
            lambda: collection.upsert(
                ids=rows.ids, embeddings=rows.embeddings, metadatas=rows.metadatas, documents=rows.documents
            ),
        )

    # -- point access ------------------------------------------------------------------------
    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        self.store.collection(index)
        name = namespaces.collection_name(index, namespace)
        collection = self.store.maybe(name)
        wanted = list(dict.fromkeys(chroma_id(i) for i in ids))
        found: list[VectorBatch] = []
        if collection is not None:
            step = self.store.max_batch_size
            for lo in range(0, len(wanted), step):
                result = self.store.call(
                    f"fetch from {name!r}",
                    name,
                    lambda c=wanted[lo : lo + step]: collection.get(
                        ids=c, include=["embeddings", "metadatas", "documents"]
                    ),
                )
                if result["ids"]:
                    found.append(from_result(result, range(len(result["ids"])), namespace))
        return VectorBatch.concat(found) if found else VectorBatch([], namespace=namespace)

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        self.store.collection(index)
        name = namespaces.collection_name(index, namespace)
        collection = self.store.maybe(name)
        if collection is None:
            return
        if delete_all and name != index:
            self.store.drop(name)
            return
        step = self.store.max_batch_size
        if delete_all:  # page through the ids, deleting each page
            while doomed := self.store.call(
                f"list {name!r}", name, lambda: collection.get(limit=step, include=[])
            )["ids"]:
                self.store.call(f"delete from {name!r}", name, lambda c=doomed: collection.delete(ids=c))
            return
        doomed = list(dict.fromkeys(chroma_id(i) for i in ids or ()))
        for lo in range(0, len(doomed), step):
            self.store.call(
                f"delete from {name!r}", name, lambda c=doomed[lo : lo + step]: collection.delete(ids=c)
            )
