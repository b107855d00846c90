"""The unit that moves through a migration: a batch of vectors from one namespace.

A batch keeps its dense values as one contiguous float32 matrix and its sparse values in CSR
form, so that it costs a handful of Python objects however many vectors it holds. Ids keep
their kind: an integer id stays an ``int`` and a string id stays a ``str`` through every
conversion, including Arrow and Parquet (where ids are stored as strings next to an
``id_is_int`` flag column).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

IdValue = int | str
Metadata = dict[str, Any]

DENSE_DTYPE = np.float32
SPARSE_INDEX_DTYPE = np.uint32


class RecordError(ValueError):
    """A record that cannot be represented; the message names the record and the problem."""


@dataclass(frozen=True)
class UnreadableRecords:
    """Source records a connector's ``read`` could not turn into a ``VectorBatch``.

    Yielded by ``read`` next to batches; the generic read routes it to the failed output
    (stage "read") and counts ``count`` records there. ``ids`` names the records when their ids
    could be read; otherwise ``positions`` locates them inside ``where`` (a file, a row group, a
    page range). For a range that could not be read at all, ``count`` is the number of records
    it held (from row-group metadata, page counts or listed ids), ``ids`` those ids where cheap.
    """

    namespace: str
    reason: str
    ids: tuple[IdValue, ...] = ()
    positions: tuple[int, ...] = ()
    count: int | None = None
    where: str = ""
    error_class: str = "UnreadableRecord"

    def __post_init__(self) -> None:
        if self.count is None:
            object.__setattr__(self, "count", len(self.ids) or len(self.positions))

    def message(self) -> str:
        located = f"{self.where}: " if self.where else ""
        if self.positions and not self.ids:
            shown = ", ".join(str(p) for p in self.positions[:20])
            more = f" (and {len(self.positions) - 20} more)" if len(self.positions) > 20 else ""
            located += f"row(s) {shown}{more}: "
        return f"{located}{self.reason}"


@dataclass(frozen=True)
class SparseBlock:
    """Sparse vectors of a batch in CSR form.

    Row ``i`` holds ``indices[indptr[i]:indptr[i+1]]`` and the matching ``values``;
    ``present[i]`` is False for a row that has no sparse vector at all (distinct from an empty
    one, which some stores accept and others reject).
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    present: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[Sequence[int], Sequence[float]] | None]) -> SparseBlock:
        lengths = np.fromiter((0 if r is None else len(r[0]) for r in rows), dtype=np.int64, count=len(rows))
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.empty(int(indptr[-1]), dtype=SPARSE_INDEX_DTYPE)
        values = np.empty(int(indptr[-1]), dtype=DENSE_DTYPE)
        for i, row in enumerate(rows):
            if row is None:
                continue
            idx, val = row
            if len(idx) != len(val):
                raise RecordError(f"sparse vector of row {i} has {len(idx)} indices but {len(val)} values")
            start, stop = indptr[i], indptr[i + 1]
            indices[start:stop] = _as_uint32(idx, i)
            values[start:stop] = np.asarray(val, dtype=DENSE_DTYPE)
        present = np.fromiter((r is not None for r in rows), dtype=bool, count=len(rows))
        return cls(indptr, indices, values, present)

    def __len__(self) -> int:
        return len(self.present)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.present[i]:
            return None
        start, stop = self.indptr[i], self.indptr[i + 1]
        return self.indices[start:stop], self.values[start:stop]

    def take(self, rows: np.ndarray) -> SparseBlock:
        return SparseBlock.from_rows([self.row(int(i)) for i in rows])

    def slice(self, start: int, stop: int) -> SparseBlock:
        lo, hi = self.indptr[start], self.indptr[stop]
        return SparseBlock(
            self.indptr[start : stop + 1] - lo,
            self.indices[lo:hi],
            self.values[lo:hi],
            self.present[start:stop],
        )

    @classmethod
    def concat(cls, blocks: Sequence[SparseBlock]) -> SparseBlock:
        offsets = np.cumsum([0] + [int(b.indptr[-1]) for b in blocks[:-1]])
        indptr = np.concatenate(
            [np.zeros(1, dtype=np.int64)] + [b.indptr[1:] + off for b, off in zip(blocks, offsets)]
        )
        return cls(
            indptr,
            np.concatenate([b.indices for b in blocks]),
            np.concatenate([b.values for b in blocks]),
            np.concatenate([b.present for b in blocks]),
        )

    def to_arrow(self) -> pa.StructArray:
        offsets = pa.array(self.indptr.astype(np.int32))
        mask = pa.array(~self.present)
        return pa.StructArray.from_arrays(
            [
                pa.ListArray.from_arrays(offsets, pa.array(self.indices, type=pa.uint32())),
                pa.ListArray.from_arrays(offsets, pa.array(self.values, type=pa.float32())),
            ],
            names=["indices", "values"],
            mask=mask,
        )

    @classmethod
    def from_arrow(cls, column: pa.Array) -> SparseBlock:
        if column.null_count == 0:
            return _sparse_from_full_struct(column)
        return cls.from_rows([None if r is None else (r["indices"], r["values"]) for r in column.to_pylist()])

    def nbytes(self) -> int:
        return self.indices.nbytes + self.values.nbytes + self.indptr.nbytes


def _sparse_from_full_struct(column: pa.Array) -> SparseBlock:
    """Fast path for a struct column without nulls: reuse Arrow's flat buffers."""
    column = pa.concat_arrays([column]) if isinstance(column, pa.ChunkedArray) else column
    indices_list = column.field("indices")
    values_list = column.field("values")
    indptr = indices_list.offsets.to_numpy().astype(np.int64)
    if not np.array_equal(indptr, values_list.offsets.to_numpy()):
        raise RecordError("sparse vectors with different numbers of indices and values")
    base = indptr[0]
    return SparseBlock(
        indptr - base,
        indices_list.values.to_numpy()[base : indptr[-1]].astype(SPARSE_INDEX_DTYPE, copy=False),
        values_list.values.to_numpy()[base : indptr[-1]].astype(DENSE_DTYPE, copy=False),
        np.ones(len(column), dtype=bool),
    )


def _as_uint32(indices: Sequence[int], row: int) -> np.ndarray:
    arr = np.asarray(indices)
    if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() > np.iinfo(np.uint32).max):
        raise RecordError(f"sparse indices of row {row} must be integers in 0..2**32-1")
    return arr.astype(SPARSE_INDEX_DTYPE)


@dataclass
class VectorBatch:
    """Vectors of one namespace: ids, dense matrix, sparse block and metadata, row-aligned.

    ``values`` is None when the vectors have no dense part (sparse-only indexes);
    ``sparse`` is None when no row has a sparse part; ``metadata`` holds one dict or None a row.
    """

    ids: list[IdValue]
    values: np.ndarray | None = None
    sparse: SparseBlock | None = None
    metadata: list[Metadata | None] = field(default_factory=list)
    namespace: str = ""
    # Metadata as JSON text, encoded at most once per batch; batches are never mutated in place.
    _metadata_json: list[str | None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not self.metadata:
            self.metadata = [None] * n
        if self.values is not None:
            self.values = np.ascontiguousarray(self.values, dtype=DENSE_DTYPE)
            if self.values.ndim != 2 or self.values.shape[0] != n:
                raise RecordError(f"dense values have shape {self.values.shape}, expected ({n}, dimension)")
        if self.sparse is not None and len(self.sparse) != n:
            raise RecordError(f"sparse block has {len(self.sparse)} rows, expected {n}")
        if len(self.metadata) != n:
            raise RecordError(f"metadata has {len(self.metadata)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dimension(self) -> int | None:
        return None if self.values is None else int(self.values.shape[1])

    def nbytes(self) -> int:
        """A cheap estimate of the payload size, used to keep requests under byte limits."""
        dense = 0 if self.values is None else self.values.nbytes
        sparse = 0 if self.sparse is None else self.sparse.nbytes()
        ids = sum(len(str(i)) for i in self.ids)
        return dense + sparse + ids + sum(0 if m is None else len(m.encode()) for m in self.metadata_json())

    def metadata_json(self) -> list[str | None]:
        """Each row's metadata as JSON text, shared by validation, request sizing and writers.

        Raises RecordError naming the first record whose metadata is not JSON-serialisable.
        """
        if self._metadata_json is None:
            encoded: list[str | None] = []
            for vector_id, meta in zip(self.ids, self.metadata):
                try:
                    encoded.append(None if meta is None else metadata_to_json(meta))
                except (TypeError, ValueError) as exc:
                    raise RecordError(
                        f"vector {vector_id!r}: metadata is not JSON-serialisable: {exc}"
                    ) from None
            self._metadata_json = encoded
        return self._metadata_json

    def slice(self, start: int, stop: int) -> VectorBatch:
        """Rows ``[start, stop)``, clamped to the batch like a Python slice."""
        start, stop = min(start, len(self)), min(stop, len(self))
        return VectorBatch(
            ids=self.ids[start:stop],
            values=None if self.values is None else self.values[start:stop],
            sparse=None if self.sparse is None else self.sparse.slice(start, stop),
            metadata=self.metadata[start:stop],
            namespace=self.namespace,
            _metadata_json=None if self._metadata_json is None else self._metadata_json[start:stop],
        )

    def take(self, rows: Sequence[int]) -> VectorBatch:
        index = np.asarray(rows, dtype=np.int64)
        return VectorBatch(
            ids=[self.ids[i] for i in index],
            values=None if self.values is None else self.values[index],
            sparse=None if self.sparse is None else self.sparse.take(index),
            metadata=[self.metadata[i] for i in index],
            namespace=self.namespace,
            _metadata_json=None if self._metadata_json is None else [self._metadata_json[i] for i in index],
        )

    def with_namespace(self, namespace: str) -> VectorBatch:
        return VectorBatch(self.ids, self.values, self.sparse, self.metadata, namespace, self._metadata_json)

    @classmethod
    def concat(cls, batches: Sequence[VectorBatch]) -> VectorBatch:
        if len(batches) == 1:
            return batches[0]
        namespaces = {b.namespace for b in batches}
        if len(namespaces) != 1:
            raise ValueError(f"cannot concatenate batches of namespaces {sorted(namespaces)}")
        has_dense = {b.values is not None for b in batches}
        if len(has_dense) != 1:
            raise ValueError("cannot concatenate batches with and without dense values")
        sparse = None
        if any(b.sparse is not None for b in batches):
            sparse = SparseBlock.concat([b.sparse or _absent_sparse(len(b)) for b in batches])
        return cls(
            ids=[i for b in batches for i in b.ids],
            values=None if batches[0].values is None else np.concatenate([b.values for b in batches]),
            sparse=sparse,
            metadata=[m for b in batches for m in b.metadata],
            namespace=batches[0].namespace,
            _metadata_json=None
            if any(b._metadata_json is None for b in batches)
            else [m for b in batches for m in b._metadata_json],
        )

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        for i, vector_id in enumerate(self.ids):
            row: dict[str, Any] = {"id": vector_id}
            if self.values is not None:
                row["values"] = self.values[i]
            sparse = None if self.sparse is None else self.sparse.row(i)
            if sparse is not None:
                row["sparse_values"] = {"indices": sparse[0], "values": sparse[1]}
            if self.metadata[i] is not None:
                row["metadata"] = self.metadata[i]
            yield row

    def to_dicts(self) -> list[dict[str, Any]]:
        """Plain dicts with Python lists, in the client API's vector shape."""
        out = []
        for row in self.iter_rows():
            if "values" in row:
                row["values"] = row["values"].tolist()
            if "sparse_values" in row:
                sv = row["sparse_values"]
                row["sparse_values"] = {"indices": sv["indices"].tolist(), "values": sv["values"].tolist()}
            out.append(row)
        return out

    @classmethod
    def from_dicts(cls, vectors: Iterable[Mapping[str, Any]], namespace: str = "") -> VectorBatch:
        """Build a batch from ``{"id", "values", "sparse_values", "metadata"}`` dicts.

        Raises RecordError naming the record when one is malformed.
        """
        vectors = list(vectors)
        ids: list[IdValue] = []
        dense: list[Any] = []
        sparse_rows: list[tuple[Sequence[int], Sequence[float]] | None] = []
        metadata: list[Metadata | None] = []
        for position, vector in enumerate(vectors):
            if not isinstance(vector, Mapping) or "id" not in vector:
                raise RecordError(f"vector #{position} has no 'id' field")
            vector_id = check_id(vector["id"])
            ids.append(vector_id)
            values = vector.get("values")
            dense.append(values)
            sparse_rows.append(_sparse_row_from_dict(vector.get("sparse_values"), vector_id))
            meta = vector.get("metadata")
            if meta is not None and not isinstance(meta, Mapping):
                raise RecordError(
                    f"vector {vector_id!r}: metadata must be a mapping, got {type(meta).__name__}"
                )
            metadata.append(None if meta is None else dict(meta))
        values_matrix = _dense_matrix(ids, dense)
        sparse = SparseBlock.from_rows(sparse_rows) if any(r is not None for r in sparse_rows) else None
        return cls(ids, values_matrix, sparse, metadata, namespace)

    def to_arrow(self) -> pa.RecordBatch:
        """Arrow form: ``id`` string, ``id_is_int`` bool, ``values`` list<float32>,
        ``sparse_values`` struct, ``metadata`` JSON string."""
        n = len(self)
        columns: dict[str, pa.Array] = {
            "id": pa.array([str(i) for i in self.ids], type=pa.string()),
            "id_is_int": pa.array([isinstance(i, int) for i in self.ids], type=pa.bool_()),
        }
        if self.values is not None:
            dim = self.values.shape[1]
            offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
            columns["values"] = pa.ListArray.from_arrays(offsets, pa.array(self.values.reshape(-1)))
        if self.sparse is not None:
            columns["sparse_values"] = self.sparse.to_arrow()
        columns["metadata"] = pa.array(self.metadata_json(), type=pa.string())
        return pa.RecordBatch.from_arrays(list(columns.values()), names=list(columns))

    @classmethod
    def from_arrow(cls, table: pa.RecordBatch | pa.Table, namespace: str = "") -> VectorBatch:
        names = table.schema.names
        ids = _ids_from_arrow(table)
        values = None
        if "values" in names:
            values = _dense_from_arrow(table.column("values"), ids)
        sparse = None
        if "sparse_values" in names:
            column = table.column("sparse_values")
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            if column.null_count < len(column):
                sparse = SparseBlock.from_arrow(column)
        metadata: list[Metadata | None] = [None] * len(ids)
        encoded: list[str | None] | None = None
        if "metadata" in names:
            encoded = table.column("metadata").to_pylist()
            metadata = [None if m is None else metadata_from_json(m, ids[i]) for i, m in enumerate(encoded)]
        return cls(ids, values, sparse, metadata, namespace, encoded)


def _absent_sparse(n: int) -> SparseBlock:
    return SparseBlock(
        np.zeros(n + 1, dtype=np.int64),
        np.empty(0, dtype=SPARSE_INDEX_DTYPE),
        np.empty(0, dtype=DENSE_DTYPE),
        np.zeros(n, dtype=bool),
    )


def _ids_from_arrow(table: pa.RecordBatch | pa.Table) -> list[IdValue]:
    """Ids with their kind; a null id, an id of another type or a bad integer flag raises."""
    column = table.column("id")
    if not (
        pa.types.is_string(column.type)
        or pa.types.is_large_string(column.type)
        or pa.types.is_integer(column.type)
    ):
        raise RecordError(f"field 'id' has type {column.type}; expected strings or integers")
    if column.null_count:
        raise RecordError("field 'id' is null")
    raw_ids = column.to_pylist()
    if "id_is_int" not in table.schema.names:
        return raw_ids
    flags = table.column("id_is_int").to_pylist()
    try:
        return [int(i) if f else i for i, f in zip(raw_ids, flags)]
    except ValueError as exc:
        raise RecordError(f"field 'id' is flagged as an integer but is not one ({exc})") from None


def _dense_from_arrow(column: pa.Array | pa.ChunkedArray, ids: Sequence[IdValue]) -> np.ndarray | None:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return None
    if column.null_count == len(column):
        return None
    if not (
        pa.types.is_list(column.type)
        or pa.types.is_large_list(column.type)
        or pa.types.is_fixed_size_list(column.type)
    ):
        raise RecordError(f"field 'values' has type {column.type}; expected a list of numbers")
    value_type = column.type.value_type
    if not (pa.types.is_floating(value_type) or pa.types.is_integer(value_type)):
        raise RecordError(f"field 'values' has type {column.type}; expected a list of numbers")
    if column.null_count:
        missing = [ids[i] for i, v in enumerate(column.is_valid().to_pylist()) if not v][:5]
        raise RecordError(f"vectors {missing} have no dense values (field 'values' is null) while others do")
    if pa.types.is_fixed_size_list(column.type):
        column = column.cast(pa.list_(value_type))
    if column.values.null_count:
        raise RecordError("field 'values' contains null numbers")
    offsets = column.offsets.to_numpy()
    lengths = np.diff(offsets)
    if lengths.min() != lengths.max():
        bad = int(np.argmax(lengths != lengths[0]))
        raise RecordError(
            f"vector {ids[bad]!r}: field 'values' has {lengths[bad]} values, expected {lengths[0]}"
        )
    flat = column.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]]
    return flat.astype(DENSE_DTYPE, copy=False).reshape(len(column), int(lengths[0]))


def _dense_matrix(ids: Sequence[IdValue], dense: Sequence[Any]) -> np.ndarray | None:
    given = [v is not None for v in dense]
    if not any(given):
        return None
    if not all(given):
        missing = [ids[i] for i, g in enumerate(given) if not g][:5]
        raise RecordError(f"vectors {missing} have no 'values' while others in the batch do")
    lengths = {len(v) for v in dense}
    if len(lengths) != 1:
        first = len(dense[0])
        bad = next(i for i, v in enumerate(dense) if len(v) != first)
        raise RecordError(f"vector {ids[bad]!r} has {len(dense[bad])} values, expected {first}")
    try:
        return np.asarray(dense, dtype=DENSE_DTYPE)
    except (TypeError, ValueError) as exc:
        for i, v in enumerate(dense):
            try:
                np.asarray(v, dtype=DENSE_DTYPE)
            except (TypeError, ValueError):
                raise RecordError(f"vector {ids[i]!r}: values must be numbers ({exc})") from None
        raise


def _sparse_row_from_dict(sparse: Any, vector_id: IdValue) -> tuple[Sequence[int], Sequence[float]] | None:
    if sparse is None:
        return None
    if not isinstance(sparse, Mapping) or "indices" not in sparse or "values" not in sparse:
        raise RecordError(f"vector {vector_id!r}: sparse_values must have 'indices' and 'values'")
    indices, values = sparse["indices"], sparse["values"]
    if len(indices) != len(values):
        raise RecordError(
            f"vector {vector_id!r}: sparse_values has {len(indices)} indices but {len(values)} values"
        )
    try:
        return _as_uint32(indices, 0), np.asarray(values, dtype=DENSE_DTYPE)
    except RecordError:
        raise RecordError(f"vector {vector_id!r}: sparse indices must be integers in 0..2**32-1") from None


def check_id(vector_id: Any) -> IdValue:
    """Accept int and str ids (not bool, not float); name the problem otherwise."""
    if isinstance(vector_id, bool) or not isinstance(vector_id, (int, str)):
        raise RecordError(f"id {vector_id!r} must be an int or a str, not {type(vector_id).__name__}")
    if isinstance(vector_id, str) and not vector_id:
        raise RecordError("id must not be an empty string")
    return vector_id


def id_sort_key(vector_id: IdValue) -> tuple[int, int | str]:
    """A total order over mixed ids: integers first, then strings."""
    return (0, vector_id) if isinstance(vector_id, int) else (1, vector_id)


def metadata_to_json(metadata: Metadata) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def metadata_from_json(text: str, vector_id: IdValue) -> Metadata:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"vector {vector_id!r}: field 'metadata' is not valid JSON ({exc})") from None
    except RecursionError:
        raise RecordError(f"vector {vector_id!r}: field 'metadata' is nested too deeply to decode") from None
    if not isinstance(value, dict):
        raise RecordError(f"vector {vector_id!r}: field 'metadata' must be a JSON object")
    return value


def metadata_nbytes(metadata: Sequence[Metadata | None]) -> int:
    """Serialized size of the metadata column (what a JSON request body will carry)."""
    return sum(0 if m is None else len(metadata_to_json(m).encode()) for m in metadata)
