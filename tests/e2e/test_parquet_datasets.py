"""Foreign Parquet datasets (Pinecone bulk-import folders, vector-io VDF folders, plain dumps),
made exactly as those tools write them, migrated to every provider and checked record by record."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from io_connectors import Client
from pipelines import Migration
from tests.conformance.suite import by_id, read_split, unique_name
from tests.foreign_parquet import Expected, pinecone_import_folder, plain_dump, vdf_folder


def _source(kind: str, tmp_path: Path) -> tuple[Client, str, Expected]:
    """The source client, its index name and the records it holds."""
    data = tmp_path / "data"
    if kind == "pinecone-import":
        expected = pinecone_import_folder(data / "import")
        return Client(provider="parquet", path=str(data), metric="dotproduct"), "import", expected
    if kind == "vdf":
        folder, expected = vdf_folder(data)
        return Client(provider="parquet", path=str(data)), folder.name, expected
    if kind == "plain-float64":
        expected = plain_dump(data / "dump.parquet")
        client = Client(provider="parquet", path=str(data), vector_field="embedding", text_field="text")
        return client, "dump.parquet", expected
    expected = plain_dump(data / "shards" / "x.parquet", fixed_size=True)
    client = Client.from_uri(f"parquet://{data}/shards/part-*.parquet?vector_field=embedding&text_field=text")
    return client, "part-*.parquet", expected


def _target(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Client:
    if kind == "memory":
        return Client(provider="memory")
    if kind == "pgvector":
        dsn, schema = request.getfixturevalue("postgres_dsn"), request.getfixturevalue("pg_schema")
        return Client(provider="pgvector", dsn=dsn, schema=schema)
    if kind == "qdrant":
        return Client(provider="qdrant", edge_path=str(tmp_path / "edge"))
    return request.getfixturevalue("pinecone_client")


def _read_back(client: Client, index: str) -> dict[tuple[str, Any], dict[str, Any]]:
    connector = client.connector
    return by_id(b for split in connector.plan(index, None, 1000) for b in read_split(connector, split))


def _assert_records(expected: Expected, stored: dict, target: str, metric: str) -> None:
    def key(namespace: str, vector_id: Any) -> tuple[str, Any]:
        return (namespace, str(vector_id) if target == "pinecone" else vector_id)

    assert set(stored) == {key(*k) for k in expected}
    for (namespace, vector_id), want in expected.items():
        got = stored[key(namespace, vector_id)]
        values = np.asarray(got["values"], dtype=np.float32)
        if target == "qdrant" and metric == "cosine":  # Qdrant stores cosine vectors normalised
            np.testing.assert_allclose(values, want["values"] / np.linalg.norm(want["values"]), rtol=1e-5)
        else:
            np.testing.assert_array_equal(values, want["values"])
        if want["sparse"] is None:
            assert "sparse_values" not in got
        else:
            assert got["sparse_values"]["indices"] == list(want["sparse"][0])
            np.testing.assert_array_equal(np.float32(got["sparse_values"]["values"]), want["sparse"][1])
        assert got.get("metadata") == want["metadata"], (namespace, vector_id)


SOURCES = ["pinecone-import", "vdf", "plain-float64", "plain-fixed-size-glob"]
TARGETS = ["memory", "pgvector", "qdrant", "pinecone"]


@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("source_kind", SOURCES)
def test_foreign_dataset_migrates_record_by_record(
    source_kind: str, target_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source, index, expected = _source(source_kind, tmp_path)
    target = _target(target_kind, request, tmp_path)
    target_index = unique_name("copy")
    result = Migration(source, target).migrate(source_index=index, target_index=target_index)
    assert (result.migrated_count, result.errors) == (len(expected), [])
    info = source.describe_index(index)
    _assert_records(expected, _read_back(target, target_index), target_kind, info["metric"])
    if target_kind == "pinecone":
        target.delete_index(target_index)


def test_describe_says_where_the_facts_came_from(tmp_path: Path) -> None:
    source, index, _ = _source("plain-float64", tmp_path)
    info = source.describe_index(index)
    assert (info["dimension"], info["metric"], info["count"]) == (8, "cosine", 150)
    assert info["details"]["notes"] == [
        "metric defaulted to cosine (the data states none; set metric= to change)"
    ]
    folder_source, vdf_index, _ = _source("vdf", tmp_path / "v")
    vdf = folder_source.describe_index(vdf_index)
    assert (vdf["dimension"], vdf["metric"], vdf["namespaces"], vdf["details"]["layout"]) == (
        12,
        "cosine",
        {"": 90, "eu": 90},
        "vdf",
    )
    assert "notes" not in vdf["details"]
    by_name = Client(provider="parquet", path=str(tmp_path / "v" / "data" / "vdf_20261202_101500_3f9a2"))
    assert by_name.list_indexes() == [{"name": "products"}]
    assert by_name.describe_index("products")["count"] == 180


def test_our_folder_is_a_pinecone_import_directory(tmp_path: Path) -> None:
    """What we write follows Pinecone's import rules: one folder per namespace (``__default__``),
    every ``*.parquet`` file in it with the import columns; nothing else ends in ``.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source, index, expected = _source("pinecone-import", tmp_path)
    target = Client(provider="parquet", path=str(tmp_path / "out"))
    Migration(source, target).migrate(source_index=index, target_index="export")
    folder = tmp_path / "out" / "export"
    assert sorted(p.name for p in folder.iterdir()) == ["__default__", "_index.json", "tenant-a"]
    files = sorted(folder.rglob("*.parquet"))
    assert files and all(f.parent.parent == folder for f in files)
    for file in files:
        schema = pq.read_schema(file)
        assert schema.field("id").type == pa.string()
        assert schema.field("values").type.value_type == pa.float32()
        assert schema.field("metadata").type == pa.string()
        assert schema.field("sparse_values").type.field("indices").type.value_type == pa.uint32()
    shutil.copytree(folder, tmp_path / "bucket" / "import", ignore=shutil.ignore_patterns("_index.json"))
    imported = Client(provider="parquet", path=str(tmp_path / "bucket"), metric="dotproduct")
    assert imported.describe_index("import")["details"]["layout"] == "pinecone-import"
    _assert_records(expected, _read_back(imported, "import"), "parquet", "dotproduct")
