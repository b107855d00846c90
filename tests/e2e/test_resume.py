"""Kill a checkpointed migration with SIGKILL at about 40%, resume it, and prove the copy exact.

The migration runs as a real CLI subprocess from a Parquet source into each target kind; the
test watches the state's wave markers and kills the process once they cover 40% of the source.
Size: ``RESUME_VECTORS`` (default the issue's 300,000, dimension 8, in 30 files of one row group
each, so 30 pieces in 5 waves of 6: the kill lands halfway through the third wave).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from io_connectors import Client, ConfigError, VectorBatch
from pipelines import Migration
from tests.fixtures.pinecone import PINECONE_TEST_KEY

N = int(os.environ.get("RESUME_VECTORS", "300000"))
DIM = 8
FILES = 30
CHECKPOINTS = 5
KILL_AT = 0.40
RESUME_AT_MOST = 0.65


def make_source(root: Path) -> Client:
    """``N`` records in ``FILES`` files of one row group each, written with pyarrow directly in
    the connector's own layout (a third of the ids integers, the rest strings)."""
    source = Client(provider="parquet", path=str(root))
    source.connector.create_index("src", DIM, "cosine")
    folder = root / "src" / "__default__"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    step = -(-N // FILES)
    for number, first in enumerate(range(0, N, step)):
        numbers = np.arange(first, min(first + step, N))
        is_int = numbers % 3 == 0
        ids = [str(i) if integer else f"doc-{i}" for i, integer in zip(numbers.tolist(), is_int.tolist())]
        values = rng.standard_normal((len(ids), DIM), dtype=np.float32)
        metadata = [f'{{"i": {i}, "tag": "t{first % 7}"}}' for i in numbers.tolist()]
        table = pa.table(
            {
                "id": pa.array(ids, pa.string()),
                "id_is_int": pa.array(is_int),
                "values": pa.FixedSizeListArray.from_arrays(values.reshape(-1), DIM).cast(
                    pa.list_(pa.float32())
                ),
                "metadata": pa.array(metadata, pa.string()),
            }
        )
        pq.write_table(table, folder / f"part-{number:04d}.parquet", row_group_size=len(ids))
    return source


def done_fraction(state: Path) -> float:
    read = 0
    for marker in (state / "done").glob("*.json"):
        try:
            read += json.loads(marker.read_text())["counters"].get("vectors_read", 0)
        except (json.JSONDecodeError, KeyError):  # a marker being renamed into place
            continue
    return read / N


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", *args]


def reached(process: subprocess.Popen, state: Path, fraction: float, deadline: float) -> float:
    """When the markers came to cover ``fraction`` of the source (the process still running)."""
    while done_fraction(state) < fraction - 1e-9:
        assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
        assert time.monotonic() < deadline, f"the migration never reached {fraction:.0%}"
        time.sleep(0.05)
    return time.monotonic()


def run_killed_then_resumed(source_uri: str, target_uri: str, state: Path, env: dict[str, str]) -> dict:
    args = ["migrate", "--source", source_uri, "--target", target_uri, "--state", str(state)]
    process = subprocess.Popen(
        cli(*args, "--checkpoints", str(CHECKPOINTS)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 600  # generous: CI machines are shared
    # Kill halfway through the wave after the one that reaches 40% (timed by the wave before),
    # so the killed wave has (most likely) written part of its records: the resume upserts them again.
    wave_began = reached(process, state, KILL_AT - 1 / CHECKPOINTS, deadline)
    wave_ended = reached(process, state, KILL_AT, deadline)
    time.sleep((wave_ended - wave_began) / 2)
    assert process.poll() is None, "the migration ended before the kill"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = done_fraction(state)
    assert KILL_AT <= killed_at < 1.0, killed_at
    resumed = subprocess.run(
        cli(*args, "--checkpoints", str(CHECKPOINTS), "--resume", "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout)
    summary["killed_at"] = killed_at
    return summary


def check(summary: dict, source: Client, target: Client, target_index: str) -> None:
    metrics = summary["metrics"]
    assert metrics["vectors_read_this_run"] <= RESUME_AT_MOST * N, metrics
    assert metrics["runs"] == 2 and metrics["pieces_done_before"] > 0
    assert summary["migrated_count"] == N and summary["read_count"] == N and summary["failed_count"] == 0
    verification = Migration(source, target).verify("src", target_index, deep=True)
    assert verification.match, verification.summary()
    assert verification.target_count == N and verification.extra_count == 0  # no duplicates


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


def test_resume_into_parquet(tmp_path: Path, env: dict[str, str]) -> None:
    source = make_source(tmp_path / "source")
    summary = run_killed_then_resumed(
        f"parquet://{tmp_path}/source/src", f"parquet://{tmp_path}/target/dst", tmp_path / "state", env
    )
    check(summary, source, Client(provider="parquet", path=str(tmp_path / "target")), "dst")


def test_resume_into_pgvector(tmp_path: Path, env: dict[str, str], postgres_dsn: str, pg_schema: str) -> None:
    source = make_source(tmp_path / "source")
    target_uri = f"{postgres_dsn.replace('postgresql://', 'pgvector://')}/dst?schema={pg_schema}"
    summary = run_killed_then_resumed(f"parquet://{tmp_path}/source/src", target_uri, tmp_path / "state", env)
    check(summary, source, Client(provider="pgvector", dsn=postgres_dsn, schema=pg_schema), "dst")


def test_resume_into_qdrant_edge(tmp_path: Path, env: dict[str, str]) -> None:
    source = make_source(tmp_path / "source")
    summary = run_killed_then_resumed(
        f"parquet://{tmp_path}/source/src", f"qdrant+edge://{tmp_path}/qdrant/dst", tmp_path / "state", env
    )
    target = Client.from_uri(f"qdrant+edge://{tmp_path}/qdrant/dst")
    try:
        check(summary, source, target, "dst")
    finally:
        target.close()


def test_resume_into_pinecone(tmp_path: Path, env: dict[str, str], pinecone_server) -> None:
    source = make_source(tmp_path / "source")
    env = {**env, "VM_TEST_PINECONE_KEY": PINECONE_TEST_KEY}
    target_uri = f"pinecone+http://{pinecone_server.url[7:]}/dst?api_key_env=VM_TEST_PINECONE_KEY"
    summary = run_killed_then_resumed(f"parquet://{tmp_path}/source/src", target_uri, tmp_path / "state", env)
    target = Client(provider="pinecone", api_key=PINECONE_TEST_KEY, host=pinecone_server.url)
    check(summary, source, target, "dst")
    state_text = "".join(p.read_text() for p in (tmp_path / "state").glob("*.json"))
    assert PINECONE_TEST_KEY not in state_text


def test_a_changed_source_is_refused_on_resume(tmp_path: Path) -> None:
    source = Client(provider="parquet", path=str(tmp_path / "source"))
    source.connector.create_index("src", DIM, "cosine")
    source.connector.write(
        "src", VectorBatch(list(range(100)), np.ones((100, DIM), np.float32), None, None, "")
    )
    target = Client(provider="parquet", path=str(tmp_path / "target"))
    migration = Migration(source, target)
    state = str(tmp_path / "state")
    first = migration.migrate("src", "dst", state=state, checkpoints=2)
    assert first.migrated_count == 100
    again = migration.migrate("src", "dst", state=state, resume=True)
    assert again.metrics["vectors_read_this_run"] == 0 and again.migrated_count == 100
    source.connector.write("src", VectorBatch([500], np.ones((1, DIM), np.float32), None, None, ""))
    with pytest.raises(ConfigError, match=r"source's contents .* changed: .*'count': 100.*'count': 101"):
        migration.migrate("src", "dst", state=state, resume=True)
    with pytest.raises(ConfigError, match="migration options"):
        Migration(source, target).migrate("src", "dst", state=state, resume=True, batch_size=7, chunk_size=3)
