"""Reading a Parquet file's rows with record-level isolation.

A bad row fails alone (``core.decode``); a row group that cannot be read is reported with its
row count from the footer, and its ids when the id column alone can be read; a file whose
footer cannot be read is told apart (``footer`` returns None) so plans and counts carry on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from io_connectors.core.contract import Split
from io_connectors.core.decode import decode_arrow
from io_connectors.core.records import IdValue, UnreadableRecords, VectorBatch
from io_connectors.parquet.storage import Storage

UNREADABLE = (OSError, pa.ArrowException)


def footer(storage: Storage, path: str) -> pq.FileMetaData | None:
    """A file's Parquet metadata, or None when the file cannot be read as Parquet."""
    try:
        return storage.parquet(path).metadata
    except UNREADABLE:
        return None


def read_row_group(
    reader: pq.ParquetFile,
    group: int,
    split: Split,
    columns: list[str],
    id_column: str,
    canonical: Callable[[pa.Table], pa.Table],
) -> Iterator[VectorBatch | UnreadableRecords]:
    """One row group's rows in batches, each bad row isolated; what cannot be read is reported
    with its row count from the footer (less the rows already yielded), and its ids when the id
    column alone can be read. ``canonical`` turns the file's columns into ours (foreign layouts,
    a namespace column). The group is streamed ``split.batch_size`` rows at a time (with a
    ``streaming`` reader, page by page): memory does not grow with the row group's size."""
    meta = reader.metadata
    first_row = sum(meta.row_group(g).num_rows for g in range(group))
    rows = meta.row_group(group).num_rows
    where = f"file {split.key} row group {group}"
    done = 0  # rows of the group read so far (before ``canonical`` filters any)
    try:
        for raw in reader.iter_batches(batch_size=split.batch_size, row_groups=[group], columns=columns):
            table = canonical(pa.Table.from_batches([raw]))
            done += raw.num_rows
            offset = first_row + done - raw.num_rows
            for batch in table.to_batches(max_chunksize=split.batch_size):
                yield from decode_arrow(batch, split.namespace, where, offset)
                offset += batch.num_rows
    except UNREADABLE as exc:
        yield UnreadableRecords(
            split.namespace,
            f"the row group cannot be read: {type(exc).__name__}: {exc}",
            ids=_ids_if_readable(reader, group, id_column)[done:],
            count=rows - done,
            where=where,
            error_class=type(exc).__name__,
        )


def _ids_if_readable(reader: pq.ParquetFile, group: int, id_column: str) -> tuple[IdValue, ...]:
    try:
        names = [c for c in (id_column, "id_is_int") if c in reader.schema_arrow.names]
        table = reader.read_row_group(group, columns=names)
    except (*UNREADABLE, ValueError):
        return ()
    ids = table.column(id_column).to_pylist()
    if "id_is_int" not in table.column_names:
        return tuple(ids)
    return tuple(int(i) if f else i for i, f in zip(ids, table.column("id_is_int").to_pylist()))
