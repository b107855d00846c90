"""A real migration on embedded defaults, no external services: ``vector-migrate demo``.

Makes a synthetic export (string and integer ids, dense and sparse values, metadata, two
namespaces) as Parquet, then moves it hop by hop through Qdrant's embedded engine, PostgreSQL
with pgvector (when a DSN is given; ``scripts/demo.sh`` starts an embedded server) and back to
Parquet, verifying every hop record by record.
"""

from __future__ import annotations

import itertools
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from io_connectors import Client, SparseBlock, VectorBatch
from pipelines.migration import Migration

INDEX = "demo-products"


@dataclass(frozen=True)
class Hop:
    label: str
    client: Client
    index: str


def synthetic_batches(count: int, dimension: int, seed: int = 7) -> list[VectorBatch]:
    rng = np.random.default_rng(seed)
    batches = []
    for namespace, share in (("catalog", 0.7), ("archive", 0.3)):
        n = int(count * share)
        ids = [i if i % 3 == 0 else f"{namespace}-item-{i:07d}" for i in range(n)]
        sparse = _sparse_rows(rng, n)
        metadata = [
            {
                "title": f"Item {i}",
                "price": round(float(rng.random() * 100), 2),
                "in_stock": bool(i % 2),
                "tags": [namespace, f"t{i % 5}"],
            }
            for i in range(n)
        ]
        values = rng.standard_normal((n, dimension), dtype=np.float32)
        batches.append(VectorBatch(ids, values, sparse, metadata, namespace))
    return batches


def _sparse_rows(rng: np.random.Generator, n: int) -> SparseBlock:
    rows: list[tuple[np.ndarray, np.ndarray] | None] = []
    for i in range(n):
        if i % 4:
            rows.append(None)
            continue
        indices = np.unique(rng.integers(0, 30_000, 8)).astype(np.uint32)
        rows.append((indices, rng.random(len(indices)).astype(np.float32)))
    return SparseBlock.from_rows(rows)


def run_demo(out: Path, count: int, dimension: int, postgres_dsn: str | None) -> int:
    if out.exists():
        shutil.rmtree(out)
    source = Client(provider="parquet", path=str(out / "source"))
    source.create_index(INDEX, dimension, "dotproduct", sparse=True)
    for batch in synthetic_batches(count, dimension):
        for lo in range(0, len(batch), 10_000):
            source.upsert(index=INDEX, vectors=batch.slice(lo, lo + 10_000))
    print(f"made {count:,} vectors of dimension {dimension} in {out / 'source' / INDEX}")
    hops = [Hop("parquet export", source, INDEX), Hop("qdrant (embedded engine)", _qdrant(out), INDEX)]
    if postgres_dsn:
        hops.append(Hop("pgvector", Client(provider="pgvector", dsn=postgres_dsn), "demo_products"))
    hops.append(Hop("parquet round trip", Client(provider="parquet", path=str(out / "round-trip")), INDEX))
    ok = True
    for before, after in itertools.pairwise(hops):
        migration = Migration(before.client, after.client)
        result = migration.migrate(source_index=before.index, target_index=after.index, chunk_size=500)
        check = migration.verify(source_index=before.index, target_index=after.index, deep=True)
        ok &= result.ok and check.match
        rate = result.migrated_count / result.duration_seconds
        verified = f"verified {'yes' if check.match else 'NO'} ({check.checked:,} records)"
        print(
            f"{before.label:>24} -> {after.label:<26} {result.migrated_count:>8,} vectors "
            f"{result.duration_seconds:6.1f}s {rate:9,.0f}/s  errors {len(result.errors)}  {verified}"
        )
    first, last = hops[0], hops[-1]
    final = Migration(first.client, last.client).verify(
        source_index=first.index, target_index=last.index, deep=True
    )
    print(f"end to end: {final.checked:,} records compared, match={final.match}")
    return 0 if ok and final.match else 1


def _qdrant(out: Path) -> Client:
    return Client(provider="qdrant", edge_path=str(out / "qdrant-edge"))


if __name__ == "__main__":
    sys.exit(run_demo(Path("demo-output"), 20_000, 384, None))
