"""Parquet datasets laid out exactly as other tools write them, and what each record must become.

* Pinecone's bulk-import directory (docs.pinecone.io, "Import records"): one sub-folder per
  namespace (``__default__`` for the default one) of ``*.parquet`` files with ``id`` STRING,
  ``values`` LIST<FLOAT>, ``sparse_values`` STRUCT<indices: LIST<UINT32>, values: LIST<FLOAT>>
  and ``metadata`` a JSON STRING (NULL to omit); other files in the folders are ignored.
* vector-io's VDF folder (AI-Northstar-Tech/vector-io, ``export_vdf/vdb_export_cls.py`` and
  ``pinecone_export.py``): ``vdf_<timestamp>_<hash>/VDF_META.json`` (``VDFMeta.model_dump()``
  written with indent 4) and, per namespace, a folder ``<index>[_<namespace>]/i<n>.parquet/``
  holding ``<n>.parquet`` written by pandas ``to_parquet``: an ``id`` column, a ``vector`` column
  (lists of Python floats, so Arrow list<double>) and one column per metadata key (an outer merge,
  so keys missing in a row are nulls and integer keys with gaps become doubles).
* A plain dataset dump: ``id``/``embedding``/``text`` plus other columns.

Each maker returns the records a migration must deliver: ``{(namespace, id): {"values",
"sparse", "metadata"}}`` with the document text under the metadata key ``text``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

Expected = dict[tuple[str, Any], dict[str, Any]]
SPARSE_TYPE = pa.struct([("indices", pa.list_(pa.uint32())), ("values", pa.list_(pa.float32()))])


def pinecone_import_folder(folder: Path, per_namespace: int = 120, dimension: int = 16) -> Expected:
    rng = np.random.default_rng(7)
    expected: Expected = {}
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("values", pa.list_(pa.float32())),
            ("sparse_values", SPARSE_TYPE),
            ("metadata", pa.string()),
        ]
    )
    for file_number, (namespace, sub) in enumerate((("", "__default__"), ("tenant-a", "tenant-a"))):
        rows: dict[str, list[Any]] = {name: [] for name in schema.names}
        for i in range(per_namespace):
            vector_id = f"{sub}-doc-{i}"
            values = rng.standard_normal(dimension).astype(np.float32)
            indices = sorted(rng.choice(1000, size=3, replace=False).tolist())
            weights = rng.random(3).astype(np.float32)
            metadata = None if i % 10 == 0 else {"genre": ["a", "b"][i % 2], "year": 2000 + i, "tags": ["x"]}
            rows["id"].append(vector_id)
            rows["values"].append(values.tolist())
            rows["sparse_values"].append({"indices": indices, "values": weights.tolist()})
            rows["metadata"].append(None if metadata is None else json.dumps(metadata))
            expected[(namespace, vector_id)] = {
                "values": values,
                "sparse": (indices, weights),
                "metadata": metadata,
            }
        (folder / sub).mkdir(parents=True)
        pq.write_table(pa.table(rows, schema=schema), folder / sub / f"{file_number}.parquet")
        (folder / sub / ".log").write_text("ignored by the import\n")
    return expected


def vdf_folder(
    parent: Path, index: str = "products", per_namespace: int = 90, dimension: int = 12
) -> tuple[Path, Expected]:
    """A VDF export of one Pinecone index with the default namespace and ``eu``: its folder and
    the records."""
    rng = np.random.default_rng(11)
    vdf = parent / "vdf_20261202_101500_3f9a2"
    namespaces_meta = []
    files = []
    expected: Expected = {}
    for counter, namespace in enumerate(("", "eu"), start=1):
        data_path = f"{index}{'_' + namespace if namespace else ''}/i{counter}.parquet"
        (vdf / data_path).mkdir(parents=True)
        ids, vectors, titles, years, tags = [], [], [], [], []
        for i in range(per_namespace):
            vector = rng.standard_normal(dimension)
            ids.append(f"{namespace or 'default'}-{i}")
            vectors.append(vector.tolist())
            titles.append(f"title {i}")
            years.append(None if i % 7 == 0 else float(1990 + i))
            tags.append(["red", "blue"] if i % 3 else None)
            metadata = {"title": f"title {i}"}
            if i % 7:
                metadata["year"] = float(1990 + i)
            if i % 3:
                metadata["tags"] = ["red", "blue"]
            expected[(namespace, ids[-1])] = {
                "values": np.asarray(vector, dtype=np.float32),
                "sparse": None,
                "metadata": metadata,
            }
        table = pa.table(
            {
                "id": pa.array(ids, pa.string()),
                "vector": pa.array(vectors, pa.list_(pa.float64())),
                "title": pa.array(titles, pa.string()),
                "year": pa.array(years, pa.float64()),
                "tags": pa.array(tags, pa.list_(pa.string())),
            }
        )
        file = vdf / data_path / f"{counter}.parquet"
        pq.write_table(table, file)
        files.append(str(file.relative_to(parent)))
        namespaces_meta.append(
            {
                "namespace": namespace,
                "index_name": index,
                "total_vector_count": per_namespace,
                "exported_vector_count": per_namespace,
                "dimensions": dimension,
                "model_name": "NOT_PROVIDED",
                "model_map": None,
                "vector_columns": ["vector"],
                "data_path": data_path,
                "metric": "Cosine",
                "index_config": None,
                "schema_dict_str": table.schema.to_string(),
            }
        )
    files.append(str((vdf / "VDF_META.json").relative_to(parent)))
    meta = {
        "version": "0.1.9",
        "file_structure": files,
        "author": "tester",
        "exported_from": "pinecone",
        "indexes": {index: namespaces_meta},
        "exported_at": "2026-12-02T10:15:00.000000+00:00",
        "id_column": None,
    }
    (vdf / "VDF_META.json").write_text(json.dumps(meta, indent=4))
    return vdf, expected


def plain_dump(path: Path, rows: int = 150, dimension: int = 8, fixed_size: bool = False) -> Expected:
    """``id``/``embedding``/``text`` plus ``source`` and ``year``: float64 lists with integer ids,
    or (``fixed_size``) fixed_size_list<float32> with string ids."""
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((rows, dimension))
    ids: list[Any] = [f"row-{i}" for i in range(rows)] if fixed_size else list(range(1, rows + 1))
    texts = [f"the text of document {i} ✓" for i in range(rows)]
    if fixed_size:
        embedding = pa.FixedSizeListArray.from_arrays(
            pa.array(vectors.astype(np.float32).reshape(-1), pa.float32()), dimension
        )
    else:
        embedding = pa.array(vectors.tolist(), pa.list_(pa.float64()))
    table = pa.table(
        {
            "id": pa.array(ids, pa.string() if fixed_size else pa.int64()),
            "embedding": embedding,
            "text": texts,
            "source": [f"file-{i % 4}.txt" for i in range(rows)],
            "year": [2000 + i % 20 for i in range(rows)],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fixed_size:  # two shards, read through a glob
        pq.write_table(table.slice(0, rows // 2), path.parent / "part-0.parquet")
        pq.write_table(table.slice(rows // 2), path.parent / "part-1.parquet")
    else:
        pq.write_table(table, path)
    return {
        ("", vector_id): {
            "values": vectors[i].astype(np.float32),
            "sparse": None,
            "metadata": {"text": texts[i], "source": f"file-{i % 4}.txt", "year": 2000 + i % 20},
        }
        for i, vector_id in enumerate(ids)
    }
