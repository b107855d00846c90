"""How fast the pgvector connector moves vectors, against raw binary COPY on the same server.

    python bench/bench_pgvector.py --n 100000 --dim 768 [--dsn postgresql://...] [--repeat 2]

Without ``--dsn`` it starts a private embedded PostgreSQL (default settings, fsync on) in a
temporary directory and stops it afterwards. Every measurement uses the same N rows (string ids,
small metadata, one namespace); rounds of all measurements are repeated ``--repeat`` times
(interleaved, so that load from elsewhere hits them alike) and each one's best run is reported:

- raw write: one ``COPY ... FROM STDIN (FORMAT BINARY)`` with psycopg's ``write_row`` and
  pgvector's binary dumper, one transaction, into a table of the connector's layout;
- connector write: the sink's path (``reject_reasons`` then ``write``) in chunks of ``--chunk``;
- migration: ``Migration(memory, pgvector).migrate(...)``, Beam start-up included;
- raw read: ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)``, bytes received and dropped;
- connector read: ``plan``, ``split_restriction`` and ``read`` of every range into VectorBatches.
"""

from __future__ import annotations

import argparse
import shutil
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
from pipelines import Migration
from scripts import embedded_postgres

SCHEMA = "bench"


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

    def connector_write(self, batches: list[VectorBatch]) -> None:
        for batch in batches:
            reasons = self.connector.reject_reasons(batch)
            assert not reasons, reasons
            self.connector.write("ours", batch)

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

    def run(self, repeat: int) -> dict[str, float]:
        batches = self.batches()
        self.memory = Client(provider="memory", store="bench")
        self.memory.create_index("source", self.dim, "cosine")
        for batch in batches:
            self.memory.upsert(index="source", vectors=batch)
        writes: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
            "raw COPY FROM (write_row)": (self.raw_write, lambda: self.fresh("raw")),
            "connector write": (lambda: self.connector_write(batches), lambda: self.fresh("ours")),
            "migration memory->pgvector": (self.migration, lambda: self.fresh("migrated")),
        }
        reads: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
            "raw COPY TO": (self.raw_read, lambda: None),
            "connector read": (self.connector_read, lambda: None),
        }
        rates: dict[str, float] = {}
        # Rounds interleave the measurements, so that load from elsewhere hits all of them alike.
        for measurements in (writes, reads):
            for _ in range(repeat):
                for name, (run, prepare) in measurements.items():
                    rates[name] = max(rates.get(name, 0.0), rate(self.n, run, prepare))
            self.conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(SCHEMA, "ours")))
        return rates


def report(rates: dict[str, float], n: int, dim: int) -> None:
    print(f"\npgvector benchmark: N={n}, dim={dim}")
    print(f"{'measurement':32} {'vectors/s':>12}")
    for name, rate in rates.items():
        print(f"{name:32} {rate:12,.0f}")
    write_base, read_base = rates["raw COPY FROM (write_row)"], rates["raw COPY TO"]
    print(f"\nconnector write / raw COPY FROM  {rates['connector write'] / write_base:.2f}x")
    print(f"migration / raw COPY FROM        {rates['migration memory->pgvector'] / write_base:.2f}x")
    print(f"connector read / raw COPY TO     {rates['connector read'] / read_base:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--chunk", type=int, default=5_000, help="vectors a write (the connector's default)")
    parser.add_argument("--batch", type=int, default=1_000, help="vectors a read batch")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dsn", help="an existing server (default: a private embedded one)")
    args = parser.parse_args()
    data_dir = None
    dsn = args.dsn
    if dsn is None:
        data_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-bench-"))
        dsn = embedded_postgres.start(data_dir, port=55499)
    try:
        report(Bench(dsn, args.n, args.dim, args.chunk, args.batch).run(args.repeat), args.n, args.dim)
    finally:
        if data_dir is not None:
            embedded_postgres.stop(data_dir)
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
