"""Running the grid: every pending cell, resumably, after checking all of them before the first spends."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from instructzero.benchmark.cells import run_cell
from instructzero.benchmark.config import FIELDS, BenchmarkConfig, cell_config, cell_key
from instructzero.benchmark.report import read_rows, write_report
from instructzero.blackbox.cache import ResponseCache
from instructzero.config.run import RunConfig
from instructzero.data.load import task_files
from instructzero.data.task import TaskData
from instructzero.errors import DataValidationError, TaskDataError


def _check_before_spending(configs: list[RunConfig]) -> list[TaskData]:
    """Every pending cell's preflight before the first cell runs, so that a task that fails its checks
    stops the benchmark now, not hours in. The data checks run first, once per task and seed, so that a bad
    file stops the grid before the endpoint probe; returns each cell's checked task (the cells run on it
    without checking again)."""
    from instructzero.preflight import preflight

    keys = [config.model_dump_json(include={"task", "seed"}) for config in configs]
    tasks: dict[str, TaskData] = {}
    for key, config in zip(keys, configs):
        if key not in tasks:
            tasks[key] = _checked_task(config)
    return [
        preflight(config, probe=i == 0, checked_task=tasks[key]) for i, (key, config) in enumerate(zip(keys, configs))
    ]


def _checked_task(config: RunConfig) -> TaskData:
    """The cell's task after its data checks. A failure on the user's own files names the benchmark task and the
    files (the data's own name is the file's stem, which need not be the task's)."""
    from instructzero.data.checks import load_checked_task

    try:
        return load_checked_task(config.task, config.seed)[0]
    except TaskDataError as exc:
        if not (files := task_files(config.task)):
            raise
        where = f"benchmark task '{config.task.name}' ({', '.join(map(str, files))})"
        if isinstance(exc, DataValidationError):
            raise DataValidationError(f"{where}: {exc}", exc.report) from None
        raise TaskDataError(f"{where}: {exc}") from None


def run_benchmark(bench: BenchmarkConfig, progress: bool = True, on_cell: Callable[[str], None] | None = None) -> Path:
    """Run every cell not yet in `results.csv` (with the same config), then write the report and the plot."""
    out = Path(bench.output_dir)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    results = out / "results.csv"
    # Seed-major: a grid stopped part-way holds every method of each (seed, task) it reached, which is what
    # the paired comparison needs.
    cells = [(t, m, s) for s in bench.seeds for t in bench.task_names for m in bench.methods]
    configs = {cell: cell_config(bench, *cell) for cell in cells}
    done = {(r["task"], r["method"], int(r["seed"])): r for r in read_rows(results)}
    kept = [r for cell, r in done.items() if cell in configs and r["cell"] == cell_key(configs[cell])]
    with results.open("w", newline="") as handle:  # rewrite without stale rows, then append as cells finish
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(kept)
    finished = {(r["task"], r["method"], int(r["seed"])) for r in kept}
    todo = [cell for cell in cells if cell not in finished]
    checked = dict(zip(todo, _check_before_spending([configs[cell] for cell in todo])))
    shared = ResponseCache(bench.run.get("blackbox", {}).get("cache_path") or out / "answers.sqlite")
    for task, method, seed in tqdm(todo, desc="benchmark cells", unit="cell", disable=not progress):
        config = configs[(task, method, seed)]
        if on_cell is not None:
            on_cell(f"{task}/{method}/{seed}")
        for suffix in ("", "-wal", "-shm"):  # a cell restarts from nothing it paid for
            Path(f"{config.blackbox.cache_path}{suffix}").unlink(missing_ok=True)
        row, curve, history = run_cell(config, method, checked[(task, method, seed)], shared)
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
