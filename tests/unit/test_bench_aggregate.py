"""bench/run_all.py's aggregation and README table, from made-up script outputs (no benchmark runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import aggregate  # noqa: E402
import run_all  # noqa: E402
from aggregate import ScriptRun  # noqa: E402


def output(script: str, rows: list[dict]) -> dict:
    return {"script": script, "n": 1000, "dim": 8, "rows": rows}


def seed_row(row_id: str, ours: float, baseline: float) -> dict:
    return {
        "id": row_id,
        "what": "whole migration vs seed",
        "ours": ours,
        "baseline": baseline,
        "unit": "vectors/s",
        "ratio": ours / baseline,
        "goal": ">= 3.0",
        "met": ours / baseline >= 3.0,
    }


def test_medians_spread_and_goal_judged_on_the_median() -> None:
    runs = [
        ScriptRun(0, 1.0, output("bench_seed.py", [seed_row("seed.pgvector", ours, 1000.0)]))
        for ours in (2000.0, 5000.0, 3500.0)  # ratios 2.0, 5.0, 3.5: one run below the goal
    ]
    row = next(r for r in aggregate.summarise_all({"bench_seed.py": runs}) if r.id == "seed.pgvector")
    assert (row.ours, row.baseline, row.ratio) == (3500.0, 1000.0, 3.5)
    assert (row.ratio_min, row.ratio_max, row.runs) == (2.0, 5.0, 3)
    assert row.met is True and row.status == "measured"


def test_rows_without_baseline_are_judged_on_ours() -> None:
    rows = [
        {
            "id": "cli.fixed_overhead_s",
            "ours": s,
            "baseline": None,
            "ratio": None,
            "unit": "s",
            "goal": "< 3.0",
        }
        for s in (2.5, 3.4, 3.1)
    ]
    runs = [ScriptRun(0, 1.0, output("bench_overhead.py", [r])) for r in rows]
    row = aggregate.summarise(aggregate.Goal("cli.fixed_overhead_s", "bench_overhead.py", "< 3.0"), runs)
    assert row.ours == 3.1 and row.ratio is None and row.met is False
    assert "2.50-3.40" in aggregate.table([row])


@pytest.mark.parametrize(
    ("goal", "value", "met"),
    [
        (">= 1.6", 1.6, True),
        (">= 1.6", 1.59, False),
        ("< 1500", 1499, True),
        ("within 0.9..1.1", 1.12, False),
    ],
)
def test_goal_expressions(goal: str, value: float, met: bool) -> None:
    assert aggregate.judge(goal, value) is met


def test_missing_failed_and_unreported_rows_stay_in_the_table() -> None:
    runs = {
        "bench_seed.py": [ScriptRun(None, 0.0, None, "bench_seed.py does not exist")],
        "bench_distributed.py": [ScriptRun(1, 2.0, None, "Traceback ...\nRuntimeError: pool died")] * 3,
        "bench_pinecone.py": [ScriptRun(0, 1.0, output("bench_pinecone.py", []))] * 3,
    }
    rows = {r.id: r for r in aggregate.summarise_all(runs)}
    assert len(rows) == len(aggregate.GOALS)  # nothing dropped
    assert rows["seed.pgvector"].status == "missing script"
    assert rows["distributed.pgvector_2_vs_1"].status == "failed"
    assert "pool died" in rows["distributed.pgvector_2_vs_1"].notes[0]
    assert rows["pinecone.write_vs_sdk"].status == "not reported"
    assert rows["cli.fixed_overhead_s"].status == "not run"  # not chosen in this run
    text = aggregate.table(list(rows.values()))
    assert "**missing script**" in text and "**failed**" in text and "**not reported**" in text


def test_a_partly_failing_script_is_flagged() -> None:
    good = ScriptRun(0, 1.0, output("bench_seed.py", [seed_row("seed.qdrant_edge", 4000.0, 1000.0)]))
    runs = [good, ScriptRun(2, 1.0, None, "killed"), good]
    row = aggregate.summarise(aggregate.Goal("seed.qdrant_edge", "bench_seed.py", ">= 3.0"), runs)
    assert row.runs == 2 and row.status == "measured, some runs failed"
    assert "yes (measured, some runs failed)" in aggregate.table([row])


def test_readme_is_rewritten_between_markers_only() -> None:
    readme = f"# T\n\nbefore\n{aggregate.START_MARKER}\nold table\n{aggregate.END_MARKER}\nafter\n"
    new = aggregate.rewrite_readme(readme, "| new |")
    assert new == f"# T\n\nbefore\n{aggregate.START_MARKER}\n| new |\n{aggregate.END_MARKER}\nafter\n"
    with pytest.raises(ValueError, match="bench:goals:start"):
        aggregate.rewrite_readme("# no markers\n", "| x |")


def test_the_readme_has_the_markers() -> None:
    readme = (BENCH.parent / "README.md").read_text()
    assert aggregate.rewrite_readme(readme, "| x |").count("| x |") == 1


def test_run_script_reads_the_json_a_script_writes(tmp_path: Path) -> None:
    script = tmp_path / "bench_fake.py"
    row = seed_row("seed.pgvector", 3000.0, 1000.0)
    script.write_text(
        "import json, sys\n"
        "args = sys.argv[1:]\n"
        "n = int(args[args.index('--n') + 1])\n"
        f"row = {row!r}\n"
        "out = open(args[args.index('--json') + 1], 'w')\n"
        "json.dump({'script': 'bench_fake.py', 'n': n, 'rows': [row]}, out)\n"
    )
    run = run_all.run_script(script, 123, timeout=60)
    assert run.returncode == 0 and run.output["n"] == 123 and run.output["rows"] == [row]
    failing = tmp_path / "bench_broken.py"
    failing.write_text("raise SystemExit('no server')\n")
    broken = run_all.run_script(failing, None, timeout=60)
    assert broken.returncode == 1 and "no server" in broken.error and broken.output is None
    assert run_all.run_script(tmp_path / "absent.py", None, 60).returncode is None


def test_results_json_is_serialisable() -> None:
    runs = [ScriptRun(0, 1.0, output("bench_seed.py", [seed_row("seed.pgvector", 3000.0, 1000.0)]))]
    rows = aggregate.summarise_all({"bench_seed.py": runs})
    assert json.loads(json.dumps([r.as_dict() for r in rows]))[6]["id"] == "seed.pgvector"
