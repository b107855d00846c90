"""Tables as applications create them: LangChain's PGVector and LlamaIndex's PGVectorStore.

``layout=langchain`` (langchain-postgres ``PGVector``): two tables, ``langchain_pg_collection``
(``uuid`` primary key, ``name`` unique, ``cmetadata`` json) and ``langchain_pg_embedding`` (``id``
varchar primary key, ``collection_id`` uuid referencing a collection, ``embedding vector`` (often
without a dimension), ``document`` varchar, ``cmetadata`` jsonb). The index is the embedding
table; a record's namespace is its collection's name, its document the metadata key ``text``.

``layout=llamaindex`` (llama-index-vector-stores-postgres ``PGVectorStore``): one table
``data_<table_name>`` (``id`` bigserial primary key, ``text`` varchar NOT NULL, ``metadata_``
json (jsonb with its use_jsonb), ``node_id`` varchar, ``embedding vector(dim)``). The index is LlamaIndex's
``table_name`` (the table is ``data_`` + it); ids are ``node_id``, which has no unique index, so
a write replaces the rows of its ids (delete, then insert, in one transaction). No namespaces.

The DDL below is what those libraries' SQLAlchemy models emit (langchain-postgres 0.0.19
``vectorstores._get_embedding_collection_store``; llama-index-vector-stores-postgres 0.9.0
``base.get_data_model`` without hybrid search), so the frameworks open the tables written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import Connection, sql

from io_connectors.core.errors import ConfigError
from io_connectors.pgvector.schema import Extension

LANGCHAIN_COLLECTIONS = "langchain_pg_collection"
LANGCHAIN_EMBEDDINGS = "langchain_pg_embedding"
LLAMAINDEX_PREFIX = "data_"

# Each layout's column options; the user's own options win over these.
PRESETS: dict[str, dict[str, Any]] = {
    "native": {},
    "langchain": {
        "id_column": "id",
        "vector_column": "embedding",
        "text_column": "document",
        "metadata_column": "cmetadata",
        "namespace_column": "collection_id",
    },
    "llamaindex": {
        "id_column": "node_id",
        "vector_column": "embedding",
        "text_column": "text",
        "metadata_column": "metadata_",
    },
}


def with_preset(layout: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` completed with the layout's column names."""
    return {**PRESETS[layout], **options}


def table_for(layout: str, index: str) -> str:
    """The table holding ``index``: LlamaIndex prefixes its ``table_name`` with ``data_``."""
    return LLAMAINDEX_PREFIX + index if layout == "llamaindex" else index


def index_for(layout: str, table: str) -> str | None:
    """The index a table holds under ``layout`` (None: not one of this layout's tables)."""
    if layout == "llamaindex":
        return table[len(LLAMAINDEX_PREFIX) :] if table.startswith(LLAMAINDEX_PREFIX) else None
    if layout == "langchain" and table == LANGCHAIN_COLLECTIONS:
        return None
    return table


def create_app_tables(
    conn: Connection, layout: str, schema: str, table: str, dimension: int | None, ext: Extension
) -> None:
    """Create ``layout``'s tables (``table`` is the one holding the vectors), in one transaction."""
    if dimension is None:
        raise ConfigError(f"pgvector: layout={layout} tables hold dense vectors; the source has none")
    vector = sql.SQL("{}({})").format(ext.type("vector"), sql.Literal(dimension))
    target = sql.Identifier(schema, table)
    if layout == "langchain":
        collections = sql.Identifier(schema, LANGCHAIN_COLLECTIONS)
        statements = [
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (uuid UUID NOT NULL, name VARCHAR NOT NULL, cmetadata JSON, "
                "PRIMARY KEY (uuid), UNIQUE (name))"
            ).format(collections),
            sql.SQL(
                "CREATE TABLE {} (id VARCHAR NOT NULL, collection_id UUID, embedding {}, document VARCHAR, "
                "cmetadata JSONB, PRIMARY KEY (id), "
                "FOREIGN KEY (collection_id) REFERENCES {} (uuid) ON DELETE CASCADE)"
            ).format(target, vector, collections),
            sql.SQL("CREATE INDEX {} ON {} USING gin (cmetadata jsonb_path_ops)").format(
                sql.Identifier("ix_cmetadata_gin" if table == LANGCHAIN_EMBEDDINGS else f"ix_{table}_gin"),
                target,
            ),
        ]
    elif layout == "llamaindex":
        name = table[len(LLAMAINDEX_PREFIX) :]
        statements = [
            sql.SQL(
                "CREATE TABLE {} (id BIGSERIAL NOT NULL, text VARCHAR NOT NULL, metadata_ JSON, "
                "node_id VARCHAR, embedding {}, PRIMARY KEY (id))"
            ).format(target, vector),
            sql.SQL("CREATE INDEX {} ON {} ((metadata_ ->> 'ref_doc_id'))").format(
                sql.Identifier(f"{name}_idx_1"), target
            ),
        ]
    else:
        raise ConfigError(f"pgvector: layout {layout!r} has no tables of its own")
    with conn.transaction():
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for statement in statements:
            conn.execute(statement)
