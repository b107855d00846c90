"""LanceDB tables as indexes (``lancedb:///path/to/db/table?namespace=ns``), embedded in-process.

A table is an index; namespaces are the ``namespace`` column (see ``schema.py`` for the
layout). Writes are idempotent upserts through LanceDB's ``merge_insert`` on
(namespace, id, id_is_int), one Arrow table per chunk. Reads pin the table version when they are
planned and read by fragment (``reading.py``). Tables made by LanceDB users are read through
the field-mapping options; writing goes only into tables this project created.

The connection checks for newer table versions on every call
(``read_consistency_interval=0``): other workers and processes write the same tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import lancedb
import pyarrow as pa

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
from io_connectors.core.errors import ConfigError
from io_connectors.core.records import IdValue, VectorBatch
from io_connectors.lancedb.codec import batch_to_table, rows_to_batch
from io_connectors.lancedb.errors import call
from io_connectors.lancedb.options import LanceOptions, parse_lancedb_uri
from io_connectors.lancedb.reading import SplitKey, initial_ranges, namespace_counts, plan_splits, read_chunks
from io_connectors.lancedb.schema import MERGE_KEYS, Layout, layout_of, table_schema
from io_connectors.lancedb.sql import ids_filters, namespace_filter, scoped

LANCEDB_METRICS = ("cosine", "euclidean", "dotproduct")  # LanceDB's cosine, l2 and dot
LANCE_DISTANCES = {"cosine": "cosine", "l2": "euclidean", "dot": "dotproduct"}


class LanceDBConnector(Connector):
    """LanceDB documents no per-write count or byte limit (a write is one local commit), so the
    capabilities set none; chunks are large because each upsert costs a join and a fragment."""

    provider = "lancedb"
    capabilities = Capabilities(metrics=LANCEDB_METRICS, namespaces="emulated", default_chunk_size=10_000)

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        self.options = LanceOptions.from_options(spec.options)
        self._db: Any = None
        self._datasets: dict[tuple[str, int], Any] = {}

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        return parse_lancedb_uri(uri)

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> None:
        if self._db is None:
            self._db = self._call(
                lambda: lancedb.connect(
                    self.options.uri,
                    read_consistency_interval=dt.timedelta(0),
                    storage_options=dict(self.options.storage_options) or None,
                ),
                "connecting",
            )

    def close(self) -> None:
        self._db = None
        self._datasets.clear()

    @property
    def db(self) -> Any:
        self.open()
        return self._db

    def _redact(self, text: str) -> str:
        return self.spec.redact(text)

    def _call(self, operation, what: str, table: str | None = None):
        return call(operation, what, table, self._redact)

    # -- indexes ---------------------------------------------------------------------------
    def _table(self, index: str) -> Any:
        if not index or "/" in index or index in (".", ".."):
            raise ConfigError(f"lancedb: {index!r} is not a valid table name")
        return self._call(lambda: self.db.open_table(index), f"opening table {index!r}", index)

    def _layout(self, index: str, schema: pa.Schema) -> Layout:
        return layout_of(index, schema, self.options.fields)

    def list_indexes(self) -> list[str]:
        names: list[str] = []
        token = None
        while True:
            page = self._call(lambda t=token: self.db.list_tables(page_token=t), "listing tables")
            names += page.tables
            token = page.page_token
            if not token:
                return sorted(names)

    def describe_index(self, index: str) -> IndexInfo:
        table = self._table(index)
        dataset = self._call(table.to_lance, f"describing {index!r}", index)
        layout = self._layout(index, dataset.schema)
        counts: dict[str, int] = {}
        for _, per_namespace in self._call(
            lambda: namespace_counts(dataset, layout), f"counting {index!r}", index
        ):
            for namespace, rows in per_namespace.items():
                counts[namespace] = counts.get(namespace, 0) + rows
        if not layout.metric_declared:
            layout = self._metric_from_vector_index(table, layout)
        details = {"uri": self._redact(self.options.uri), "version": dataset.version, **layout.details()}
        return IndexInfo(
            index, layout.dimension, layout.metric, layout.sparse, sum(counts.values()), counts, details
        )

    def _metric_from_vector_index(self, table: Any, layout: Layout) -> Layout:
        """A foreign table's metric, from a vector index on its vector column if it has one."""
        for index in self._call(table.list_indices, "listing vector indexes", table.name):
            if list(index.columns) != [layout.vector_column]:
                continue
            stats = self._call(lambda n=index.name: table.index_stats(n), "reading an index", table.name)
            metric = LANCE_DISTANCES.get(str(getattr(stats, "distance_type", None)).lower())
            if metric is not None:
                return replace(layout, metric=metric, metric_source=f"vector index {index.name!r}")
        return layout

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        metric = normalize_metric(metric)
        if metric not in LANCEDB_METRICS:
            raise ConfigError(
                f"lancedb: metric {metric!r} is not one LanceDB supports ({', '.join(LANCEDB_METRICS)})"
            )
        if dimension is None or dimension < 1:
            raise ConfigError(f"lancedb: a table needs a dense dimension (got {dimension!r})")
        if name not in self.list_indexes():
            try:
                self._call(
                    lambda: self.db.create_table(name, schema=table_schema(dimension, metric, sparse)),
                    f"creating table {name!r}",
                )
                return
            except ConfigError:
                if name not in self.list_indexes():  # not a concurrent creation of the same table
                    raise
        found = self.describe_index(name).dimension
        if found != dimension:
            raise ConfigError(f"lancedb: table {name!r} exists with dimension {found}, not {dimension}")

    def delete_index(self, name: str) -> None:
        if name in self.list_indexes():
            self._call(lambda: self.db.drop_table(name), f"dropping table {name!r}", name)

    def finalize_index(self, index: str) -> None:
        """Compact the small fragments each upsert leaves into larger files."""
        table = self._table(index)
        self._call(table.optimize, f"compacting {index!r}", index)

    # -- reading ---------------------------------------------------------------------------
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        table = self._table(index)
        dataset = self._call(table.to_lance, f"planning {index!r}", index)
        self._datasets[(index, dataset.version)] = dataset
        layout = self._layout(index, dataset.schema)
        fragments = self._call(lambda: namespace_counts(dataset, layout), f"planning {index!r}", index)
        if namespace is None:
            namespaces = sorted({ns for _, counts in fragments for ns in counts})
        else:
            namespaces = [namespace]
        return plan_splits(
            index, dataset.version, fragments, namespaces, batch_size, self.options.rows_per_split
        )

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        return initial_ranges(split, start, stop, self.options.rows_per_split)

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch]:
        key: SplitKey = split.key
        dataset = self._dataset(split.index, key.version)
        layout = self._layout(split.index, dataset.schema)
        chunks = read_chunks(
            dataset, split, layout, tracker, lambda rows: rows_to_batch(rows, layout, split.namespace)
        )
        yield from _translated(chunks, self._redact, split.index)

    def _dataset(self, index: str, version: int) -> Any:
        """The table at a pinned version, opened once per worker."""
        if (index, version) not in self._datasets:
            table = self._table(index)
            latest = self._call(table.to_lance, f"opening {index!r}", index)
            self._datasets[(index, version)] = self._call(
                lambda: latest.checkout_version(version), f"opening version {version} of {index!r}", index
            )
        return self._datasets[(index, version)]

    # -- writing ---------------------------------------------------------------------------
    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        table = self._table(index)
        layout = self._layout(index, table.schema)
        if not layout.native:
            raise ConfigError(
                f"lancedb: table {index!r} was not created by vector-migrate; write into a new table instead"
            )
        rows = batch_to_table(batch, table.schema, layout.dimension or 0)
        self._call(
            lambda: (
                table.merge_insert(MERGE_KEYS)
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(rows)
            ),
            f"upserting {len(rows)} vectors into {index!r}",
            index,
        )

    # -- point access ------------------------------------------------------------------------
    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        table = self._table(index)
        dataset = self._call(table.to_lance, f"fetching from {index!r}", index)
        layout = self._layout(index, dataset.schema)
        where = namespace_filter(layout, namespace)
        found = []
        for condition in ids_filters(layout, list(ids), _int_ids(dataset.schema, layout)):
            rows = self._call(
                lambda c=condition: dataset.to_table(columns=layout.columns, filter=scoped(where, c)),
                f"fetching from {index!r}",
                index,
            )
            if rows.num_rows:
                found.append(rows_to_batch(rows, layout, namespace))
        return VectorBatch.concat(found) if found else VectorBatch([], namespace=namespace)

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        table = self._table(index)
        layout = self._layout(index, table.schema)
        where = namespace_filter(layout, namespace)
        if delete_all:
            conditions = [where or "true"]
        else:
            conditions = [
                scoped(where, c) for c in ids_filters(layout, list(ids or ()), _int_ids(table.schema, layout))
            ]
        for condition in conditions:
            self._call(lambda c=condition: table.delete(c), f"deleting from {index!r}", index)


def _int_ids(schema: pa.Schema, layout: Layout) -> bool:
    return not layout.native and pa.types.is_integer(schema.field(layout.id_column).type)


def _translated(chunks: Iterator[VectorBatch], redact, index: str) -> Iterator[VectorBatch]:
    """Yield from a read, translating LanceDB failures raised between batches."""
    iterator = iter(chunks)
    while True:
        try:
            batch = call(lambda: next(iterator), f"reading {index!r}", index, redact)
        except StopIteration:
            return
        yield batch
