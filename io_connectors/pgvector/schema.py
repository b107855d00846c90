"""A table's shape, read from the PostgreSQL catalog, and the tables vector-migrate creates.

``load_layout`` turns a table into a ``TableLayout``: which column holds the id (text, integer or
uuid), the dense vector (``vector``/``halfvec``, dimension from its type modifier), the sparse
vector, the namespace and the metadata (a json/jsonb column, or else every remaining column),
the metric (from a vector index's operator class, then from vector-migrate's table comment,
else cosine) and the unique key an upsert can target. Names only ever reach SQL as
``psycopg.sql.Identifier``.

Tables vector-migrate creates (``create_table``) look like this, and why:

- ``namespace text NOT NULL DEFAULT ''``: one table holds every namespace;
- ``id text NOT NULL`` plus ``id_is_int boolean``: text holds every id (integers of any size,
  uuids, unicode) and the flag brings integer ids back as ``int``; both are in the primary key
  ``(namespace, id, id_is_int)``, so the integer 5 and the string "5" stay two records;
- ``embedding vector(dim)`` (or ``halfvec(dim)``), nullable for sparse-only records;
- ``sparse_embedding sparsevec(1000000000)``, always present and NULL unless used: pgvector's
  largest sparse dimension, so sparse indices 0..999,999,999 are stored as they are (binary
  sparsevec indices are 0-based; its text form shows them 1-based);
- ``metadata jsonb``; and a table comment ``{"vector_migrate": {"metric": ..., "sparse": ...}}``
  keeping the metric until an HNSW index (whose operator class then wins) is built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from psycopg import Connection, sql

from io_connectors.core.contract import normalize_metric
from io_connectors.core.errors import ConfigError, IndexNotFound

DENSE_TYPES = ("vector", "halfvec")
VECTOR_TYPES = (*DENSE_TYPES, "sparsevec")
MAX_DIMENSION = 16_000  # vector and halfvec columns
SPARSE_DIMENSION = 1_000_000_000  # the largest sparsevec dimension
SPARSE_MAX_NNZ = 16_000
HNSW_MAX_DIMENSION = {"vector": 2_000, "halfvec": 4_000}
OPCLASS_METRIC = {"l2": "euclidean", "ip": "dotproduct", "cosine": "cosine", "l1": "manhattan"}
METRIC_OPCLASS = {metric: op for op, metric in OPCLASS_METRIC.items()}
TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})
INT_TYPES = frozenset({"int2", "int4", "int8"})
JSON_TYPES = frozenset({"json", "jsonb"})
COMMENT_KEY = "vector_migrate"


def quoted(*names: str) -> str:
    """A name as SQL would spell it, for messages: ``"public"."my ""odd"" table"``."""
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


@dataclass(frozen=True)
class Extension:
    """Where pgvector's types live in this database, and their OIDs (extension OIDs vary)."""

    schema: str
    oids: dict[str, int]

    def type(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)


@dataclass(frozen=True)
class ColumnNames:
    """The column names a connector is configured with (``*_column`` options)."""

    id: str = "id"
    id_flag: str = "id_is_int"
    namespace: str = "namespace"
    vector: str = "embedding"
    sparse: str = "sparse_embedding"
    metadata: str = "metadata"
    explicit: frozenset[str] = frozenset()  # options the user set: those columns must exist
    text: str = ""  # the document text's column ("" = none: the text stays in the metadata)
    collections: str = ""  # the namespace column refers to this table's uuid/name (LangChain)
    metadata_fields: tuple[str, ...] = ()  # plain columns gathered as metadata (default: all)
    replace_by_id: bool = False  # no unique id: upsert = delete the ids, insert (LlamaIndex)


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str  # pg_type.typname: "int8", "vector", "_text", ...
    typmod: int
    not_null: bool

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.name)


@dataclass(frozen=True)
class TableLayout:
    schema: str
    table: str
    relid: int
    id: Column
    id_kind: str  # "text" | "int" | "uuid"
    id_flag: Column | None  # boolean: this text id was an integer
    namespace: Column | None
    dense: Column | None
    sparse: Column | None
    metadata: Column | None  # json/jsonb column; None: the remaining columns are the metadata
    extras: tuple[Column, ...]
    metric: str
    sparse_declared: bool
    conflict_key: tuple[str, ...] | None  # columns of the unique index upserts use
    names: ColumnNames  # the configured names, for messages about missing columns
    text: Column | None = None  # the document text, travelling as metadata key DOCUMENT_KEY
    collections: sql.Identifier | None = None  # the namespace is a name in this table (LangChain)
    data_dimension: int | None = None  # an untyped dense column: the dimension of its first row

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    @property
    def label(self) -> str:
        return f"table {quoted(self.schema, self.table)}"

    def column_label(self, column: Column) -> str:
        return f"{self.label} column {quoted(column.name)}"

    @property
    def dimension(self) -> int | None:
        """The column's declared dimension; for an untyped ``vector`` column (as LangChain creates
        them) the dimension of the data, read from a row."""
        if self.dense is not None and self.dense.typmod > 0:
            return self.dense.typmod
        return self.data_dimension

    @property
    def sparse_dimension(self) -> int:
        return self.sparse.typmod if self.sparse is not None and self.sparse.typmod > 0 else SPARSE_DIMENSION

    @property
    def half(self) -> bool:
        return self.dense is not None and self.dense.type_name == "halfvec"


def load_extension(conn: Connection) -> Extension | None:
    rows = conn.execute(
        """SELECT n.nspname, t.typname, t.oid::int8
           FROM pg_extension e
           JOIN pg_namespace n ON n.oid = e.extnamespace
           JOIN pg_type t ON t.typnamespace = e.extnamespace
           WHERE e.extname = 'vector' AND t.typname = ANY(%s)""",
        (list(VECTOR_TYPES),),
    ).fetchall()
    if not rows:
        return None
    return Extension(rows[0][0], {name: int(oid) for _, name, oid in rows})


def missing_extension(database: str) -> ConfigError:
    return ConfigError(
        f"pgvector: the 'vector' extension is not installed in database {database!r}; run "
        "CREATE EXTENSION vector; there (as a superuser or the database owner), then retry"
    )


def list_vector_tables(conn: Connection, schema: str, ext: Extension, id_column: str) -> list[str]:
    """Tables of ``schema`` this connector can read: a pgvector column and the id column."""
    rows = conn.execute(
        """SELECT c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relkind IN ('r', 'p')
             AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                         AND NOT a.attisdropped AND a.atttypid = ANY(%s))
             AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                         AND NOT a.attisdropped AND a.attname = %s)
           ORDER BY 1""",
        (schema, list(ext.oids.values()), id_column),
    ).fetchall()
    return [name for (name,) in rows]


def _relation(conn: Connection, schema: str, table: str) -> tuple[int, str, str | None] | None:
    return conn.execute(
        """SELECT c.oid::int8, c.relkind::text, obj_description(c.oid, 'pg_class')
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = %s AND c.relname = %s""",
        (schema, table),
    ).fetchone()


def _columns(conn: Connection, relid: int) -> list[Column]:
    rows = conn.execute(
        """SELECT a.attname, t.typname, a.atttypmod, a.attnotnull
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum""",
        (relid,),
    ).fetchall()
    return [Column(name, type_name, typmod, not_null) for name, type_name, typmod, not_null in rows]


def _index_metric(conn: Connection, relid: int, column: str) -> str | None:
    """The metric of a vector index on ``column``, from its operator class (vector_cosine_ops...)."""
    rows = conn.execute(
        """SELECT opc.opcname FROM pg_index i
           CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indclass::oid[]) AS k(attnum, opclass)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           JOIN pg_opclass opc ON opc.oid = k.opclass
           JOIN pg_class ic ON ic.oid = i.indexrelid
           JOIN pg_am am ON am.oid = ic.relam
           WHERE i.indrelid = %s AND a.attname = %s AND am.amname IN ('hnsw', 'ivfflat')
           ORDER BY i.indexrelid""",
        (relid, column),
    ).fetchall()
    for (opclass,) in rows:
        parts = opclass.split("_")
        if len(parts) >= 3 and parts[-1] == "ops" and parts[-2] in OPCLASS_METRIC:
            return OPCLASS_METRIC[parts[-2]]
    return None


def _unique_keys(conn: Connection, relid: int) -> list[tuple[str, ...]]:
    rows = conn.execute(
        """SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i
           CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
           WHERE i.indrelid = %s AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
           GROUP BY i.indexrelid, i.indisprimary ORDER BY i.indisprimary DESC, i.indexrelid""",
        (relid,),
    ).fetchall()
    return [tuple(names) for (names,) in rows]


def _comment(text: str | None) -> dict:
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError:
        return {}
    inner = value.get(COMMENT_KEY) if isinstance(value, dict) else None
    return inner if isinstance(inner, dict) else {}


def load_layout(conn: Connection, schema: str, table: str, names: ColumnNames, ext: Extension) -> TableLayout:
    """Read the table's shape; raise ``ConfigError`` naming what is missing and what to set."""
    relation = _relation(conn, schema, table)
    if relation is None:
        raise IndexNotFound("pgvector", f"{table} (no table {quoted(schema, table)})")
    relid, relkind, comment_text = relation
    label = f"table {quoted(schema, table)}"
    if relkind not in ("r", "m"):
        kind = "a partitioned table" if relkind == "p" else "not a plain table"
        raise ConfigError(
            f"pgvector: {label} is {kind}; read and write its partitions (plain tables) one by one"
        )
    columns = {c.name: c for c in _columns(conn, relid)}
    available = ", ".join(quoted(n) for n in columns)

    def named(
        option: str, name: str, types: frozenset[str] | tuple[str, ...], required: bool
    ) -> Column | None:
        column = columns.get(name)
        if column is None:
            if required or option in names.explicit:
                candidates = [quoted(c.name) for c in columns.values() if c.type_name in types]
                raise ConfigError(
                    f"pgvector: {label} has no column {quoted(name)} (columns of a suitable type: "
                    f"{', '.join(candidates) or 'none'}; all columns: {available}); "
                    f"set the {option!r} option to the right column"
                )
            return None
        if column.type_name not in types:
            raise ConfigError(
                f"pgvector: {label} column {quoted(name)} has type {column.type_name}, "
                f"but the {option!r} option needs one of: {', '.join(sorted(types))}"
            )
        return column

    id_column = named("id_column", names.id, TEXT_TYPES | INT_TYPES | {"uuid"}, True)
    assert id_column is not None
    id_kind = (
        "int" if id_column.type_name in INT_TYPES else "uuid" if id_column.type_name == "uuid" else "text"
    )
    flag = columns.get(names.id_flag)
    flag = flag if flag is not None and flag.type_name == "bool" and id_kind == "text" else None
    # A misnamed vector column must not make its vectors vanish: absent is fine only when the
    # table has no column of that kind at all.
    dense = named("vector_column", names.vector, DENSE_TYPES, _has_type(columns, DENSE_TYPES))
    sparse = named("sparse_column", names.sparse, ("sparsevec",), _has_type(columns, ("sparsevec",)))
    if dense is None and sparse is None:
        raise ConfigError(
            f"pgvector: {label} has no vector, halfvec or sparsevec column (its columns: {available})"
        )
    namespace_types = frozenset({"uuid"}) if names.collections else TEXT_TYPES
    namespace = named("namespace_column", names.namespace, namespace_types, False)
    gathered = names.metadata_fields
    metadata_name = names.metadata
    if len(gathered) == 1 and gathered[0] in columns and columns[gathered[0]].type_name in JSON_TYPES:
        metadata_name, gathered = gathered[0], ()  # one json column named as the metadata
    metadata = named("metadata_column", metadata_name, JSON_TYPES, False)
    text = named("text_column", names.text, TEXT_TYPES, True) if names.text else None
    used = {c.name for c in (id_column, flag, dense, sparse, namespace, metadata, text) if c is not None}
    for wanted in gathered:
        named("metadata_fields", wanted, tuple({c.type_name for c in columns.values()}), True)
    extras = tuple(
        c
        for c in columns.values()
        if c.name not in used
        and c.type_name not in VECTOR_TYPES
        and metadata is None
        and (not gathered or c.name in gathered)
    )
    comment = _comment(comment_text)
    metric = (
        (dense is not None and _index_metric(conn, relid, dense.name))
        or comment.get("metric")
        or (sparse is not None and _index_metric(conn, relid, sparse.name))
        or "cosine"
    )
    key_columns = {c.name for c in (namespace, id_column, flag) if c is not None}
    conflict = next(
        (key for key in _unique_keys(conn, relid) if id_column.name in key and set(key) <= key_columns), None
    )
    return TableLayout(
        schema=schema,
        table=table,
        relid=relid,
        id=id_column,
        id_kind=id_kind,
        id_flag=flag,
        namespace=namespace,
        dense=dense,
        sparse=sparse,
        metadata=metadata,
        extras=extras,
        metric=normalize_metric(metric),
        sparse_declared=bool(comment.get("sparse", sparse is not None)),
        conflict_key=conflict,
        names=names,
        text=text,
        collections=sql.Identifier(schema, names.collections) if names.collections else None,
        data_dimension=_data_dimension(conn, schema, table, dense),
    )


DIMENSION_SAMPLE = 1_000


def _data_dimension(conn: Connection, schema: str, table: str, dense: Column | None) -> int | None:
    """For a column declared without a dimension: the most common dimension among the first
    DIMENSION_SAMPLE rows with a dense vector (an odd first row does not decide it)."""
    if dense is None or dense.typmod > 0:
        return None
    row = conn.execute(
        sql.SQL(
            "SELECT d FROM (SELECT vector_dims({}) AS d FROM {} WHERE {} IS NOT NULL LIMIT {}) AS s "
            "GROUP BY d ORDER BY count(*) DESC, d LIMIT 1"
        ).format(dense.ident, sql.Identifier(schema, table), dense.ident, sql.Literal(DIMENSION_SAMPLE))
    ).fetchone()
    return None if row is None else int(row[0])


def _has_type(columns: dict[str, Column], types: tuple[str, ...]) -> bool:
    return any(c.type_name in types for c in columns.values())


def relation_pages(conn: Connection, layout: TableLayout) -> int:
    """Heap pages of the table now (its main fork's size over the block size)."""
    row = conn.execute(
        "SELECT pg_relation_size(%s::oid, 'main') / current_setting('block_size')::int8", (layout.relid,)
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class NewTable:
    """A table for ``create_table``: its shape and the ``vector_type``/``unlogged`` options."""

    schema: str
    table: str
    dimension: int | None
    metric: str
    sparse: bool
    vector_type: str = "vector"
    unlogged: bool = False


def create_table(conn: Connection, spec: NewTable, names: ColumnNames, ext: Extension) -> None:
    """Create the schema (if needed) and the table in vector-migrate's layout, in one transaction."""
    if spec.vector_type not in DENSE_TYPES:
        raise ConfigError(
            f"pgvector: vector_type must be one of {', '.join(DENSE_TYPES)}, not {spec.vector_type!r}"
        )
    if spec.dimension is not None and not 1 <= spec.dimension <= MAX_DIMENSION:
        raise ConfigError(
            f"pgvector: a {spec.vector_type} column holds 1 to {MAX_DIMENSION} dimensions, "
            f"not {spec.dimension}"
        )
    dense_type: sql.Composable = ext.type(spec.vector_type)
    if spec.dimension is not None:
        dense_type = sql.SQL("{}({})").format(dense_type, sql.Literal(spec.dimension))
    comment = json.dumps({COMMENT_KEY: {"metric": normalize_metric(spec.metric), "sparse": spec.sparse}})
    table = sql.Identifier(spec.schema, spec.table)
    ddl = sql.SQL(
        """CREATE {unlogged} TABLE {table} (
             {ns} text NOT NULL DEFAULT '',
             {id} text NOT NULL,
             {flag} boolean NOT NULL DEFAULT false,
             {dense} {dense_type},
             {sparse} {sparse_type}({sparse_dim}),
             {meta} jsonb,
             PRIMARY KEY ({ns}, {id}, {flag}))"""
    ).format(
        unlogged=sql.SQL("UNLOGGED" if spec.unlogged else ""),
        table=table,
        ns=sql.Identifier(names.namespace),
        id=sql.Identifier(names.id),
        flag=sql.Identifier(names.id_flag),
        dense=sql.Identifier(names.vector),
        dense_type=dense_type,
        sparse=sql.Identifier(names.sparse),
        sparse_type=ext.type("sparsevec"),
        sparse_dim=sql.Literal(SPARSE_DIMENSION),
        meta=sql.Identifier(names.metadata),
    )
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(spec.schema)))
        conn.execute(ddl)
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(comment)))


def has_vector_index(conn: Connection, layout: TableLayout) -> bool:
    """Whether the dense column already has an HNSW or IVFFlat index."""
    return layout.dense is not None and _index_metric(conn, layout.relid, layout.dense.name) is not None


def build_hnsw_index(conn: Connection, layout: TableLayout, ext: Extension) -> bool:
    """Build the HNSW index matching the table's metric on its dense column; False if one exists."""
    if layout.dense is None:
        return False
    if _index_metric(conn, layout.relid, layout.dense.name) is not None:
        return False
    kind = layout.dense.type_name
    limit = HNSW_MAX_DIMENSION[kind]
    if layout.dimension is None or layout.dimension > limit:
        raise ConfigError(
            f"pgvector: cannot build an HNSW index on {layout.column_label(layout.dense)}: HNSW indexes "
            f"{kind} columns of a fixed dimension up to {limit}"
            + (" (create the table with vector_type=halfvec for up to 4000)" if kind == "vector" else "")
        )
    opclass = ext.type(f"{kind}_{METRIC_OPCLASS[layout.metric]}_ops")
    with conn.transaction():
        conn.execute("SET LOCAL maintenance_work_mem = '512MB'")
        conn.execute(
            sql.SQL("CREATE INDEX ON {} USING hnsw ({} {})").format(layout.ident, layout.dense.ident, opclass)
        )
    return True
