"""The registry's read side: the production instruction of a task, for applications and people.

The ZenML Model Control Plane is the registry: each pipeline run registers a
version of the model `instructzero-<task>` holding the best instruction (the
`best_instruction` artifact) and its :class:`~instructzero.registry.RegistryRecord`
as metadata, and `promote` moves it to `production` when it beats the version
there. Applications fetch the prompt at start-up:

    from pipelines.registry import production_prompt
    prompt = production_prompt("sum")
    messages = [{"role": "user", "content": f"Instruction: {prompt.instruction}\\n\\nInput: ..."}]
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")


@dataclass(frozen=True)
class ProductionPrompt:
    task: str
    instruction: str
    model_name: str
    version: str
    validation_score: float
    test_score: float
    test_ci_low: float
    test_ci_high: float
    blackbox_model: str
    run_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def describe(self) -> str:
        return (
            f"{self.instruction}\n\n"
            f"task {self.task} | {self.model_name} version {self.version} (production) | "
            f"test {self.test_score:.3f} [{self.test_ci_low:.3f}, {self.test_ci_high:.3f}] | "
            f"validation {self.validation_score:.3f} | black box {self.blackbox_model} | run {self.run_id}\n"
        )


class NoProductionPrompt(LookupError):
    """The task has no version in production yet."""


def production_version(model_name: str):
    """The production model version, or None (ZenML raises KeyError for a stage with no version)."""
    from zenml.client import Client
    from zenml.enums import ModelStages

    try:
        return Client().get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None


def production_prompt(task: str, model_name: str | None = None) -> ProductionPrompt:
    """The instruction in production for `task`, exactly as the pipeline stored it."""
    from instructzero.config import default_registry_model_name
    from instructzero.registry import RegistryRecord

    name = model_name or default_registry_model_name(task)
    version = production_version(name)
    if version is None:
        raise NoProductionPrompt(f"no production version of model '{name}': run the pipeline for task '{task}' first")
    record = RegistryRecord.from_metadata(version.run_metadata)
    return ProductionPrompt(
        task=record.task,
        instruction=version.get_artifact("best_instruction").load(),
        model_name=name,
        version=str(version.number),
        validation_score=record.validation_score,
        test_score=record.test_score,
        test_ci_low=record.test_ci_low,
        test_ci_high=record.test_ci_high,
        blackbox_model=record.blackbox_model,
        run_id=record.run_id,
    )
