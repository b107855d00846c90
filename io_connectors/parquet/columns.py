"""Foreign Parquet columns -> the canonical Arrow columns ``VectorBatch.from_arrow`` decodes.

The canonical columns are ``id`` (string), ``id_is_int`` (bool), ``values`` (list<float32>),
``sparse_values`` (struct of ``indices`` list<uint32> and ``values`` list<float32>) and
``metadata`` (a JSON string). A ``ColumnPlan`` says which foreign column feeds each of them; it
is checked once per file schema, and a missing column or a column of a type that cannot hold
that part is a dataset-level ``ConfigError`` naming the file and the column.

Problems of single rows stay data: a null or ragged vector stays null or ragged, a metadata
string that is not JSON stays that string, a null id stays null. The record decoder reports such
a row by its id while its neighbours migrate; normalising never raises for them.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from io_connectors.core.errors import ConfigError
from io_connectors.core.fields import DOCUMENT_KEY, FieldMapping

CANONICAL_VALUES = pa.list_(pa.float32())
CANONICAL_SPARSE = pa.struct([("indices", pa.list_(pa.uint32())), ("values", pa.list_(pa.float32()))])
METADATA_JSON_COLUMN = "metadata"
ID_FLAG_COLUMN = "id_is_int"


@dataclass(frozen=True)
class ColumnPlan:
    """Which columns of a file make each part of a record.

    ``metadata_json``: a JSON-string column whose objects are the base metadata;
    ``metadata_columns``: columns added to it as keys (their values as JSON values);
    ``text``: the column that becomes metadata key ``DOCUMENT_KEY``.
    """

    id: str
    values: str | None
    sparse: str | None
    text: str | None
    namespace: str | None
    metadata_json: str | None
    metadata_columns: tuple[str, ...]

    @property
    def read_columns(self) -> list[str]:
        names = [self.id, self.values, self.sparse, self.text, self.namespace, self.metadata_json]
        return list(dict.fromkeys([n for n in names if n] + list(self.metadata_columns)))

    @classmethod
    def for_schema(
        cls,
        schema: pa.Schema,
        fields: FieldMapping,
        where: str,
        vector_column: str | None = None,
        id_column: str | None = None,
        extra_columns_are_metadata: bool = True,
    ) -> ColumnPlan:
        """Resolve the mapping against one file's schema; ``where`` names the file in errors.

        ``vector_column``/``id_column`` are the dataset's own defaults (a VDF folder names its
        vector column); explicit field options win over them. With
        ``extra_columns_are_metadata`` False (Pinecone's import layout), unmapped columns are
        ignored as Pinecone's import ignores them.
        """
        names = schema.names
        id_name = _require(schema, fields.id_field or id_column or "id", "id_field", where)
        sparse = fields.sparse_field or ("sparse_values" if "sparse_values" in names else None)
        values: str | None = fields.vector_field or vector_column or "values"
        if values not in names and not fields.vector_field and sparse is not None:
            values = None  # a sparse-only index, as Pinecone's import lays it out
        values_name = _require(schema, values, "vector_field", where) if values else None
        if values_name is not None:
            _check_vector_type(schema.field(values_name), where)
        if sparse is not None:
            _require(schema, sparse, "sparse_field", where)
            _check_sparse_type(schema.field(sparse), where)
        text = _require(schema, fields.text_field, "text_field", where) if fields.text_field else None
        namespace = (
            _require(schema, fields.namespace_field, "namespace_field", where)
            if fields.namespace_field
            else None
        )
        mapped = {id_name, values_name, sparse, text, namespace, ID_FLAG_COLUMN}
        metadata_json = None
        if METADATA_JSON_COLUMN not in mapped and METADATA_JSON_COLUMN in names:
            kind = schema.field(METADATA_JSON_COLUMN).type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                metadata_json = METADATA_JSON_COLUMN
        if fields.metadata_fields is not None:
            columns = tuple(
                _require(schema, name, "metadata_fields", where) for name in fields.metadata_fields
            )
            if METADATA_JSON_COLUMN not in fields.metadata_fields:
                metadata_json = None
            columns = tuple(c for c in columns if c != metadata_json)
        elif extra_columns_are_metadata:
            columns = tuple(n for n in names if n not in mapped and n != metadata_json)
        else:
            columns = ()
        for name in columns:
            _check_metadata_type(schema.field(name), where)
        return cls(id_name, values_name, sparse, text, namespace, metadata_json, columns)

    def normalise(self, table: pa.Table | pa.RecordBatch) -> pa.Table:
        """The canonical columns for ``table`` (rows unchanged, in order)."""
        ids = table.column(self.id)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {}
        if pa.types.is_integer(ids.type):
            columns["id"] = pc.cast(ids, pa.string())
            columns[ID_FLAG_COLUMN] = pc.is_valid(ids)
        else:
            columns["id"] = pc.cast(ids, pa.string())
        if self.values is not None:
            columns["values"] = pc.cast(table.column(self.values), CANONICAL_VALUES)
        if self.sparse is not None:
            columns["sparse_values"] = _sparse(table.column(self.sparse))
        columns["metadata"] = self._metadata(table)
        return pa.table(columns)

    def _metadata(self, table: pa.Table | pa.RecordBatch) -> pa.Array:
        extra = list(self.metadata_columns) + ([self.text] if self.text else [])
        if not extra:  # our layout and Pinecone's: the JSON column as it is, no row touched
            if self.metadata_json is None:
                return pa.nulls(table.num_rows, pa.string())
            return pc.cast(table.column(self.metadata_json), pa.string())
        base = table.column(self.metadata_json).to_pylist() if self.metadata_json else [None] * table.num_rows
        keyed = [
            (DOCUMENT_KEY if name == self.text else name, table.column(name).to_pylist()) for name in extra
        ]
        out: list[str | None] = []
        for row, text in enumerate(base):
            merged = _object_or_none(text)
            if text is not None and merged is None:
                out.append(text)  # not a JSON object: kept as it is, the decoder reports the row
                continue
            merged = dict(merged or {})
            for key, values in keyed:
                if values[row] is not None:
                    merged[key] = _json_value(values[row])
            out.append(json.dumps(merged, ensure_ascii=False, separators=(",", ":")) if merged else None)
        return pa.array(out, type=pa.string())


def _require(schema: pa.Schema, name: str, option: str, where: str) -> str:
    if name not in schema.names:
        raise ConfigError(
            f"parquet: {where} has no column {name!r} (columns: {', '.join(schema.names)}); "
            f"name the right one with {option}="
        )
    return name


def _check_vector_type(field: pa.Field, where: str) -> None:
    kind = field.type
    if (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)) and (
        pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)
    ):
        return
    raise ConfigError(
        f"parquet: {where}: column {field.name!r} of type {kind} cannot hold dense vectors "
        "(expected list, large_list or fixed_size_list of float16/32/64)"
    )


def _check_sparse_type(field: pa.Field, where: str) -> None:
    kind = field.type
    if pa.types.is_struct(kind) and {"indices", "values"} <= {
        kind.field(i).name for i in range(kind.num_fields)
    }:
        return
    raise ConfigError(
        f"parquet: {where}: column {field.name!r} of type {kind} cannot hold sparse vectors "
        "(expected struct<indices: list<uint32>, values: list<float>>)"
    )


def _check_metadata_type(field: pa.Field, where: str) -> None:
    kind = field.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_union(kind):
        raise ConfigError(
            f"parquet: {where}: column {field.name!r} of type {kind} cannot become metadata; "
            "leave it out with metadata_fields="
        )


def _sparse(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Cast to the canonical struct; indices that do not fit uint32 keep their type, so the
    decoder names the row instead of the whole file failing."""
    try:
        return pc.cast(column, CANONICAL_SPARSE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        loose = pa.struct(
            [("indices", column.type.field("indices").type), ("values", pa.list_(pa.float32()))]
        )
        return pc.cast(column, loose)


def _object_or_none(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_value(value: Any) -> Any:
    """Column values as JSON values: dates and times as ISO strings, decimals as numbers,
    bytes as base64 text, nested lists and structs recursively."""
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_json_value(v) for v in value]
    return value
