"""Parquet files as an index: our own layout (read and written) and foreign datasets (read).

``root/<index>/`` in our layout holds ``_index.json`` (dimension, metric, sparse) and one folder
per namespace (``__default__`` for the default namespace, other names percent-encoded) of
``part-*.parquet`` files with the columns Pinecone's bulk import reads: ``id`` (string),
``values`` (list<float32>), ``sparse_values`` (struct of ``indices`` list<uint32> and
``values`` list<float32>) and ``metadata`` (a JSON string), plus ``id_is_int`` in files holding
integer ids. Pinecone imports every ``*.parquet`` file of a namespace folder and ignores other
files and other columns, so such a folder is a valid import directory as it is.

Foreign datasets (Pinecone import folders, vector-io VDF folders, plain files and globs) are
found by ``dataset.py`` and their columns normalised by ``columns.py``; files live wherever
``storage.py`` reaches (a local folder, ``s3://``, ``gs://``).

Every written chunk becomes one file named after a hash of its namespace and ids, written
atomically: writing the same chunk again (a retried bundle) replaces the same file instead of
adding a copy. A write is an upsert: ids it holds are first removed from the namespace's other
files (``keys.KeyIndex`` tells which files may hold them, so a write costs a lookup of its own
ids, not a probe of every stored one). Reads split by file and, inside a file, by row group.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc

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
from io_connectors.core.fields import FieldMapping
from io_connectors.core.records import IdValue, UnreadableRecords, VectorBatch
from io_connectors.parquet.columns import ColumnPlan
from io_connectors.parquet.dataset import (
    INDEX_FILE,
    Dataset,
    discover,
    list_datasets,
    namespace_folder,
)
from io_connectors.parquet.keys import KeyIndex
from io_connectors.parquet.rows import UNREADABLE, footer, read_row_group
from io_connectors.parquet.storage import Storage, has_glob

FORMAT = "vector-migrate/parquet/1"
URI_SCHEMES = {"parquet": "", "parquet+s3": "s3://", "parquet+gs": "gs://"}
SECRET_QUERY_OPTIONS = ("access_key", "secret_key", "session_token")


class ParquetConnector(Connector):
    provider = "parquet"
    capabilities = Capabilities(dense_optional=True, default_chunk_size=10_000)

    def __init__(self, spec: ConnectorSpec) -> None:
        super().__init__(spec)
        self._key_indexes: dict[str, KeyIndex] = {}  # namespace folder -> its files' id keys
        self._datasets: dict[str, Dataset] = {}  # read-side cache, per worker
        self._checked_writable: set[str] = set()  # indexes known to be in our layout
        try:
            root = str(spec.options["path"])
        except KeyError:
            raise ConfigError(
                "parquet: the 'path' option (the folder holding the indexes) is required"
            ) from None
        self.storage = Storage(root, spec.options)
        self.fields = FieldMapping.from_options(spec.options)
        self.row_group_size = int(spec.options.get("row_group_size", 10_000))

    @classmethod
    def parse_uri(cls, uri: str) -> Location:
        """``parquet:///root/INDEX``, ``parquet+s3://bucket/prefix/INDEX``, ``parquet+gs://...``;
        INDEX may be a file or a glob; the query holds options (field mapping, ``metric``,
        ``endpoint_url``, ``region``...), never credentials."""
        parts = urlsplit(uri)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        refused = [k for k in SECRET_QUERY_OPTIONS if k in query]
        if refused:
            raise ConfigError(
                f"parquet URIs take no credentials ({', '.join(refused)}): URIs end up in logs and shell "
                "history; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the Client options"
            )
        prefix = URI_SCHEMES.get(parts.scheme.lower(), "")
        segments = unquote(parts.netloc + parts.path).rstrip("/").split("/")
        cut = next((i for i, s in enumerate(segments) if has_glob(s)), len(segments) - 1)
        root, index = "/".join(segments[:cut]), "/".join(segments[cut:])
        if not index or (prefix and cut == 0):
            raise ConfigError(f"parquet URI {uri!r} names no index; use parquet:///root/index")
        options = {k: v for k, v in query.items() if k != "namespace"}
        options["path"] = prefix + (root or "/")
        return Location(ConnectorSpec("parquet", options), index, query.get("namespace"))

    # -- indexes ---------------------------------------------------------------------------
    def _dataset(self, index: str) -> Dataset:
        return discover(self.storage, index, self.spec.options)

    def _index_dir(self, index: str) -> str:
        if not index or "/" in index or index in (".", "..") or has_glob(index):
            raise ConfigError(f"parquet: {index!r} is not a valid index (folder) name to write")
        return index

    def _writable(self, index: str) -> None:
        """Refuse writes into foreign datasets; checked once per index and connector."""
        if index in self._checked_writable:
            return
        dataset = self._dataset(index)
        if not dataset.writable:
            raise ConfigError(
                f"parquet: {dataset.url} is a {dataset.layout} dataset, read-only here; "
                "write to a new index folder instead"
            )
        self._checked_writable.add(index)

    def list_indexes(self) -> list[str]:
        return list_datasets(self.storage)

    def describe_index(self, index: str) -> IndexInfo:
        dataset = self._dataset(index)
        counts: dict[str, int] = {}
        for namespace, count in self._counts(dataset):
            counts[namespace] = counts.get(namespace, 0) + count
        counts = {ns: n for ns, n in counts.items() if n}
        dimension, metric, notes = self._facts(dataset)
        details: dict[str, object] = {"path": dataset.url, "layout": dataset.layout}
        if notes:
            details["notes"] = notes
        sparse = dataset.sparse if dataset.sparse is not None else self._has_sparse(dataset)
        return IndexInfo(index, dimension, metric, sparse, sum(counts.values()), counts, details)

    def _facts(self, dataset: Dataset) -> tuple[int | None, str, list[str]]:
        notes = []
        metric = self.spec.options.get("metric")
        if metric:
            metric = normalize_metric(str(metric))
        elif dataset.metric:
            metric = dataset.metric
        else:
            metric = "cosine"
            notes.append("metric defaulted to cosine (the data states none; set metric= to change)")
        dimension = dataset.dimension
        if dimension is None and dataset.layout != "native":
            dimension = self._inferred_dimension(dataset)
        return dimension, metric, notes

    def _inferred_dimension(self, dataset: Dataset) -> int | None:
        """The vector column's fixed size, or the length of the first vector in the data."""
        for files in dataset.files.values():
            for path in files:
                plan = self._column_plan(dataset, path)
                if plan.values is None:
                    return None
                kind = self.storage.parquet(path).schema_arrow.field(plan.values).type
                if pa.types.is_fixed_size_list(kind):
                    return kind.list_size
                reader = self.storage.parquet(path, streaming=True)
                for rows in reader.iter_batches(batch_size=1_000, columns=[plan.values]):
                    lengths = pc.drop_null(pc.list_value_length(rows.column(0)))
                    if len(lengths):
                        return int(lengths[0].as_py())
        return None

    def _has_sparse(self, dataset: Dataset) -> bool:
        for files in dataset.files.values():
            for path in files[:1]:
                return self._column_plan(dataset, path).sparse is not None
        return False

    def _column_plan(self, dataset: Dataset, path: str) -> ColumnPlan:
        return ColumnPlan.for_schema(
            self.storage.parquet(path).schema_arrow,
            self.fields,
            self.storage.url(path),
            vector_column=dataset.vector_column,
            id_column=dataset.id_column,
            extra_columns_are_metadata=dataset.extra_columns_are_metadata,
        )

    def _counts(self, dataset: Dataset) -> Iterator[tuple[str, int]]:
        """(namespace, rows) per file, or per namespace value with ``namespace_field``; files
        whose footer cannot be read count nothing (``count_is_exact`` says so)."""
        for namespace, files in dataset.files.items():
            for path in files:
                meta = footer(self.storage, path)
                if meta is None:
                    continue
                if self.fields.namespace_field is None:
                    yield namespace, meta.num_rows
                    continue
                column = self.storage.parquet(path).read([self._column_plan(dataset, path).namespace])[0]
                for entry in pc.value_counts(pc.fill_null(pc.cast(column, pa.string()), "")).to_pylist():
                    yield entry["values"], entry["counts"]

    def create_index(
        self, name: str, dimension: int | None, metric: str = "cosine", sparse: bool = False
    ) -> None:
        folder = self._index_dir(name)
        metric = normalize_metric(metric)
        if self.storage.is_file(folder, INDEX_FILE):
            existing = json.loads(self.storage.read_text(folder, INDEX_FILE))
            if existing.get("dimension") != dimension:
                found = existing.get("dimension")
                raise ConfigError(f"parquet: index {name!r} exists with dimension {found}, not {dimension}")
            return
        if self.storage.is_dir(folder):
            self._refuse_foreign(name)
        description = {"format": FORMAT, "dimension": dimension, "metric": metric, "sparse": sparse}
        self.storage.write_bytes(f"{folder}/{INDEX_FILE}", json.dumps(description, indent=2).encode())

    def _refuse_foreign(self, name: str) -> None:
        """An existing folder of foreign data never becomes one of our indexes by accident."""
        try:
            dataset = self._dataset(name)
        except IndexNotFound:
            return  # an empty folder
        raise ConfigError(
            f"parquet: {dataset.url} holds a {dataset.layout} dataset, read-only here; "
            "write to a new index folder instead"
        )

    def delete_index(self, name: str) -> None:
        """Deletes our own indexes only: a folder of foreign data is refused, never removed."""
        folder = self._index_dir(name)
        if not self.storage.is_file(folder, INDEX_FILE):
            self._refuse_foreign(name)
        self._checked_writable.discard(name)
        self.storage.delete_dir(folder)

    # -- reading ---------------------------------------------------------------------------
    def plan(self, index: str, namespace: str | None, batch_size: int) -> list[Split]:
        """One split a file; a file whose footer cannot be read is one split of one position,
        whose read reports it (so it is never skipped silently)."""
        dataset = self._dataset(index)
        self._datasets[index] = dataset
        splits = []
        for file_namespace, files in dataset.files.items():
            for path in files:
                meta = footer(self.storage, path)
                if meta is None:
                    if namespace is None or namespace == file_namespace:
                        splits.append(Split(index, file_namespace, 0, 1, batch_size, path, estimated_count=0))
                    continue
                if not meta.num_rows:
                    continue
                if self.fields.namespace_field is None:
                    if namespace is None or namespace == file_namespace:
                        splits.append(
                            Split(
                                index, file_namespace, 0, meta.num_row_groups, batch_size, path, meta.num_rows
                            )
                        )
                    continue
                for value, count in self._counts(replace(dataset, files={"": (path,)})):
                    if namespace is None or namespace == value:
                        splits.append(Split(index, value, 0, meta.num_row_groups, batch_size, path, count))
        return splits

    def count_is_exact(self, index: str, namespace: str | None = None) -> bool:
        """Exact from the files' footers, unless a footer cannot be read."""
        return all(
            footer(self.storage, path) is not None
            for file_namespace, files in self._dataset(index).files.items()
            if namespace is None or self.fields.namespace_field is not None or namespace == file_namespace
            for path in files
        )

    def split_restriction(self, split: Split, start: int, stop: int) -> list[tuple[int, int]]:
        return [(group, group + 1) for group in range(start, stop)]

    def read(self, split: Split, tracker: Tracker) -> Iterator[VectorBatch | UnreadableRecords]:
        """Row group by row group; a bad row fails alone, an unreadable row group with its size."""
        if split.index not in self._datasets:
            self._datasets[split.index] = self._dataset(split.index)
        try:
            reader = self.storage.parquet(split.key, streaming=True)
        except UNREADABLE as exc:
            if tracker.try_claim(tracker.current_restriction().start):
                yield UnreadableRecords(
                    split.namespace,
                    f"the file cannot be read, number of records unknown: {type(exc).__name__}: {exc}",
                    count=0,
                    where=f"file {split.key}",
                    error_class=type(exc).__name__,
                )
            return
        try:
            plan = self._column_plan(self._datasets[split.index], split.key)
        except ConfigError as exc:  # this file lacks the dataset's columns: its records, not the job
            if tracker.try_claim(tracker.current_restriction().start):
                yield UnreadableRecords(
                    split.namespace,
                    str(exc),
                    count=reader.metadata.num_rows,
                    where=f"file {split.key}",
                    error_class="UnreadableRecord",
                )
            return
        columns = plan.read_columns + (["id_is_int"] if "id_is_int" in reader.schema_arrow.names else [])

        def canonical(table: pa.Table) -> pa.Table:
            if plan.namespace is not None:
                names = pc.fill_null(pc.cast(table.column(plan.namespace), pa.string()), "")
                table = table.filter(pc.equal(names, split.namespace))
            return _with_flags(plan.normalise(table), table)

        for group in range(tracker.current_restriction().start, reader.metadata.num_row_groups):
            if not tracker.try_claim(group):
                return
            yield from read_row_group(reader, group, split, columns, plan.id, canonical)

    # -- writing ---------------------------------------------------------------------------
    def write(self, index: str, batch: VectorBatch) -> None:
        if not len(batch):
            return
        self._writable(index)
        folder = f"{self._index_dir(index)}/{namespace_folder(batch.namespace)}"
        digest = hashlib.sha1(repr((batch.namespace, batch.ids)).encode()).hexdigest()[:24]
        final = f"{folder}/part-{digest}.parquet"
        keys = _id_keys(batch.ids)
        self._remove_ids(folder, keys, keep=final)
        self._write_file(final, batch.to_arrow())
        self._key_indexes[folder].add(final, self.storage.stamp(final), keys)

    def _write_file(self, final: str, rows: pa.RecordBatch | pa.Table) -> None:
        table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
        self.storage.write_table(final, _file_columns(table), self.row_group_size)

    def _remove_ids(self, folder: str, keys: list[str], keep: str) -> None:
        """Upsert semantics: drop these ids from every other file of the namespace."""
        index = self._key_indexes.setdefault(folder, KeyIndex())
        index.sync(self.storage.parquet_stamps(folder), self._file_id_keys)
        wanted = pa.array(keys, type=pa.string())
        for path in sorted(index.holders(keys) - {keep}):
            hits = pc.is_in(pa.array(self._file_id_keys(path), type=pa.string()), value_set=wanted)
            if not pc.any(hits).as_py():
                continue  # a hash collision, not a stored id
            remaining = self.storage.parquet(path).read().filter(pc.invert(hits))
            if remaining.num_rows:
                self._write_file(path, remaining)
                index.add(path, self.storage.stamp(path), self._file_id_keys(path))
            else:
                self.storage.delete_file(path)
                index.drop([path])

    def _file_id_keys(self, path: str) -> list[str]:
        """The id keys (``_id_keys``) of one of our files, read from its id columns."""
        reader = self.storage.parquet(path)
        names = [c for c in ("id", "id_is_int") if c in reader.schema_arrow.names]
        table = reader.read(columns=names)
        flags = table.column("id_is_int").to_pylist() if "id_is_int" in names else None
        ids = table.column("id").to_pylist()
        return [("i:" if flags and flags[n] else "s:") + v for n, v in enumerate(ids)]

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
        self._writable(index)
        folder = f"{self._index_dir(index)}/{namespace_folder(namespace)}"
        if delete_all:
            self.storage.delete_dir(folder)
            return
        self._remove_ids(folder, _id_keys(ids or ()), keep="")

    def _scan(self, index: str, namespace: str) -> Iterator[VectorBatch]:
        """Every readable record of the namespace (point access: unreadable ones are not found)."""
        for split in self.plan(index, namespace, 100_000):
            for item in self.read(split, _Unbounded(split.stop)):
                if isinstance(item, VectorBatch):
                    yield item


class _Unbounded:
    """A tracker that grants every claim: whole-file reads outside Beam."""

    def __init__(self, stop: int) -> None:
        self.stop = stop

    def try_claim(self, position: int) -> bool:
        return True

    def current_restriction(self) -> range:
        return range(0, self.stop)


def _with_flags(canonical: pa.Table, source: pa.Table) -> pa.Table:
    """Keep our own ``id_is_int`` flags when the file has them (our layout)."""
    if "id_is_int" in source.column_names and "id_is_int" not in canonical.column_names:
        return canonical.append_column("id_is_int", source.column("id_is_int"))
    return canonical


def _file_columns(table: pa.Table) -> pa.Table:
    """Drop the ``id_is_int`` flag when no id is an integer: then the file is pure import layout."""
    if "id_is_int" not in table.schema.names or pc.any(table.column("id_is_int")).as_py():
        return table
    return table.drop_columns(["id_is_int"])


def _id_keys(ids: Sequence[IdValue]) -> list[str]:
    """Ids as comparable strings that keep their kind apart: 7 and "7" are different ids."""
    return [f"i:{i}" if isinstance(i, int) else f"s:{i}" for i in ids]
