"""How a LanceDB table holds records: the layout this project writes, and foreign tables.

Tables created here (``create_index``) have the columns

- ``namespace`` string, not null (``""`` is the default namespace): LanceDB has no namespaces,
  so they are a column, and every read, count, fetch and delete filters on it;
- ``id`` string and ``id_is_int`` bool, not null: ids keep their kind (``7`` and ``"7"`` are
  different records), as in the Parquet layout;
- ``vector`` ``fixed_size_list<float32>[dimension]``: LanceDB's vector type;
- ``sparse_values`` struct of ``indices`` list<uint32> and ``values`` list<float32>, null for a
  record without one: LanceDB has no sparse index, so sparse vectors are kept as data;
- ``metadata`` string: the record's metadata as JSON text.

LanceDB stores no distance metric per table, so the one asked for at creation is kept in the
Arrow schema's metadata (key ``vector_migrate``) with the dimension and the sparse flag.

Any other table (one a LanceDB user made with ``db.create_table(name, data=[...])``) is read
through a ``FieldMapping`` (field options apply to such tables only): the vector column found
by type (or ``vector_field``), the id column ``id`` (or ``id_field``), an optional namespace
column, and every other column as a metadata key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from io_connectors.core.contract import normalize_metric
from io_connectors.core.errors import ConfigError
from io_connectors.core.fields import DOCUMENT_KEY, FieldMapping

SCHEMA_KEY = b"vector_migrate"
LAYOUT_FORMAT = "vector-migrate/lancedb/1"
NAMESPACE, ID, ID_IS_INT, VECTOR, SPARSE, METADATA = (
    "namespace",
    "id",
    "id_is_int",
    "vector",
    "sparse_values",
    "metadata",
)
MERGE_KEYS = [NAMESPACE, ID, ID_IS_INT]
SPARSE_TYPE = pa.struct([("indices", pa.list_(pa.uint32())), ("values", pa.list_(pa.float32()))])
DEFAULT_METRIC = "cosine"


def table_schema(dimension: int, metric: str, sparse: bool) -> pa.Schema:
    """The schema of a table this project creates, with its description in the metadata."""
    description = {
        "format": LAYOUT_FORMAT,
        "dimension": dimension,
        "metric": normalize_metric(metric),
        "sparse": sparse,
    }
    return pa.schema(
        [
            pa.field(NAMESPACE, pa.string(), nullable=False),
            pa.field(ID, pa.string(), nullable=False),
            pa.field(ID_IS_INT, pa.bool_(), nullable=False),
            pa.field(VECTOR, pa.list_(pa.float32(), dimension)),
            pa.field(SPARSE, SPARSE_TYPE),
            pa.field(METADATA, pa.string()),
        ],
        metadata={SCHEMA_KEY: json.dumps(description).encode()},
    )


@dataclass(frozen=True)
class Layout:
    """Which column holds each part of a record, and what the table says about itself."""

    native: bool
    id_column: str
    vector_column: str
    dimension: int | None
    metric: str
    metric_declared: bool
    sparse: bool
    namespace_column: str | None = None
    sparse_column: str | None = None
    metadata_columns: tuple[str, ...] = ()
    text_column: str | None = None
    metric_source: str | None = None  # where a foreign table's metric was found, if anywhere

    @property
    def columns(self) -> list[str]:
        """The columns a read needs (the namespace column is filtered on, not read)."""
        names = [self.id_column, self.vector_column]
        if self.native:
            return [*names, ID_IS_INT, SPARSE, METADATA]
        extra = [self.sparse_column, self.text_column, *self.metadata_columns]
        return names + [c for c in extra if c and c not in names]

    def details(self) -> dict[str, object]:
        details: dict[str, object] = {
            "layout": LAYOUT_FORMAT if self.native else "foreign",
            "vector_column": self.vector_column,
            "id_column": self.id_column,
            "namespace_column": self.namespace_column,
        }
        if self.metric_source is not None:
            details["metric_source"] = self.metric_source
        elif not self.metric_declared:
            details["metric_note"] = (
                "LanceDB stores no metric per table; this table was not created by vector-migrate "
                f"and has no vector index, so {self.metric!r} is assumed"
            )
        return details


def layout_of(table: str, schema: pa.Schema, fields: FieldMapping) -> Layout:
    """Read a table's layout from its Arrow schema (ours when it carries our description)."""
    description = _description(schema)
    if description.get("format") == LAYOUT_FORMAT:
        return Layout(
            native=True,
            id_column=ID,
            vector_column=VECTOR,
            dimension=int(description["dimension"]),
            metric=description.get("metric", DEFAULT_METRIC),
            metric_declared=True,
            sparse=bool(description.get("sparse")),
            namespace_column=NAMESPACE,
            sparse_column=SPARSE,
        )
    return _foreign_layout(table, schema, fields)


def _description(schema: pa.Schema) -> dict:
    raw = (schema.metadata or {}).get(SCHEMA_KEY)
    try:
        description = json.loads(raw) if raw is not None else {}
    except ValueError:
        return {}
    return description if isinstance(description, dict) else {}


def _foreign_layout(table: str, schema: pa.Schema, fields: FieldMapping) -> Layout:
    names = schema.names
    vector = fields.vector_field or _find_vector_column(table, schema)
    id_column = fields.id_field or "id"
    namespace = fields.namespace_field or (NAMESPACE if NAMESPACE in names else None)
    sparse = fields.sparse_field or (SPARSE if SPARSE in names else None)
    for role, name in (("vector", vector), ("id", id_column), ("namespace", namespace), ("sparse", sparse)):
        if name is not None and name not in names:
            hint = " (name it with id_field)" if role == "id" else ""
            raise ConfigError(
                f"lancedb: table {table!r} has no {role} column {name!r}{hint}; "
                f"its columns: {', '.join(names)}"
            )
    if sparse is not None and not _is_sparse_type(schema.field(sparse).type):
        raise ConfigError(
            f"lancedb: column {sparse!r} of table {table!r} is not a struct of 'indices' and 'values' lists"
        )
    id_type = schema.field(id_column).type
    if not (pa.types.is_integer(id_type) or pa.types.is_string(id_type) or pa.types.is_large_string(id_type)):
        raise ConfigError(
            f"lancedb: id column {id_column!r} of table {table!r} has type {id_type}; "
            "ids must be integers or strings"
        )
    vector_type = schema.field(vector).type
    if not _is_vector_type(vector_type):
        raise ConfigError(
            f"lancedb: column {vector!r} of table {table!r} is {vector_type}, not a float vector"
        )
    taken = {vector, id_column, namespace, sparse, fields.text_field}
    if fields.metadata_fields is not None:
        missing = [f for f in fields.metadata_fields if f not in names]
        if missing:
            raise ConfigError(
                f"lancedb: table {table!r} has no column(s) {', '.join(missing)} for metadata_fields"
            )
        metadata = tuple(f for f in fields.metadata_fields if f not in taken)
    else:
        metadata = tuple(n for n in names if n not in taken)
    if fields.text_field is not None and fields.text_field not in names:
        raise ConfigError(f"lancedb: table {table!r} has no text column {fields.text_field!r}")
    if fields.text_field not in (None, DOCUMENT_KEY) and DOCUMENT_KEY in metadata:
        raise ConfigError(
            f"lancedb: table {table!r} has a column {DOCUMENT_KEY!r} and text_field {fields.text_field!r}; "
            f"both would be the metadata key {DOCUMENT_KEY!r} (leave one out with metadata_fields)"
        )
    return Layout(
        native=False,
        id_column=id_column,
        vector_column=vector,
        dimension=vector_type.list_size if pa.types.is_fixed_size_list(vector_type) else None,
        metric=DEFAULT_METRIC,
        metric_declared=False,
        sparse=sparse is not None,
        namespace_column=namespace,
        sparse_column=sparse,
        metadata_columns=metadata,
        text_column=fields.text_field,
    )


def _find_vector_column(table: str, schema: pa.Schema) -> str:
    """The column named ``vector`` if it is one, else the only fixed-size float list."""
    if VECTOR in schema.names and _is_vector_type(schema.field(VECTOR).type):
        return VECTOR
    found = [
        f.name
        for f in schema
        if pa.types.is_fixed_size_list(f.type) and pa.types.is_floating(f.type.value_type)
    ]
    if len(found) == 1:
        return found[0]
    what = "several vector columns " + ", ".join(found) if found else "no fixed-size float vector column"
    raise ConfigError(f"lancedb: table {table!r} has {what}; name one with vector_field")


def _is_vector_type(kind: pa.DataType) -> bool:
    lists = pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)
    return lists and pa.types.is_floating(kind.value_type)


def _is_sparse_type(kind: pa.DataType) -> bool:
    return pa.types.is_struct(kind) and {kind.field(i).name for i in range(kind.num_fields)} >= {
        "indices",
        "values",
    }
