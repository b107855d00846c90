"""What keeps Parquet writes linear and reads flat: the upsert key index, row groups streamed."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from io_connectors import Client, VectorBatch
from io_connectors.parquet.keys import KeyIndex


def test_holders_are_the_files_that_hold_the_keys() -> None:
    index = KeyIndex()
    index.add("a.parquet", (1, 1), [f"s:{i}" for i in range(0, 100)])
    index.add("b.parquet", (1, 1), [f"s:{i}" for i in range(100, 200)])
    assert index.holders(["s:5", "s:150", "s:999"]) == {"a.parquet", "b.parquet"}
    assert index.holders(["s:150"]) == {"b.parquet"}
    assert index.holders(["s:999", "i:5"]) == set()
    index.drop(["a.parquet"])
    assert index.holders(["s:5", "s:150"]) == {"b.parquet"}


def test_a_file_rewritten_replaces_what_was_known_of_it() -> None:
    index = KeyIndex()
    index.add("a.parquet", (1, 1), ["s:x", "s:y"])
    index.add("a.parquet", (2, 1), ["s:y"])
    assert index.holders(["s:x"]) == set()
    assert index.holders(["s:y"]) == {"a.parquet"}


def test_an_id_several_files_hold_names_them_all() -> None:
    index = KeyIndex()
    for name in ("a", "b", "c"):
        index.add(f"{name}.parquet", (1, 1), ["s:shared", f"s:{name}"])
    assert index.holders(["s:shared"]) == {"a.parquet", "b.parquet", "c.parquet"}


def test_sync_follows_files_added_changed_and_removed_elsewhere() -> None:
    on_disk = {"a.parquet": ["s:1"], "b.parquet": ["s:2"]}
    loads: list[str] = []

    def load(path: str) -> list[str]:
        loads.append(path)
        return on_disk[path]

    index = KeyIndex()
    index.sync({"a.parquet": (1, 1), "b.parquet": (1, 1)}, load)
    index.sync({"a.parquet": (1, 1), "b.parquet": (1, 1)}, load)
    assert sorted(loads) == ["a.parquet", "b.parquet"]  # unchanged files are not read again
    on_disk["a.parquet"] = ["s:3"]
    index.sync({"a.parquet": (2, 1)}, load)  # a changed, b removed
    assert index.holders(["s:1", "s:2"]) == set()
    assert index.holders(["s:3"]) == {"a.parquet"}


def _batch(ids: list[str]) -> VectorBatch:
    return VectorBatch(ids, np.ones((len(ids), 2), dtype=np.float32))


def test_upserts_from_two_writers_keep_one_copy_of_each_id(tmp_path) -> None:
    """Two connectors (two workers) on one folder: each sees the other's files."""
    first, second = (Client(provider="parquet", path=str(tmp_path)) for _ in range(2))
    first.create_index("items", 2, "cosine")
    first.upsert(index="items", vectors=_batch(["a", "b"]))
    second.upsert(index="items", vectors=_batch(["b", "c"]))
    first.upsert(index="items", vectors=_batch(["c", "d"]))
    files = sorted((tmp_path / "items" / "__default__").glob("*.parquet"))
    ids = sorted(i for f in files for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())
    assert ids == ["a", "b", "c", "d"]
    assert len(files) == 3  # "a" alone, "b" alone, "c"+"d"


class _FailsAfterFirstBatch:
    """A real ParquetFile whose stream breaks after its first batch (fault injection)."""

    def __init__(self, reader: pq.ParquetFile) -> None:
        self._reader = reader
        self.metadata = reader.metadata

    def iter_batches(self, **options):
        stream = self._reader.iter_batches(**options)
        yield next(stream)
        raise OSError("disk went away")

    def read_row_group(self, group: int, columns: list[str]):
        return self._reader.read_row_group(group, columns=columns)

    @property
    def schema_arrow(self):
        return self._reader.schema_arrow


def test_a_row_group_is_streamed_and_a_break_midway_reports_only_the_unread_rows(tmp_path) -> None:
    from io_connectors.core.contract import Split
    from io_connectors.core.records import UnreadableRecords
    from io_connectors.parquet.rows import read_row_group

    Client(provider="parquet", path=str(tmp_path)).create_index("items", 2, "cosine")
    Client(provider="parquet", path=str(tmp_path)).upsert(
        index="items", vectors=_batch([f"id-{i}" for i in range(10)])
    )
    (path,) = (tmp_path / "items" / "__default__").glob("*.parquet")
    reader = pq.ParquetFile(path)
    split = Split("items", "", 0, 1, 4, str(path))
    streamed = list(read_row_group(reader, 0, split, ["id", "values"], "id", lambda t: t))
    assert [len(b) for b in streamed] == [4, 4, 2]  # batch_size rows at a time

    out = list(read_row_group(_FailsAfterFirstBatch(reader), 0, split, ["id", "values"], "id", lambda t: t))
    read, (broken,) = out[:-1], out[-1:]
    assert sum(len(b) for b in read) == 4
    assert isinstance(broken, UnreadableRecords)
    assert broken.count == 6 and list(broken.ids) == [f"id-{i}" for i in range(4, 10)]
