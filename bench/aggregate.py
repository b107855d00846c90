"""Issue 11's goals table from benchmark runs: medians, spreads, goals judged, README rewritten.

The benchmark protocol (every goal-row script takes ``--n``/``--json`` and measures once) is
described in the README's Benchmarks section; ``bench/run_all.py`` runs the scripts and hands
their JSON outputs here. Kept apart from the runner so the arithmetic and the table can be
tested with made-up outputs, without running a benchmark.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

START_MARKER = "<!-- bench:goals:start -->"
END_MARKER = "<!-- bench:goals:end -->"


@dataclass(frozen=True)
class Goal:
    """One row of issue 11's goals table: its id, the script that measures it, the goal."""

    id: str
    script: str
    goal: str


# Issue 11's goals table, in its order (ids and goals as the benchmark protocol names them).
GOALS: tuple[Goal, ...] = (
    Goal("pgvector.migrate_vs_copy_from", "bench_pgvector.py", ">= 0.85"),
    Goal("pgvector.read_vs_copy_to", "bench_pgvector.py", ">= 0.9"),
    Goal("pipeline.memory_to_parquet_vs_loop", "bench_pipeline.py", ">= 0.9"),
    Goal("pipeline.parquet_to_memory_vs_loop", "bench_pipeline.py", ">= 0.9"),
    Goal("pinecone.write_vs_sdk", "bench_pinecone.py", ">= 1.0"),
    Goal("pinecone.write_vs_sdk_20ms", "bench_pinecone.py", ">= 3.0"),
    Goal("seed.pgvector", "bench_seed.py", ">= 3.0"),
    Goal("seed.qdrant_edge", "bench_seed.py", ">= 3.0"),
    Goal("distributed.pgvector_2_vs_1", "bench_distributed.py", ">= 1.6"),
    Goal("scale.parquet_to_pgvector.peak_rss_mb", "bench_scale.py", "< 1500"),
    Goal("scale.parquet_to_parquet.peak_rss_mb", "bench_scale.py", "< 1500"),
    Goal("scale.parquet_to_pgvector.linearity", "bench_scale.py", "within 0.9..1.1"),
    Goal("scale.parquet_to_parquet.linearity", "bench_scale.py", "within 0.9..1.1"),
    Goal("cli.fixed_overhead_s", "bench_overhead.py", "< 3.0"),
)


def scripts() -> list[str]:
    """The goal-row scripts, each once, in the table's order."""
    return list(dict.fromkeys(goal.script for goal in GOALS))


@dataclass
class ScriptRun:
    """One invocation of a script: its exit status and the JSON it wrote (None if none)."""

    returncode: int | None  # None: the script file does not exist
    seconds: float
    output: dict[str, Any] | None
    error: str = ""  # the tail of stderr, or why the run did not happen


@dataclass
class RowSummary:
    id: str
    script: str
    goal: str
    status: str  # "measured", "not run", "missing script", "failed", "not reported"
    what: str = ""
    unit: str = ""
    runs: int = 0  # runs that reported this row
    ours: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    ratio_min: float | None = None
    ratio_max: float | None = None
    ours_min: float | None = None
    ours_max: float | None = None
    met: bool | None = None
    n: int | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_COMPARISON = re.compile(r"^\s*(>=|<=|<|>)\s*([-+0-9.eE]+)")
_WITHIN = re.compile(r"^\s*within\s+([-+0-9.eE]+)\s*\.\.\s*([-+0-9.eE]+)")


def judge(goal: str, value: float | None) -> bool | None:
    """Whether ``value`` meets ``goal`` (">= 3.0", "< 1500", "within 0.9..1.1"); None if unknown."""
    if value is None:
        return None
    if match := _WITHIN.match(goal):
        return float(match[1]) <= value <= float(match[2])
    if match := _COMPARISON.match(goal):
        limit = float(match[2])
        return {
            ">=": value >= limit,
            "<=": value <= limit,
            ">": value > limit,
            "<": value < limit,
        }[match[1]]
    return None


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarise(goal: Goal, runs: Sequence[ScriptRun]) -> RowSummary:
    """One goal row over every run of its script.

    The goal is judged on the median of the ratio (or of ``ours`` for rows without a baseline),
    not on the scripts' own ``met`` flags, so that one lucky run does not decide it.
    """
    row = RowSummary(goal.id, goal.script, goal.goal, "measured")
    if not runs:
        row.status = "not run"
        return row
    if all(run.returncode is None for run in runs):
        row.status = "missing script"
        return row
    reported = []
    for number, run in enumerate(runs, 1):
        found = [r for r in (run.output or {}).get("rows", []) if r.get("id") == goal.id]
        if run.returncode != 0:
            row.notes.append(f"run {number} exited {run.returncode}: {run.error.strip()[-300:]}")
        if found:
            reported.append((run, found[0]))
    if not reported:
        row.status = "failed" if any(run.returncode != 0 for run in runs) else "not reported"
        return row
    if len(reported) < len(runs):
        row.notes.append(f"reported by {len(reported)} of {len(runs)} runs")
    last = reported[-1][1]
    row.what, row.unit = str(last.get("what", "")), str(last.get("unit", ""))
    row.goal = str(last.get("goal") or goal.goal)
    row.runs = len(reported)
    row.n = reported[-1][0].output.get("n") if reported[-1][0].output else None
    ours = [_number(r.get("ours")) for _, r in reported]
    ratios = [_number(r.get("ratio")) for _, r in reported]
    row.ours = _median(ours)
    row.baseline = _median([_number(r.get("baseline")) for _, r in reported])
    row.ratio = _median(ratios)
    present_ratios = [r for r in ratios if r is not None]
    if present_ratios:
        row.ratio_min, row.ratio_max = min(present_ratios), max(present_ratios)
    present_ours = [o for o in ours if o is not None]
    if present_ours:
        row.ours_min, row.ours_max = min(present_ours), max(present_ours)
    row.met = judge(row.goal, row.ratio if row.ratio is not None else row.ours)
    if row.met is None:  # a goal this module cannot read: every run's own verdict must agree
        flags = [r.get("met") for _, r in reported]
        row.met = all(flags) if all(isinstance(f, bool) for f in flags) else None
    if any(run.returncode != 0 for run in runs):
        row.status = "measured, some runs failed"
    return row


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def summarise_all(runs: dict[str, Sequence[ScriptRun]]) -> list[RowSummary]:
    """Every goal row, plus rows a script reported that the goals table does not name."""
    rows = [summarise(goal, runs.get(goal.script, ())) for goal in GOALS]
    known = {goal.id for goal in GOALS}
    for script, script_runs in runs.items():
        extra = {
            r["id"]: r.get("goal", "")
            for run in script_runs
            for r in (run.output or {}).get("rows", [])
            if r.get("id") and r["id"] not in known
        }
        for row_id, goal in extra.items():
            rows.append(summarise(Goal(row_id, script, str(goal)), script_runs))
            known.add(row_id)
    return rows


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "vectors/s" or abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def _ratio_cell(row: RowSummary) -> str:
    if row.ratio is None:
        if row.ours_min is not None and row.runs > 1:
            return f"- (ours {_fmt(row.ours_min)}-{_fmt(row.ours_max)})"
        return "-"
    spread = f" ({row.ratio_min:.2f}-{row.ratio_max:.2f} of {row.runs})" if row.runs > 1 else ""
    return f"{row.ratio:.2f}x{spread}"


def _met_cell(row: RowSummary) -> str:
    if row.status in ("not run", "missing script", "failed", "not reported"):
        return f"**{row.status}**"
    verdict = {True: "yes", False: "**no**", None: "?"}[row.met]
    return verdict if row.status == "measured" else f"{verdict} ({row.status})"


def table(rows: Sequence[RowSummary]) -> str:
    """The README's goals table (Markdown)."""
    lines = [
        "| path | goal | ours (median) | baseline (median) | ratio median (min-max of runs) | met? |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        size = f", N={row.n:,}" if row.n else ""
        path = f"`{row.id}` ({row.script}{size})" + (f": {row.what}" if row.what else "")
        lines.append(
            f"| {_escape(path)} | {_escape(row.goal)} | {_fmt(row.ours, row.unit)} | "
            f"{_fmt(row.baseline, row.unit)} | {_ratio_cell(row)} | {_met_cell(row)} |"
        )
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rewrite_readme(readme: str, block: str) -> str:
    """``readme`` with the text between the goals-table markers replaced by ``block``."""
    start, end = readme.find(START_MARKER), readme.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {START_MARKER} ... {END_MARKER} section to rewrite")
    return readme[: start + len(START_MARKER)] + "\n" + block.strip() + "\n" + readme[end:]
