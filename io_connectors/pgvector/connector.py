"""PostgreSQL tables with pgvector columns as indexes (``pgvector://``, ``postgresql://``).

The table is the index. ``Client(provider="pgvector", dsn="postgresql://user:pw@host:5432/db")``
with options ``schema`` ("public"), ``id_column`` ("id"), ``id_flag_column`` ("id_is_int"),
``vector_column`` ("embedding"), ``sparse_column`` ("sparse_embedding"), ``namespace_column``
("namespace"), ``metadata_column`` ("metadata"), and for tables this connector creates
``vector_type`` ("vector" or "halfvec"), ``unlogged`` (false) and ``create_index`` (false: when
true, ``finalize_index`` builds the HNSW index matching the metric after the load), and for
writing ``empty_table`` (false; see Writing below). Writing into
an existing table, ``check_target`` refuses before the load when the table has columns the
migration would leave NULL; ``ignore_columns=a,b`` accepts that for the columns named. The DSN is a
secret: it and its password never appear in messages or logs.

Applications' tables: ``layout=langchain`` or ``layout=llamaindex`` sets the column options to
those frameworks' tables (see ``apps``), ``text_column`` names a document-text column (its value
travels as the metadata key ``text``), ``metadata_fields`` picks the metadata (one json column,
or plain columns gathered), and the shared field options of ``core.fields`` (``vector_field``...)
set the matching ``*_column`` options.

URIs (standard PostgreSQL DSNs; the options above and ``namespace`` may be query parameters,
any other parameter such as ``sslmode`` or ``options`` stays in the DSN for libpq):

- ``pgvector://user:pw@host:5432/db/table?schema=public&namespace=ns&vector_column=emb``
  (the table is the path segment after the database; percent-encode odd characters)
- ``postgresql://user:pw@host:5432/db?table=items&namespace=ns`` (also ``postgres://``)

Bulk loads that can be re-run may add ``options=-c%20synchronous_commit%3Doff`` to the DSN:
commits then return before their WAL reaches disk (a server crash can lose the last ones, which
a verify finds and a re-run repairs).

Any table with an id column (text, integer or uuid) and a ``vector``/``halfvec`` and/or
``sparsevec`` column can be read; see ``schema`` for how its shape is read and for the
layout of the tables created here, and ``sql`` for how plain columns become metadata.

Reading splits on heap pages: a split covers pages [0, N) of one namespace (or, beyond 16
namespaces, all of them), N planned from the table size; ``split_restriction`` cuts it into page
ranges read in parallel. A read fetches a few pages at a time with a TID range scan on a binary
cursor (the next query already running while one's rows are decoded), claims each page in
order and yields only rows of claimed pages, so a claimed page owns
exactly its rows and a split at any page loses and duplicates nothing. The last planned page
also owns every page after it (its query has no upper bound), so rows on pages added after
planning are read too. A read is exact for a table nobody writes to meanwhile; concurrent
updates can move rows between pages (each query sees its own snapshot).

Each ``read`` (one page range) counts in the ``vector_migrate/pgvector_ranges_read`` metric.
Metadata lives in jsonb, which keeps numbers as ``numeric``: a float written in exponent form
(magnitude 1e16 and up) reads back as the integer it denotes and -0.0 as 0.0
(``stored_metadata`` declares this, so deep verification expects it).

Writing: each batch is COPied in binary into a session's temporary staging table and moved by
one ``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE`` in the same transaction, so a retried
or repeated batch overwrites instead of duplicating; repeated ids within a batch keep the last.
With ``empty_table`` (set by a migration for the table it has just created, or by a user whose
table is empty) a batch is COPied straight into a table of vector-migrate's own shape, skipping
the stage and the join; when a key is already there the unique index refuses the COPY, which is
rolled back whole and done as the staged upsert, so a retry or a re-read still never duplicates.
After a load, ``finalize_index(table)`` (called by ``Migration``) runs ANALYZE and, with
``create_index``, builds the HNSW index whose operator class matches the metric.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from apache_beam.metrics import Metrics
from psycopg import errors as pg_errors
from psycopg import sql

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
from io_connectors.core.errors import ConfigError, PermanentError, RecordRejected
from io_connectors.core.fields import FIELD_OPTIONS, FieldMapping, layout_option, provider_options
from io_connectors.core.records import IdValue, UnreadableRecords, VectorBatch
from io_connectors.core.retry import METRICS_NAMESPACE
from io_connectors.core.secrets import redact
from io_connectors.pgvector import sql as statements
from io_connectors.pgvector.apps import (
    LANGCHAIN_COLLECTIONS,
    create_app_tables,
    index_for,
    table_for,
    with_preset,
)
from io_connectors.pgvector.codec import (
    RowShape,
    as_stored,
    batches_from_rows,
    copy_pieces,
    metadata_check,
    row_pages,
    table_refusals,
    vector_refusals,
)
from io_connectors.pgvector.schema import (
    ColumnNames,
    NewTable,
    TableLayout,
    build_hnsw_index,
    create_table,
    has_vector_index,
    list_vector_tables,
    load_layout,
    relation_pages,
)
from io_connectors.pgvector.session import Session
from io_connectors.pgvector.target_check import (
    check_existing_table,
    check_new_table,
    hnsw_refusal,
    target_columns,
)

LOG = logging.getLogger(__name__)
T = TypeVar("T")
SCHEMES = ("pgvector", "postgresql", "postgres")
CONNECTOR_OPTIONS = (
    "schema",
    "id_column",
    "id_flag_column",
    "vector_column",
    "sparse_column",
    "namespace_column",
    "metadata_column",
    "vector_type",
    "unlogged",
    "create_index",
    "text_column",
    "layout",
    *FIELD_OPTIONS,
    "ignore_columns",
    "empty_table",
)
# The shared field options (core.fields) and the columns they name here.
FIELD_COLUMNS = {
    "id_field": "id_column",
    "vector_field": "vector_column",
    "sparse_field": "sparse_column",
    "text_field": "text_column",
    "namespace_field": "namespace_column",
    "metadata_fields": "metadata_fields",
}
MAX_NAMESPACE_SPLITS = 16  # beyond this, one split reads every namespace in a single pass
MIN_ROWS_PER_QUERY = 256
RANGES_PER_SPLIT_ROWS = 8  # a range for parallel reading holds about 8 read batches


class ReadKey(NamedTuple):
    """A split's locator: whether it filters on its namespace, and rows per page (for sizing)."""

    namespace_filter: bool
    rows_per_page: float


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


class PgvectorConnector(Connector):
    provider = "pgvector"
    # Bigger chunks amortise each upsert's statements and commit (5,000 rows of dimension 768 write
    # about 10% faster than 2,000); the byte cap keeps wide vectors' chunks within memory.
    capabilities = Capabilities(
        max_dimension=16_000,
        max_batch_bytes=64 * 2**20,
        dense_optional=True,
        default_chunk_size=5_000,
        request_bytes_per_value=4.0,
    )

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        if not spec.options.get("dsn"):
            raise ConfigError("pgvector: the 'dsn' option is required (postgresql://user:pw@host:5432/db)")
        self.app_layout = layout_option(spec.options)
        options = with_preset(self.app_layout, provider_options("pgvector", spec.options, FIELD_COLUMNS))
        self.schema = str(options.get("schema", "public"))
        self.names = ColumnNames(
            id=str(options.get("id_column", "id")),
            id_flag=str(options.get("id_flag_column", "id_is_int")),
            namespace=str(options.get("namespace_column", "namespace")),
            vector=str(options.get("vector_column", "embedding")),
            sparse=str(options.get("sparse_column", "sparse_embedding")),
            metadata=str(options.get("metadata_column", "metadata")),
            explicit=frozenset(k for k in options if k.endswith("_column")),
            text=str(options.get("text_column") or ""),
            collections=LANGCHAIN_COLLECTIONS if self.app_layout == "langchain" else "",
            metadata_fields=FieldMapping.from_options(options).metadata_fields or (),
            replace_by_id=self.app_layout == "llamaindex",
        )
        self.vector_type = str(options.get("vector_type", "vector"))
        self.unlogged = _flag(options.get("unlogged", False))
        self.build_index = _flag(options.get("create_index", False))
        self.ignore_columns = frozenset(
            name.strip() for name in str(options.get("ignore_columns", "")).split(",") if name.strip()
        )
        self.empty_table = _flag(options.get("empty_table", False))
        self.session = Session(str(options["dsn"]), spec.secrets())
        self._layouts: dict[str, TableLayout] = {}
        self._ranges_read = Metrics.counter(METRICS_NAMESPACE, "pgvector_ranges_read")
        self._direct_copies = Metrics.counter(METRICS_NAMESPACE, "pgvector_direct_copies")
        self._copy_conflicts = Metrics.counter(METRICS_NAMESPACE, "pgvector_copy_conflicts")
        self.writes = {"direct": 0, "conflict": 0, "staged": 0}  # chunks by path, this instance
        self._checked: tuple[VectorBatch, dict[int, str]] | None = None

    # -- URIs ------------------------------------------------------------------------------
    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        parts = urlsplit(uri)
        if parts.scheme.lower() not in SCHEMES:
            raise ConfigError(f"pgvector: unsupported URI scheme {parts.scheme!r}; use {', '.join(SCHEMES)}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        ours = {k: v for k, v in query if k in (*CONNECTOR_OPTIONS, "table", "namespace")}
        rest = [(k, v) for k, v in query if k not in ours]
        database, _, table = parts.path.lstrip("/").partition("/")
        if parts.scheme.lower() != "pgvector" and table:
            raise ConfigError(
                redact(f"pgvector: {uri!r} has a path after the database; name the table with ?table=")
            )
        query_table = ours.pop("table", None)
        table = unquote(table) or query_table or None
        namespace = ours.pop("namespace", None)
        dsn = urlunsplit(
            (
                "postgresql",
                parts.netloc,
                f"/{database}" if database else "",
                urlencode(rest, quote_via=quote),
                "",
            )
        )
        return Location(ConnectorSpec("pgvector", {"dsn": dsn, **ours}), table, namespace)

    # -- connection ------------------------------------------------------------------------
    def open(self) -> None:
        self.session.connection()

    def close(self) -> None:
        self.session.close()

    def _call(self, operation: Callable[[psycopg.Connection], T], what: str, retry: bool = True) -> T:
        try:
            return self.session.call(operation, what, retry)
        except ConfigError:
            self._layouts.clear()  # a table changed under us: read its shape again next time
            raise

    def _layout(self, index: str) -> TableLayout:
        if index not in self._layouts:
            ext = self.session.extension()
            table = table_for(self.app_layout, index)
            self._layouts[index] = self._call(
                lambda conn: load_layout(conn, self.schema, table, self.names, ext),
                f"reading table {index!r}",
            )
        return self._layouts[index]

    # -- indexes ---------------------------------------------------------------------------
    def list_indexes(self) -> list[str]:
        if not self.session.has_extension:
            return []
        ext = self.session.extension()
        tables = self._call(
            lambda conn: list_vector_tables(conn, self.schema, ext, self.names.id), "listing tables"
        )
        indexes = (index_for(self.app_layout, table) for table in tables)
        return [index for index in indexes if index]

    def describe_index(self, index: str) -> IndexInfo:
        layout = self._layout(index)
        counts = self._namespace_counts(layout)
        details = {
            "schema": layout.schema,
            "table": layout.table,
            "vector_type": None if layout.dense is None else layout.dense.type_name,
            "id_type": layout.id.type_name,
        }
        return IndexInfo(
            index,
            layout.dimension,
            layout.metric,
            layout.sparse_declared,
            sum(counts.values()),
            counts,
            details,
        )

    def _namespace_counts(self, layout: TableLayout, namespace: str | None = None) -> dict[str, int]:
        query = statements.counts(layout, namespace)
        rows = self._call(lambda conn: conn.execute(query).fetchall(), f"counting rows of {layout.label}")
        return {ns: int(n) for ns, n in rows if n}

    def count(self, index: str, namespace: str | None = None) -> int:
        return sum(self._namespace_counts(self._layout(index), namespace).values())

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        if name in self.list_indexes():
            existing = self._layout(name)
            if existing.dimension is not None and existing.dimension != dimension:
                raise ConfigError(
                    f"pgvector: {existing.label} exists with dimension {existing.dimension}, not {dimension}"
                )
            return
        refusal = hnsw_refusal(self.vector_type, dimension) if self.build_index else None
        if refusal:
            raise ConfigError(f"pgvector: {refusal}")  # refused before any data moves, not after the load
        spec = NewTable(
            self.schema, name, dimension, normalize_metric(metric), sparse, self.vector_type, self.unlogged
        )
        ext = self.session.extension()
        if self.app_layout != "native":
            table = table_for(self.app_layout, name)
            self._call(
                lambda conn: create_app_tables(conn, self.app_layout, self.schema, table, dimension, ext),
                f"creating the {self.app_layout} tables for {name!r}",
                retry=False,
            )
        else:
            self._call(
                lambda conn: create_table(conn, spec, self.names, ext),
                f"creating table {name!r}",
                retry=False,
            )
        self._layouts.pop(name, None)
        LOG.info(
            "pgvector: created table %s.%s (dimension %s, %s)", self.schema, name, dimension, spec.metric
        )

    def new_index_options(self) -> dict[str, Any]:
        """An index this migration created is empty: write it by COPY straight into the table."""
        return {"empty_table": "true"}

    def check_target(
        self, index: str, source: IndexInfo, on_unsupported: Mapping[str, str] | None = None
    ) -> None:
        """See ``target_check``: schema-only refusals, before any data moves."""
        if index not in self.list_indexes():
            check_new_table(self.vector_type, self.build_index, source)
            return
        layout = self._layout(index)
        columns = self._call(lambda conn: target_columns(conn, layout.relid), f"reading {layout.label}")
        indexed = layout.dense is not None and self._call(
            lambda conn: has_vector_index(conn, layout), f"reading the indexes of {layout.label}"
        )
        check_existing_table(layout, columns, source, self.build_index, indexed, self.ignore_columns)

    def delete_index(self, name: str) -> None:
        table = table_for(self.app_layout, name)
        query = sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.schema, table))
        self._call(lambda conn: conn.execute(query), f"dropping table {name!r}")
        self._layouts.pop(name, None)

    def finalize_index(self, index: str) -> None:
        """After a load: ANALYZE the table and, with the ``create_index`` option, build the HNSW
        index whose operator class matches the metric (vector_cosine_ops, ...)."""
        layout = self._layout(index)
        self._call(lambda conn: conn.execute(sql.SQL("ANALYZE {}").format(layout.ident)), "analyzing")
        if not self.build_index:
            return
        ext = self.session.extension()
        if self._call(
            lambda conn: build_hnsw_index(conn, layout, ext), "building the HNSW index", retry=False
        ):
            LOG.info("pgvector: built the HNSW index of %s (%s)", layout.label, layout.metric)
        self._layouts.pop(index, None)

    def stored_metadata(self, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if metadata is None else as_stored(metadata)

    # -- reading ---------------------------------------------------------------------------
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        layout = self._layout(index)
        pages = self._call(lambda conn: relation_pages(conn, layout), "sizing the table")
        counts = self._namespace_counts(layout)
        if not pages or not counts:
            return []
        if namespace is not None:
            counts = {namespace: counts[namespace]} if namespace in counts else {}
        elif len(counts) > MAX_NAMESPACE_SPLITS or layout.namespace is None:
            total = sum(counts.values())
            return [Split(index, "", 0, pages, batch_size, ReadKey(False, total / pages), total)]
        has_column = layout.namespace is not None
        return [
            Split(index, ns, 0, pages, batch_size, ReadKey(has_column, n / pages), n)
            for ns, n in sorted(counts.items())
        ]

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        rows_per_page = max(float(split.key.rows_per_page), 1e-9)
        step = max(1, math.ceil(split.batch_size * RANGES_PER_SPLIT_ROWS / rows_per_page))
        return [(lo, min(lo + step, stop)) for lo in range(start, stop, step)] or [(start, stop)]

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch | UnreadableRecords]:
        """Claim page after page, yielding only rows of claimed pages (see the module docstring)."""
        self._ranges_read.inc()
        layout = self._layout(split.index)
        shape = _row_shape(layout)
        last = split.stop - 1
        per_query = max(
            1, math.ceil(max(split.batch_size, MIN_ROWS_PER_QUERY) / max(split.key.rows_per_page, 1e-9))
        )

        def pages_from(first: int) -> tuple[int, int] | None:
            end = tracker.current_restriction().stop
            return (first, min(first + per_query, end)) if first < end else None

        def fetch(first: int, stop: int) -> list[tuple]:
            return self._read_pages(layout, split, first, None if stop > last else stop)

        # One query ahead: the server reads the next pages while these rows are decoded and used.
        with ThreadPoolExecutor(1, thread_name_prefix="pgvector-read") as ahead:
            pages = pages_from(tracker.current_restriction().start)
            pending = ahead.submit(fetch, *pages) if pages else None
            while pages is not None and pending is not None:
                page, stop = pages
                rows = pending.result()
                pages = pages_from(stop)
                pending = ahead.submit(fetch, *pages) if pages else None
                positions = np.minimum(row_pages(rows), last)
                if len(positions) and np.any(positions[1:] < positions[:-1]):
                    order = np.argsort(positions, kind="stable")
                    rows, positions = [rows[i] for i in order], positions[order]
                claimed = next((p for p in range(page, stop) if not tracker.try_claim(p)), stop)
                keep = int(np.searchsorted(positions, claimed, side="left"))
                where = f"{layout.label} pages {page}..{stop - 1}"
                yield from batches_from_rows(rows[:keep], shape, split.batch_size, where)
                if claimed < stop:
                    return  # a query already sent ahead finishes (and is dropped) as the pool closes

    def _read_pages(self, layout: TableLayout, split: Split, first: int, stop: int | None) -> list[tuple]:
        namespace = split.namespace if split.key.namespace_filter else None
        query = statements.read_pages(layout, namespace, first, stop, split.changed_since)
        return self._call(
            lambda conn: _binary_rows(conn, query),
            f"reading pages {first}..{'' if stop is None else stop} of {layout.label}",
        )

    # -- writing ---------------------------------------------------------------------------
    def reject_reasons(self, batch: VectorBatch) -> dict[int, str]:
        if self._checked is not None and self._checked[0] is batch:
            return dict(self._checked[1])  # the sink checks a batch, then writes that same batch
        reasons = vector_refusals(batch)
        for row, reason in metadata_check(batch).items():
            reasons.setdefault(row, reason)
        self._checked = (batch, dict(reasons))
        return reasons

    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        layout = self._layout(index)
        if layout.conflict_key is None and not self.names.replace_by_id:
            raise ConfigError(
                f"pgvector: {layout.label} has no primary key or unique index on its id "
                f"({layout.id.name!r}, optionally with the namespace): add one so that upserts are idempotent"
            )
        reasons = self.reject_reasons(batch)
        for row, reason in table_refusals(layout, batch).items():
            reasons.setdefault(row, reason)
        if reasons:
            raise self._rejected(layout, batch, reasons)
        keep = _last_of_each_id(batch.ids, canonical_uuids=layout.id_kind == "uuid")
        if keep is not None:
            batch = batch.take(keep)
        direct = statements.direct_copy(layout) if self.empty_table else None
        if direct is not None:
            if self._call(
                lambda conn: _copy_unless_conflict(conn, direct, copy_pieces(batch, layout.sparse_dimension)),
                f"copying into {layout.label}",
                retry=False,
            ):
                self.writes["direct"] += 1
                self._direct_copies.inc()
                return
            self.writes["conflict"] += 1  # rolled back: a key is already there, so upsert instead
            self._copy_conflicts.inc()
        pieces = copy_pieces(batch, layout.sparse_dimension)
        self._call(
            lambda conn: self._upsert(conn, layout, batch, pieces),
            f"upserting into {layout.label}",
            retry=False,
        )
        self.writes["staged"] += 1

    @staticmethod
    def _rejected(layout: TableLayout, batch: VectorBatch, reasons: dict[int, str]) -> RecordRejected:
        return RecordRejected(
            {batch.ids[row]: f"{layout.label}: {why}" for row, why in sorted(reasons.items())}
        )

    def _upsert(
        self, conn: psycopg.Connection, layout: TableLayout, batch: VectorBatch, pieces: Iterator[bytes]
    ) -> None:
        inline = statements.inline_stage(batch.dimension)
        if inline not in self.session.stages:
            ext = self.session.extension()
            for statement in statements.create_stage(inline, ext.type("vector"), ext.type("sparsevec")):
                conn.execute(statement)
            self.session.stages.add(inline)
        with conn.transaction():
            with conn.cursor().copy(statements.copy_stage(inline)) as copy:
                for piece in pieces:
                    copy.write(piece)
            for statement in statements.upsert(layout, inline):
                conn.execute(statement)

    # -- point access ------------------------------------------------------------------------
    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        layout = self._layout(index)
        match = statements.key_match(layout, ids)
        if match is None:
            return VectorBatch([], namespace=namespace)
        query = statements.fetch(layout, namespace, match)
        rows = self._call(lambda conn: _binary_rows(conn, query), f"fetching from {layout.label}")
        shape = _row_shape(layout)
        batches = [b for b in batches_from_rows(rows, shape, max(len(rows), 1)) if isinstance(b, VectorBatch)]
        if not batches:
            return VectorBatch([], namespace=namespace)
        try:
            return VectorBatch.concat(batches)
        except ValueError as exc:
            raise PermanentError(f"pgvector: rows of {layout.label} differ in shape: {exc}") from None

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        layout = self._layout(index)
        match = None if delete_all else statements.key_match(layout, ids or [])
        if match is None and not delete_all:
            return
        query = statements.delete(layout, namespace, match)
        self._call(lambda conn: conn.execute(query), f"deleting from {layout.label}")


def _row_shape(layout: TableLayout) -> RowShape:
    return RowShape(layout.half, layout.names.metadata, layout.metadata is None, layout.text is not None)


def _copy_unless_conflict(conn: psycopg.Connection, statement: sql.Composed, pieces: Iterator[bytes]) -> bool:
    """COPY ``pieces`` in one transaction; False (rolled back, nothing written) when a key is
    already in the table: the unique index refuses the duplicate, so rows are never doubled."""
    try:
        with conn.transaction(), conn.cursor().copy(statement) as copy:
            for piece in pieces:
                copy.write(piece)
    except pg_errors.UniqueViolation:
        return False
    return True


def _binary_rows(conn: psycopg.Connection, query: sql.Composable) -> list[tuple]:
    """All rows of ``query`` in binary format (pgvector values arrive as their binary bytes)."""
    with conn.cursor(binary=True) as cursor:
        return cursor.execute(query).fetchall()


def _last_of_each_id(ids: Sequence[IdValue], canonical_uuids: bool = False) -> list[int] | None:
    """Rows to keep so each id appears once (its last occurrence wins); None when ids are unique.

    An upsert cannot touch one row twice; in a uuid column, spellings of one uuid are one id."""
    if not canonical_uuids and len(set(ids)) == len(ids):  # an int and a str never compare equal
        return None
    keys = (str(uuid.UUID(str(i))) for i in ids) if canonical_uuids else ((type(i) is int, i) for i in ids)
    last = {key: row for row, key in enumerate(keys)}
    return None if len(last) == len(ids) else sorted(last.values())
