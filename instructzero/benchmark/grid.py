"""Does InstructZero find better instructions than its baselines at equal cost? Tasks × methods × seeds.

Every cell (task, method, seed) is one in-process run with the same white box and
black box and the same black-box budget for validation scoring
(`validation_calls`; the test split's calls come on top, as in any run). Methods:
`instructzero` (BO with the instruction-coupled kernel), `uniform` (random soft
prompts, same generator), `ape` (APE-style sampling, no soft prompts), `matern`
(BO with a plain Matérn kernel: the ablation) and `manual` (the user's own
instructions, best on validation), plus any `variants` the config defines as
run-config overrides. Each cell is billed as if it ran alone: it has its own
response cache (a repeated instruction within a run is free, as in production),
while the answers themselves are computed once for all cells
(:class:`SharedAnswers`), so methods that propose the same instructions do not
get each other's calls for free.

Results go to `output_dir`: `results.csv` (a row per cell, written as it
finishes, so an interrupted benchmark resumes where it stopped; a cell whose
config changed is run again), `curves/` (best-so-far validation score against
calls per cell), `report.md` (per-task means with intervals, win/tie/loss of
InstructZero against each method paired by task and seed, calls to reach
uniform's final score) and `best_so_far.png`. Methods are never chosen by test
scores: each run picks its instruction on validation, and the test split only
reports.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from tqdm.auto import tqdm

from instructzero.blackbox.base import BlackBox, Completion
from instructzero.data.builtin import BUILTIN_TASKS
from instructzero.config import RunConfig, StrictModel, deep_merge, parse_config
from instructzero.data.load import load_task
from instructzero.errors import ConfigError
from instructzero.search.history import History
from instructzero.blackbox.cache import ResponseCache

#: Run-config overrides of the built-in methods.
METHODS: dict[str, dict[str, Any]] = {
    "instructzero": {"bo": {"strategy": "bo", "kernel": "coupled"}},
    "uniform": {"bo": {"strategy": "uniform"}},
    "ape": {"bo": {"strategy": "ape"}},
    "matern": {"bo": {"strategy": "bo", "kernel": "matern"}},
    "manual": {},
}
REFERENCE = "instructzero"
FIELDS = ["task", "method", "seed", "validation_score", "test_score", "test_ci_low", "test_ci_high", "calls",
          "cache_hits", "instructions", "distinct", "degenerate", "wall_s", "best_instruction", "cell"]  # fmt: skip


class BenchmarkConfig(StrictModel):
    """A grid of cells at one budget (YAML; see `configs/benchmark.yaml`)."""

    #: A run config (white box, black box, bo, ...) that every cell starts from.
    run: dict[str, Any] = {}
    tasks: list[str] = Field(min_length=1)
    methods: list[str] = ["instructzero", "uniform", "ape", "matern"]
    seeds: list[int] = [0]
    #: The equal budget: black-box calls for validation scoring per cell (the test split's come on top).
    validation_calls: int = Field(ge=1)
    #: The user's own instructions per task (the `manual` method).
    manual_instructions: dict[str, list[str]] = {}
    #: Extra methods: name -> run-config overrides (e.g. a different projection or generation template).
    variants: dict[str, dict[str, Any]] = {}
    #: Per-task run-config overrides, the same for every method (e.g. a smaller `task.n_validation` for a
    #: task with few examples).
    task_overrides: dict[str, dict[str, Any]] = {}
    output_dir: str = "benchmark-results"


def load_benchmark_config(path: str | Path) -> BenchmarkConfig:
    import yaml
    from pydantic import ValidationError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"benchmark config {path} not found. Pass an existing YAML file, e.g. configs/benchmark.yaml.")
    try:
        config = BenchmarkConfig.model_validate(yaml.safe_load(path.read_text()) or {})
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}. Fix the benchmark config.") from None
    unknown = [m for m in config.methods if m not in METHODS and m not in config.variants]
    if unknown:
        raise ConfigError(f"{path}: unknown method(s) {unknown}: use {sorted(METHODS)} or define them in variants.")
    if "manual" in config.methods and (missing := [t for t in config.tasks if not config.manual_instructions.get(t)]):
        raise ConfigError(f"{path}: method manual needs manual_instructions for {missing}.")
    return config


def cell_config(bench: BenchmarkConfig, task: str, method: str, seed: int) -> RunConfig:
    """The run config of one cell: the shared run config, the method's overrides, task, seed and budget."""
    source = "builtin" if task in BUILTIN_TASKS else "instruction_induction"
    data = deep_merge(bench.run, bench.variants.get(method, METHODS.get(method, {})))
    data = deep_merge(data, bench.task_overrides.get(task, {}))
    data = deep_merge(data, {"seed": seed, "task": {"source": source, "name": task}})
    if method == "manual":
        data["baseline_instructions"] = bench.manual_instructions[task]
    config = parse_config(data, origin=f"benchmark cell {task}/{method}/{seed}")
    n_test = len(load_task(config.task, seed).test)
    cache = Path(bench.output_dir) / "cells" / f"{task}__{method}__{seed}.sqlite"
    # Every instruction a cell tests costs `n_test` more calls: one for a search, each of the user's own for `manual`.
    n_tested = 1 + len(config.baseline_instructions)
    return config.model_copy(update={"blackbox": config.blackbox.model_copy(
        update={"max_calls": bench.validation_calls + n_tested * n_test, "cache_path": str(cache)})})  # fmt: skip


def cell_key(config: RunConfig) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:12]


class SharedAnswers:
    """A black box whose answers are kept across cells, while every request is still booked.

    A cell's own response cache decides what the cell pays for; a request it
    pays for is served from this store when another cell asked it before, and
    booked on the cell's budget exactly as a fresh answer (same tokens, cost).
    """

    def __init__(self, inner: BlackBox, store: ResponseCache) -> None:
        self.inner, self.store = inner, store

    @property
    def identity(self) -> str:
        return self.inner.identity

    def complete(self, prompts, progress=False, on_result=None, budget=None) -> list[Completion | None]:
        keys = [self.store.key(self.identity, "", prompt, "") for prompt in prompts]
        known = self.store.rows(keys)
        results: list[Completion | None] = [None] * len(prompts)
        for i, key in enumerate(keys):
            if key in known and (budget is None or budget.try_reserve()):
                text, prompt_tokens, completion_tokens = known[key]
                results[i] = Completion(text, prompt_tokens, completion_tokens)
                if budget is not None:
                    budget.settle(prompt_tokens, completion_tokens)
                if on_result is not None:
                    on_result(i, results[i])
        todo = [i for i, key in enumerate(keys) if key not in known]

        def store(index: int, completion: Completion) -> None:
            i = todo[index]
            self.store.put_many([(keys[i], completion.text, completion.prompt_tokens, completion.completion_tokens)])
            results[i] = completion
            if on_result is not None:
                on_result(i, completion)

        if todo and not (budget is not None and budget.exhausted):
            self.inner.complete([prompts[i] for i in todo], progress=progress, on_result=store, budget=budget)
        return results


def run_cell(
    config: RunConfig, method: str, shared: ResponseCache | None = None
) -> tuple[dict[str, Any], list[tuple[int, float]], History | None]:
    """One cell's CSV row, best-so-far curve (black-box calls, best validation score) and history (None for
    `manual`, which searches nothing).

    `shared` keeps answers across cells (see :class:`SharedAnswers`); the cell's own
    response cache is `blackbox.cache_path` (in memory when unset).
    """
    from instructzero.blackbox.backends import make_blackbox
    from instructzero.search.generator import is_degenerate

    start = time.perf_counter()
    blackbox = make_blackbox(config.blackbox)
    if shared is not None:
        blackbox = SharedAnswers(blackbox, shared)
    history = None
    if method == "manual":
        result = _manual(config, blackbox)
        best = max(result, key=lambda b: b.validation_score)
        calls = sum(b.spend.calls for b in result)
        row = {"validation_score": best.validation_score, "test": best.test, "calls": calls,
               "cache_hits": sum(b.spend.cache_hits for b in result), "instructions": [b.instruction for b in result]}  # fmt: skip
        curve = [(sum(b.validation_spend.calls for b in result), best.validation_score)]
    else:
        from instructzero.loop import optimize

        result = optimize(config, blackbox=blackbox)
        row = {"validation_score": result.validation_score, "test": result.test, "calls": result.blackbox_calls,
               "cache_hits": result.spend.cache_hits, "instructions": result.history.instructions}  # fmt: skip
        curve = result.history.best_so_far()
        history = result.history
    instructions, test = row.pop("instructions"), row.pop("test")
    row.update(
        test_score=test.score, test_ci_low=test.ci_low, test_ci_high=test.ci_high, instructions=len(instructions),
        distinct=len(set(instructions)), degenerate=sum(map(is_degenerate, instructions)),
        wall_s=round(time.perf_counter() - start, 1), best_instruction=test.instruction,
    )  # fmt: skip
    return row, curve, history


def _manual(config: RunConfig, blackbox: BlackBox):
    from instructzero.evaluation import score_baselines
    from instructzero.preflight import preflight

    task = preflight(config)
    bb = config.blackbox
    examples = task.validation_subset(config.task.n_validation, config.seed)
    return score_baselines(config.baseline_instructions, examples, task.test, blackbox, task.metric,
                           ResponseCache(bb.cache_path), config.evaluation, config.seed, price=bb.price)  # fmt: skip


def read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _check_before_spending(configs: list[RunConfig]) -> None:
    """Every pending cell's data checks and budget (and the endpoint, once), before the first cell runs:
    a task that fails its checks stops the benchmark now, not hours in."""
    from instructzero.preflight import preflight

    seen: set[str] = set()
    for config in configs:
        key = config.model_dump_json(include={"task", "seed", "blackbox", "baseline_instructions", "whitebox"})
        if key not in seen:
            preflight(config, probe=not seen)
            seen.add(key)


def run_benchmark(bench: BenchmarkConfig, progress: bool = True, on_cell: Callable[[str], None] | None = None) -> Path:
    """Run every cell not yet in `results.csv` (with the same config), then write the report and the plot."""
    out = Path(bench.output_dir)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    results = out / "results.csv"
    cells = [(t, m, s) for t in bench.tasks for m in bench.methods for s in bench.seeds]
    configs = {cell: cell_config(bench, *cell) for cell in cells}
    done = {(r["task"], r["method"], int(r["seed"])): r for r in read_rows(results)}
    kept = [r for cell, r in done.items() if cell in configs and r["cell"] == cell_key(configs[cell])]
    with results.open("w", newline="") as handle:  # rewrite without stale rows, then append as cells finish
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(kept)
    finished = {(r["task"], r["method"], int(r["seed"])) for r in kept}
    todo = [cell for cell in cells if cell not in finished]
    _check_before_spending([configs[cell] for cell in todo])
    shared = ResponseCache(bench.run.get("blackbox", {}).get("cache_path") or out / "answers.sqlite")
    for task, method, seed in tqdm(todo, desc="benchmark cells", unit="cell", disable=not progress):
        config = configs[(task, method, seed)]
        if on_cell is not None:
            on_cell(f"{task}/{method}/{seed}")
        for suffix in ("", "-wal", "-shm"):  # a cell restarts from nothing it paid for
            Path(f"{config.blackbox.cache_path}{suffix}").unlink(missing_ok=True)
        row, curve, history = run_cell(config, method, shared)
        row.update(task=task, method=method, seed=seed, cell=cell_key(config))
        (out / "curves" / f"{task}__{method}__{seed}.json").write_text(json.dumps(curve))
        if history is not None:  # for analysis: which soft prompt gave which instruction and scores
            (out / "histories").mkdir(exist_ok=True)
            np.savez_compressed(out / "histories" / f"{task}__{method}__{seed}.npz", soft_prompts=history.soft_prompts,
                                scores=history.scores, rounds=history.rounds,
                                instructions=np.array(history.instructions))  # fmt: skip
        with results.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=FIELDS).writerow(row)
    write_report(bench)
    return out


# ---------------------------------------------------------------------------
# Report


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
                ours, theirs = _curve(out, t, REFERENCE, s), _curve(out, t, "uniform", s)
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


def _curve(out: Path, task: str, method: str, seed: int) -> list[list[float]] | None:
    path = out / "curves" / f"{task}__{method}__{seed}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def plot_curves(bench: BenchmarkConfig, tasks: list[str], methods: list[str], path: Path) -> None:
    """Best-so-far validation score against black-box calls, a panel per task, a line per method (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(bench.output_dir)
    columns = min(3, max(len(tasks), 1))
    rows = math.ceil(max(len(tasks), 1) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.4 * rows), squeeze=False)
    grid = np.linspace(0, bench.validation_calls, 101)
    for ax, task in zip(axes.flat, tasks):
        for method in methods:
            curves = [c for s in bench.seeds if (c := _curve(out, task, method, s))]
            if not curves:
                continue
            steps = []
            for curve in curves:
                calls, best = np.array([c for c, _ in curve]), np.array([b for _, b in curve])
                idx = np.searchsorted(calls, grid, side="right") - 1
                steps.append(np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan))
            ax.plot(grid, np.nanmean(np.array(steps), axis=0), label=method, drawstyle="steps-post")
        ax.set_title(task)
        ax.set_xlabel("black-box calls (validation)")
        ax.set_ylabel("best validation score")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
