"""Parquet files as an index (``parquet:///root/index``), in the layout Pinecone's bulk import reads.

``root/<index>/`` holds ``_index.json`` (dimension, metric, sparse) and one folder per namespace
(``__default__`` for the default namespace, other names percent-encoded); each folder holds
``part-*.parquet`` files with the columns ``id`` (string), ``values`` (list<float32>),
``sparse_values`` (struct of ``indices`` list<uint32> and ``values`` list<float32>) and
``metadata`` (a JSON string). Files holding integer ids add an ``id_is_int`` column so that
integer ids come back as integers.

Every written chunk becomes one file named after a hash of its namespace and ids, written to a
temporary name and renamed into place: writing the same chunk again (a retried bundle) replaces
the same file instead of adding a copy. A write is an upsert: ids it holds are first removed
from the namespace's other files (their id columns are cached, so this costs a hash probe per
stored id and write, not a re-read). Reads split by file and, inside a file, by row group.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from io_connectors.core.contract import (
    Capabilities,
    Connector,
    ConnectorSpec,
    IndexInfo,
    Location,
    Split,
    Tracker,
    normalize_metric,
)
from io_connectors.core.errors import ConfigError, IndexNotFound
from io_connectors.core.records import IdValue, UnreadableRecords, VectorBatch
from io_connectors.parquet.rows import footer, read_row_group

INDEX_FILE = "_index.json"
DEFAULT_NAMESPACE_FOLDER = "__default__"
FORMAT = "vector-migrate/parquet/1"


def namespace_folder(namespace: str) -> str:
    return DEFAULT_NAMESPACE_FOLDER if namespace == "" else quote(namespace, safe="")


def folder_namespace(folder: str) -> str:
    return "" if folder == DEFAULT_NAMESPACE_FOLDER else unquote(folder)


class ParquetConnector(Connector):
    provider = "parquet"
    capabilities = Capabilities(dense_optional=True, default_chunk_size=10_000)

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        self._id_keys: dict[Path, tuple[int, pa.Array]] = {}
        try:
            self.root = Path(spec.options["path"])
        except KeyError:
            raise ConfigError(
                "parquet: the 'path' option (the folder holding the indexes) is required"
            ) from None
        self.row_group_size = int(spec.options.get("row_group_size", 10_000))

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = Path(unquote(parts.netloc + parts.path))
        if not path.name:
            raise ConfigError(f"parquet URI {uri!r} names no index folder; use parquet:///root/index")
        return Location(
            ConnectorSpec("parquet", {"path": str(path.parent)}), path.name, query.get("namespace")
        )

    # -- indexes ---------------------------------------------------------------------------
    def _index_dir(self, index: str) -> Path:
        if not index or "/" in index or index in (".", ".."):
            raise ConfigError(f"parquet: {index!r} is not a valid index (folder) name")
        return self.root / index

    def _info_file(self, index: str) -> dict:
        path = self._index_dir(index) / INDEX_FILE
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise IndexNotFound("parquet", f"{index} (no {path})") from None

    def list_indexes(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / INDEX_FILE).is_file())

    def _files(self, index: str, namespace: str | None) -> dict[str, list[Path]]:
        base = self._index_dir(index)
        if namespace is not None:
            folders = [base / namespace_folder(namespace)]
        else:
            folders = sorted(p for p in base.iterdir() if p.is_dir())
        return {
            folder_namespace(folder.name): sorted(folder.glob("*.parquet"))
            for folder in folders
            if folder.is_dir()
        }

    def describe_index(self, index: str) -> IndexInfo:
        info = self._info_file(index)
        counts = {
            ns: sum(meta.num_rows for meta in map(footer, files) if meta is not None)
            for ns, files in self._files(index, None).items()
        }
        counts = {ns: n for ns, n in counts.items() if n}
        return IndexInfo(
            index,
            info.get("dimension"),
            info.get("metric", "cosine"),
            bool(info.get("sparse")),
            sum(counts.values()),
            counts,
            {"path": str(self._index_dir(index))},
        )

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        directory = self._index_dir(name)
        metric = normalize_metric(metric)
        if (directory / INDEX_FILE).exists():
            existing = self._info_file(name)
            if existing.get("dimension") != dimension:
                found = existing.get("dimension")
                raise ConfigError(f"parquet: index {name!r} exists with dimension {found}, not {dimension}")
            return
        directory.mkdir(parents=True, exist_ok=True)
        description = {"format": FORMAT, "dimension": dimension, "metric": metric, "sparse": sparse}
        _atomic_write(directory / INDEX_FILE, json.dumps(description, indent=2).encode())

    def delete_index(self, name: str) -> None:
        shutil.rmtree(self._index_dir(name), ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        """One split a file; a file whose footer cannot be read is one split of one position,
        whose read reports it (so it is never skipped silently)."""
        self._info_file(index)
        splits = []
        for ns, files in self._files(index, namespace).items():
            for path in files:
                meta = footer(path)
                if meta is None:
                    splits.append(Split(index, ns, 0, 1, batch_size, key=path.name, estimated_count=0))
                elif meta.num_rows:
                    splits.append(
                        Split(
                            index,
                            ns,
                            0,
                            meta.num_row_groups,
                            batch_size,
                            key=path.name,
                            estimated_count=meta.num_rows,
                        )
                    )
        return splits

    def count_is_exact(self, index: str, namespace: str | None = None) -> bool:
        """Exact from the files' footers, unless a footer cannot be read."""
        return all(
            footer(path) is not None for files in self._files(index, namespace).values() for path in files
        )

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        return [(group, group + 1) for group in range(start, stop)]

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch | UnreadableRecords]:
        """Row group by row group; a bad row fails alone, an unreadable row group with its size."""
        path = self._index_dir(split.index) / namespace_folder(split.namespace) / split.key
        try:
            reader = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            if tracker.try_claim(tracker.current_restriction().start):
                yield UnreadableRecords(
                    split.namespace,
                    f"the file cannot be read, number of records unknown: {type(exc).__name__}: {exc}",
                    count=0,
                    where=f"file {split.key}",
                    error_class=type(exc).__name__,
                )
            return
        with reader:
            meta = reader.metadata
            for group in range(tracker.current_restriction().start, meta.num_row_groups):
                if not tracker.try_claim(group):
                    return
                yield from read_row_group(reader, group, split)

    # -- writing ---------------------------------------------------------------------------
    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        folder = self._index_dir(index) / namespace_folder(batch.namespace)
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(repr((batch.namespace, batch.ids)).encode()).hexdigest()[:24]
        final = folder / f"part-{digest}.parquet"
        self._remove_ids(folder, pa.array(_id_keys(batch.ids)), keep=final)
        self._write_file(final, batch.to_arrow())

    def _write_file(self, final: Path, rows: pa.RecordBatch) -> None:
        temporary = final.with_name(f".tmp-{final.stem}-{os.getpid()}-{id(rows)}.parquet")
        table = pa.Table.from_batches([_file_columns(rows)])
        pq.write_table(table, temporary, row_group_size=self.row_group_size, compression="zstd")
        os.replace(temporary, final)

    def _remove_ids(self, folder: Path, keys: pa.Array, keep: Path) -> None:
        """Upsert semantics: drop these ids from every other file of the namespace."""
        for path in sorted(folder.glob("part-*.parquet")):
            if path == keep:
                continue
            hits = pc.is_in(self._file_id_keys(path), value_set=keys)
            if not pc.any(hits).as_py():
                continue
            remaining = pq.read_table(path).filter(pc.invert(hits))
            if remaining.num_rows:
                self._write_file(path, remaining.combine_chunks().to_batches()[0])
            else:
                path.unlink()
            self._id_keys.pop(path, None)

    def _file_id_keys(self, path: Path) -> pa.Array:
        stamp = path.stat().st_mtime_ns
        cached = self._id_keys.get(path)
        if cached is None or cached[0] != stamp:
            table = pq.read_table(path, columns=[c for c in ("id", "id_is_int") if c in _schema_names(path)])
            flags = table.column("id_is_int").to_pylist() if "id_is_int" in table.column_names else None
            ids = table.column("id").to_pylist()
            keys = [("i:" if flags and flags[n] else "s:") + v for n, v in enumerate(ids)]
            cached = (stamp, pa.array(keys, type=pa.string()))
            self._id_keys[path] = cached
        return cached[1]

    # -- point access ------------------------------------------------------------------------
    def fetch(self, index: str, ids: Sequence[IdValue], namespace: str = "") -> VectorBatch:
        """Scans the namespace's files: Parquet has no index by id."""
        wanted = set(ids)
        found = [
            b.take([i for i, v in enumerate(b.ids) if v in wanted]) for b in self._scan(index, namespace)
        ]
        found = [b for b in found if len(b)]
        return VectorBatch.concat(found) if found else VectorBatch([], namespace=namespace)

    def delete(
        self, index: str, ids: Sequence[IdValue] | None, namespace: str = "", delete_all: bool = False
    ) -> None:
        folder = self._index_dir(index) / namespace_folder(namespace)
        if delete_all:
            shutil.rmtree(folder, ignore_errors=True)
            return
        if folder.is_dir():
            self._remove_ids(folder, pa.array(_id_keys(ids or ()), type=pa.string()), keep=folder)

    def _scan(self, index: str, namespace: str) -> Iterator[VectorBatch]:
        for path in self._files(index, namespace).get(namespace, []):
            yield VectorBatch.from_arrow(pq.read_table(path), namespace)


def _file_columns(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Drop the ``id_is_int`` flag when no id is an integer: then the file is pure import layout."""
    if "id_is_int" not in batch.schema.names or pc.any(batch.column("id_is_int")).as_py():
        return batch
    return batch.drop_columns(["id_is_int"])


def _id_keys(ids: Sequence[IdValue]) -> list[str]:
    """Ids as comparable strings that keep their kind apart: 7 and "7" are different ids."""
    return [f"i:{i}" if isinstance(i, int) else f"s:{i}" for i in ids]


def _schema_names(path: Path) -> list[str]:
    return pq.read_schema(path).names


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
