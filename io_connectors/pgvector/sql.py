"""The statements the pgvector connector runs, composed from a ``TableLayout``.

Every read and fetch selects the same row shape (codec's PAGE..META): the page of the
row, namespace, id, integer-id flag, dense, sparse and metadata. A table without a namespace
column reads as the single namespace ""; without a metadata column, the remaining columns are
gathered server-side into one jsonb object, so PostgreSQL itself converts their values:
timestamps and dates become ISO 8601 strings (timestamptz in UTC), numbers stay numbers
(numeric written without a decimal point reads as an int, numeric(10,2)'s 3.00 as the float
3.0), arrays become lists, uuid and other types their text form, and bytea becomes base64 text.
NULL columns are left out of the metadata.

Values are composed into statements as literals, never sent as parameters: with parameters
psycopg parses the statement for placeholders, and a '%' in a (quoted) table or column name
would break it. Names are always ``sql.Identifier``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from io_connectors.core.contract import ChangedSince
from io_connectors.core.fields import DOCUMENT_KEY
from io_connectors.core.records import IdValue
from io_connectors.pgvector.codec import STAGE_COLUMNS, is_uuid
from io_connectors.pgvector.schema import Column, TableLayout

# Staging tables, per session: dense vectors up to PLAIN_STAGE_MAX_DIMENSION stay inline (no TOAST
# round trip); wider ones could not fit a page that way and go to a second table.
STAGES = {
    True: sql.Identifier("pg_temp", "vector_migrate_stage"),
    False: sql.Identifier("pg_temp", "vector_migrate_stage_wide"),
}
PLAIN_STAGE_MAX_DIMENSION = 1_900
_JSONB_BUILD_MAX_PAIRS = 50  # jsonb_build_object takes at most 100 arguments
TEXT_TYPE = "text"
_ID_CASTS = {"int": sql.SQL("bigint"), "uuid": sql.SQL("uuid")}


def _as_text(column: Column) -> sql.Composable:
    """Text-like and uuid columns as ``text`` (psycopg has no binary loader for e.g. citext)."""
    return column.ident if column.type_name == "text" else sql.SQL("{}::text").format(column.ident)


def namespace_expr(layout: TableLayout) -> sql.Composable:
    """The row's namespace: NULL namespaces read as the default namespace ""."""
    if layout.namespace is None:
        return sql.SQL("''::text")
    if layout.collections is not None:  # LangChain: the name of the row's collection
        return sql.SQL("coalesce((SELECT c.name FROM {} AS c WHERE c.uuid = {}.{}), '')::text").format(
            layout.collections, layout.ident, layout.namespace.ident
        )
    if layout.namespace.not_null:
        return _as_text(layout.namespace)
    return sql.SQL("coalesce({}, '')").format(_as_text(layout.namespace))


def _id_expr(layout: TableLayout) -> sql.Composable:
    return layout.id.ident if layout.id_kind == "int" else _as_text(layout.id)


def _extra_expr(column: Column) -> sql.Composable:
    if column.type_name == "bytea":
        return sql.SQL("translate(encode({}, 'base64'), E'\\n', '')").format(column.ident)
    return column.ident


def _metadata_expr(layout: TableLayout) -> sql.Composable:
    if layout.metadata is not None:
        if layout.metadata.type_name == "json":
            return sql.SQL("{}::jsonb").format(layout.metadata.ident)
        return layout.metadata.ident
    if not layout.extras:
        return sql.SQL("NULL::jsonb")
    objects = []
    for lo in range(0, len(layout.extras), _JSONB_BUILD_MAX_PAIRS):
        pairs = [
            sql.SQL("{}, {}").format(sql.Literal(c.name), _extra_expr(c))
            for c in layout.extras[lo : lo + _JSONB_BUILD_MAX_PAIRS]
        ]
        objects.append(sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs)))
    return sql.SQL(" || ").join(objects)


def select_list(layout: TableLayout) -> sql.Composable:
    """page, namespace, id, integer-id flag, dense, sparse, metadata, document text."""
    null = sql.SQL("NULL")
    return sql.SQL(", ").join(
        [
            sql.SQL("ctid"),
            namespace_expr(layout),
            _id_expr(layout),
            layout.id_flag.ident if layout.id_flag is not None else sql.SQL("false"),
            layout.dense.ident if layout.dense is not None else null,
            layout.sparse.ident if layout.sparse is not None else null,
            _metadata_expr(layout),
            _as_text(layout.text) if layout.text is not None else sql.SQL("NULL::text"),
        ]
    )


def _row_filter(layout: TableLayout, namespace: str | None) -> list[sql.Composable]:
    """``namespace`` (unless None) filters on it. Rows without an id are read and counted: the
    reader reports each as a failed record (by its page), never dropping it silently."""
    conditions: list[sql.Composable] = []
    if namespace is not None:
        conditions.append(sql.SQL("{} = {}").format(namespace_expr(layout), sql.Literal(namespace)))
    return conditions


def _where(conditions: list[sql.Composable]) -> sql.Composable:
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")


def _tid(page: int) -> sql.Composable:
    return sql.SQL("{}::tid").format(sql.Literal(f"({int(page)},0)"))


def changed_filter(layout: TableLayout, changed: ChangedSince) -> sql.Composable | None:
    """The ``ChangedSince`` hint as a condition: rows whose field is missing, of another JSON type
    or after the watermark. Strings compare in the "C" collation (code point order, as Python
    compares them), numbers as jsonb numerics; other watermark types push nothing down."""
    value = _metadata_expr(layout)
    field = sql.Literal(changed.field)
    text, number = changed.text, changed.number
    if text is not None:
        string_test = sql.SQL('(({})->>{}) COLLATE "C" > {}')
        kind, test = "string", string_test.format(value, field, sql.Literal(text))
    elif number is not None:
        number_test = sql.SQL("(({})->{}) > {}::jsonb")
        kind, test = "number", number_test.format(value, field, sql.Literal(repr(number)))
    else:
        return None
    return sql.SQL("(({v})->{f} IS NULL OR jsonb_typeof(({v})->{f}) <> {k} OR {test})").format(
        v=value, f=field, k=sql.Literal(kind), test=test
    )


def read_pages(
    layout: TableLayout,
    namespace: str | None,
    first: int,
    stop: int | None,
    changed: ChangedSince | None = None,
) -> sql.Composed:
    """Rows on pages [first, stop) by a TID range scan; ``stop`` None: every page from ``first``;
    with ``changed``, only the rows that hint may want (see ``changed_filter``)."""
    conditions = [sql.SQL("ctid >= {}").format(_tid(first)), *_row_filter(layout, namespace)]
    if stop is not None:
        conditions.append(sql.SQL("ctid < {}").format(_tid(stop)))
    narrowed = changed_filter(layout, changed) if changed is not None else None
    if narrowed is not None:
        conditions.append(narrowed)
    return sql.SQL("SELECT {} FROM {} {}").format(select_list(layout), layout.ident, _where(conditions))


def counts(layout: TableLayout, namespace: str | None = None) -> sql.Composed:
    """Exact record counts per namespace (of one namespace, when given)."""
    return sql.SQL("SELECT {ns}, count(*) FROM {table} {where} GROUP BY 1").format(
        ns=namespace_expr(layout), table=layout.ident, where=_where(_row_filter(layout, namespace))
    )


def key_match(layout: TableLayout, ids: Sequence[IdValue]) -> sql.Composable | None:
    """A condition matching ``ids`` in the table's id column; None when none of them can match."""
    if layout.id_flag is not None:
        if not ids:
            return None
        return sql.SQL("({}, {}) IN (SELECT * FROM unnest({}::text[], {}::boolean[]))").format(
            layout.id.ident,
            layout.id_flag.ident,
            sql.Literal([str(i) for i in ids]),
            sql.Literal([isinstance(i, int) for i in ids]),
        )
    if layout.id_kind == "int":
        wanted: list[Any] = [i for i in ids if isinstance(i, int) and -(2**63) <= i < 2**63]
    elif layout.id_kind == "uuid":
        wanted = [i for i in ids if isinstance(i, str) and is_uuid(i)]
    else:
        wanted = [i for i in ids if isinstance(i, str)]
    if not wanted:
        return None
    cast = _ID_CASTS.get(layout.id_kind, sql.SQL("text"))
    return sql.SQL("{} = ANY({}::{}[])").format(layout.id.ident, sql.Literal(wanted), cast)


def fetch(layout: TableLayout, namespace: str, match: sql.Composable) -> sql.Composed:
    return sql.SQL("SELECT {} FROM {} {}").format(
        select_list(layout), layout.ident, _where([*_row_filter(layout, namespace), match])
    )


def delete(layout: TableLayout, namespace: str, match: sql.Composable | None) -> sql.Composed:
    """Delete the matching rows of ``namespace`` (all of them when ``match`` is None)."""
    conditions = _row_filter(layout, namespace) + ([match] if match is not None else [])
    return sql.SQL("DELETE FROM {} {}").format(layout.ident, _where(conditions))


def inline_stage(dimension: int | None) -> bool:
    return dimension is None or dimension <= PLAIN_STAGE_MAX_DIMENSION


def create_stage(
    inline: bool, vector_type: sql.Identifier, sparse_type: sql.Identifier
) -> list[sql.Composed]:
    """A staging table whatever the target, emptied at every commit."""
    stage = STAGES[inline]
    statements = [
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (ns text, id text, id_is_int boolean, meta jsonb, "
            "sparse {}, dense {}) ON COMMIT DELETE ROWS"
        ).format(stage, sparse_type, vector_type)
    ]
    if inline:
        statements.append(sql.SQL("ALTER TABLE {} ALTER COLUMN dense SET STORAGE PLAIN").format(stage))
    return statements


def copy_stage(inline: bool) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        STAGES[inline], sql.SQL(", ").join(map(sql.Identifier, STAGE_COLUMNS))
    )


def direct_copy(layout: TableLayout) -> sql.Composed | None:
    """``COPY`` straight into the table, its columns in the staging table's order, when they take
    the staged binary fields as they are (a table as ``create_table`` makes it: text namespace and
    id, boolean flag, jsonb metadata, sparsevec and vector columns, a unique key to detect a
    conflict); None otherwise: application layouts, casts and other types go through the stage."""
    wanted = (
        (layout.namespace, TEXT_TYPE),
        (layout.id, TEXT_TYPE),
        (layout.id_flag, "bool"),
        (layout.metadata, "jsonb"),
        (layout.sparse, "sparsevec"),
        (layout.dense, "vector"),
    )
    if (
        layout.conflict_key is None
        or layout.collections is not None
        or layout.text is not None
        or any(column is None or column.type_name != type_name for column, type_name in wanted)
    ):
        return None
    columns = sql.SQL(", ").join(column.ident for column, _ in wanted if column is not None)
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(layout.ident, columns)


def upsert(layout: TableLayout, inline: bool) -> list[sql.Composed]:
    """Move the staged rows into the table: an existing (namespace, id) is overwritten, never doubled.

    Tables without a unique id (LlamaIndex's) get their staged ids deleted, then inserted; a
    namespace that is a collection (LangChain's) gets its collection row first."""
    targets = _targets(layout)
    statements: list[sql.Composed] = []
    if layout.collections is not None:
        statements.append(
            sql.SQL(
                "INSERT INTO {} (uuid, name) SELECT gen_random_uuid(), ns "
                "FROM (SELECT DISTINCT ns FROM {}) AS n ON CONFLICT (name) DO NOTHING"
            ).format(layout.collections, STAGES[inline])
        )
    insert = sql.SQL("INSERT INTO {table} ({columns}) SELECT {values} FROM {stage} AS s").format(
        table=layout.ident,
        columns=sql.SQL(", ").join(c.ident for c, _ in targets),
        values=sql.SQL(", ").join(v for _, v in targets),
        stage=STAGES[inline],
    )
    if layout.conflict_key is None:
        assert layout.names.replace_by_id
        statements.append(
            sql.SQL("DELETE FROM {} WHERE {} IN (SELECT id FROM {})").format(
                layout.ident, layout.id.ident, STAGES[inline]
            )
        )
        return [*statements, insert]
    updated = [c for c, _ in targets if c.name not in layout.conflict_key]
    action = (
        sql.SQL("DO UPDATE SET ")
        + sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(c.ident) for c in updated)
        if updated
        else sql.SQL("DO NOTHING")
    )
    key = sql.SQL(", ").join(map(sql.Identifier, layout.conflict_key))
    return [*statements, insert + sql.SQL(" ON CONFLICT ({}) {}").format(key, action)]


def _targets(layout: TableLayout) -> list[tuple[Column, sql.Composable]]:
    """Each column written and the staged value it gets."""
    targets: list[tuple[Column, sql.Composable]] = [(layout.id, _stage_id(layout))]
    if layout.namespace is not None and layout.collections is not None:
        targets.append(
            (
                layout.namespace,
                sql.SQL("(SELECT c.uuid FROM {} AS c WHERE c.name = s.ns)").format(layout.collections),
            )
        )
    elif layout.namespace is not None:
        targets.append((layout.namespace, sql.SQL("s.ns")))
    if layout.id_flag is not None:
        targets.append((layout.id_flag, sql.SQL("s.id_is_int")))
    if layout.dense is not None:
        targets.append((layout.dense, sql.SQL("s.dense")))
    if layout.sparse is not None:
        targets.append((layout.sparse, sql.SQL("s.sparse")))
    meta: sql.Composable = sql.SQL("s.meta")
    if layout.text is not None:  # the document text leaves the metadata for its own column
        key = sql.Literal(DOCUMENT_KEY)
        targets.append((layout.text, sql.SQL("s.meta ->> {}").format(key)))
        meta = sql.SQL("(s.meta - {})").format(key)
    if layout.metadata is not None:
        targets.append(
            (layout.metadata, meta + sql.SQL("::json") if layout.metadata.type_name == "json" else meta)
        )
    return targets


def _stage_id(layout: TableLayout) -> sql.Composable:
    cast = _ID_CASTS.get(layout.id_kind)
    return sql.SQL("s.id") if cast is None else sql.SQL("CAST(s.id AS {})").format(cast)
