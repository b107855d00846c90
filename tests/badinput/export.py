"""A Parquet export with one kind of damage per namespace, written with pyarrow as another
tool would write Pinecone's bulk-import layout (``id`` string, ``values`` list<float32>,
``metadata`` JSON string), not through our own writer.

Every namespace holds the good records ``good-1`` and ``good-2`` next to its bad one(s).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DIMENSION = 4
GOOD = [1.0, 2.0, 3.0, 4.0]
LONG_ID = "L" * 3000  # over Pinecone's 512 characters and pgvector's primary-key entry size
HOSTILE_NAMESPACE = "../evil ns%2F'; drop table x;--"


def _deep(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _file(folder: Path, name: str, ids: list, values: list, metadata: list | None = None, **extra) -> None:
    columns = {
        "id": pa.array(ids, type=pa.string()),
        "values": pa.array(values, type=pa.list_(pa.float32())),
        "metadata": pa.array(
            metadata if metadata is not None else [json.dumps({"n": i}) for i in range(len(ids))],
            type=pa.string(),
        ),
        **extra,
    }
    pq.write_table(pa.table(columns), folder / name)


def _with_good(folder: Path, bad_ids: list, bad_values: list, bad_metadata: list | None = None) -> None:
    metadata = None if bad_metadata is None else ['{"n": 1}', '{"n": 2}', *bad_metadata]
    _file(folder, "part-0.parquet", ["good-1", "good-2", *bad_ids], [GOOD, GOOD, *bad_values], metadata)


def _corrupt_row_group(folder: Path) -> None:
    """A file whose footer is intact but whose row group's vector data cannot be decompressed."""
    _file(folder, "part-0.parquet", ["good-1", "good-2"], [GOOD, GOOD])
    path = folder / "part-1.parquet"
    noise = np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32)
    table = pa.table({"id": ["lost-1", "lost-2", "lost-3"], "values": pa.array(list(noise))})
    pq.write_table(table, path, compression="zstd", use_dictionary=False)
    column = pq.read_metadata(path).row_group(0).column(1)
    start, size = column.data_page_offset, column.total_compressed_size
    data = bytearray(path.read_bytes())
    data[start + 100 : start + size - 100] = b"\xff" * (size - 200)
    path.write_bytes(bytes(data))


CASES: dict[str, Callable[[Path], None]] = {
    "nan": lambda f: _with_good(f, ["bad"], [[float("nan"), 1, 1, 1]]),
    "inf": lambda f: _with_good(f, ["bad"], [[float("inf"), 1, 1, 1]]),
    "null-vector": lambda f: _with_good(f, ["bad"], [None]),
    "ragged": lambda f: _with_good(f, ["bad"], [[1.0, 2.0, 3.0, 4.0, 5.0]]),
    "wrong-dimension": lambda f: (
        _with_good(f, [], []),
        _file(f, "part-1.parquet", ["bad"], [[1.0, 2.0, 3.0]]),
    ),
    "empty-id": lambda f: _with_good(f, [""], [GOOD]),
    "long-id": lambda f: _with_good(f, [LONG_ID], [GOOD]),
    "non-ascii-id": lambda f: _with_good(f, ["bäd-ü"], [GOOD]),
    "duplicate-id": lambda f: (
        _with_good(f, ["twice"], [GOOD]),
        _file(f, "part-1.parquet", ["twice"], [[4.0, 3.0, 2.0, 1.0]]),
    ),
    "bad-json": lambda f: _with_good(f, ["bad"], [GOOD], ["{not json"]),
    "big-metadata": lambda f: _with_good(f, ["bad"], [GOOD], [json.dumps({"text": "x" * 50_000})]),
    "deep-metadata": lambda f: _with_good(f, ["bad"], [GOOD], [json.dumps(_deep(50))]),
    "nul-character": lambda f: _with_good(f, ["bad"], [GOOD], [json.dumps({"text": "a\u0000b"})]),
    "unreadable-file": lambda f: (
        _with_good(f, [], []),
        (f / "part-1.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1"),
    ),
    "corrupt-row-group": _corrupt_row_group,
    "wrong-columns": lambda f: (
        _with_good(f, [], []),
        pq.write_table(
            pa.table({"key": ["bad"], "values": pa.array([GOOD], type=pa.list_(pa.float32()))}),
            f / "part-1.parquet",
        ),
    ),
    HOSTILE_NAMESPACE: lambda f: _with_good(f, ["bad"], [[float("nan"), 1, 1, 1]]),
}


def folder_name(namespace: str) -> str:
    from urllib.parse import quote

    return quote(namespace, safe="")


def write_export(root: Path, index: str = "export") -> Path:
    """Every case as a namespace of ``root/index``; returns the index folder."""
    base = root / index
    base.mkdir(parents=True)
    (base / "_index.json").write_text(json.dumps({"dimension": DIMENSION, "metric": "cosine"}))
    for namespace, make in CASES.items():
        folder = base / folder_name(namespace)
        folder.mkdir()
        make(folder)
    return base
