"""The benchmark's report: per-task means with intervals, paired wins, calls to reach a target, diversity."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from instructzero.benchmark.config import REFERENCE, BenchmarkConfig
from instructzero.benchmark.plots import plot_curves, read_curve


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _interval(values: list[float], cells: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Mean with a 95% interval: Student-t over seeds, or the single cell's bootstrap interval."""
    mean = float(np.mean(values))
    if len(values) == 1:
        return mean, float(cells[0]["test_ci_low"]), float(cells[0]["test_ci_high"])
    from scipy import stats

    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def _calls_to_reach(curve: list[list[float]], target: float) -> float | None:
    return next((calls for calls, best in curve if best >= target - 1e-12), None)


def write_report(bench: BenchmarkConfig) -> Path:
    """`report.md` and `best_so_far.png` from `results.csv` and `curves/`."""
    out = Path(bench.output_dir)
    rows = [r for r in read_rows(out / "results.csv") if r["method"] in bench.methods]
    by = {(r["task"], r["method"], int(r["seed"])): r for r in rows}
    methods = [m for m in bench.methods if any(r["method"] == m for r in rows)]
    tasks = [t for t in bench.tasks if any(r["task"] == t for r in rows)]
    lines = [
        "| task | " + " | ".join(methods) + " |",
        "|---|" + "---|" * len(methods),
    ]
    means: dict[str, list[float]] = {m: [] for m in methods}
    for task in tasks:
        cells = []
        for method in methods:
            found = [by[(task, method, s)] for s in bench.seeds if (task, method, s) in by]
            if not found:
                cells.append("–")
                continue
            values = [float(r["test_score"]) for r in found]
            mean, low, high = _interval(values, found)
            means[method].append(mean)
            val = np.mean([float(r["validation_score"]) for r in found])
            cells.append(f"{mean:.3f} ({low:.2f}–{high:.2f}) · val {val:.3f}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines.append("| **mean over tasks** | " + " | ".join(
        f"**{np.mean(means[m]):.3f}**" if means[m] else "–" for m in methods) + " |")  # fmt: skip
    table = "\n".join(lines)

    wtl = []
    if REFERENCE in methods:
        for other in [m for m in methods if m != REFERENCE]:
            pairs = [(float(by[(t, REFERENCE, s)]["test_score"]), float(by[(t, other, s)]["test_score"]))
                     for t in tasks for s in bench.seeds if (t, REFERENCE, s) in by and (t, other, s) in by]  # fmt: skip
            win = sum(a > b + 1e-9 for a, b in pairs)
            loss = sum(b > a + 1e-9 for a, b in pairs)
            wtl.append(f"| {other} | {win} / {len(pairs) - win - loss} / {loss} | "
                       f"{np.mean([a - b for a, b in pairs]) if pairs else float('nan'):+.3f} |")  # fmt: skip
    reach = []
    if REFERENCE in methods and "uniform" in methods:
        for t in tasks:
            for s in bench.seeds:
                ours, theirs = read_curve(out, t, REFERENCE, s), read_curve(out, t, "uniform", s)
                if ours is None or theirs is None or not theirs:
                    continue
                target, spent = theirs[-1][1], theirs[-1][0]
                calls = _calls_to_reach(ours, target)
                reach.append(f"| {t} | {s} | {target:.3f} | {spent:.0f} | "
                             f"{'not reached' if calls is None else f'{calls:.0f}'} |")  # fmt: skip
    report = [
        "Test score per task: mean over seeds with a 95% interval (Student t over seeds; with one seed, the",
        "run's bootstrap interval over test examples), and the mean validation score of the picked instructions.",
        "",
        table,
    ]
    if wtl:
        report += ["", f"{REFERENCE} against each method, paired by task and seed (test score):", "",
                   "| versus | win / tie / loss | mean difference |", "|---|---|---|", *wtl]  # fmt: skip
    if reach:
        report += ["", "Black-box calls InstructZero needed to reach uniform's final best validation score:", "",
                   "| task | seed | uniform's final | uniform's calls | InstructZero's calls |", "|---|---|---|---|---|",
                   *reach]  # fmt: skip
    diversity = [f"| {m} | {np.mean([int(r['distinct']) / max(int(r['instructions']), 1) for r in rows if r['method'] == m]):.2f} "
                 f"| {np.mean([int(r['degenerate']) / max(int(r['instructions']), 1) for r in rows if r['method'] == m]):.2f} "
                 f"| {np.mean([int(r['instructions']) for r in rows if r['method'] == m]):.0f} |"
                 for m in methods if m != "manual"]  # fmt: skip
    if diversity:
        report += ["", "Instructions scored per run, the share that were distinct, and the share degenerate:", "",
                   "| method | distinct share | degenerate share | instructions |", "|---|---|---|---|", *diversity]  # fmt: skip
    (out / "report.md").write_text("\n".join(report) + "\n")
    plot_curves(bench, tasks, methods, out / "best_so_far.png")
    return out / "report.md"
