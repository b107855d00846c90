"""Sync of a 1% change against a full re-migration, into a real PostgreSQL + pgvector target.

    .venv/bin/python bench/bench_sync.py --vectors 1000000 --dimension 128 [--json PATH]
    .venv/bin/python bench/bench_sync.py --vectors 100000 --hnsw   # the target write dominates
    .venv/bin/python bench/bench_sync.py --changed-since            # pgvector -> pgvector, by update field

The source is an in-process store (reads cost little, so the target side dominates, the case
sync is for). After a full migration, 1% of the source changes (a third updated, a third deleted,
a third inserted); then, timed: ``sync --delete-extra`` (reads both sides, joins digests, writes
and deletes only the changes) and a full re-migration of the changed source (upserts every
record). Both end with the same target; the ratio is re-migration time / sync time.
``--hnsw`` gives the target table an HNSW index (``create_index``), as a pgvector table serving
queries has: every upserted row is then inserted into the graph, and the write dominates.

``--changed-since``: the source is a pgvector table in the same server whose records carry a
version field (``seed``); 0.5% are updated and 0.5% inserted (deletes leave no update time), and
the timed sync is ``sync --changed-since seed`` after an untimed one that stored the watermark:
the source's query returns only the changed rows and the target is not read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from io_connectors import Client, VectorBatch
from pipelines import Migration
from scripts import embedded_postgres


def fill(client: Client, index: str, ids: list, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for lo in range(0, len(ids), 20_000):
        part = ids[lo : lo + 20_000]
        meta = [{"k": str(i), "seed": seed} for i in part]
        client.connector.write(
            index, VectorBatch(part, rng.standard_normal((len(part), dim), np.float32), None, meta)
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_json(path: str, n: int, dim: int, variant: str, sync_seconds: float, remigrate: float) -> None:
    ratio = remigrate / sync_seconds
    row = {
        "id": "sync.one_percent_vs_remigrate" + variant,
        "ours": round(sync_seconds, 2),
        "baseline": round(remigrate, 2),
        "unit": "s",
        "ratio": round(ratio, 2),
        "goal": ">= 5",
        "met": ratio >= 5,
    }
    result = {"script": "bench/bench_sync.py", "n": n, "dimension": dim, "rows": [row]}
    Path(path).write_text(json.dumps(result, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--dimension", type=int, default=128)
    parser.add_argument("--dsn", help="an existing server (default: a private embedded one)")
    parser.add_argument("--port", type=int, default=0, help="for the private embedded server (0: a free one)")
    parser.add_argument("--hnsw", action="store_true", help="the target table has an HNSW index")
    parser.add_argument(
        "--changed-since", action="store_true", help="a pgvector source, synced by its version field"
    )
    parser.add_argument("--json", help="also write the result row to this file")
    args = parser.parse_args()
    n, dim = args.vectors, args.dimension
    data_dir = None
    dsn = args.dsn
    if dsn is None:
        data_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-"))
        dsn = embedded_postgres.start(data_dir, port=args.port or free_port())
    try:
        if args.changed_since:
            source, src = Client(provider="pgvector", dsn=dsn), "bench_sync_source"
        else:
            source, src = Client(provider="memory", store=f"bench-sync-{uuid.uuid4().hex[:8]}"), "src"
        source.create_index(src, dim, "cosine")
        fill(source, src, [f"doc-{i}" for i in range(n)], dim, seed=1)
        target = Client(provider="pgvector", dsn=dsn, create_index=args.hnsw)
        migration = Migration(source, target)
        started = time.perf_counter()
        migration.migrate(src, "bench_sync")
        first = time.perf_counter() - started
        state = tempfile.mkdtemp(prefix="vector-migrate-bench-sync-state-")
        if args.changed_since:
            migration.sync(src, "bench_sync", changed_since="seed", state=state)  # stores the watermark
            part, deleted = max(1, n // 200), 0
        else:
            part, deleted = max(1, n // 300), max(1, n // 300)
        fill(source, src, [f"doc-{i}" for i in range(part)], dim, seed=2)  # updated
        if deleted:
            source.connector.delete(src, [f"doc-{i}" for i in range(part, part + deleted)], "")
        fill(source, src, [f"new-{i}" for i in range(part)], dim, seed=3)  # inserted
        started = time.perf_counter()
        if args.changed_since:
            synced = migration.sync(src, "bench_sync", changed_since="seed", state=state)
        else:
            synced = migration.sync(src, "bench_sync", delete_extra=True)
        sync_seconds = time.perf_counter() - started
        assert synced.written_count == 2 * part and synced.deleted_count == deleted, synced.summary()
        read = synced.metrics.get("vectors_read", 0)
        started = time.perf_counter()
        migration.migrate(src, "bench_sync")
        remigrate = time.perf_counter() - started
        assert migration.verify(src, "bench_sync").match
        changed = 2 * part + deleted
        print(f"{n:,} x {dim}: first migration {first:.1f} s; after a 1% change ({changed:,} records):")
        how = "sync --changed-since" if args.changed_since else "sync --delete-extra"
        print(
            f"  {how:21s}{sync_seconds:7.1f} s  (records read {read:,}, "
            f"wrote {synced.written_count:,}, deleted {synced.deleted_count:,})"
        )
        print(f"  full re-migration    {remigrate:7.1f} s  (wrote {n:,})")
        print(f"  ratio re-migration / sync: {remigrate / sync_seconds:.2f}x")
        if args.json:
            variant = "_hnsw" if args.hnsw else ""
            variant += "_changed_since" if args.changed_since else ""
            write_json(args.json, n, dim, variant, sync_seconds, remigrate)
        target.connector.delete_index("bench_sync")
        if args.changed_since:
            source.connector.delete_index(src)
        shutil.rmtree(state, ignore_errors=True)
    finally:
        if data_dir is not None:
            embedded_postgres.stop(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
