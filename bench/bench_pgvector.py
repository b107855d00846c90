"""How fast the pgvector connector moves vectors, against raw binary COPY on the same server.

    python bench/bench_pgvector.py --n 100000 --dim 768 [--dsn postgresql://...] [--json out.json]

Without ``--dsn`` it starts a private embedded PostgreSQL (default settings, fsync on) in a
temporary directory and stops it afterwards. Every measurement uses the same N rows (string ids,
small metadata, one namespace) and runs once, in this order (bench/run_all.py repeats the script):

- raw write: one ``COPY ... FROM STDIN (FORMAT BINARY)`` with psycopg's ``write_row`` and
  pgvector's binary dumper, one transaction, into a table of the connector's layout;
- connector write into a table it created (``empty_table``: COPY straight into the table) and
  connector upsert into an existing table (the staged upsert), the sink's path
  (``reject_reasons`` then ``write``) in chunks of ``--chunk``;
- migration: ``Migration(memory, pgvector).migrate(...)`` creating its target table, Beam
  start-up, ANALYZE and the accounting included;
- raw read: ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)``, bytes received and dropped;
- connector read: ``plan``, ``split_restriction`` and ``read`` of every range into VectorBatches.

Rows (issue 11): ``pgvector.migrate_vs_copy_from`` (goal >= 0.85) and ``pgvector.read_vs_copy_to``
(goal >= 0.9); the JSON also holds every rate under ``rates``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from io_connectors import Client, VectorBatch
from io_connectors.core.contract import Connector
from pipelines import Migration
from scripts import embedded_postgres

SCHEMA = "bench"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_data(n: int, dim: int) -> tuple[list[str], np.ndarray, list[dict]]:
    rng = np.random.default_rng(7)
    values = rng.standard_normal((n, dim), dtype=np.float32)
    ids = [f"doc-{i:08d}" for i in range(n)]
    metadata = [{"title": f"item {i}", "n": i, "tags": ["a", "b"]} for i in range(n)]
    return ids, values, metadata


def rate(n: int, run: Callable[[], None], prepare: Callable[[], None]) -> float:
    prepare()
    started = time.perf_counter()
    run()
    return n / (time.perf_counter() - started)


class Bench:
    def __init__(self, dsn: str, n: int, dim: int, chunk: int, batch: int) -> None:
        self.dsn, self.n, self.dim, self.chunk, self.batch = dsn, n, dim, chunk, batch
        self.ids, self.values, self.metadata = make_data(n, dim)
        self.client = Client(provider="pgvector", dsn=dsn, schema=SCHEMA)
        self.connector = self.client.connector
        self.fresh_connector = self.client.for_new_index().connector  # as after create_index
        self.conn = psycopg.connect(dsn, autocommit=True)
        register_vector(self.conn)

    def fresh(self, table: str) -> None:
        self.client.delete_index(table)
        self.client.create_index(table, self.dim, "cosine")
        self.conn.execute("CHECKPOINT")

    def batches(self) -> list[VectorBatch]:
        return [
            VectorBatch(
                self.ids[lo : lo + self.chunk],
                self.values[lo : lo + self.chunk],
                None,
                self.metadata[lo : lo + self.chunk],
            )
            for lo in range(0, self.n, self.chunk)
        ]

    def raw_write(self) -> None:
        statement = sql.SQL(
            "COPY {} (namespace, id, id_is_int, embedding, metadata) FROM STDIN (FORMAT BINARY)"
        ).format(sql.Identifier(SCHEMA, "raw"))
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(["text", "text", "bool", "vector", "jsonb"])
            for i in range(self.n):
                copy.write_row(("", self.ids[i], False, self.values[i], Jsonb(self.metadata[i])))

    def connector_write(self, connector: Connector, table: str, batches: list[VectorBatch]) -> None:
        for batch in batches:
            reasons = connector.reject_reasons(batch)
            assert not reasons, reasons
            connector.write(table, batch)

    def migration(self) -> None:
        result = Migration(self.memory, self.client).migrate(
            source_index="source", target_index="migrated", batch_size=self.batch, chunk_size=self.chunk
        )
        assert result.migrated_count == self.n and not result.errors, result.summary()

    def raw_read(self) -> None:
        statement = sql.SQL("COPY (SELECT id, embedding, metadata FROM {}) TO STDOUT (FORMAT BINARY)").format(
            sql.Identifier(SCHEMA, "ours")
        )
        with self.conn.cursor() as cur, cur.copy(statement) as copy:
            for _ in copy:
                pass

    def connector_read(self) -> None:
        count = 0
        for split in self.connector.plan("ours", None, self.batch):
            for lo, hi in self.connector.split_restriction(split, split.start, split.stop):
                tracker = OffsetRestrictionTracker(OffsetRange(lo, hi))
                count += sum(len(b) for b in self.connector.read(split, tracker))
        assert count == self.n, count

    def run(self) -> dict[str, float]:
        batches = self.batches()
        self.memory = Client(provider="memory", store="bench")
        self.memory.create_index("source", self.dim, "cosine")
        for batch in batches:
            self.memory.upsert(index="source", vectors=batch)
        fresh = self.fresh_connector
        measurements: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
            RAW_WRITE: (self.raw_write, lambda: self.fresh("raw")),
            "connector write (new table)": (
                lambda: self.connector_write(fresh, "ours", batches),
                lambda: self.fresh("ours"),
            ),
            "connector upsert (existing)": (
                lambda: self.connector_write(self.connector, "upserted", batches),
                lambda: self.fresh("upserted"),
            ),
            MIGRATION: (self.migration, lambda: self.client.delete_index("migrated")),
            RAW_READ: (self.raw_read, lambda: self.conn.execute(ANALYZE)),
            READ: (self.connector_read, lambda: None),
        }
        return {name: rate(self.n, run, prepare) for name, (run, prepare) in measurements.items()}


RAW_WRITE, MIGRATION = "raw COPY FROM (write_row)", "migration memory->pgvector"
RAW_READ, READ = "raw COPY TO", "connector read"
ANALYZE = sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(SCHEMA, "ours"))
ROWS = (
    (
        "pgvector.migrate_vs_copy_from",
        "whole migration memory -> pgvector vs raw binary COPY FROM",
        MIGRATION,
        RAW_WRITE,
        0.85,
    ),
    ("pgvector.read_vs_copy_to", "pgvector connector read vs raw binary COPY TO", READ, RAW_READ, 0.9),
)


def report(rates: dict[str, float], n: int, dim: int) -> dict[str, object]:
    print(f"\npgvector benchmark: N={n}, dim={dim}")
    print(f"{'measurement':32} {'vectors/s':>12}")
    for name, value in rates.items():
        print(f"{name:32} {value:12,.0f}")
    rows = []
    for row_id, what, ours, baseline, goal in ROWS:
        ratio = rates[ours] / rates[baseline]
        rows.append(
            {
                "id": row_id,
                "what": what,
                "ours": round(rates[ours], 1),
                "baseline": round(rates[baseline], 1),
                "unit": "vectors/s",
                "ratio": round(ratio, 3),
                "goal": f">= {goal}",
                "met": ratio >= goal,
            }
        )
        print(f"{row_id:32} {ratio:.2f}x (goal >= {goal})")
    write = rates["connector write (new table)"] / rates[RAW_WRITE]
    upsert = rates["connector upsert (existing)"] / rates[RAW_WRITE]
    print(f"connector write / raw COPY FROM  {write:.2f}x (upsert into an existing table {upsert:.2f}x)")
    return {
        "script": "bench_pgvector.py",
        "n": n,
        "dim": dim,
        "rows": rows,
        "rates": {k: round(v, 1) for k, v in rates.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--chunk", type=int, default=5_000, help="vectors a write (the connector's default)")
    parser.add_argument("--batch", type=int, default=1_000, help="vectors a read batch")
    parser.add_argument("--dsn", help="an existing server (default: a private embedded one)")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args()
    data_dir = None
    dsn = args.dsn
    if dsn is None:
        data_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-"))
        dsn = embedded_postgres.start(data_dir, port=free_port())
    try:
        result = report(Bench(dsn, args.n, args.dim, args.chunk, args.batch).run(), args.n, args.dim)
    finally:
        if data_dir is not None:
            embedded_postgres.stop(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
