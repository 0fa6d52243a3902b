"""The benchmark's grid: its YAML config, the methods, and the run config of each cell."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import Field

from instructzero.config.base import StrictModel
from instructzero.config.examples import copy_hint
from instructzero.config.run import RunConfig, deep_merge, parse_config
from instructzero.data.builtin import BUILTIN_TASKS
from instructzero.data.load import read_task
from instructzero.errors import ConfigError

#: Run-config overrides of the built-in methods.
METHODS: dict[str, dict[str, Any]] = {
    "instructzero": {"bo": {"strategy": "bo", "kernel": "coupled"}},
    "uniform": {"bo": {"strategy": "uniform"}},
    "ape": {"bo": {"strategy": "ape"}},
    "matern": {"bo": {"strategy": "bo", "kernel": "matern"}},
    "manual": {},
    "instructzero_selection": {"bo": {"strategy": "bo", "kernel": "coupled"}, "selection": {"enabled": True}},
}
REFERENCE = "instructzero"
FIELDS = ["task", "method", "seed", "validation_score", "pick_score", "test_score", "test_ci_low", "test_ci_high", "calls",
          "cache_hits", "instructions", "distinct", "degenerate", "wall_s", "best_instruction", "cell"]  # fmt: skip


class BenchmarkConfig(StrictModel):
    """A grid of cells at one budget (YAML; an example: `instructzero config show benchmark`)."""

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
    #: The method the report compares every other one with (paired by task and seed).
    reference: str = REFERENCE


def load_benchmark_config(path: str | Path) -> BenchmarkConfig:
    import yaml
    from pydantic import ValidationError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"benchmark config {path} not found. Pass an existing YAML file (start from the example: "
                          f"{copy_hint('benchmark', 'my-benchmark.yaml')}).")  # fmt: skip
    try:
        config = BenchmarkConfig.model_validate(yaml.safe_load(path.read_text()) or {})
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}. Fix the benchmark config.") from None
    unknown = [m for m in [*config.methods, config.reference] if m not in METHODS and m not in config.variants]
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
    n_test = len(read_task(config.task, seed).test)
    cache = Path(bench.output_dir) / "cells" / f"{task}__{method}__{seed}.sqlite"
    # Every instruction a cell tests costs `n_test` more calls: one for a search, each of the user's own for `manual`.
    n_tested = 1 + len(config.baseline_instructions)
    return config.model_copy(update={"blackbox": config.blackbox.model_copy(
        update={"max_calls": bench.validation_calls + n_tested * n_test, "cache_path": str(cache)})})  # fmt: skip


def cell_key(config: RunConfig) -> str:
    """What a finished cell is kept by: its config without the fields left at their defaults, so that a new option
    (which defaults to the old behaviour) does not rerun a grid; a changed setting does."""
    return hashlib.sha256(config.model_dump_json(exclude_defaults=True).encode()).hexdigest()[:12]
