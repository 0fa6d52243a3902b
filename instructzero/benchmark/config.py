"""The benchmark's grid: its YAML config, the methods, and the run config of each cell."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from instructzero.config.base import StrictModel
from instructzero.config.examples import copy_hint
from instructzero.config.run import RunConfig, deep_merge, parse_config
from instructzero.config.task import TaskConfig
from instructzero.data.builtin import BUILTIN_TASKS
from instructzero.data.load import instruction_induction_tasks, read_raw_splits, task_files
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
          "cache_hits", "instructions", "distinct", "degenerate", "wall_s", "best_instruction", "user_kept", "cell"]  # fmt: skip


#: A task's name keys its rows and names its files (caches, curves, histories): no path separators or spaces.
TASK_NAME = r"^[\w.-]+$"
#: The task-section fields that point at the user's files; relative ones are taken from the benchmark config's folder.
PATH_FIELDS = ("path", "test_path", "data_dir")


class BenchmarkTask(TaskConfig):
    """One task of the grid: a run config's task section whose `name` keys the task's rows, caches,
    `manual_instructions` and `task_overrides`.

    In YAML a plain name is a built-in or packaged instruction-induction task, as
    `{name: sum}` is. A mapping brings the user's own data: `{name: my_task, path:
    data/my.jsonl}` (source `file`: JSONL or CSV with input, output and optional
    answers; `test_path` optional) or `{name: antonyms, data_dir: my_tasks}` (source
    `instruction_induction`: `my_tasks/induce/antonyms.json`, optional
    `execute/antonyms.json`). Without `source` it follows from `path` or `data_dir`.
    Only the fields an entry sets override the run config's task section.

    Example:
        >>> task = BenchmarkTask.model_validate({"name": "my_task", "path": "data/my.jsonl"})
        >>> task.source, task.section()
        ('file', {'source': 'file', 'name': 'my_task', 'path': 'data/my.jsonl'})
    """

    name: str = Field(pattern=TASK_NAME)

    @model_validator(mode="before")
    @classmethod
    def _infer_source(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "source" in data:
            return data
        if data.get("path"):
            source = "file"
        elif data.get("data_dir") or data.get("name") not in BUILTIN_TASKS:
            source = "instruction_induction"
        else:  # a plain built-in name: the section it always gave, so its cells keep their keys
            source = "builtin"
        return {**data, "source": source}

    def section(self) -> dict[str, Any]:
        """The task section this entry sets in each of its cells' run configs: the fields given, and the source."""
        return self.model_dump(exclude_unset=True)

    def located(self, folder: Path) -> BenchmarkTask:
        """This entry with its relative paths taken from `folder` (the benchmark config's), not the working one."""
        update = {f: str(folder / Path(v).expanduser()) for f in PATH_FIELDS if (v := getattr(self, f))}
        return self.model_copy(update=update)


class BenchmarkConfig(StrictModel):
    """A grid of cells at one budget (YAML; an example: `instructzero config show benchmark`)."""

    #: A run config (white box, black box, bo, ...) that every cell starts from.
    run: dict[str, Any] = {}
    #: Task names, or task sections with a `name` for the user's own data (see :class:`BenchmarkTask`).
    tasks: list[BenchmarkTask] = Field(min_length=1)
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

    @field_validator("tasks", mode="before")
    @classmethod
    def _names_to_sections(cls, tasks: Any) -> Any:
        return [{"name": t} if isinstance(t, str) else t for t in tasks] if isinstance(tasks, list) else tasks

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> BenchmarkTask:
        return {t.name: t for t in self.tasks}[name]


def load_benchmark_config(path: str | Path) -> BenchmarkConfig:
    import yaml
    from pydantic import ValidationError

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"benchmark config {path} not found. Pass an existing YAML file (start from the example: "
                          f"{copy_hint('benchmark', 'my-benchmark.yaml')}).")  # fmt: skip
    try:
        config = BenchmarkConfig.model_validate(yaml.safe_load(path.read_text()) or {})
    except ValidationError as exc:  # where, not pydantic's headline: a task entry's mistake names its index and key
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}. Fix the benchmark config.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0]}. Fix the benchmark config.") from None
    config = config.model_copy(update={"tasks": [t.located(path.parent) for t in config.tasks]})
    names = config.task_names
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(
            f"{path}: task name(s) {repeated} appear more than once in tasks: give each entry its own name."
        )
    known = [*BUILTIN_TASKS, *instruction_induction_tasks()]
    if unknown := [t.name for t in config.tasks if not t.path and not t.data_dir and t.name not in known]:
        raise ConfigError(f"{path}: unknown task(s) {unknown}: use a task `instructzero tasks` lists, or your own data "
                          "as {name: my_task, source: file, path: my.jsonl} or {name: ..., data_dir: my_tasks}.")  # fmt: skip
    unknown = [m for m in [*config.methods, config.reference] if m not in METHODS and m not in config.variants]
    if unknown:
        raise ConfigError(f"{path}: unknown method(s) {unknown}: use {sorted(METHODS)} or define them in variants.")
    if "manual" in config.methods and (missing := [t for t in names if not config.manual_instructions.get(t)]):
        raise ConfigError(f"{path}: method manual needs manual_instructions for {missing}.")
    return config


def cell_config(bench: BenchmarkConfig, task: str, method: str, seed: int) -> RunConfig:
    """The run config of one cell: the shared run config, the method's overrides, task, seed and budget."""
    data = deep_merge(bench.run, bench.variants.get(method, METHODS.get(method, {})))
    data = deep_merge(data, bench.task_overrides.get(task, {}))
    data = deep_merge(data, {"seed": seed, "task": bench.task(task).section()})
    if bench.manual_instructions.get(task) and "instructions" not in data["task"]:
        # The user's own instructions reach every cell: `manual` scores them alone, the other methods report them
        # beside their winner and, with `selection.user_instructions` on, keep them unless beaten.
        data = deep_merge(data, {"task": {"instructions": bench.manual_instructions[task]}})
    config = parse_config(data, origin=f"benchmark cell {task}/{method}/{seed}")
    # Raw records, not parsed ones: a malformed file is left to the data checks, which run before the first cell.
    splits = read_raw_splits(config.task, seed)[1]
    n_test = min(len(splits["test"]), config.task.max_test)
    m = min(len(splits["validation"]), config.task.n_validation)
    cache = Path(bench.output_dir) / "cells" / f"{task}__{method}__{seed}.sqlite"
    # Every instruction a cell tests costs `n_test` more calls: one for a search, each of the user's own too. The
    # user's validation scores are part of the equal budget where they compete with the search's (their calls
    # are its evidence), and come on top where they are only reported.
    n_user = len(config.task.instructions)
    on_top = n_user * m if method == "manual" or not config.user_instructions else 0
    max_calls = bench.validation_calls + (1 + n_user) * n_test + on_top
    return config.model_copy(update={"blackbox": config.blackbox.model_copy(
        update={"max_calls": max_calls, "cache_path": str(cache)})})  # fmt: skip


def cell_key(config: RunConfig) -> str:
    """What a finished cell is kept by: its config without the fields left at their defaults, so that a new option
    (which defaults to the old behaviour) does not rerun a grid; a changed setting does. A task from the user's
    files is kept by their content, not their location: an edited file reruns its cells, a moved one does not."""
    files = task_files(config.task)
    text = config.model_dump_json(exclude_defaults=True, exclude={"task": set(PATH_FIELDS)} if files else None)
    text += "".join(hashlib.sha256(f.read_bytes()).hexdigest() for f in files)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
