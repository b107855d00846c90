"""Column normalisation and discovery of foreign Parquet datasets, without Beam."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from io_connectors import Client
from io_connectors.core.errors import ConfigError, IndexNotFound
from io_connectors.core.fields import FieldMapping
from io_connectors.core.registry import parse_uri
from io_connectors.parquet.columns import ColumnPlan

VECTORS = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def _plan(table: pa.Table, **fields: object) -> ColumnPlan:
    return ColumnPlan.for_schema(table.schema, FieldMapping.from_options(fields), "file.parquet")


@pytest.mark.parametrize(
    "column",
    [
        pa.array(VECTORS, pa.list_(pa.float64())),
        pa.array(VECTORS, pa.list_(pa.float16())),
        pa.array(VECTORS, pa.large_list(pa.float32())),
        pa.FixedSizeListArray.from_arrays(pa.array(np.ravel(VECTORS), pa.float32()), 3),
        pa.FixedSizeListArray.from_arrays(pa.array(np.ravel(VECTORS), pa.float64()), 3),
    ],
    ids=["list-float64", "list-float16", "large-list", "fixed-size-float32", "fixed-size-float64"],
)
def test_vector_column_types_become_float32_lists(column: pa.Array) -> None:
    table = pa.table({"id": ["a", "b"], "embedding": column})
    canonical = _plan(table, vector_field="embedding").normalise(table)
    assert canonical.column("values").type == pa.list_(pa.float32())
    assert canonical.column("values").to_pylist() == VECTORS


def test_text_and_other_columns_become_metadata_integer_ids_stay_integers() -> None:
    table = pa.table(
        {
            "id": pa.array([7, 8], pa.int64()),
            "embedding": pa.array(VECTORS),
            "text": ["hello", None],
            "year": [2020, None],
            "when": pa.array([0, 86_400_000], pa.timestamp("ms")),
        }
    )
    canonical = _plan(table, vector_field="embedding", text_field="text").normalise(table)
    assert canonical.column("id").to_pylist() == ["7", "8"]
    assert canonical.column("id_is_int").to_pylist() == [True, True]
    metadata = [json.loads(m) for m in canonical.column("metadata").to_pylist()]
    assert metadata == [
        {"year": 2020, "when": "1970-01-01T00:00:00", "text": "hello"},
        {"when": "1970-01-02T00:00:00"},
    ]
    only = _plan(table, vector_field="embedding", metadata_fields="year").normalise(table)
    assert only.column("metadata").to_pylist() == ['{"year":2020}', None]


def test_row_problems_stay_data_for_the_decoder() -> None:
    """A null or ragged vector, a bad metadata string and a null id are kept as they are."""
    table = pa.table(
        {
            "id": ["a", None, "c", "d"],
            "values": pa.array([[1.0, 2.0], None, [1.0], [3.0, 4.0]], pa.list_(pa.float64())),
            "metadata": ['{"k": 1}', None, "{not json", '"a string"'],
            "extra": [1, 2, 3, 4],
        }
    )
    canonical = _plan(table, metadata_fields="metadata,extra").normalise(table)
    assert canonical.column("id").to_pylist() == ["a", None, "c", "d"]
    assert canonical.column("values").to_pylist() == [[1.0, 2.0], None, [1.0], [3.0, 4.0]]
    assert canonical.column("metadata").to_pylist() == [
        '{"k":1,"extra":1}',
        '{"extra":2}',
        "{not json",
        '"a string"',
    ]


def test_dataset_problems_name_the_file_and_the_column() -> None:
    table = pa.table({"id": ["a"], "embedding": ["not a vector"]})
    with pytest.raises(ConfigError, match=r"file.parquet has no column 'values' .*vector_field="):
        _plan(table)
    with pytest.raises(ConfigError, match=r"file.parquet: column 'embedding' of type string cannot hold"):
        _plan(table, vector_field="embedding")
    with pytest.raises(ConfigError, match=r"no column 'doc_id'"):
        _plan(pa.table({"id": ["a"], "values": [[1.0]]}), id_field="doc_id")


def test_uri_forms(tmp_path: Path) -> None:
    at = parse_uri("parquet:///data/shards/*.parquet?vector_field=embedding&metric=dot&namespace=n")
    assert (at.spec.options["path"], at.index, at.namespace) == ("/data/shards", "*.parquet", "n")
    assert at.spec.options["vector_field"] == "embedding" and at.spec.options["metric"] == "dot"
    assert parse_uri("parquet:///data/**/part-*.parquet").spec.options["path"] == "/data"
    assert parse_uri("parquet:///data/**/part-*.parquet").index == "**/part-*.parquet"
    s3 = parse_uri("parquet+s3://bucket/exports/idx?endpoint_url=http://127.0.0.1:9000")
    assert (s3.spec.options["path"], s3.index) == ("s3://bucket/exports", "idx")
    assert parse_uri("parquet+gs://bucket/idx").spec.options["path"] == "gs://bucket"
    with pytest.raises(ConfigError, match="names no index"):
        parse_uri("parquet+s3://bucket")


def test_globs_folders_and_missing_things(tmp_path: Path) -> None:
    table = pa.table({"id": ["a", "b"], "values": pa.array(VECTORS, pa.list_(pa.float32()))})
    for name in ("2024/01/part-0.parquet", "2024/02/part-1.parquet", "2024/02/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp_path / name)
    client = Client(provider="parquet", path=str(tmp_path))
    assert client.describe_index("2024/**/part-*.parquet")["count"] == 4
    assert client.describe_index("2024/0[2]/*.parquet")["count"] == 2
    assert client.describe_index("2024")["namespaces"] == {"01": 2, "02": 2}  # sub-folders: namespaces
    with pytest.raises(IndexNotFound):
        client.describe_index("nothing-here")
    with pytest.raises(IndexNotFound):
        client.describe_index("*.none")
    with pytest.raises(ConfigError, match="read-only"):
        client.upsert(index="2024", vectors=[{"id": "x", "values": [1.0, 2.0, 3.0]}])
    with pytest.raises(ConfigError, match="read-only"):
        client.delete_index("2024")
    assert (tmp_path / "2024" / "01" / "part-0.parquet").is_file()
    assert not (tmp_path / "2024" / "_index.json").exists()


def test_a_namespace_column_splits_rows_into_namespaces(tmp_path: Path) -> None:
    table = pa.table(
        {
            "doc": ["a", "b", "c", "d"],
            "emb": pa.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]], pa.list_(pa.float32())),
            "tenant": ["t1", "t2", None, "t1"],
            "title": ["A", "B", "C", "D"],
        }
    )
    pq.write_table(table, tmp_path / "mixed.parquet", row_group_size=2)
    client = Client(
        provider="parquet", path=str(tmp_path), id_field="doc", vector_field="emb", namespace_field="tenant"
    )
    assert client.describe_index("mixed.parquet")["namespaces"] == {"t1": 2, "t2": 1, "": 1}
    assert client.fetch(index="mixed.parquet", ids=["a", "b", "d"], namespace="t1") == {
        "a": {"id": "a", "values": [1.0, 0.0], "metadata": {"title": "A"}},
        "d": {"id": "d", "values": [2.0, 0.0], "metadata": {"title": "D"}},
    }
    assert list(client.fetch(index="mixed.parquet", ids=["c"], namespace="")) == ["c"]


def test_object_storage_roots_keep_their_scheme_in_messages() -> None:
    from io_connectors.parquet.storage import Storage

    gcs = Storage("gs://bucket/prefix/", {})
    assert (gcs.scheme, gcs.base, gcs.url("idx")) == ("gs", "bucket/prefix", "gs://bucket/prefix/idx")
    s3 = Storage("s3://bucket", {"endpoint_url": "http://127.0.0.1:1", "region": "us-east-1"})
    assert (s3.scheme, s3.url("a", "b.parquet"), s3.is_local) == ("s3", "s3://bucket/a/b.parquet", False)
    with pytest.raises(ConfigError, match="both access_key and secret_key"):
        Storage("s3://bucket", {"access_key": "only-half"})
