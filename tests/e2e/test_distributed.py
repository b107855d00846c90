"""Migrations on a distributed engine: Beam's portable runner with an external worker pool whose
SDK workers are separate processes (tests/fixtures/worker_pool.py), as Flink and Dataflow run them.

The DSN given to the jobs has no password: the role must authenticate, and the workers get the
password from their environment (``PGPASSWORD``), so the job graph never holds it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psutil
import pytest

from io_connectors import Client, ConfigError, VectorBatch
from pipelines import Migration
from pipelines.runner import RunConfig
from scripts.worker_pool import WorkerPool

N = 50_000
DIM = 64
RUN_CONFIG = Path(__file__).parents[2] / "run_configs" / "portable-worker-pool.json"


def without_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port}"))


def on_pool(source: Client, target: Client, pool: WorkerPool, shared: Path) -> Migration:
    args = [f"--environment_config={pool.address}", f"--temp_location={shared}"]
    return Migration(source, target, run_config=RUN_CONFIG, pipeline_args=args)


class WorkerWatch:
    """Counts the pool's worker processes while a job runs (the most seen at one moment)."""

    def __init__(self, pool: WorkerPool) -> None:
        self._pool = psutil.Process(pool.pid)
        self._stop = threading.Event()
        self.most = 0
        self.pids: set[int] = set()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            children = self._pool.children()
            self.most = max(self.most, len(children))
            self.pids.update(c.pid for c in children)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def password_dsn(pg_password_dsn: str, pg_password: str, monkeypatch) -> str:
    """The role's DSN without its password; this driver, like the workers, reads PGPASSWORD."""
    monkeypatch.setenv("PGPASSWORD", pg_password)
    return without_password(pg_password_dsn)


def fill_parquet(client: Client, index: str, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    client.create_index(index, DIM, "cosine")
    for lo in range(0, n, 10_000):
        ids = [f"doc-{i}" for i in range(lo, min(n, lo + 10_000))]
        values = rng.standard_normal((len(ids), DIM), dtype=np.float32)
        namespace = "even" if (lo // 10_000) % 2 == 0 else "odd"
        client.connector.write(
            index, VectorBatch(ids, values, None, [{"i": lo + k} for k in range(len(ids))], namespace)
        )


def test_50k_parquet_to_pgvector_to_parquet_on_the_worker_pool(
    worker_pool, password_dsn, pg_schema, tmp_path
) -> None:
    shared = tmp_path / "shared"
    source = Client(provider="parquet", path=str(tmp_path / "source"))
    fill_parquet(source, "docs", N)
    target = Client(provider="pgvector", dsn=password_dsn, schema=pg_schema)
    export = Client(provider="parquet", path=str(tmp_path / "export"))
    progress: list[dict] = []

    with WorkerWatch(worker_pool) as watch:
        first = on_pool(source, target, worker_pool, shared).migrate(
            source_index="docs", target_index="docs", on_progress=progress.append
        )
    assert (first.migrated_count, first.read_count, first.errors) == (N, N, [])
    assert watch.most >= 2, f"expected at least 2 worker processes, saw {watch.most}"
    assert progress and progress[-1]["migrated"] == N
    assert any(0 < p["migrated"] < N for p in progress), "no live progress while the job ran"

    second = on_pool(target, export, worker_pool, shared).migrate(source_index="docs", target_index="docs")
    assert (second.migrated_count, second.errors) == (N, [])

    for left, right in ((source, target), (target, export)):
        check = on_pool(left, right, worker_pool, shared).verify(
            source_index="docs", target_index="docs", deep=True
        )
        assert check.match and check.checked == N, check.summary()
    assert target.describe_index("docs")["namespaces"] == {"even": 30_000, "odd": 20_000}
    assert not any(shared.iterdir()), "scratch folders were left behind in the shared location"


def test_a_record_of_the_wrong_dimension_reaches_the_shared_failure_report(
    worker_pool, password_dsn, pg_schema, tmp_path
) -> None:
    """The issue's reproduction: the failure report is written by workers, read by the driver."""
    shared = tmp_path / "shared"
    source = Client(provider="parquet", path=str(tmp_path / "source"))
    fill_parquet(source, "docs", 500)
    source.connector.write(
        "docs", VectorBatch(["short-one"], np.ones((1, DIM - 1), dtype=np.float32), namespace="even")
    )
    target = Client(provider="pgvector", dsn=password_dsn, schema=pg_schema)

    result = on_pool(source, target, worker_pool, shared).migrate(source_index="docs", target_index="docs")

    assert [(e.ids, e.namespace) for e in result.errors] == [(["short-one"], "even")]
    assert "dimension" in result.errors[0].message
    assert (result.failed_count, result.migrated_count) == (1, 500)
    assert result.failures_path and result.failures_path.startswith(str(shared))
    reports = list(Path(result.failures_path).glob("failures*.jsonl"))
    lines = [json.loads(line) for report in reports for line in report.read_text().splitlines()]
    assert [line["ids"] for line in lines] == [["short-one"]]


def test_a_remote_runner_given_a_local_path_is_refused_before_any_data_moves(
    worker_pool, password_dsn, pg_schema, tmp_path
) -> None:
    source = Client(provider="parquet", path=str(tmp_path / "source"))
    fill_parquet(source, "docs", 100)
    target = Client(provider="pgvector", dsn=password_dsn, schema=pg_schema)
    config = RunConfig.load(RUN_CONFIG)
    remote = dataclasses.replace(
        config,
        options={
            k: v for k, v in config.options.items() if k not in ("workers_share_local_disk", "temp_location")
        },
    )
    address = [f"--environment_config={worker_pool.address}"]

    with pytest.raises(ConfigError, match="--temp_location"):
        Migration(source, target, remote, address).migrate(source_index="docs", target_index="docs")
    with pytest.raises(ConfigError, match=r"local path.*would never reach this driver"):
        Migration(source, target, remote, [*address, f"--temp_location={tmp_path}"]).migrate(
            source_index="docs", target_index="docs"
        )
    with pytest.raises(ConfigError, match="local path"):
        Migration(source, target, remote, [*address, "--temp_location=gs://bucket/tmp"]).migrate(
            source_index="docs", target_index="docs", failures_path=str(tmp_path / "failures")
        )
    assert target.list_indexes() == []
    with pytest.raises(ConfigError, match="--temp_location"):
        Migration(source, source, remote, address).verify(source_index="docs", target_index="docs", deep=True)
