"""What a Milvus collection holds and where, and how this connector creates one.

A collection this connector creates (marked with the collection property
``vector_migrate.layout``) has:

- ``id`` VARCHAR(4096), the primary key: a record's *key* (see ``codec``), which keeps the id's
  kind and its namespace, so that ``5`` and ``"5"``, and the same id in two namespaces, stay
  separate records;
- ``namespace`` VARCHAR, a *partition key*: Milvus hashes it into the collection's partitions
  and prunes to one of them when a query filters on it. Namespaces are a field rather than one
  partition each because Milvus caps partitions at 1,024 a collection and restricts their names
  to letters, digits and underscores, while a namespace is any string and a tenant-per-namespace
  store may have many thousands; the default namespace ``""`` is simply the empty string;
- ``vector`` FLOAT_VECTOR with the index's dimension and metric (AUTOINDEX), when dense;
- ``sparse`` SPARSE_FLOAT_VECTOR (inverted index, inner product), when sparse, plus ``has_sparse``
  BOOL when the collection is also dense: Milvus refuses a row without a sparse vector
  (milvus-lite has no nullable vectors), so such a row stores a one-entry placeholder with
  ``has_sparse`` false, and reads give it back without sparse values;
- ``metadata`` JSON (nullable): the record's metadata object as it is.

Any other collection is read as it is: an INT64 or VARCHAR primary key gives int or str ids, the
FLOAT_VECTOR / FLOAT16_VECTOR / BFLOAT16_VECTOR field the dense values (as float32), the
SPARSE_FLOAT_VECTOR field the sparse ones; every other scalar field and the dynamic fields
become metadata. Writing into one needs ids of the primary key's kind; metadata goes to a JSON
field named ``metadata`` or to dynamic fields.

Collection names: Milvus allows letters, digits and underscores (255 at most), starting with a
letter or an underscore. Another index name is mapped to a valid one plus a hash of the name,
and the original is kept in the ``vector_migrate.index`` property, which ``list_indexes`` shows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from io_connectors.core.errors import ConfigError

LAYOUT_PROPERTY = "vector_migrate.layout"
INDEX_PROPERTY = "vector_migrate.index"
KEY_FIELD, NAMESPACE_FIELD, VECTOR_FIELD = "id", "namespace", "vector"
SPARSE_FIELD, SPARSE_FLAG_FIELD, METADATA_FIELD = "sparse", "has_sparse", "metadata"
KEY_MAX_BYTES, NAMESPACE_MAX_BYTES = 4096, 1024
METRICS = {"COSINE": "cosine", "L2": "euclidean", "IP": "dotproduct"}
DENSE_TYPES = {"FLOAT_VECTOR": "float32", "FLOAT16_VECTOR": "float16", "BFLOAT16_VECTOR": "bfloat16"}
_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_MAPPED_NAME = re.compile(r".*_vm[0-9a-f]{10}")


def collection_name(index: str) -> str:
    """The Milvus collection holding ``index``: the name itself when Milvus allows it."""
    if _VALID_NAME.fullmatch(index) and not _MAPPED_NAME.fullmatch(index):
        return index
    if not index:
        raise ConfigError("milvus: an index name must not be empty")
    stem = re.sub(r"[^A-Za-z0-9_]", "_", index)[:200]
    if not re.match(r"[A-Za-z_]", stem):
        stem = f"_{stem}"
    return f"{stem}_vm{hashlib.sha256(index.encode()).hexdigest()[:10]}"


def may_be_mapped(collection: str) -> bool:
    return bool(_MAPPED_NAME.fullmatch(collection))


@dataclass(frozen=True)
class Layout:
    """Where each part of a record lives in one collection (plain data: it is pickled)."""

    collection: str
    key_field: str
    key_kind: str  # "int" | "str"
    ours: bool  # created by this connector: keys carry id kind and namespace
    namespace_field: str | None
    dense_field: str | None
    dense_type: str  # "float32" | "float16" | "bfloat16"
    dimension: int | None
    metric: str
    sparse_field: str | None
    sparse_flag_field: str | None
    metadata_field: str | None
    scalar_fields: tuple[str, ...]  # foreign scalars read into metadata
    dynamic: bool

    def output_fields(self) -> list[str]:
        fields = [self.key_field]
        for name in (self.namespace_field, self.dense_field, self.sparse_field, self.sparse_flag_field):
            if name:
                fields.append(name)
        if self.metadata_field:
            fields.append(self.metadata_field)
        fields += list(self.scalar_fields)
        if self.dynamic:
            fields.append("$meta")
        return fields


def layout_from(description: Mapping[str, Any], metric: str, options: Mapping[str, Any]) -> Layout:
    """The layout of a described collection (``MilvusClient.describe_collection`` output)."""
    properties = description.get("properties") or {}
    ours = str(properties.get(LAYOUT_PROPERTY, "")) == "1"
    fields = list(description.get("fields") or [])
    by_type: dict[str, list[dict[str, Any]]] = {}
    for field in fields:
        by_type.setdefault(_type_name(field["type"]), []).append(field)
    key = next((f for f in fields if f.get("is_primary")), None)
    if key is None or _type_name(key["type"]) not in ("INT64", "VARCHAR"):
        raise ConfigError(
            f"milvus: collection {description.get('collection_name')!r} has no INT64/VARCHAR primary key"
        )
    dense = _pick([f for t in DENSE_TYPES for f in by_type.get(t, [])], options.get("vector_field"), "dense")
    sparse = _pick(by_type.get("SPARSE_FLOAT_VECTOR", []), options.get("sparse_field"), "sparse")
    namespace_name = options.get("namespace_field") or NAMESPACE_FIELD
    namespace = next(
        (f["name"] for f in by_type.get("VARCHAR", []) if f["name"] == namespace_name and f is not key), None
    )
    metadata = METADATA_FIELD if any(f["name"] == METADATA_FIELD for f in by_type.get("JSON", [])) else None
    flag = SPARSE_FLAG_FIELD if ours and any(f["name"] == SPARSE_FLAG_FIELD for f in fields) else None
    taken = {key["name"], namespace, metadata, flag}
    taken |= {f["name"] for t in (*DENSE_TYPES, "SPARSE_FLOAT_VECTOR") for f in by_type.get(t, [])}
    scalars = (
        ()
        if ours
        else tuple(
            f["name"]
            for f in fields
            if f["name"] not in taken and not _type_name(f["type"]).endswith("VECTOR")
        )
    )
    return Layout(
        collection=str(description.get("collection_name")),
        key_field=key["name"],
        key_kind="int" if _type_name(key["type"]) == "INT64" else "str",
        ours=ours,
        namespace_field=namespace,
        dense_field=dense["name"] if dense else None,
        dense_type=DENSE_TYPES[_type_name(dense["type"])] if dense else "float32",
        dimension=int(dense["params"]["dim"]) if dense else None,
        metric=metric,
        sparse_field=sparse["name"] if sparse else None,
        sparse_flag_field=flag,
        metadata_field=metadata,
        scalar_fields=scalars,
        dynamic=bool(description.get("enable_dynamic_field")),
    )


def _type_name(value: Any) -> str:
    return getattr(value, "name", str(value)).upper()


def _pick(candidates: list[dict[str, Any]], wanted: str | None, kind: str) -> dict[str, Any] | None:
    if wanted:
        found = [f for f in candidates if f["name"] == wanted]
        if not found:
            names = [f["name"] for f in candidates]
            raise ConfigError(f"milvus: the collection has no {kind} vector field {wanted!r}; it has {names}")
        return found[0]
    if len(candidates) > 1:
        names = [f["name"] for f in candidates]
        option = "vector_field" if kind == "dense" else "sparse_field"
        raise ConfigError(
            f"milvus: the collection has several {kind} vector fields {names}: choose one with {option}"
        )
    return candidates[0] if candidates else None


def new_collection(client: Any, index: str, dimension: int | None, metric: str, sparse: bool) -> None:
    """Create the collection for ``index`` in this connector's layout (see the module docstring)."""
    from pymilvus import DataType, MilvusClient

    milvus_metric = {v: k for k, v in METRICS.items()}.get(metric)
    if milvus_metric is None:
        raise ConfigError(f"milvus: metric {metric!r} is not one Milvus has (cosine, euclidean, dotproduct)")
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(KEY_FIELD, DataType.VARCHAR, is_primary=True, max_length=KEY_MAX_BYTES)
    schema.add_field(NAMESPACE_FIELD, DataType.VARCHAR, max_length=NAMESPACE_MAX_BYTES, is_partition_key=True)
    params = client.prepare_index_params()
    if dimension is not None:
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=int(dimension))
        params.add_index(VECTOR_FIELD, index_type="AUTOINDEX", metric_type=milvus_metric)
    if sparse:
        schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        params.add_index(SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        if dimension is not None:
            schema.add_field(SPARSE_FLAG_FIELD, DataType.BOOL)
    schema.add_field(METADATA_FIELD, DataType.JSON, nullable=True)
    client.create_collection(
        collection_name(index),
        schema=schema,
        index_params=params,
        consistency_level="Strong",  # a verify right after a load must see all of it
        properties={LAYOUT_PROPERTY: "1", INDEX_PROPERTY: index},
    )
