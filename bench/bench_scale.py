"""Does memory stay flat and time grow linearly from 100k to 1M vectors? (issue 11, ``scale.*``)

    python bench/bench_scale.py --n 1000000 [--targets pgvector,parquet] [--json out.json]

Generates a Parquet source of ``--n`` x ``--dim`` float32 vectors once (files of ``--file-rows``
rows, row groups of 10,000, string ids, a small JSON metadata object each), written file by file
so the whole dataset is never in memory. Then, for each target, it runs the real CLI
(``vector-migrate migrate --source parquet://... --target ...``, the default in-process runner,
as a user would) in a fresh subprocess at a tiny size (1,000 vectors: the memory and time of
start-up alone), at ``n/10``, (``3n/10`` with ``--middle``) and ``n``, sampling the resident memory
of the whole process tree (the CLI and anything it starts; the PostgreSQL server is not part of
it) every 0.1 s. Smaller runs read the first files of the same dataset (hard links).

Rows (benchmark protocol): ``scale.<path>.peak_rss_mb`` (peak RSS at ``n``; goal < 1500 MB and
flat: the extra keys give the peak at every size), and ``scale.<path>.linearity``: (t_n / t_n/10)
/ 10 where t is the migration's own duration from its JSON summary (planning, the Beam job, the
accounting; not the interpreter's start-up and imports, a fixed cost that swamps small runs on a
loaded machine); goal within 0.9..1.1. The same ratio of wall times is kept as ``wall_ratio``.

PostgreSQL is a private embedded server (fsync off: the benchmark is about our process, not the
server's disk) started here and stopped at the end; the generated data is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts import embedded_postgres  # noqa: E402

TINY = 1_000
ROW_GROUP = 10_000
PEAK_GOAL_MB = 1500.0
CLI = [sys.executable, "-m", "pipelines.cli"]


@dataclass
class Run:
    """One CLI migration: its size, wall time and the peak RSS of its process tree."""

    n: int
    seconds: float  # wall time of the CLI process
    migration_seconds: float  # the migration's own duration (its summary): no interpreter start-up
    peak_mb: float
    samples: list[tuple[float, float]]  # (seconds since start, tree RSS MB)


def write_source(folder: Path, n: int, dim: int, file_rows: int, first: int = 0) -> list[Path]:
    """``n`` vectors in files of ``file_rows``, generated and written one file at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    files = []
    for lo in range(first, first + n, file_rows):
        rows = min(file_rows, first + n - lo)
        values = rng.standard_normal((rows, dim), dtype=np.float32)
        table = pa.table(
            {
                "id": pa.array([f"doc-{i:09d}" for i in range(lo, lo + rows)]),
                "values": pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), dim),
                "metadata": pa.array(
                    [json.dumps({"n": i, "title": f"item {i}"}) for i in range(lo, lo + rows)]
                ),
            }
        )
        path = folder / f"part-{lo:010d}.parquet"
        pq.write_table(table, path, row_group_size=ROW_GROUP, compression="none")
        files.append(path)
    return files


def subset(files: list[Path], folder: Path, n: int, file_rows: int) -> Path:
    """A folder holding the first ``n`` vectors of the dataset (hard links, no copy)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in files[: n // file_rows]:
        os.link(path, folder / path.name)
    return folder


def tree_rss(process: psutil.Process) -> float:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # a child that just ended
            pass
    return total / 2**20


def migrate(source: str, target: str, n: int, interval: float = 0.1) -> Run:
    """Run the CLI once; fail loudly unless every vector was migrated."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [*CLI, "migrate", "--source", source, "--target", target, "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process = psutil.Process(child.pid)
    samples: list[tuple[float, float]] = []
    while child.poll() is None:
        try:
            samples.append((time.perf_counter() - started, tree_rss(process)))
        except psutil.Error:
            pass
        time.sleep(interval)
    seconds = time.perf_counter() - started
    out, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(
            f"migration of {n} vectors failed ({child.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
        )
    summary = json.loads(out[out.index("{") :])
    if summary["migrated_count"] != n or summary["failed_count"]:
        raise SystemExit(f"migration of {n} vectors incomplete: {json.dumps(summary)[:2000]}")
    peak = max((mb for _, mb in samples), default=0.0)
    return Run(n, seconds, summary["duration_seconds"], peak, samples)


def pgvector_target(dsn: str, table: str) -> str:
    return dsn.replace("postgresql://", "pgvector://", 1) + f"/{table}"


def drop_table(dsn: str, table: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP TABLE IF EXISTS public."{table}"')


def ladder(path: str, sources: dict[int, Path], work: Path, dsn: str | None) -> dict[int, Run]:
    """Migrate each source size into a fresh target; the runs by size."""
    runs: dict[int, Run] = {}
    for n, folder in sources.items():
        name = f"scale_{n}"
        if path == "parquet":
            target = f"parquet://{work / 'targets'}/{name}"
            shutil.rmtree(work / "targets" / name, ignore_errors=True)
        else:
            assert dsn is not None
            drop_table(dsn, name)
            target = pgvector_target(dsn, name)
        runs[n] = migrate(f"parquet://{folder}", target, n)
        run = runs[n]
        print(
            f"  {path:8} {n:>9,} vectors  {run.seconds:7.1f} s wall  "
            f"{run.migration_seconds:7.1f} s migration  peak RSS {run.peak_mb:6.0f} MB",
            flush=True,
        )
        if path == "parquet":
            shutil.rmtree(work / "targets" / name, ignore_errors=True)
        else:
            drop_table(dsn, name)
    return runs


def rows_for(path: str, runs: dict[int, Run], n: int) -> list[dict]:
    small, big = n // 10, n
    linear = (runs[big].migration_seconds / runs[small].migration_seconds) / 10
    wall = (runs[big].seconds / runs[small].seconds) / 10
    peaks = {str(size): round(run.peak_mb, 1) for size, run in runs.items()}
    peak = runs[big].peak_mb
    growth = peak - runs[small].peak_mb
    what = "Parquet -> pgvector" if path == "pgvector" else "Parquet -> Parquet"
    return [
        {
            "id": f"scale.parquet_to_{path}.peak_rss_mb",
            "what": f"peak RSS of the CLI's process tree, {what}, {n:,} vectors",
            "ours": round(peak, 1),
            "baseline": None,
            "unit": "MB",
            "ratio": None,
            "goal": "< 1500, flat from n/10 to n",
            "met": peak < PEAK_GOAL_MB,
            "peak_mb_by_n": peaks,
            "growth_mb_n_over_10_to_n": round(growth, 1),
        },
        {
            "id": f"scale.parquet_to_{path}.linearity",
            "what": f"(t_n / t_n/10) / 10, {what}, t = the migration's own duration (no start-up)",
            "ours": round(linear, 3),
            "baseline": None,
            "unit": "ratio",
            "ratio": None,
            "goal": "within 0.9..1.1",
            "met": 0.9 <= linear <= 1.1,
            "wall_ratio": round(wall, 3),
            "migration_seconds_by_n": {
                str(size): round(run.migration_seconds, 2) for size, run in runs.items()
            },
            "wall_seconds_by_n": {str(size): round(run.seconds, 2) for size, run in runs.items()},
            "vectors_per_s_by_n": {
                str(size): round(size / run.migration_seconds) for size, run in runs.items()
            },
        },
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="the largest size (also runs n/10)")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--file-rows", type=int, default=50_000, help="rows a generated source file")
    parser.add_argument("--targets", default="pgvector,parquet", help="comma-separated: pgvector, parquet")
    parser.add_argument("--middle", action="store_true", help="also run 3n/10")
    parser.add_argument("--json", help="also write the results as JSON to this path")
    parser.add_argument("--curves", help="write every run's RSS samples (seconds, MB) as JSON here")
    parser.add_argument("--work-dir", help="where the data goes (default: a temporary folder)")
    args = parser.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if unknown := set(targets) - {"pgvector", "parquet"}:
        raise SystemExit(f"unknown targets: {', '.join(sorted(unknown))}")
    sizes = [args.n // 10, *([3 * args.n // 10] if args.middle else []), args.n]
    if any(n % args.file_rows for n in sizes):
        raise SystemExit(f"every size ({sizes}) must be a multiple of --file-rows ({args.file_rows})")
    work = Path(tempfile.mkdtemp(prefix="vector-migrate-scale-", dir=args.work_dir))
    pg_dir = Path(tempfile.mkdtemp(prefix="vector-migrate-scale-pg-"))  # given to the server's user
    dsn = None
    results: dict[str, dict[int, Run]] = {}
    try:
        if "pgvector" in targets:
            dsn = embedded_postgres.start(
                pg_dir, port=55497, settings={"fsync": "off", "synchronous_commit": "off"}
            )
        started = time.perf_counter()
        files = write_source(work / "data", args.n, args.dim, args.file_rows)
        tiny = write_source(work / "tiny", TINY, args.dim, TINY, first=args.n)
        sources = {TINY: tiny[0].parent}
        sources.update({n: subset(files, work / f"src-{n}", n, args.file_rows) for n in sizes})
        print(
            f"generated {args.n:,} x {args.dim} in {len(files)} files, {time.perf_counter() - started:.0f} s"
        )
        for path in targets:
            results[path] = ladder(path, sources, work, dsn)
    finally:
        if dsn is not None:
            embedded_postgres.stop(pg_dir)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)
    rows = [row for path, runs in results.items() for row in rows_for(path, runs, args.n)]
    print(f"\nscale benchmark: dim {args.dim}, sizes {', '.join(f'{s:,}' for s in sorted(sources))}")
    print(f"{'row':38} {'ours':>9} {'goal':>28}  met   detail")
    for row in rows:
        detail = row.get("peak_mb_by_n") or row.get("migration_seconds_by_n")
        print(f"{row['id']:38} {row['ours']:9} {row['goal']:>28}  {row['met']!s:5} {detail}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"script": "bench_scale.py", "n": args.n, "dim": args.dim, "rows": rows}, indent=2)
            + "\n"
        )
    if args.curves:
        curves = {path: {str(n): run.samples for n, run in runs.items()} for path, runs in results.items()}
        Path(args.curves).write_text(json.dumps(curves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
