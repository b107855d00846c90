"""Before any data moves: does a source shaped like this fit the target table?

Refusals that depend only on the schema are made here, once, naming the table and the column,
instead of per record after the load has started:

- a new table with ``create_index``: HNSW needs a fixed dimension within its limit;
- an existing table: a NOT NULL column without a default that the migration writes nothing into
  (every row would be refused); a nullable column it writes nothing into (every row would leave
  it NULL, e.g. an application's ``document`` column: accept that explicitly with
  ``ignore_columns=a,b``); no column for the source's dense or sparse vectors or its
  namespaces; ``create_index`` on a column HNSW cannot index.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection

from io_connectors.core.contract import IndexInfo
from io_connectors.core.errors import ConfigError
from io_connectors.pgvector.schema import HNSW_MAX_DIMENSION, TableLayout, quoted


@dataclass(frozen=True)
class TargetColumn:
    name: str
    type_name: str
    not_null: bool
    filled_by_server: bool  # a default, an identity or a generated column


def target_columns(conn: Connection, relid: int) -> list[TargetColumn]:
    rows = conn.execute(
        """SELECT a.attname, t.typname, a.attnotnull,
                  a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""",
        (relid,),
    ).fetchall()
    return [TargetColumn(*row) for row in rows]


def hnsw_refusal(vector_type: str, dimension: int | None) -> str | None:
    """Why ``create_index`` cannot build an HNSW index on a ``vector_type`` of ``dimension``."""
    limit = HNSW_MAX_DIMENSION.get(vector_type)
    if limit is None:
        return None
    if dimension is None:
        return (
            f"create_index asks for an HNSW index, which needs a {vector_type} column of a fixed "
            "dimension; the source's vectors have none declared (leave create_index off, or declare "
            "the dimension in the source, e.g. vector(384))"
        )
    if dimension > limit:
        return (
            f"create_index asks for an HNSW index, which takes {vector_type} columns of up to {limit} "
            f"dimensions; the source has {dimension}"
            + (" (vector_type=halfvec allows up to 4000)" if vector_type == "vector" else "")
        )
    return None


def check_new_table(vector_type: str, build_index: bool, source: IndexInfo) -> None:
    reason = hnsw_refusal(vector_type, source.dimension) if build_index else None
    if reason:
        raise ConfigError(f"pgvector: {reason}")


def check_existing_table(
    layout: TableLayout,
    columns: list[TargetColumn],
    source: IndexInfo,
    build_index: bool,
    indexed: bool,
    ignore_columns: frozenset[str],
) -> None:
    """Raise one ``ConfigError`` listing every way the table does not fit what will be written."""
    written = {
        c.name
        for c in (
            layout.id,
            layout.id_flag,
            layout.namespace,
            layout.dense,
            layout.sparse,
            layout.metadata,
            layout.text,  # an application layout's document column (LangChain, LlamaIndex)
        )
        if c is not None
    }
    problems: list[str] = []
    unfilled = [c for c in columns if c.name not in written and not c.filled_by_server]
    required = [c for c in unfilled if c.not_null]
    for column in required:
        problems.append(
            f"column {quoted(column.name)} ({column.type_name}) is NOT NULL without a default, and the "
            "migration writes nothing into it, so every row would be refused"
        )
    left_null = [c.name for c in unfilled if not c.not_null and c.name not in ignore_columns]
    if left_null:
        problems.append(
            f"column(s) {', '.join(map(quoted, left_null))} would be left NULL in every row written "
            f"(the migration writes {', '.join(map(quoted, sorted(written)))}); set the column options "
            f"to write into them, or accept the NULLs with ignore_columns={','.join(left_null)}"
        )
    if source.dimension and layout.dense is None:
        problems.append(f"the source has dense vectors but the table has no column {layout.names.vector!r}")
    if source.sparse and layout.sparse is None:
        problems.append(
            f"the source has sparse vectors but the table has no sparsevec column "
            f"{layout.names.sparse!r} (set sparse_column, or add one)"
        )
    named = sorted(ns for ns, count in source.namespaces.items() if ns and count)
    if layout.namespace is None and named:
        names = ", ".join(map(repr, named))
        problems.append(
            f"the source's namespaces {names} have no column {layout.names.namespace!r} to go to "
            "(map them to the default namespace '' or add the column)"
        )
    if build_index and layout.dense is not None and not indexed:
        reason = hnsw_refusal(layout.dense.type_name, layout.dimension)
        if reason:
            problems.append(reason.replace("the source's vectors", f"column {quoted(layout.dense.name)}"))
    if problems:
        raise ConfigError(f"pgvector: {layout.label} does not fit this migration: " + "; ".join(problems))
