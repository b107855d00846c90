"""Pinecone indexes through the official ``pinecone`` SDK (REST, API version 2026-07).

URIs (options and their defaults: ``options``)::

    pinecone://<index>?namespace=<ns>                       Pinecone's cloud
    pinecone+http://<host>:<port>/<index>?namespace=<ns>    a compatible control plane over HTTP

The API key comes from ``PINECONE_API_KEY`` (or the variable ``api_key_env`` names), or from
``Client(provider="pinecone", api_key=...)``; it never appears in ``repr``, logs or errors.

Reading: ``plan`` walks each namespace's ids with the list API (ids only, pages of up to 100)
and cuts them into splits of ``split_size`` ids; a split's positions are the offsets of its ids.
A split's key holds the ids themselves while the plan's ``plan_id_bytes`` budget lasts, and past
it only the page token its ids start at and its number of pages (the reader lists those pages
again), so splits stay small however large the index. A reader fetches its ids in batches (at
most 1,000 ids and ``fetch_url_bytes`` of query string: fetch ids travel in the URL), claiming
every id's position before its batch is fetched, with up to ``read_concurrency`` fetches in
flight. Reads assume the source is not written meanwhile (list order is position order).
Pod-based indexes have no list API: reading one fails with a ``ConfigError`` that says so.

Writing: a write call takes up to 1,000 vectors of any size (``max_batch_bytes`` is None).
Records pass the metadata rule (``metadata``, counted) and the checks
(``checks``: refused records are named before anything is sent; ``reject_reasons`` keeps the
rule's work on the batch for the ``write`` of that same batch that follows it), are encoded once
into request bodies of at most 1,000 vectors and 2 MB, measured exactly (``wire``), and sent as
bytes through the SDK's HTTP client, ``write_concurrency`` requests at a time. The SDK's own
retries are switched off: 429 (after its Retry-After), 5xx, 408, lost connections and timeouts
are retried by the connector and counted in the ``retries`` metric. Refusals become
``RecordRejected`` (named) or ``PermanentError``; credentials and missing indexes
``ConfigError`` (``errors``). Integer ids are written as decimal strings (the pipeline
converts and counts them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
from pinecone import ConflictError, NotFoundError, Pinecone, PineconeError, RetryConfig

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
from io_connectors.core.errors import ConfigError, PermanentError, RecordRejected
from io_connectors.core.fields import DOCUMENT_KEY, DocumentPayload, layout_option, provider_options
from io_connectors.core.records import IdValue, UnreadableRecords, VectorBatch
from io_connectors.core.retry import with_retries
from io_connectors.pinecone.checks import id_problem, index_refusals, vector_refusals
from io_connectors.pinecone.errors import translate
from io_connectors.pinecone.flight import InFlight
from io_connectors.pinecone.index import (
    MAX_DIMENSION,
    METRICS,
    IndexHandle,
    namespace_from_wire,
    open_handle,
    pod_refusal,
    post_upsert,
    schema_for,
)
from io_connectors.pinecone.metadata import (
    Conversion,
    MetadataRefused,
    as_stored,
    convert_all,
    count_changes,
)
from io_connectors.pinecone.options import PineconeOptions, parse_uri
from io_connectors.pinecone.splits import PageRange, claimed
from io_connectors.pinecone.types import restore, with_types
from io_connectors.pinecone.wire import (
    MAX_DELETE_IDS,
    MAX_FETCH_IDS,
    UpsertRequest,
    batch_from_fetch,
    encode_rows,
    id_batches,
    pack_requests,
)

T = TypeVar("T")


class PineconeConnector(Connector):
    provider = "pinecone"
    capabilities = Capabilities(
        max_batch_count=1000,
        # No byte limit on a write call: write measures its requests and cuts them to 2 MB
        # itself, and a 1,000-vector call of wide vectors becomes several requests in flight.
        max_batch_bytes=None,
        max_dimension=MAX_DIMENSION,
        max_id_length=512,
        empty_ids=False,
        ascii_ids_only=True,
        int_ids=False,
        sparse=True,
        metrics=METRICS,
        namespaces="native",
        default_chunk_size=1000,
        request_bytes_per_value=12.6,  # measured: compact floats of unit-norm embeddings
    )

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        options = provider_options("pinecone", spec.options, {"text_field": "text_field"})
        if layout_option(options) == "llamaindex":
            raise ConfigError("pinecone: layout=llamaindex is not supported; use layout=native or langchain")
        self.payload = DocumentPayload("native", str(options.get("text_field") or DOCUMENT_KEY))
        self.options = PineconeOptions.parse(options)
        self._api_key = ""
        self._client: Pinecone | None = None
        self._handles: dict[str, IndexHandle] = {}
        self._flight = InFlight(max(self.options.write_concurrency, self.options.read_concurrency))
        self._checked: tuple[VectorBatch, Conversion, dict[int, str]] | None = None

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        return parse_uri(uri)

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        if self._client is not None:
            return
        env = self.options.api_key_env
        self._api_key = str(self.spec.options.get("api_key") or os.environ.get(env, ""))
        if not self._api_key:
            raise ConfigError(f"pinecone: no API key; set the environment variable {env} (or pass api_key=)")
        try:
            self._client = Pinecone(
                api_key=self._api_key,
                host=self.options.host,
                timeout=self.options.timeout,
                retry_config=RetryConfig(max_retries=0),  # the connector retries, counted
            )
        except PineconeError as exc:  # a malformed key or host
            raise ConfigError(self.redact(f"pinecone: cannot set up the client: {exc}")) from None

    def close(self) -> None:
        for handle in self._handles.values():
            handle.data.close()
        self._handles.clear()
        self._flight.close()
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> Pinecone:
        self.open()
        assert self._client is not None
        return self._client

    # -- calls: errors translated and redacted, transient ones retried ----------------------
    def redact(self, text: str) -> str:
        if len(self._api_key) >= 3:
            text = text.replace(self._api_key, "***")
        return self.spec.redact(text)

    def _guard(
        self, call: Callable[[], T], what: str, index: str | None = None, ids: Sequence[str] = ()
    ) -> T:
        try:
            return call()
        except Exception as exc:
            error = translate(exc, what, index, ids, self.redact)
            if error is None:
                raise
            raise error from None

    def _retrying(self, call: Callable[[], T], what: str, index: str | None = None) -> T:
        return with_retries(lambda: self._guard(call, what, index), f"pinecone {what}")

    # -- indexes ---------------------------------------------------------------------------
    def list_indexes(self) -> list[str]:
        return sorted(self._retrying(lambda: self.client.list_indexes().names(), "list indexes"))

    def _handle(self, index: str, fresh: bool = False) -> IndexHandle:
        if fresh or index not in self._handles:
            model = self._retrying(lambda: self.client.describe_index(index), f"describe {index!r}", index)
            old = self._handles.pop(index, None)
            if old is not None:
                old.data.close()
            self._handles[index] = open_handle(index, model, self.client)
        return self._handles[index]

    def describe_index(self, index: str) -> IndexInfo:
        handle = self._handle(index, fresh=True)
        counts = self._namespace_counts(handle)
        details = {"host": handle.data.host, "deployment": "pod" if handle.pod else "serverless"}
        return IndexInfo(
            index, handle.dimension, handle.metric, handle.holds_sparse, sum(counts.values()), counts, details
        )

    def _namespace_counts(self, handle: IndexHandle) -> dict[str, int]:
        stats = self._retrying(handle.data.describe_index_stats, f"describe stats of {handle.name!r}")
        return {
            namespace_from_wire(ns): summary.vector_count
            for ns, summary in sorted(stats.namespaces.items())
            if summary.vector_count
        }

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        """A serverless index shaped like the source: dense (with a sparse field when the source
        has sparse values, which needs dotproduct) or sparse-only (always dotproduct)."""
        schema = schema_for(name, dimension, normalize_metric(metric), sparse)
        if name not in self.list_indexes():
            deployment = {
                "deployment_type": "managed",
                "cloud": self.options.cloud,
                "region": self.options.region,
            }

            def create() -> None:
                try:
                    self.client.indexes.create(name=name, schema=schema, deployment=deployment)
                except ConflictError:  # created meanwhile, by a retried request or another worker
                    pass

            try:
                self._retrying(create, f"create index {name!r}")
            except PermanentError as exc:
                raise ConfigError(f"pinecone: cannot create index {name!r}: {exc}") from None
        existing = self._handle(name, fresh=True)
        if existing.dimension != dimension:
            raise ConfigError(
                f"pinecone: index {name!r} exists with dimension {existing.dimension}, not {dimension}"
            )

    def delete_index(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.data.close()

        def delete() -> None:
            try:
                self.client.delete_index(name)
            except NotFoundError:
                pass

        self._retrying(delete, f"delete index {name!r}")

    # -- reading ---------------------------------------------------------------------------
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        handle = self._handle(index, fresh=True)
        if handle.pod:
            raise pod_refusal(index)
        names = [namespace] if namespace is not None else list(self._namespace_counts(handle))
        budget = [self.options.plan_id_bytes]
        return [split for ns in names for split in self._plan_namespace(handle, ns, batch_size, budget)]

    def _plan_namespace(
        self, handle: IndexHandle, namespace: str, batch_size: int, budget: list[int]
    ) -> list[Split]:
        """Walk the namespace's id pages; every ``split_size`` ids make a split. A split carries
        its ids while ``budget`` (bytes of ids left to carry in this plan) lasts; past it, only the
        token of its first page, and the reader lists its pages again."""
        per_split = max(1, self.options.split_size // self.options.list_limit)
        splits: list[Split] = []
        token = start = None
        ids: list[str] = []
        pages = 0
        while True:
            if pages == 0:
                start = token
            page, token = self._list_page(handle, namespace, token)
            ids.extend(page)
            pages += 1
            if ids and (pages == per_split or token is None):
                size = sum(len(i) for i in ids)
                carried = tuple(ids) if size <= budget[0] else None
                budget[0] -= size if carried else 0
                key = PageRange(start, pages, self.options.list_limit, carried)
                splits.append(Split(handle.name, namespace, 0, len(ids), batch_size, key, len(ids)))
                ids, pages = [], 0
            if token is None:
                return splits

    def _list_page(
        self, handle: IndexHandle, namespace: str, token: str | None
    ) -> tuple[list[str], str | None]:
        page = self._retrying(
            lambda: handle.data.list_paginated(
                limit=self.options.list_limit, pagination_token=token, namespace=namespace
            ),
            f"list ids of {handle.name!r} namespace {namespace!r}",
        )
        following = page.pagination.next if page.pagination is not None else None
        return [v.id for v in page.vectors if v.id is not None], following

    def count_is_exact(self, index: str, namespace: str | None = None) -> bool:
        """Pinecone's index statistics are eventually consistent: not an exact count."""
        return False

    def range_count(self, split: Split, start: int, stop: int) -> int | None:
        key: PageRange = split.key
        return None if key.ids is None else len(key.ids[start:stop])

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch | UnreadableRecords]:
        handle = self._handle(split.index)
        restriction = tracker.current_restriction()
        wanted = self._split_ids(handle, split, restriction.stop)[restriction.start :]
        groups = id_batches(wanted, min(split.batch_size, MAX_FETCH_IDS), self.options.fetch_url_bytes)
        fetches = (
            lambda group=group: self._fetch_group(handle, group, split.namespace, listed=True)
            for group in claimed(tracker, restriction.start, groups)
        )
        for items in self._flight.run(
            fetches, f"pinecone fetch from {split.index!r}", self.options.read_concurrency
        ):
            yield from items

    def _split_ids(self, handle: IndexHandle, split: Split, stop: int) -> Sequence[str]:
        """The ids at positions [0, stop) of a split: carried by it, or listed again."""
        key: PageRange = split.key
        if key.ids is not None:
            return key.ids[:stop]
        ids: list[str] = []
        token = key.token
        for _ in range(min(key.pages, -(-stop // key.page_size))):  # the pages holding [0, stop)
            page, token = self._list_page(handle, split.namespace, token)
            ids.extend(page)
            if token is None:
                break
        return ids[:stop]

    def _fetch_group(
        self, handle: IndexHandle, ids: list[str], namespace: str, listed: bool = False
    ) -> list[VectorBatch | UnreadableRecords]:
        """Ids fetched: a vector that cannot be decoded fails alone; a ``listed`` id the fetch
        does not return (deleted meanwhile) is reported, not dropped silently."""
        found = self._guard(
            lambda: handle.data.fetch(ids=ids, namespace=namespace).vectors,
            f"fetch from {handle.name!r} namespace {namespace!r}",
        )
        present = [i for i in dict.fromkeys(ids) if i in found]
        items: list[VectorBatch | UnreadableRecords] = list(
            decode_isolated(
                len(present),
                lambda rows: self._decoded(batch_from_fetch(found, [present[r] for r in rows], namespace)),
                present.__getitem__,
                namespace,
            )
        )
        missing = tuple(i for i in dict.fromkeys(ids) if i not in found)
        if missing and listed:
            items.append(
                UnreadableRecords(namespace, "listed but not returned by fetch (deleted meanwhile?)", missing)
            )
        return items

    def _decoded(self, batch: VectorBatch) -> VectorBatch:
        """Fetched records as they were written: original types restored (``preserve_types``),
        then the layout's document payload decoded."""
        if self.options.preserve_types:
            metadata = [restore(m) for m in batch.metadata]
            batch = VectorBatch(batch.ids, batch.values, batch.sparse, metadata, batch.namespace)
        return self.payload.decode_batch(batch, "pinecone")

    # -- writing ---------------------------------------------------------------------------
    def reject_reasons(self, batch: VectorBatch) -> dict[int, str]:
        conversion, layout = self._converted(batch)
        self._checked = (batch, conversion, layout)  # for the write of this batch that follows
        return {**conversion.refused, **vector_refusals(batch), **layout}

    def _converted(self, batch: VectorBatch) -> tuple[Conversion, dict[int, str]]:
        """The metadata rule applied to ``batch`` (``preserve_types``: with the types field), and
        the rows the layout refuses. Reused when ``batch`` is the one ``reject_reasons`` checked."""
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] is batch:
            return checked[1], checked[2]
        layout = self.payload.refusals(batch)
        encoded = [None if row in layout else self.payload.encode(m) for row, m in enumerate(batch.metadata)]
        conversion = convert_all(encoded)
        if self.options.preserve_types:
            self._add_types(conversion, encoded)
        return conversion, layout

    @staticmethod
    def _add_types(conversion: Conversion, originals: list[dict[str, Any] | None]) -> None:
        """``preserve_types``: every converted row gets its ``_vm_types`` field (re-encoded);
        rows that cannot are refused."""
        for row, (stored, original) in enumerate(zip(conversion.metadata, originals)):
            try:
                typed = with_types(stored, original)
            except MetadataRefused as exc:
                conversion.refused[row] = str(exc)
                continue
            if typed is not stored:
                conversion.metadata[row] = typed
                conversion.encoded[row] = orjson.dumps(typed)

    def stored_metadata(self, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        """The metadata rule applied, and numbers as floats (metadata the rule cannot make fit
        is refused, never stored: returned as it is)."""
        try:
            stored = as_stored(metadata)
            return restore(with_types(stored, metadata)) if self.options.preserve_types else stored
        except MetadataRefused:
            return metadata

    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        handle = self._handle(index)
        conversion, layout = self._converted(batch)
        if layout:
            raise RecordRejected({batch.ids[row]: why for row, why in sorted(layout.items())})
        refused = {**conversion.refused, **vector_refusals(batch)}
        refused.update(index_refusals(batch, index, handle.dimension, handle.metric))
        if refused:
            raise RecordRejected({batch.ids[row]: why for row, why in sorted(refused.items())})
        ids = [str(i) for i in batch.ids]
        rows = encode_rows(ids, batch, conversion.encoded, self.options.compact_floats)
        sends = (
            lambda request=request: self._upsert(handle, request, batch.namespace)
            for request in pack_requests(rows, ids, batch.namespace)
        )
        what = f"pinecone upsert into {index!r}"
        refusals = [r for r in self._flight.run(sends, what, self.options.write_concurrency) if r]
        if refusals:
            if not all(isinstance(r, RecordRejected) for r in refusals):
                raise refusals[0]
            original = dict(zip(ids, batch.ids))
            raise RecordRejected({original[i]: why for r in refusals for i, why in r.reasons.items()})
        count_changes(conversion.changed)

    def _upsert(self, handle: IndexHandle, request: UpsertRequest, namespace: str) -> PermanentError | None:
        """One upsert request. A refusal is returned, to be merged with the other requests' ones;
        a transient failure is raised, to be retried."""
        try:
            self._guard(
                lambda: post_upsert(handle.data, request.body),
                f"upsert into {handle.name!r} namespace {namespace!r}",
                ids=request.ids,
            )
        except PermanentError as exc:
            return exc
        return None

    # -- point access ------------------------------------------------------------------------
    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        """Ids Pinecone cannot hold (non-ASCII, empty, too long) are not asked for: not found."""
        handle = self._handle(index)
        wanted = [i for i in (str(v) for v in ids) if id_problem(i) is None]
        groups = id_batches(wanted, MAX_FETCH_IDS, self.options.fetch_url_bytes)
        fetches = (lambda g=group: self._fetch_group(handle, g, namespace) for group in groups)
        batches = [
            b
            for items in self._flight.run(fetches, "pinecone fetch", self.options.read_concurrency)
            for b in items
            if isinstance(b, VectorBatch) and len(b)
        ]
        return VectorBatch.concat(batches) if batches else VectorBatch([], namespace=namespace)

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        handle = self._handle(index)

        def delete(**selector: Any) -> None:
            try:
                handle.data.delete(namespace=namespace, **selector)
            except NotFoundError:  # no such namespace: nothing to delete
                pass

        what = f"delete from {index!r} namespace {namespace!r}"
        if delete_all:
            self._retrying(lambda: delete(delete_all=True), what)
            return
        wanted = [i for i in (str(v) for v in ids or ()) if id_problem(i) is None]
        for lo in range(0, len(wanted), MAX_DELETE_IDS):
            self._retrying(lambda chunk=wanted[lo : lo + MAX_DELETE_IDS]: delete(ids=chunk), what)
