"""How fast the Pinecone connector moves vectors, against the raw ``pinecone`` SDK, same server.

    python bench/bench_pinecone.py --n 20000 --dim 768 [--repeat 2] [--latency-ms 0]

Starts the local Pinecone server (``tests/servers/pinecone_server.py``) in its own process, so
client and server do not share a GIL, and optionally adds ``--latency-ms`` to every data-plane
request (a stand-in for the network to the cloud). Every measurement moves the same N vectors
(string ids, small metadata, one namespace, unit-norm float32 values) into a fresh index or out
of the same one; the best of ``--repeat`` runs is reported, with ratios connector / raw SDK.

Writes:
- raw SDK: ``index.upsert(vectors=[{"id", "values": row.tolist(), "metadata"}])`` one request at
  a time, ``--raw-batch`` vectors each (float32 as doubles: ~20 JSON bytes a value, so ~100
  vectors of 768 fit the 2 MB limit);
- raw SDK bulk: the same with the SDK's ``batch_size=`` and ``max_concurrency=4``;
- connector: ``reject_reasons`` then ``write`` on the chunks the pipeline would hand it
  (``chunk_batch`` with the connector's capabilities: 1,000 vectors);
- migration: ``Migration(memory, pinecone).migrate``, Beam start-up included.
Reads:
- raw SDK: the documented export loop, ``for page in index.list(): index.fetch(page ids)``;
- raw SDK, 1,000 ids a fetch: all ids listed, then fetched 1,000 at a time;
- connector: ``plan`` and ``read`` of every split into VectorBatches.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from pinecone import Pinecone

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from io_connectors import Client, VectorBatch  # noqa: E402
from io_connectors.core.batching import chunk_batch  # noqa: E402
from pipelines import Migration  # noqa: E402

KEY_ENV = "VM_BENCH_PINECONE_KEY"


def make_batch(n: int, dim: int) -> VectorBatch:
    rng = np.random.default_rng(7)
    values = rng.standard_normal((n, dim), dtype=np.float32)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    metadata = [{"title": f"item {i}", "n": float(i), "tags": ["a", "b"]} for i in range(n)]
    return VectorBatch([f"doc-{i:08d}" for i in range(n)], values, None, metadata)


def best_rate(n: int, repeat: int, run: Callable[[], object], prepare: Callable[[], None]) -> float:
    best = 0.0
    for _ in range(repeat):
        prepare()
        started = time.perf_counter()
        run()
        best = max(best, n / (time.perf_counter() - started))
    return best


class LocalServer:
    """The local Pinecone server in a child process, requiring a generated key."""

    def __init__(self, latency_ms: float) -> None:
        self.key = f"bench-{uuid.uuid4().hex}"
        env = {**os.environ, KEY_ENV: self.key, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "tests.servers.pinecone_server", "--port", "0"]
        self.process = subprocess.Popen(
            [*command, "--api-key-env", KEY_ENV], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if latency_ms:
            faults = {"faults": {op: {"latency_s": latency_ms / 1000} for op in ("upsert", "fetch", "list")}}
            Pinecone(api_key=self.key, host=self.url)._http.post("/_admin/faults", json=faults)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Bench:
    def __init__(self, server: LocalServer, batch: VectorBatch, raw_batch: int) -> None:
        self.server = server
        self.batch = batch
        self.raw_batch = raw_batch
        self.client = Client(provider="pinecone", api_key=server.key, host=server.url)
        self.sdk = Pinecone(api_key=server.key, host=server.url)
        self.index = ""

    def fresh_index(self) -> None:
        if self.index:
            self.client.delete_index(self.index)
        self.index = f"bench-{uuid.uuid4().hex[:8]}"
        self.client.create_index(self.index, self.batch.dimension, "cosine")

    def raw_index(self):
        return self.sdk.Index(host=self.sdk.describe_index(self.index).host)

    def raw_rows(self, lo: int, hi: int) -> list[dict]:
        b = self.batch
        return [
            {"id": b.ids[i], "values": b.values[i].tolist(), "metadata": b.metadata[i]} for i in range(lo, hi)
        ]

    # -- writes ----------------------------------------------------------------------------
    def raw_write(self) -> None:
        index = self.raw_index()
        for lo in range(0, len(self.batch), self.raw_batch):
            index.upsert(vectors=self.raw_rows(lo, min(lo + self.raw_batch, len(self.batch))))

    def raw_bulk_write(self) -> None:
        rows = self.raw_rows(0, len(self.batch))
        result = self.raw_index().upsert(
            vectors=rows, batch_size=self.raw_batch, max_concurrency=4, show_progress=False
        )
        assert result.upserted_count == len(rows), result.errors

    def connector_write(self, chunks: list[VectorBatch]) -> None:
        connector = self.client.connector
        for chunk in chunks:
            assert not connector.reject_reasons(chunk)
            connector.write(self.index, chunk)

    def pipeline_chunks(self) -> list[VectorBatch]:
        caps = self.client.connector.capabilities
        return chunk_batch(
            self.batch, caps.max_batch_count, caps.max_batch_bytes, caps.request_bytes_per_value
        )

    def migration(self, origin: Client) -> None:
        result = Migration(origin, self.client).migrate(source_index="origin", target_index=self.index)
        assert result.migrated_count == len(self.batch) and not result.errors

    # -- reads -----------------------------------------------------------------------------
    def raw_read_pages(self) -> int:
        index = self.raw_index()
        return sum(len(index.fetch(ids=[v.id for v in page.vectors]).vectors) for page in index.list())

    def raw_read_thousands(self) -> int:
        index = self.raw_index()
        ids = [v.id for page in index.list() for v in page.vectors]
        return sum(len(index.fetch(ids=ids[lo : lo + 1000]).vectors) for lo in range(0, len(ids), 1000))

    def connector_read(self) -> int:
        connector = self.client.connector
        return sum(len(b) for b in self._read_splits(connector, connector.plan(self.index, None, 1000)))

    @staticmethod
    def _read_splits(connector, splits) -> Iterator[VectorBatch]:
        for split in splits:
            yield from connector.read(split, OffsetRestrictionTracker(OffsetRange(split.start, split.stop)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--raw-batch", type=int, default=100, help="vectors per raw SDK upsert")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every data request")
    args = parser.parse_args()

    server = LocalServer(args.latency_ms)
    try:
        batch = make_batch(args.n, args.dim)
        bench = Bench(server, batch, args.raw_batch)
        n, repeat, fresh = args.n, args.repeat, bench.fresh_index
        chunks = bench.pipeline_chunks()
        origin = Client(provider="memory", store="bench-origin")
        origin.create_index("origin", args.dim, "cosine")
        origin.connector.write("origin", batch)
        rates = {
            "write raw SDK (one request at a time)": best_rate(n, repeat, bench.raw_write, fresh),
            "write raw SDK bulk (batch_size, 4 in flight)": best_rate(n, repeat, bench.raw_bulk_write, fresh),
            f"write connector ({len(chunks)} chunks, as the pipeline cuts them)": best_rate(
                n, repeat, lambda: bench.connector_write(chunks), fresh
            ),
            "write migration memory -> pinecone (Beam)": best_rate(
                n, repeat, lambda: bench.migration(origin), fresh
            ),
        }
        assert bench.connector_read() == n
        no_op = lambda: None  # noqa: E731 - reads reuse the last index
        rates["read raw SDK (list page, fetch page)"] = best_rate(n, repeat, bench.raw_read_pages, no_op)
        rates["read raw SDK (list all, fetch 1,000)"] = best_rate(n, repeat, bench.raw_read_thousands, no_op)
        rates["read connector (plan, read splits)"] = best_rate(n, repeat, bench.connector_read, no_op)
    finally:
        server.stop()
    print(f"N={args.n} dim={args.dim} latency={args.latency_ms} ms, best of {args.repeat}")
    for name, rate in rates.items():
        print(f"  {name:48s} {rate:10,.0f} vectors/s")
    raw_write = rates["write raw SDK (one request at a time)"]
    raw_read = rates["read raw SDK (list page, fetch page)"]
    for name, rate in rates.items():
        base = raw_write if name.startswith("write") else raw_read
        print(f"  ratio {name:42s} {rate / base:6.2f}x")


if __name__ == "__main__":
    main()
