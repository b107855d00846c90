"""Two worker processes against one: pgvector -> pgvector on Beam's external worker pool.

    .venv/bin/python bench/bench_distributed.py --n 400000 --dim 768 [--json results.json]

A private embedded PostgreSQL holds the source table (N vectors, string ids, small metadata,
written once by the connector and vacuumed before anything is timed); each measurement migrates it into a
fresh table of the same server with ``run_configs/portable-worker-pool.json``: Beam's local Fn
API runner coordinates the job in this process and the SDK workers are separate processes of
the pool (scripts/worker_pool.py), ``--direct_num_workers`` 1, then 2. Times include the job's
start-up (the pool starts the job's worker processes), as a real run's would; the target table
is dropped after each run and a CHECKPOINT precedes each.

Row ``distributed.pgvector_2_vs_1``: ratio = rate with 2 workers / rate with 1, goal >= 1.6.
To say where the time goes, each run also records the CPU seconds spent by this process (the
coordinator: planning, the runner, the Fn API data plane), by the pool and its SDK workers (read,
decode, validate, encode, write), by the PostgreSQL server (all its backends) and by the whole
machine (anything else running counts too), against the run's wall time x cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/ is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts

from proc_cpu import machine_cpu, self_cpu, tree_cpu

from io_connectors import Client, VectorBatch
from pipelines import Migration
from scripts import embedded_postgres
from scripts.worker_pool import WorkerPool, free_port

RUN_CONFIG = Path(__file__).parents[1] / "run_configs" / "portable-worker-pool.json"
GOAL = 1.6


@dataclass
class Run:
    workers: int
    seconds: float
    rate: float
    coordinator_cpu: float
    workers_cpu: float
    postgres_cpu: float
    machine_cpu: float

    def profile_line(self) -> str:
        cores = os.cpu_count() or 1
        other = self.machine_cpu - self.coordinator_cpu - self.workers_cpu - self.postgres_cpu
        return (
            f"{self.workers} worker(s) {self.seconds:.1f} s wall, {self.seconds * cores:.0f} core-s; CPU s: "
            f"coordinator {self.coordinator_cpu:.1f}, pool+workers {self.workers_cpu:.1f}, "
            f"postgres {self.postgres_cpu:.1f}, anything else {max(other, 0.0):.1f}; "
            f"machine busy {self.machine_cpu / (self.seconds * cores):.0%}"
        )


def fill_source(client: Client, n: int, dim: int) -> None:
    client.create_index("src", dim, "cosine")
    rng = np.random.default_rng(3)
    for lo in range(0, n, 5_000):
        size = min(5_000, n - lo)
        ids = [f"doc-{i:08d}" for i in range(lo, lo + size)]
        meta = [{"title": f"item {i}", "n": i, "tag": f"t{i % 9}"} for i in range(lo, lo + size)]
        client.upsert("src", VectorBatch(ids, rng.standard_normal((size, dim), dtype=np.float32), None, meta))


def settle(dsn: str, vacuum: str | None = None) -> None:
    """Leave no pending work in the server that would land on the next run: a VACUUM sets the
    source's hint bits and visibility map (else the first run to read it pays for writing them),
    a CHECKPOINT flushes the previous run's dirty pages."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        if vacuum:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(*vacuum.split("."))))
        conn.execute("CHECKPOINT")


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def measure(
    source: Client, dsn: str, pool: WorkerPool, pg_pid: int, workers: int, shared: Path, n: int
) -> Run:
    schema = f"d{uuid.uuid4().hex[:8]}"
    target = Client(provider="pgvector", dsn=dsn, schema=schema)
    pool_args = [
        f"--environment_config={pool.address}",
        f"--direct_num_workers={workers}",
        f"--temp_location={shared}",
    ]
    migration = Migration(source, target, RUN_CONFIG, pool_args)
    settle(dsn)
    assert pool.pid is not None
    before = (self_cpu(), tree_cpu(pool.pid), tree_cpu(pg_pid), machine_cpu()[0], time.perf_counter())
    result = migration.migrate(source_index="src", target_index="t")
    after = (self_cpu(), tree_cpu(pool.pid), tree_cpu(pg_pid), machine_cpu()[0], time.perf_counter())
    assert result.migrated_count == n and not result.errors, result.summary()
    assert target.stats("t")["total_vector_count"] == n
    target.delete_index("t")
    target.close()
    seconds = after[4] - before[4]
    spent = [a - b for a, b in zip(after, before)]
    return Run(workers, seconds, n / seconds, *spent[:4])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--json", type=Path, help="also write the row here (bench protocol)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-dist-"))
    pg_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-pg-"))
    dsn = embedded_postgres.start(pg_dir, port=free_port())
    try:
        source = Client(provider="pgvector", dsn=dsn, schema="dsrc")
        fill_source(source, args.n, args.dim)
        settle(dsn, vacuum="dsrc.src")
        pg_pid = postmaster_pid(pg_dir)
        with WorkerPool() as pool:
            one = measure(source, dsn, pool, pg_pid, 1, work / "shared", args.n)
            two = measure(source, dsn, pool, pg_pid, 2, work / "shared", args.n)
        source.close()
    finally:
        embedded_postgres.stop(pg_dir)
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    ratio = two.rate / one.rate
    print(f"\npgvector -> pgvector on the worker pool: N={args.n:,}, dim {args.dim}, {os.cpu_count()} cores")
    print(f"1 worker  {one.rate:10,.0f} vectors/s\n2 workers {two.rate:10,.0f} vectors/s  ({ratio:.2f}x)")
    for run in (one, two):
        print("  " + run.profile_line())
    if args.json:
        row = {
            "id": "distributed.pgvector_2_vs_1",
            "what": "pgvector -> pgvector on Beam's external worker pool, 2 worker processes vs 1",
            "ours": round(two.rate, 1),
            "baseline": round(one.rate, 1),
            "unit": "vectors/s",
            "ratio": round(ratio, 3),
            "goal": f">= {GOAL}",
            "met": ratio >= GOAL,
            "profile": [asdict(one), asdict(two)],
        }
        payload = {"script": "bench_distributed.py", "n": args.n, "dim": args.dim, "rows": [row]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
