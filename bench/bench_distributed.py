"""Multi-worker speed-up: the same migrations in-process and on the external worker pool.

    .venv/bin/python bench/bench_distributed.py --n 100000 --dim 256 --workers 1 2

Parquet -> Parquet and Parquet -> pgvector (a private embedded PostgreSQL), each run on Beam's
in-process runner and on the worker pool (scripts/worker_pool.py: SDK workers as separate
processes, run_configs/portable-worker-pool.json) with each worker count given. Every run
starts from the same source folder and writes a fresh target. Times include job start-up (the
pool's worker processes start for each job), as a real run's would. Read the speed-up against
the cores the machine has free: workers beyond them only queue.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/ is not an installed package

from io_connectors import Client, VectorBatch
from pipelines import Migration
from scripts import embedded_postgres
from scripts.worker_pool import WorkerPool, free_port

RUN_CONFIG = Path(__file__).parents[1] / "run_configs" / "portable-worker-pool.json"


def make_source(root: Path, n: int, dim: int) -> Client:
    client = Client(provider="parquet", path=str(root))
    client.create_index("src", dim, "cosine")
    rng = np.random.default_rng(0)
    for lo in range(0, n, 10_000):
        size = min(10_000, n - lo)
        ids = [f"doc-{i}" for i in range(lo, lo + size)]
        meta = [{"i": i, "tag": f"t{i % 9}"} for i in range(lo, lo + size)]
        client.connector.write(
            "src", VectorBatch(ids, rng.standard_normal((size, dim), dtype=np.float32), None, meta)
        )
    return client


def timed(migration: Migration, n: int) -> float:
    started = time.perf_counter()
    result = migration.migrate(source_index="src", target_index=f"t{uuid.uuid4().hex[:8]}")
    elapsed = time.perf_counter() - started
    assert result.migrated_count == n and not result.errors, result.summary()
    return n / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-dist-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-pg-"))
    dsn = embedded_postgres.start(pg_dir, port=free_port())
    try:
        source = make_source(work / "source", args.n, args.dim)
        targets = {
            "parquet": lambda: Client(provider="parquet", path=str(work / f"out-{uuid.uuid4().hex[:6]}")),
            "pgvector": lambda: Client(provider="pgvector", dsn=dsn, schema=f"b{uuid.uuid4().hex[:8]}"),
        }
        print(f"{args.n} vectors, dim {args.dim}; vectors/s (speed-up over in-process)")
        with WorkerPool() as pool:
            for name, target in targets.items():
                base = timed(Migration(source, target()), args.n)
                line = [f"parquet -> {name}: in-process {base:,.0f}"]
                for workers in args.workers:
                    pool_args = [
                        f"--environment_config={pool.address}",
                        f"--direct_num_workers={workers}",
                        f"--temp_location={work / 'shared'}",
                    ]
                    rate = timed(Migration(source, target(), RUN_CONFIG, pool_args), args.n)
                    line.append(f"pool x{workers} {rate:,.0f} ({rate / base:.2f}x)")
                print("; ".join(line), flush=True)
    finally:
        embedded_postgres.stop(pg_dir)
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
