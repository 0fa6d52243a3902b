"""A fleet: several tasks optimized (or re-checked) in one pipeline run, one branch of steps per task.

A fleet config is a run config with a `tasks:` mapping, task name -> that task's overrides (data, metric,
budget, baseline instructions, registry, ...), each deep-merged over the rest of the file, the shared config:

    blackbox: {backend: openai, model: gpt-4o-mini, cache_path: .cache/responses.sqlite}
    bo: {n_init: 10, n_rounds: 2}
    tasks:
      antonyms: {task: {source: instruction_induction}}      # task.name defaults to the key
      tickets: {task: {source: file, path: tickets.jsonl, instructions: [...]}, bo: {n_rounds: 4}}

Each task registers on its own registry model (`instructzero-<task.name>`, or its `registry.model_name`), so
those names must differ. The tasks share one response cache (`blackbox.cache_path`) and the run-wide
Kubernetes settings; a task may override neither. A plain run config is a fleet of one, whose steps keep their
plain names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator

from instructzero.config.base import StrictModel
from instructzero.config.kubernetes import RUN_WIDE, KubernetesConfig
from instructzero.config.run import RunConfig, deep_merge, parse_config, read_config_file
from instructzero.errors import ConfigError

#: A task's name in a fleet: its steps are named `<name>.<step>`, which also lands in Kubernetes Job names
#: and labels (at most 63 characters with the step's name), so lower-case letters, digits, `-` and `_`.
TASK_NAME = r"^[a-z0-9]([a-z0-9_-]{0,30}[a-z0-9])?$"


#: What the tasks of a fleet share, so a task may not override it: (section, key, why).
SHARED = (("blackbox", "cache_path", "a fleet shares one response cache, so no task pays twice for the same answer"),
          *(("kubernetes", key, "a run-wide setting, the same for every task of the run") for key in RUN_WIDE))


class Fleet(StrictModel):
    """The tasks of one run, by name, each with its whole run config."""

    tasks: dict[str, RunConfig]
    #: Whether the config named its tasks (`tasks:`): then every task's steps are prefixed with its name. A
    #: plain run config is a fleet of one with `named` false, whose steps keep their plain names.
    named: bool = True

    @classmethod
    def of(cls, config: RunConfig) -> Fleet:
        """A plain run config as a fleet of one."""
        return cls(tasks={config.task.name: config}, named=False)

    def branch(self, name: str) -> str:
        """The prefix of the task's step names ('' in a fleet of one from a plain config)."""
        return name if self.named else ""

    @property
    def kubernetes(self) -> KubernetesConfig:
        """The run-wide Kubernetes settings (orchestrator pod, image, schedule, parallel pods): the same for
        every task (:func:`parse_fleet` lets no task override them). Each task's step pods follow its own
        `kubernetes` section."""
        return next(iter(self.tasks.values())).kubernetes

    def only(self, names: list[str]) -> Fleet:
        """The fleet of these tasks only (e.g. those that passed their checks)."""
        return self.model_copy(update={"tasks": {name: self.tasks[name] for name in names}})

    @model_validator(mode="after")
    def _named_tasks_with_their_own_registry_entries(self) -> Fleet:
        if not self.tasks:
            raise ValueError("tasks: name at least one task")
        if self.named:
            bad = [name for name in self.tasks if not re.match(TASK_NAME, name)]
            if bad:
                raise ValueError(f"tasks: {', '.join(map(repr, bad))}: a task name has 1-32 lower-case letters, "
                                 "digits, '-' or '_' (it names the task's steps and pods)")  # fmt: skip
        by_model: dict[str, str] = {}
        for name, config in self.tasks.items():
            if (other := by_model.setdefault(config.registry_model_name, name)) != name:
                raise ValueError(f"tasks {other} and {name} both register to '{config.registry_model_name}': "
                                 f"set registry.model_name in one of them")  # fmt: skip
        return self


def parse_fleet(data: dict[str, Any], origin: str = "config") -> Fleet:
    """A fleet from a config mapping: with `tasks:`, each task's overrides merged over the rest; without,
    the run config as a fleet of one. Errors are one line naming the file and the key."""
    if "tasks" not in data:
        return Fleet.of(parse_config(data, origin=origin))
    tasks = data["tasks"]
    if not isinstance(tasks, dict) or not tasks:
        raise ConfigError(f"{origin}: tasks must map task names to their overrides, e.g. tasks: {{sum: {{}}, "
                          "antonyms: {task: {source: instruction_induction}}}")  # fmt: skip
    shared = {key: value for key, value in data.items() if key != "tasks"}
    configs = {}
    for name, overrides in tasks.items():
        if overrides is not None and not isinstance(overrides, dict):
            raise ConfigError(f"{origin}: tasks.{name} must be a mapping of sections to override (or empty)")
        for section, key, why in SHARED:
            if key in ((overrides or {}).get(section) or {}):
                raise ConfigError(f"{origin}: tasks.{name}.{section}.{key}: {why}; set it once, outside tasks")
        merged = deep_merge(shared, overrides or {})
        if "name" not in ((overrides or {}).get("task") or {}):  # the key, unless the task's own entry names one
            merged["task"] = {**(merged.get("task") or {}), "name": str(name)}
        configs[str(name)] = parse_config(merged, origin=f"{origin}: tasks.{name}")
    try:
        return Fleet(tasks=configs)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {'; '.join(err['msg'].removeprefix('Value error, ') for err in exc.errors())}"
                          ) from None  # fmt: skip


def load_fleet(path: str | Path) -> Fleet:
    """Read a YAML config: a fleet (`tasks:`) or a plain run config (a fleet of one)."""
    return parse_fleet(read_config_file(path), origin=str(path))
