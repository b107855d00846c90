"""Our whole migration against the seed library's migration algorithm, on the same connectors.

    .venv/bin/python bench/bench_seed.py --n 50000 --dim 768 [--json results.json]

The baseline re-implements the seed's ``Vectra::Migration#migrate`` (the Ruby library this
project started from; its guide is in the seed documents) step by step, on our ``Client``:

1. ``stats`` of the source for the total (its progress estimate);
2. every id of the source, taken straight from the memory provider's storage (the seed reads
   ``@storage[index][namespace].keys`` of its memory provider the same way);
3. for each slice of 1,000 ids: ``fetch`` them, turn the result into ``{id, values, metadata}``
   hashes, and hand them to ``Batch#upsert_async``: chunks of 100, each an ``upsert`` call,
   run on a fresh pool of 4 threads, all awaited before the next slice is fetched. A failing
   chunk is recorded and skipped, as the seed does.

The 4 threads each get a target ``Client`` of their own (for pgvector: a connection each), so
the baseline's concurrency is real rather than serialised on one connection; the seed shares
one client. Ours is ``Migration(source, target).migrate(...)`` with its defaults (Beam start-up,
validation, split reads, rechunked batched writes, the accounting included). Targets: pgvector
(a private embedded PostgreSQL) and Qdrant's embedded engine (qdrant-edge). Both sides read the
same N vectors from the same memory store, write a fresh target index created beforehand for the
baseline (by the migration itself for ours), and run back to back, target by target, after an
untimed warm-up of both paths on 1,000 vectors. Rows ``seed.pgvector`` and ``seed.qdrant_edge``:
ratio = ours / seed in vectors per second, goal >= 3.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/ is not an installed package
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts

from proc_cpu import machine_cpu, self_cpu, tree_cpu

from io_connectors import Client, VectorBatch
from pipelines import Migration
from scripts import embedded_postgres
from scripts.worker_pool import free_port

FETCH_BATCH = 1_000  # the seed's DEFAULT_BATCH_SIZE
UPSERT_CHUNK = 100  # the seed's DEFAULT_CHUNK_SIZE
THREADS = 4  # the seed's Batch DEFAULT_CONCURRENCY
GOAL = 3.0


def make_source(n: int, dim: int) -> Client:
    source = Client(provider="memory", store=f"seed-bench-{uuid.uuid4().hex[:8]}")
    source.create_index("src", dim, "cosine")
    rng = np.random.default_rng(11)
    for lo in range(0, n, 10_000):
        size = min(10_000, n - lo)
        ids = [f"doc-{i:08d}" for i in range(lo, lo + size)]
        meta = [{"title": f"item {i}", "n": i, "tag": f"t{i % 9}"} for i in range(lo, lo + size)]
        source.upsert("src", VectorBatch(ids, rng.standard_normal((size, dim), dtype=np.float32), None, meta))
    return source


def source_ids(source: Client, index: str, namespace: str = "") -> list[Any]:
    """The memory provider's stored ids, read from its storage as the seed's ``fetch_all_ids`` does."""
    stored = source.connector._index(index).namespaces.get(namespace)  # the seed: instance_variable_get
    return list(stored.rows) if stored else []


class SeedMigration:
    """``Vectra::Migration#migrate`` with ``Batch#upsert_async``, on our clients.

    The seed's ``Batch`` builds a new thread pool for every fetched batch while its client stays
    connected for the whole run; here the 4 target clients are opened once and lent to whichever
    pool thread runs a chunk, so the baseline pays no reconnects the seed would not pay.
    """

    def __init__(self, source: Client, targets: list[Client]) -> None:
        self.source = source
        self._idle: queue.SimpleQueue[Client] = queue.SimpleQueue()
        for client in targets:
            self._idle.put(client)

    def migrate(self, source_index: str, target_index: str) -> dict[str, Any]:
        total = self.source.stats(source_index)["total_vector_count"]
        migrated, batches, errors = 0, 0, []
        ids = source_ids(self.source, source_index)
        for lo in range(0, len(ids), FETCH_BATCH):
            fetched = self.source.fetch(source_index, ids[lo : lo + FETCH_BATCH])
            vectors = [
                {"id": i, "values": v["values"], "metadata": v.get("metadata")} for i, v in fetched.items()
            ]
            if not vectors:
                continue
            upserted, chunk_errors = self._upsert_async(target_index, vectors)
            migrated += upserted
            batches += 1
            errors.extend(chunk_errors)
        return {"migrated_count": migrated, "total_vectors": total, "batches": batches, "errors": errors}

    def _upsert_async(self, index: str, vectors: list[dict[str, Any]]) -> tuple[int, list[Exception]]:
        chunks = [vectors[lo : lo + UPSERT_CHUNK] for lo in range(0, len(vectors), UPSERT_CHUNK)]

        def upsert(chunk: list[dict[str, Any]]) -> tuple[int, Exception | None]:
            client = self._idle.get()
            try:
                return client.upsert(index, chunk)["upserted_count"], None
            except Exception as exc:  # the seed rescues StandardError per chunk and carries on
                return 0, exc
            finally:
                self._idle.put(client)

        with ThreadPoolExecutor(THREADS) as pool:  # a fresh pool per batch, as the seed's Batch does
            results = list(pool.map(upsert, chunks))
        return sum(n for n, _ in results), [e for _, e in results if e is not None]


class Target:
    """Fresh target clients for one provider: ``new()`` a client, ``close()`` them all.

    ``server_pid``: the target's server process (PostgreSQL's postmaster), whose CPU is
    recorded apart from this process's; None for an engine inside this process.
    """

    def __init__(self, name: str, make: Callable[[], Client], server_pid: int | None = None) -> None:
        self.name, self._make, self._open, self.server_pid = name, make, [], server_pid

    def new(self) -> Client:
        client = self._make()
        self._open.append(client)
        return client

    def close(self) -> None:
        for client in self._open:
            client.close()
        self._open.clear()


@dataclass
class Timing:
    """One timed run: its rate and where the CPU went (seconds)."""

    rate: float
    seconds: float
    process_cpu: float  # this process: the algorithm, the client, an embedded engine
    server_cpu: float  # the target's server, if it has one
    machine_cpu: float  # every core of the machine, whoever used it

    def profile(self) -> str:
        cores = os.cpu_count() or 1
        return (
            f"{self.seconds:.1f} s wall; CPU s: this process {self.process_cpu:.1f}, server "
            f"{self.server_cpu:.1f}; machine busy {self.machine_cpu / (self.seconds * cores):.0%}"
        )


def clock(work: Callable[[], None], n: int, server_pid: int | None) -> Timing:
    def sample() -> tuple[float, ...]:
        server = tree_cpu(server_pid) if server_pid else 0.0
        return self_cpu(), server, machine_cpu()[0], time.perf_counter()

    before = sample()
    work()
    after = sample()
    process, server, machine, seconds = (a - b for a, b in zip(after, before))
    return Timing(n / seconds, seconds, process, server, machine)


def run_seed(source: Client, target: Target, n: int, dim: int) -> Timing:
    index = f"seed{uuid.uuid4().hex[:8]}"
    clients = [target.new() for _ in range(THREADS)]
    clients[0].create_index(index, dim, "cosine")
    for client in clients:  # connected before the clock starts, as the seed's client would be
        client.index_info(index)
    seed = SeedMigration(source, clients)
    results: list[dict[str, Any]] = []
    timing = clock(lambda: results.append(seed.migrate("src", index)), n, target.server_pid)
    assert results[0]["migrated_count"] == n and not results[0]["errors"], results[0]["errors"][:3]
    assert clients[0].stats(index)["total_vector_count"] == n
    clients[0].delete_index(index)
    return timing


def run_ours(source: Client, target: Target, n: int) -> Timing:
    index = f"ours{uuid.uuid4().hex[:8]}"
    client = target.new()
    results: list[Any] = []
    migration = Migration(source, client)
    timing = clock(
        lambda: results.append(migration.migrate(source_index="src", target_index=index)),
        n,
        target.server_pid,
    )
    assert results[0].migrated_count == n and not results[0].errors, results[0].summary()
    assert client.stats(index)["total_vector_count"] == n
    client.delete_index(index)
    return timing


def measure(targets: list[Target], n: int, dim: int) -> dict[str, tuple[Timing, Timing]]:
    """(ours, seed) per target, after an untimed warm-up of both paths."""
    warm = make_source(1_000, dim)
    source = make_source(n, dim)
    timings = {}
    for target in targets:
        run_seed(warm, target, 1_000, dim)
        run_ours(warm, target, 1_000)
        seed = run_seed(source, target, n, dim)
        ours = run_ours(source, target, n)
        timings[target.name] = (ours, seed)
        target.close()
    return timings


def rows(timings: dict[str, tuple[Timing, Timing]]) -> list[dict[str, Any]]:
    out = []
    for name, (ours, seed) in timings.items():
        ratio = ours.rate / seed.rate
        out.append(
            {
                "id": f"seed.{name}",
                "what": f"whole migration memory -> {name} vs the seed's algorithm (fetch 1,000, "
                "upsert chunks of 100 on 4 threads) on the same connectors",
                "ours": round(ours.rate, 1),
                "baseline": round(seed.rate, 1),
                "unit": "vectors/s",
                "ratio": round(ratio, 3),
                "goal": f">= {GOAL}",
                "met": ratio >= GOAL,
                "profile": {"ours": asdict(ours), "seed": asdict(seed)},
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--json", type=Path, help="also write the rows here (bench protocol)")
    parser.add_argument(
        "--targets", nargs="+", choices=["pgvector", "qdrant_edge"], default=["pgvector", "qdrant_edge"]
    )
    args = parser.parse_args()
    pg_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-seed-pg-"))
    edge_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-seed-edge-"))
    try:
        targets = []
        if "pgvector" in args.targets:
            dsn = embedded_postgres.start(pg_dir, port=free_port())
            postmaster = int((pg_dir / "postmaster.pid").read_text().splitlines()[0])
            pg = Target(
                "pgvector", lambda: Client(provider="pgvector", dsn=dsn, schema="seedbench"), postmaster
            )
            targets.append(pg)
        if "qdrant_edge" in args.targets:
            targets.append(Target("qdrant_edge", lambda: Client(provider="qdrant", edge_path=str(edge_dir))))
        timings = measure(targets, args.n, args.dim)
    finally:
        if "pgvector" in args.targets:
            embedded_postgres.stop(pg_dir)
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(edge_dir, ignore_errors=True)
    print(f"\nseed algorithm vs our migration: N={args.n:,}, dim {args.dim}")
    print(f"{'target':14} {'ours':>12} {'seed':>12} {'ratio':>7}")
    for name, (ours, seed) in timings.items():
        print(f"{name:14} {ours.rate:12,.0f} {seed.rate:12,.0f} {ours.rate / seed.rate:6.2f}x")
    for name, (ours, seed) in timings.items():
        print(f"  {name} ours: {ours.profile()}\n  {name} seed: {seed.profile()}")
    if args.json:
        payload = {"script": "bench_seed.py", "n": args.n, "dim": args.dim, "rows": rows(timings)}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
