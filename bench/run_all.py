"""Every goal-row benchmark of issue 11, each run several times: one JSON file and the README table.

    .venv/bin/python bench/run_all.py --size small            # minutes: a smoke run of the set
    .venv/bin/python bench/run_all.py --size full --runs 3    # the sizes the README reports
    .venv/bin/python bench/run_all.py --n bench_seed.py=20000 --only bench_seed.py

Each script runs ``--runs`` times as a subprocess with ``--json`` (and ``--n`` for the chosen
size; ``full`` uses each script's own default), one script after another so that they do not
compete for the cores. The rows they report are aggregated by ``bench/aggregate.py``: median
ours, baseline and ratio, the min-max of the ratio, the goal judged on the median. A script
that is missing, fails or does not report a row it owns shows so in the table. The results go
to ``--out`` (bench/results.json) and, unless ``--no-readme``, into the README between the
``<!-- bench:goals:start/end -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is a folder of scripts

from aggregate import ScriptRun, rewrite_readme, scripts, summarise_all, table

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

# --n per script for --size small (a few minutes for the whole set); None: the script's default.
SMALL_N: dict[str, int | None] = {
    "bench_pgvector.py": 20_000,
    "bench_pipeline.py": 20_000,
    "bench_pinecone.py": 5_000,
    "bench_seed.py": 10_000,
    "bench_distributed.py": 50_000,
    "bench_scale.py": 100_000,
    "bench_overhead.py": None,  # 10 vectors at any size
}


def run_script(script: Path, n: int | None, timeout: float) -> ScriptRun:
    """One invocation, measured once, with its JSON read back."""
    if not script.exists():
        return ScriptRun(None, 0.0, None, f"{script.name} does not exist")
    with tempfile.TemporaryDirectory(prefix="bench-run-all-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, str(script), "--json", str(out)]
        if n is not None:
            command += ["--n", str(n)]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return ScriptRun(-1, time.perf_counter() - started, None, f"timed out after {timeout:.0f} s")
        seconds = time.perf_counter() - started
        print(done.stdout, end="", flush=True)
        output = None
        error = done.stderr[-2000:] if done.returncode else ""
        if out.exists():
            try:
                output = json.loads(out.read_text())
            except json.JSONDecodeError as exc:
                error += f"\n{script.name} wrote invalid JSON: {exc}"
        elif done.returncode == 0:
            error += f"\n{script.name} exited 0 but wrote no JSON"
        return ScriptRun(done.returncode, seconds, output, error)


def parse_sizes(items: list[str]) -> dict[str, int]:
    sizes = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise SystemExit(f"--n takes SCRIPT=N (e.g. bench_seed.py=20000), not {item!r}")
        sizes[name if name.endswith(".py") else f"{name}.py"] = int(value)
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["small", "full"], default="full")
    parser.add_argument("--n", action="append", default=[], metavar="SCRIPT=N", help="per-script size")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="run these scripts only")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds a run may take")
    parser.add_argument("--out", type=Path, default=BENCH / "results.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--no-readme", action="store_true", help="leave the README alone")
    args = parser.parse_args()
    overrides = parse_sizes(args.n)
    chosen = [s if s.endswith(".py") else f"{s}.py" for s in args.only] if args.only else scripts()

    started, load_before = datetime.now(UTC), os.getloadavg()
    runs: dict[str, list[ScriptRun]] = {}
    for script in chosen:
        n = overrides.get(script, SMALL_N.get(script) if args.size == "small" else None)
        for number in range(1, args.runs + 1):
            print(f"== {script} run {number}/{args.runs}" + (f" --n {n}" if n else ""), flush=True)
            run = run_script(BENCH / script, n, args.timeout)
            runs.setdefault(script, []).append(run)
            if run.returncode is None:
                print(f"   {run.error}", flush=True)
                break  # a missing script stays missing
            print(f"   exit {run.returncode} in {run.seconds:.0f} s", flush=True)
    rows = summarise_all(runs)
    elapsed = (datetime.now(UTC) - started).total_seconds()
    context = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "size": args.size,
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    result = {
        **context,
        "scripts": {
            script: [
                {
                    "returncode": r.returncode,
                    "seconds": round(r.seconds, 1),
                    "error": r.error,
                    "output": r.output,
                }
                for r in script_runs
            ]
            for script, script_runs in runs.items()
        },
        "rows": [row.as_dict() for row in rows],
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    block = (
        f"Measured by `python bench/run_all.py {_command(args)}` on "
        f"{started:%Y-%m-%d %H:%M} UTC in {elapsed / 60:.0f} min, {context['cpus']} cores, load average "
        f"{load_before[0]:.1f} before and {context['load_average_after'][0]:.1f} after "
        f"(all figures: `{_relative(args.out)}`).\n\n" + table(rows)
    )
    print("\n" + block)
    if not args.no_readme:
        args.readme.write_text(rewrite_readme(args.readme.read_text(), block))
        print(f"\nREADME table rewritten: {args.readme}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """The options that chose what ran (not where the output went)."""
    words = [f"--size {args.size}", f"--runs {args.runs}"]
    words += [f"--n {item}" for item in args.n]
    if args.only:
        words.append("--only " + " ".join(args.only))
    return " ".join(words)


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())
