"""Milvus connector throughput on milvus-lite, against pymilvus' own calls on the same engine.

    .venv/bin/python bench/bench_milvus.py --vectors 20000 --dimension 768

Same records (int ids, float32 vectors, small metadata objects), same batch size, one .db file;
raw and connector runs alternate and the best of ``--rounds`` counts (the machine may be shared):

* write: ``MilvusClient.insert`` of row dicts built from the numpy rows (the least any caller
  does) into a collection of the same fields (INT64 key, vector, JSON metadata), against
  ``MilvusConnector.write`` of the same batches (keys, namespace field, upsert), and against a
  whole ``Migration`` memory -> milvus (Beam: splits, validation, rechunking, upserts);
* read: ``MilvusClient.query_iterator`` over every field, each page's vectors copied into a
  float32 matrix, against the connector's planned split reads (``plan`` + ``read``, producing
  ``VectorBatch``es), and against a whole ``Migration`` milvus -> memory.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker

from io_connectors import Client, VectorBatch
from pipelines import Migration


def make_batches(n: int, dimension: int, batch: int) -> list[VectorBatch]:
    rng = np.random.default_rng(0)
    batches = []
    for lo in range(0, n, batch):
        size = min(batch, n - lo)
        meta = [{"i": i, "tag": f"t{i % 9}"} for i in range(lo, lo + size)]
        values = rng.standard_normal((size, dimension), dtype=np.float32)
        batches.append(VectorBatch(list(range(lo, lo + size)), values, None, meta))
    return batches


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def raw_collection(raw, name: str, dimension: int) -> None:
    from pymilvus import DataType, MilvusClient

    if raw.has_collection(name):
        raw.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("metadata", DataType.JSON, nullable=True)
    params = raw.prepare_index_params()
    params.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    raw.create_collection(name, schema=schema, index_params=params)


def raw_write(raw, name: str, batches: list[VectorBatch]) -> None:
    for batch in batches:
        rows = [
            {"id": i, "vector": v, "metadata": m}
            for i, v, m in zip(batch.ids, batch.values.tolist(), batch.metadata)
        ]
        raw.insert(name, rows)


def raw_read(raw, name: str, batch: int, dimension: int) -> int:
    iterator = raw.query_iterator(name, batch_size=batch, output_fields=["id", "vector", "metadata"])
    seen = 0
    while rows := iterator.next():
        matrix = np.empty((len(rows), dimension), dtype=np.float32)
        for row, record in enumerate(rows):
            matrix[row] = record["vector"]
        seen += len(rows)
    iterator.close()
    return seen


def connector_write(client: Client, index: str, batches: list[VectorBatch]) -> None:
    for batch in batches:
        client.connector.write(index, batch)


def connector_read(client: Client, index: str, batch: int) -> int:
    connector, seen = client.connector, 0
    for split in connector.plan(index, None, batch):
        tracker = OffsetRestrictionTracker(OffsetRange(split.start, split.stop))
        seen += sum(len(b) for b in connector.read(split, tracker))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vectors", type=int, default=20_000)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)  # milvus-lite lacks AllocTimestamp
    n, dim = args.vectors, args.dimension
    batches = make_batches(n, dim, args.batch)
    folder = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
    try:
        client = Client(provider="milvus", path=str(folder / "bench.db"))
        raw = client.connector.client  # pymilvus' own client on the same engine
        best: dict[str, float] = {}

        def keep(name: str, seconds: float) -> None:
            best[name] = min(best.get(name, float("inf")), seconds)
            print(f"  {name}: {seconds:.1f}s", flush=True)

        for _ in range(args.rounds):
            raw_collection(raw, "raw", dim)
            keep("raw write", timed(lambda: raw_write(raw, "raw", batches)))
            if "ours" in client.connector.list_indexes():
                client.delete_index("ours")
            client.create_index("ours", dim, "cosine")
            keep("connector write", timed(lambda: connector_write(client, "ours", batches)))
            keep("raw read", timed(lambda: raw_read(raw, "raw", args.batch, dim)))
            keep("connector read", timed(lambda: connector_read(client, "ours", args.batch)))
        origin = Client(provider="memory", store="bench-origin")
        origin.create_index("origin", dim, "cosine")
        for batch in batches:
            origin.connector.write("origin", batch)
        keep(
            "migration in",
            timed(lambda: Migration(origin, client).migrate("origin", "migrated", batch_size=args.batch)),
        )
        back = Client(provider="memory", store="bench-back")
        keep(
            "migration out",
            timed(lambda: Migration(client, back).migrate("migrated", "back", batch_size=args.batch)),
        )
        assert client.describe_index("migrated")["count"] == n and back.describe_index("back")["count"] == n
        rate = {name: n / seconds for name, seconds in best.items()}
        print(f"milvus-lite, N={n}, dimension {dim}, batch {args.batch}, best of {args.rounds}")
        for ours, base in (
            ("connector write", "raw write"),
            ("migration in", "raw write"),
            ("connector read", "raw read"),
            ("migration out", "raw read"),
        ):
            ratio = rate[ours] / rate[base]
            print(f"{ours:>16}: {rate[ours]:>9,.0f}/s  vs {base}: {rate[base]:>9,.0f}/s  ratio {ratio:.2f}")
        client.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
