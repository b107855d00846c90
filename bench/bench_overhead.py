"""Fixed overhead of a small migration through the real CLI: wall time of a subprocess.

    .venv/bin/python bench/bench_overhead.py [--n 10] [--json out.json]

Runs ``vector-migrate migrate --source parquet:///.../src --target parquet:///.../dst-K`` as a
child process (Python start-up, imports, planning, the Beam job, accounting, the summary) on an
``--n``-vector Parquet index, after one unmeasured warm-up run (page cache, ``.pyc`` files), and
measures one run. For context it also times ``python -c "import apache_beam"`` and
``python -c pass`` in the same way: the floor under any Beam-based CLI.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOAL_SECONDS = 3.0
CLI = Path(sys.executable).with_name("vector-migrate")


def make_source(root: Path, n: int, dim: int) -> None:
    """An ``n``-vector Parquet index written in its own process (not part of the timing)."""
    from io_connectors import Client, VectorBatch

    client = Client(provider="parquet", path=str(root))
    client.create_index("src", dim, "cosine")
    rng = np.random.default_rng(0)
    ids = [f"doc-{i}" for i in range(n)]
    meta = [{"i": i} for i in range(n)]
    client.upsert(
        index="src", vectors=VectorBatch(ids, rng.standard_normal((n, dim), dtype=np.float32), None, meta)
    )


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one child process. The CPU time barely
    moves when other jobs load the machine; the wall time is what a user waits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10, help="vectors in the migrated index")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--json", help="also write the results as JSON to this path")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    make_source(root, args.n, args.dim)

    def migrate(target: str) -> list[str]:
        return [
            str(CLI),
            "migrate",
            "--source",
            f"parquet://{root}/src",
            "--target",
            f"parquet://{root}/{target}",
        ]

    timed(migrate("warm-up"))
    cli, cli_cpu = timed(migrate("measured"))
    beam_import, beam_import_cpu = timed([sys.executable, "-c", "import apache_beam"])
    bare, bare_cpu = timed([sys.executable, "-c", "pass"])
    print(f"{args.n} vectors x {args.dim}, Parquet -> Parquet through the CLI (one run after a warm-up)")
    print(f"{'what':<44}{'wall s':>10}{'CPU s':>10}")
    for label, wall, cpu in (
        ("vector-migrate migrate (whole subprocess)", cli, cli_cpu),
        ('python -c "import apache_beam"', beam_import, beam_import_cpu),
        ("python -c pass", bare, bare_cpu),
    ):
        print(f"{label:<44}{wall:>10.2f}{cpu:>10.2f}")
    print(f"goal < {GOAL_SECONDS:.1f} s: {'met' if cli < GOAL_SECONDS else 'NOT met'}")
    if args.json:
        row = {
            "id": "cli.fixed_overhead_s",
            "what": f"fixed overhead of a {args.n}-vector CLI migration (Parquet -> Parquet, wall time)",
            "ours": round(cli, 3),
            "baseline": None,
            "unit": "s",
            "ratio": None,
            "goal": f"< {GOAL_SECONDS}",
            "met": cli < GOAL_SECONDS,
            "cpu_s": round(cli_cpu, 3),
            "import_apache_beam_s": round(beam_import, 3),
            "import_apache_beam_cpu_s": round(beam_import_cpu, 3),
            "python_start_s": round(bare, 3),
        }
        report = {"script": "bench_overhead.py", "n": args.n, "dim": args.dim, "rows": [row]}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
