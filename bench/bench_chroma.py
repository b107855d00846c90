"""Chroma connector throughput against chromadb's raw client, on the same data in the same run.

    .venv/bin/python bench/bench_chroma.py --vectors 10000 --dimension 768 [--mode http|local]

``--mode http`` (default) starts a real server (``chroma run`` from this venv) on a free port in a
temporary folder; ``--mode local`` uses chromadb's persistent client on a temporary folder. Same
records (ids, float32 vectors, small metadata with a document text), same batch size; raw and
connector runs alternate and the best of ``--runs`` counts (the machine may be shared):

* write: ``collection.upsert(ids, embeddings, metadatas, documents)`` per batch into a fresh
  collection, against ``ChromaConnector.write`` of the same batches (which also looks up which
  ids exist, to make the upsert a replacement), and a whole ``Migration`` memory -> chroma;
* read (of the collection the raw client wrote): ``collection.get(limit, offset, include=...)``
  pages with the vectors made a float32 matrix, against the connector's planned split reads
  (``plan`` + ``read``, producing ``VectorBatch``es), and a whole ``Migration`` chroma -> memory.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker

from io_connectors import Client, VectorBatch
from io_connectors.chroma.codec import to_rows
from pipelines import Migration


def make_batches(n: int, dimension: int, batch: int) -> list[VectorBatch]:
    rng = np.random.default_rng(0)
    batches = []
    for lo in range(0, n, batch):
        size = min(batch, n - lo)
        ids = [f"doc-{i}" for i in range(lo, lo + size)]
        meta = [{"i": i, "tag": f"t{i % 9}", "text": f"chunk {i}"} for i in range(lo, lo + size)]
        batches.append(VectorBatch(ids, rng.standard_normal((size, dimension), dtype=np.float32), None, meta))
    return batches


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


@contextmanager
def chroma_server(root: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(root / "server")]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def raw_write(collection: Any, batches: list[VectorBatch]) -> None:
    """Records as the connector stores them (document out of the metadata), one upsert a batch."""
    for batch in batches:
        rows = to_rows(batch)
        collection.upsert(
            ids=rows.ids, embeddings=rows.embeddings, metadatas=rows.metadatas, documents=rows.documents
        )


def raw_read(collection: Any, page: int) -> int:
    seen = 0
    while True:
        result = collection.get(limit=page, offset=seen, include=["embeddings", "metadatas", "documents"])
        if not result["ids"]:
            return seen
        matrix = np.asarray(result["embeddings"], dtype=np.float32)
        seen += len(matrix)


def connector_read(client: Client, index: str, batch: int) -> int:
    connector, seen = client.connector, 0
    for split in connector.plan(index, None, batch):
        for start, stop in connector.split_restriction(split, split.start, split.stop):
            for read in connector.read(split, OffsetRestrictionTracker(OffsetRange(start, stop))):
                seen += len(read)
    return seen


def measure(
    client: Client, batches: list[VectorBatch], n: int, dim: int, size: int, runs: int
) -> dict[str, float]:
    connector = client.connector
    raw_client = connector.store.client
    times: dict[str, list[float]] = {"raw write": [], "connector write": []}
    for run in range(runs):
        raw = raw_client.create_collection(f"raw-{run}", embedding_function=None)
        times["raw write"].append(timed(lambda c=raw: raw_write(c, batches)))
        client.create_index(f"conn-{run}", dim, "euclidean")
        times["connector write"].append(
            timed(lambda r=run: [connector.write(f"conn-{r}", b) for b in batches])
        )
    rates = {name: n / min(t) for name, t in times.items()}

    source = Client(provider="memory", store=f"bench-{uuid.uuid4().hex[:8]}")
    source.create_index("src", dim, "euclidean")
    for b in batches:
        source.connector.write("src", b)
    result = Migration(source, client).migrate(source_index="src", target_index="migrated", batch_size=size)
    assert result.migrated_count == n, result.summary()
    rates["migration memory->chroma"] = n / result.duration_seconds

    reads: dict[str, list[float]] = {"raw read": [], "connector read": []}
    for _ in range(runs):
        reads["raw read"].append(timed(lambda: raw_read(raw_client.get_collection("raw-0"), size)))
        reads["connector read"].append(timed(lambda: connector_read(client, "raw-0", size)))
    rates.update({name: n / min(t) for name, t in reads.items()})
    back = Client(provider="memory", store=f"bench-{uuid.uuid4().hex[:8]}")
    result = Migration(client, back).migrate(source_index="raw-0", target_index="back", batch_size=size)
    assert result.migrated_count == n, result.summary()
    rates["migration chroma->memory"] = n / result.duration_seconds
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=10_000)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--mode", choices=["http", "local"], default="http")
    args = parser.parse_args()
    n, dim, size = args.vectors, args.dimension, args.batch
    batches = make_batches(n, dim, size)
    root = Path(tempfile.mkdtemp(prefix="bench-chroma-"))
    try:
        if args.mode == "http":
            with chroma_server(root) as url:
                rates = measure(Client(provider="chroma", host=url), batches, n, dim, size, args.runs)
        else:
            rates = measure(
                Client(provider="chroma", path=str(root / "local")), batches, n, dim, size, args.runs
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{n:,} vectors of dimension {dim}, batches of {size}, chroma {args.mode}")
    for name, rate in rates.items():
        base = rates["raw write"] if "write" in name or "->chroma" in name else rates["raw read"]
        print(f"{name:>26}: {rate:>9,.0f} vectors/s  ({rate / base:5.2f} x raw)")


if __name__ == "__main__":
    main()
