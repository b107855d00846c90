"""LanceDB connector throughput on the embedded engine, against LanceDB's own API.

    .venv/bin/python bench/bench_lancedb.py --vectors 100000 --dimension 768

Same vectors (int ids, float32 rows, small metadata already encoded as JSON on both sides), same
batches, fresh tables; raw and connector runs alternate and the best of two counts (the machine
may be shared):

* write: ``table.add`` of an Arrow table per batch (the fastest way in, but re-running it
  duplicates rows), ``table.merge_insert("id")`` per batch (LanceDB's upsert on one key), against
  ``LanceDBConnector.write`` (``merge_insert`` on namespace, id and id kind), and a whole
  ``Migration`` memory -> lancedb (Beam: splits, validation, rechunking, upserts, compaction);
* read (of the table the raw ``add`` wrote, in the connector's layout): ``table.to_arrow()`` and
  ``to_lance().to_batches()``, each vector column turned into a float32 matrix, against the
  connector's planned split reads (``plan`` + ``read``, producing ``VectorBatch``es with parsed
  metadata), and a whole ``Migration`` lancedb -> memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import lancedb
import numpy as np
import pyarrow as pa
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker

from io_connectors import Client, VectorBatch
from io_connectors.lancedb.schema import table_schema
from pipelines import Migration


def make_batches(n: int, dimension: int, batch: int) -> list[VectorBatch]:
    rng = np.random.default_rng(0)
    batches = []
    for lo in range(0, n, batch):
        size = min(batch, n - lo)
        meta = [{"i": i, "tag": f"t{i % 9}"} for i in range(lo, lo + size)]
        vectors = VectorBatch(
            list(range(lo, lo + size)), rng.standard_normal((size, dimension), np.float32), None, meta
        )
        vectors.metadata_json()  # encoded once, up front, for both sides
        batches.append(vectors)
    return batches


def arrow_rows(batch: VectorBatch, schema: pa.Schema) -> pa.Table:
    """What a LanceDB user hands to ``add``: the same columns the connector writes."""
    n, dim = batch.values.shape
    return pa.Table.from_arrays(
        [
            pa.array([""] * n),
            pa.array([str(i) for i in batch.ids]),
            pa.array([True] * n),
            pa.FixedSizeListArray.from_arrays(pa.array(batch.values.reshape(-1)), dim),
            pa.nulls(n, schema.field("sparse_values").type),
            pa.array(batch.metadata_json(), pa.string()),
        ],
        schema=schema,
    )


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def matrix(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy().reshape(-1, dim)


def raw_reads(table, dim: int, size: int) -> dict[str, Callable[[], int]]:
    def whole() -> int:
        return len(matrix(table.to_arrow().column("vector"), dim))

    def batches() -> int:
        seen = 0
        for rows in table.to_lance().to_batches(batch_size=size):
            seen += len(matrix(rows.column("vector"), dim))
        return seen

    return {"raw read, to_arrow": whole, "raw read, to_batches": batches}


def connector_read(client: Client, index: str, batch: int) -> int:
    connector, seen = client.connector, 0
    for split in connector.plan(index, None, batch):
        for start, stop in connector.split_restriction(split, split.start, split.stop):
            for read in connector.read(split, OffsetRestrictionTracker(OffsetRange(start, stop))):
                seen += len(read)
    return seen


def measure(batches: list[VectorBatch], n: int, dim: int, size: int, root: Path) -> dict[str, float]:
    schema = table_schema(dim, "cosine", False)
    db = lancedb.connect(root / "raw", read_consistency_interval=dt.timedelta(0))
    times: dict[str, list[float]] = {"raw add": [], "raw merge_insert": [], "connector write": []}
    for run in range(2):
        added = db.create_table(f"add-{run}", schema=schema)
        times["raw add"].append(timed(lambda t=added: [t.add(arrow_rows(b, schema)) for b in batches]))
        merged = db.create_table(f"merge-{run}", schema=schema)
        times["raw merge_insert"].append(
            timed(
                lambda t=merged: [
                    t.merge_insert("id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute(arrow_rows(b, schema))
                    for b in batches
                ]
            )
        )
        ours = Client(provider="lancedb", uri=str(root / f"connector-{run}"))
        ours.create_index("bench", dim, "cosine")
        times["connector write"].append(
            timed(lambda c=ours: [c.connector.write("bench", b) for b in batches])
        )
    rates = {name: n / min(runs) for name, runs in times.items()}

    source = Client(provider="memory", store=f"bench-{uuid.uuid4().hex[:8]}")
    source.create_index("src", dim, "cosine")
    for b in batches:
        source.connector.write("src", b)
    target = Client(provider="lancedb", uri=str(root / "migration"))
    result = Migration(source, target).migrate(source_index="src", target_index="bench", batch_size=size)
    assert result.migrated_count == n, result.summary()
    rates["migration memory->lancedb"] = n / result.duration_seconds

    table = db.open_table("add-0")
    table.optimize()  # one compacted table for every reader
    reads: dict[str, list[float]] = {
        "raw read, to_arrow": [],
        "raw read, to_batches": [],
        "connector read": [],
    }
    reader = Client(provider="lancedb", uri=str(root / "raw"))
    for _ in range(2):
        for name, work in raw_reads(table, dim, size).items():
            reads[name].append(timed(work))
        reads["connector read"].append(timed(lambda: connector_read(reader, "add-0", size)))
    rates.update({name: n / min(runs) for name, runs in reads.items()})
    back = Client(provider="memory", store=f"bench-{uuid.uuid4().hex[:8]}")
    result = Migration(reader, back).migrate(source_index="add-0", target_index="back", batch_size=size)
    assert result.migrated_count == n, result.summary()
    rates["migration lancedb->memory"] = n / result.duration_seconds
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    n, dim, size = args.vectors, args.dimension, args.batch
    batches = make_batches(n, dim, size)
    root = Path(tempfile.mkdtemp(prefix="bench-lancedb-"))
    try:
        rates = measure(batches, n, dim, size, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n:,} vectors of dimension {dim}, int ids, batches of {size}; ratios against raw")
    print("merge_insert (writes) and to_batches (reads)")
    for name, rate in rates.items():
        writes = ("raw add", "raw merge_insert", "connector write", "migration memory->lancedb")
        base = rates["raw merge_insert"] if name in writes else rates["raw read, to_batches"]
        print(f"{name:>26}: {rate:>9,.0f} vectors/s  ({rate / base:5.2f} x raw)")


if __name__ == "__main__":
    main()
