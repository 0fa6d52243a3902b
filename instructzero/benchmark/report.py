"""The benchmark's report: per-task means with intervals, paired wins, calls to reach a target, diversity."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from instructzero.benchmark.config import BenchmarkConfig
from instructzero.benchmark.plots import plot_curves, read_curve


def pick_score(row: dict[str, str]) -> float:
    """The score a cell's pick was chosen on; rows written before the column existed fall back to validation."""
    return float(row.get("pick_score") or row["validation_score"])


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _interval(values: list[float], cells: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Mean with a 95% interval: Student-t over seeds, or the single cell's bootstrap interval."""
    if len(values) == 1:
        return float(values[0]), float(cells[0]["test_ci_low"]), float(cells[0]["test_ci_high"])
    return _t_interval(values)


def _t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval of `values` (nan bounds for fewer than two)."""
    mean = float(np.mean(values)) if values else float("nan")
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    from scipy import stats

    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def _constant_answers(bench: BenchmarkConfig, tasks: list[str]) -> dict[str, tuple[str, float]]:
    """Each task's most frequent answer and its test score (the first seed's split)."""
    from instructzero.benchmark.config import cell_config
    from instructzero.data.load import read_task
    from instructzero.data.trivial import most_frequent_answer

    found = {}
    for task in tasks:
        config = cell_config(bench, task, bench.methods[0], bench.seeds[0])
        found[task] = most_frequent_answer(read_task(config.task, config.seed))
    return found


def _calls_to_reach(curve: list[list[float]], target: float) -> float | None:
    return next((calls for calls, best in curve if best >= target - 1e-12), None)


def write_report(bench: BenchmarkConfig) -> Path:
    """`report.md` and `best_so_far.png` from `results.csv` and `curves/`."""
    out = Path(bench.output_dir)
    rows = [r for r in read_rows(out / "results.csv") if r["method"] in bench.methods]
    by = {(r["task"], r["method"], int(r["seed"])): r for r in rows}
    methods = [m for m in bench.methods if any(r["method"] == m for r in rows)]
    tasks = [t for t in bench.task_names if any(r["task"] == t for r in rows)]
    reference = bench.reference
    constant = _constant_answers(bench, tasks)
    lines = [
        "| task | constant answer | " + " | ".join(methods) + " |",
        "|---|---|" + "---|" * len(methods),
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
        answer, score = constant[task]
        lines.append(f"| {task} | {score:.3f} ({answer[:12]!r}) | " + " | ".join(cells) + " |")
    lines.append(f"| **mean over tasks** | {np.mean([c[1] for c in constant.values()]):.3f} | " + " | ".join(
        f"**{np.mean(means[m]):.3f}**" if means[m] else "–" for m in methods) + " |")  # fmt: skip
    table = "\n".join(lines)

    wtl = []
    if reference in methods:
        for other in [m for m in methods if m != reference]:
            pairs = [(float(by[(t, reference, s)]["test_score"]), float(by[(t, other, s)]["test_score"]))
                     for t in tasks for s in bench.seeds if (t, reference, s) in by and (t, other, s) in by]  # fmt: skip
            win = sum(a > b + 1e-9 for a, b in pairs)
            loss = sum(b > a + 1e-9 for a, b in pairs)
            mean, low, high = _t_interval([a - b for a, b in pairs])
            wtl.append(f"| {other} | {win} / {len(pairs) - win - loss} / {loss} | {mean:+.3f} | "
                       f"{low:+.3f} to {high:+.3f} |")  # fmt: skip
    curse = []
    for m in methods:
        gaps = [pick_score(r) - float(r["test_score"]) for r in rows if r["method"] == m]
        mean, low, high = _t_interval(gaps)
        curse.append(f"| {m} | {mean:+.3f} | {low:+.3f} to {high:+.3f} | {len(gaps)} |")
    reach = []
    if reference in methods and "uniform" in methods:
        for t in tasks:
            for s in bench.seeds:
                ours, theirs = read_curve(out, t, reference, s), read_curve(out, t, "uniform", s)
                if ours is None or theirs is None or not theirs:
                    continue
                target, spent = theirs[-1][1], theirs[-1][0]
                calls = _calls_to_reach(ours, target)
                reach.append(f"| {t} | {s} | {target:.3f} | {spent:.0f} | "
                             f"{'not reached' if calls is None else f'{calls:.0f}'} |")  # fmt: skip
    report = [
        "Test score per task: mean over seeds with a 95% interval (Student t over seeds; with one seed, the",
        "run's bootstrap interval over test examples), and the mean validation score of the picked instructions.",
        "The constant answer is the test score of always giving the task's most frequent answer.",
        "",
        table,
    ]
    if wtl:
        report += ["", f"{reference} against each method, paired by task and seed (test score; 95% Student-t",
                   "interval of the mean paired difference over tasks x seeds):", "",
                   "| versus | win / tie / loss | mean difference | 95% interval |", "|---|---|---|---|", *wtl]  # fmt: skip
    report += ["", "Winner's curse: the score the pick was chosen on (its pooled mean after a selection stage, else its",
               "validation score) minus its test score (mean over cells, 95% Student-t interval):", "", "| method | gap | 95% interval | cells |", "|---|---|---|---|", *curse]  # fmt: skip
    if reach:
        report += ["", f"Black-box calls {reference} needed to reach uniform's final best validation score:", "",
                   f"| task | seed | uniform's final | uniform's calls | {reference}'s calls |", "|---|---|---|---|---|",
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
