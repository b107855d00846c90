"""Qdrant connector throughput on the embedded engine, against the raw qdrant-edge API.

    .venv/bin/python bench/bench_qdrant.py --vectors 100000 --dimension 768

Same points (ids, float32 vectors, small payloads), same batch size; raw and connector runs
alternate and the best of two counts (the machine may be shared):

* write: ``EdgeShard.update(UpdateOperation.upsert_points(...))`` with points built from the numpy
  rows (the least any caller does), against ``QdrantConnector.write`` of the same batches, and
  against a whole ``Migration`` memory -> qdrant (Beam: splits, validation, rechunking, upserts);
* read (of one shard, the one the raw API wrote): ``EdgeShard.scroll`` pages with vectors and
  payloads, each vector copied into a float32 matrix as it is read (and, for reference, the
  page's lists converted at once, which keeps a page of lists alive and makes Python's garbage
  collector run often), against the connector's planned split reads (``plan`` + ``read``,
  producing ``VectorBatch``es), and against a whole ``Migration`` qdrant -> memory.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import qdrant_edge as qe
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker

from io_connectors import Client, VectorBatch
from io_connectors.qdrant.ids import id_fields, point_id
from pipelines import Migration


def make_batches(n: int, dimension: int, batch: int, id_kind: str) -> list[VectorBatch]:
    rng = np.random.default_rng(0)
    batches = []
    for lo in range(0, n, batch):
        size = min(batch, n - lo)
        ids = list(range(lo, lo + size)) if id_kind == "int" else [f"doc-{i}" for i in range(lo, lo + size)]
        meta = [{"i": i, "tag": f"t{i % 9}"} for i in range(lo, lo + size)]
        batches.append(VectorBatch(ids, rng.standard_normal((size, dimension), dtype=np.float32), None, meta))
    return batches


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def raw_shard(path: Path, dimension: int) -> qe.EdgeShard:
    config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(dimension, qe.Distance.Cosine))
    return qe.EdgeShard.create(str(path), config)


def raw_write(shard: qe.EdgeShard, batches: list[VectorBatch]) -> None:
    """Ids as the connector stores them (strings become UUIDs), payloads as given."""
    for batch in batches:
        rows = batch.values.tolist()
        ids = [point_id(i) for i in batch.ids]
        payloads = [{**m, **id_fields(i)} for i, m in zip(batch.ids, batch.metadata)]
        points = [qe.Point(i, v, p) for i, v, p in zip(ids, rows, payloads)]
        shard.update(qe.UpdateOperation.upsert_points(points))


def raw_read(shard: qe.EdgeShard, batch: int, fill: bool = True) -> int:
    """Pages with vectors and payloads, vectors into a float32 matrix as a consumer needs them:
    row by row into a preallocated matrix (``fill``), or the page's lists at once."""
    seen, offset = 0, None
    while True:
        request = qe.ScrollRequest(offset=offset, limit=batch, with_vector=True, with_payload=True)
        records, offset = shard.scroll(request)
        if fill:
            matrix = np.empty((len(records), len(records[0].vector) if records else 0), dtype=np.float32)
            for row, record in enumerate(records):
                matrix[row] = record.vector
        else:
            matrix = np.asarray([r.vector for r in records], dtype=np.float32)
        _ = [(r.id, r.payload) for r in records]
        seen += len(matrix)
        if offset is None:
            return seen


def connector_read(client: Client, index: str, batch: int) -> int:
    connector, seen = client.connector, 0
    for split in connector.plan(index, None, batch):
        for start, stop in connector.split_restriction(split, split.start, split.stop):
            for read in connector.read(split, OffsetRestrictionTracker(OffsetRange(start, stop))):
                seen += len(read)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=50_000)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--ids", choices=["int", "str"], default="int", help="str ids are mapped to UUIDs")
    args = parser.parse_args()
    n, dim, size = args.vectors, args.dimension, args.batch
    batches = make_batches(n, dim, size, args.ids)
    root = Path(tempfile.mkdtemp(prefix="bench-qdrant-"))
    try:
        rates = measure(batches, n, dim, size, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n:,} vectors of dimension {dim}, {args.ids} ids, batches of {size}")
    for name, rate in rates.items():
        base = rates["raw write"] if "write" in name or "->edge" in name else rates["raw read"]
        print(f"{name:>24}: {rate:>9,.0f} vectors/s  ({rate / base:5.2f} x raw)")


def measure(batches: list[VectorBatch], n: int, dim: int, size: int, root: Path) -> dict[str, float]:
    rates: dict[str, float] = {}

    # Writes: fresh shards, raw and connector alternating, best of two runs each.
    raw_times, connector_times = [], []
    for run in range(2):
        shard = raw_shard(root / ("raw" if run == 0 else f"raw-{run}"), dim)
        raw_times.append(timed(lambda s=shard: raw_write(s, batches)))
        shard.close()
        edge = Client(provider="qdrant", edge_path=str(root / f"connector-{run}"))
        edge.create_index("bench", dim, "cosine")
        connector_times.append(timed(lambda e=edge: [e.connector.write("bench", b) for b in batches]))
        edge.close()
    rates["raw write"] = n / min(raw_times)
    rates["connector write"] = n / min(connector_times)
    source = Client(provider="memory", store=f"bench-{uuid.uuid4().hex[:8]}")
    source.create_index("src", dim, "cosine")
    for b in batches:
        source.connector.write("src", b)
    target = Client(provider="qdrant", edge_path=str(root / "migration"))
    result = Migration(source, target).migrate(source_index="src", target_index="bench", batch_size=size)
    assert result.migrated_count == n, result.summary()
    target.close()
    rates["migration memory->edge"] = n / result.duration_seconds

    # Reads: the same shard (the one the raw API wrote) through each, best of two runs each.
    times: dict[str, list[float]] = {"raw read": [], "raw read, page of lists": [], "connector read": []}
    for _ in range(2):
        shard = qe.EdgeShard.load(str(root / "raw"))
        times["raw read"].append(timed(lambda s=shard: raw_read(s, size)))
        times["raw read, page of lists"].append(timed(lambda s=shard: raw_read(s, size, fill=False)))
        shard.close()
        reader = Client(provider="qdrant", edge_path=str(root))
        reader.index_info("raw")  # opens the shard, as EdgeShard.load did for the raw runs
        times["connector read"].append(timed(lambda r=reader: connector_read(r, "raw", size)))
        reader.close()
    rates.update({name: n / min(runs) for name, runs in times.items()})
    reader = Client(provider="qdrant", edge_path=str(root))
    back = Client(provider="memory", store=f"bench-{uuid.uuid4().hex[:8]}")
    result = Migration(reader, back).migrate(source_index="raw", target_index="back", batch_size=size)
    assert result.migrated_count == n, result.summary()
    reader.close()
    rates["migration edge->memory"] = n / result.duration_seconds

    return rates


if __name__ == "__main__":
    main()
