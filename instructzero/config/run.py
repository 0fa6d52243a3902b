"""The run config: one validated object shared by `optimize` and the pipeline.

Every section forbids unknown keys, so a typo in a YAML file fails before any
model is loaded or any black-box call is paid for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError, model_validator

from instructzero.config.base import StrictModel
from instructzero.config.blackbox import BlackBoxConfig
from instructzero.config.evaluation import EvaluationConfig
from instructzero.config.examples import copy_hint, show_hint
from instructzero.config.kubernetes import KubernetesConfig
from instructzero.config.registry import RecheckConfig, RegistryConfig, default_registry_model_name
from instructzero.config.search import APEConfig, BOConfig, SelectionConfig
from instructzero.config.task import TaskConfig
from instructzero.config.whitebox import ProjectionConfig, WhiteBoxConfig
from instructzero.errors import ConfigError

#: Named bundles of settings a config can start from (`preset: paper`); the file's own keys override them.
#: No preset: the shipped defaults, the settings the benchmark chose on validation data (BENCHMARKS.md 8).
PRESETS: dict[str, dict[str, Any]] = {
    # The InstructZero paper's rule: the reference U(-1, 1) projection, "The instruction was to ..." handed to the
    # black box, the open sentence, the best validation score wins, and the user's own instructions are only
    # reported beside the winner.
    "paper": {
        "projection": {"distribution": "uniform"},
        "whitebox": {"instruction_form": "description", "instruction_start": "", "show_instructions": False},
        "selection": {"enabled": False, "user_instructions": False},
    },
}


class RunConfig(StrictModel):
    #: Settings to start from (see :data:`PRESETS`): `paper` for the paper's rule; unset for the shipped defaults.
    preset: Literal["paper"] | None = None
    seed: int = 0
    task: TaskConfig = TaskConfig()
    whitebox: WhiteBoxConfig = WhiteBoxConfig()
    projection: ProjectionConfig = ProjectionConfig()
    blackbox: BlackBoxConfig = BlackBoxConfig()
    bo: BOConfig = BOConfig()
    ape: APEConfig = APEConfig()
    selection: SelectionConfig = SelectionConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    registry: RegistryConfig = RegistryConfig()
    recheck: RecheckConfig = RecheckConfig()
    #: Pods on a Kubernetes stack (resources, GPU placement, secrets, retries); ignored by the local orchestrator.
    kubernetes: KubernetesConfig = KubernetesConfig()

    @model_validator(mode="before")
    @classmethod
    def _preset_and_renamed_keys(cls, data: Any) -> Any:
        """`baseline_instructions` (the key's old name, in older configs and registry records) becomes
        `task.instructions`; a `preset`'s settings go under the file's own keys."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "baseline_instructions" in data:
            old = data.pop("baseline_instructions") or []
            task = dict(data.get("task") or {})
            if old and task.get("instructions"):
                raise ValueError("baseline_instructions is the old name of task.instructions: give only one of them")
            if old:
                task["instructions"] = old
            data["task"] = task
        preset = data.get("preset")
        if isinstance(preset, str) and preset in PRESETS:
            data = deep_merge(PRESETS[preset], data)
        return data

    @model_validator(mode="after")
    def _warm_start_needs_bo(self) -> RunConfig:
        if self.bo.warm_start and self.bo.strategy != "bo":
            raise ValueError("bo.warm_start needs bo.strategy 'bo' (it seeds the GP with earlier observations)")
        if self.selection.rank_by == "posterior_mean" and self.bo.strategy != "bo":
            raise ValueError("selection.rank_by 'posterior_mean' needs bo.strategy 'bo' (it ranks by the GP's estimate);"
                             " use rank_by 'validation' for uniform or ape")  # fmt: skip
        if self.task.objective == "logprob" and not self.selection.enabled:
            raise ValueError("task.objective 'logprob' needs selection.enabled: true (the winner is picked on the"
                             " task's metric by the selection stage)")  # fmt: skip
        if self.whitebox.show_instructions and not self.task.instructions:
            raise ValueError("whitebox.show_instructions needs task.instructions (the instructions the white box"
                             " reads)")  # fmt: skip
        return self

    @property
    def user_instructions(self) -> list[str]:
        """The user's instructions that compete as incumbents (none when `selection.user_instructions` is off)."""
        return self.task.instructions if self.selection.user_instructions else []

    @property
    def registry_model_name(self) -> str:
        return self.registry.model_name or default_registry_model_name(self.task.name)

    @property
    def max_instructions(self) -> int:
        """Number of instructions scored on the validation subset at most."""
        return self.bo.n_init + self.bo.n_rounds * self.bo.q


def parse_config(data: dict[str, Any], origin: str = "config") -> RunConfig:
    """Validate a plain dict, turning pydantic's report into one readable error."""
    try:
        return RunConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}. Fix these keys (an example: {show_hint()}).") from None
    except ConfigError as exc:  # a section's own check (task.metric imports the user's function): name the file
        raise ConfigError(f"{origin}: {exc}") from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML run config; `overrides` are nested dicts merged over it."""
    return parse_config(deep_merge(read_config_file(path), overrides or {}), origin=str(path))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file (a run config or a fleet), not yet validated."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found. Pass an existing YAML file (start from an example: "
                          f"{copy_hint()}).")  # fmt: skip
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML ({exc}). Fix the syntax.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (task, whitebox, ...).")
    return data


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
