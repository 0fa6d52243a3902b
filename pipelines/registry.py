"""The registry's read side: the production instruction of a task, for applications and people.

The ZenML Model Control Plane is the registry: each pipeline run registers a
version of the model `instructzero-<task>` holding the best instruction (the
`best_instruction` artifact) and its :class:`~instructzero.registry.record.RegistryRecord`
as metadata, and `promote` moves it to `production` when it beats the version
there. Applications fetch the prompt at start-up:

    from instructzero.pipelines.registry import production_prompt
    prompt = production_prompt("sum")
    messages = [{"role": "user", "content": f"Instruction: {prompt.instruction}\\n\\nInput: ..."}]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from instructzero.steps.model_registry import REGRESSION_TAG, production_version
from instructzero.steps.names import BEST_INSTRUCTION, EVALUATE_ON_TEST, RESULT, in_branch

__all__ = ["REGRESSION_TAG", "NoProductionPrompt", "ProductionPrompt", "production_prompt", "production_record",
           "production_version", "warm_start_source"]  # fmt: skip


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
    #: Every re-check of this version, oldest first (see `instructzero.registry.recheck.Recheck`).
    rechecks: tuple = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def describe(self) -> str:
        text = (
            f"{self.instruction}\n\n"
            f"task {self.task} | {self.model_name} version {self.version} (production) | "
            f"test {self.test_score:.3f} [{self.test_ci_low:.3f}, {self.test_ci_high:.3f}] | "
            f"validation {self.validation_score:.3f} | black box {self.blackbox_model} | run {self.run_id}\n"
        )
        for check in self.rechecks:
            text += f"re-checked {check['checked_at']}: test {check['test_score']:.3f}: {check['reason']}\n"
        return text


class NoProductionPrompt(LookupError):
    """The task has no version in production yet."""


def production_record(task: str, model_name: str | None = None):
    """(model name, production version, its RegistryRecord) of a task; NoProductionPrompt when there is none."""
    from instructzero.config.registry import default_registry_model_name
    from instructzero.registry.record import RegistryRecord

    name = model_name or default_registry_model_name(task)
    version = production_version(name)
    if version is None:
        raise NoProductionPrompt(f"no production version of model '{name}': run the pipeline for task '{task}' first")
    return name, version, RegistryRecord.from_metadata(version.run_metadata)


def production_prompt(task: str, model_name: str | None = None) -> ProductionPrompt:
    """The instruction in production for `task`, exactly as the pipeline stored it."""
    name, version, record = production_record(task, model_name)
    return ProductionPrompt(
        task=record.task,
        instruction=version.get_artifact(BEST_INSTRUCTION).load(),
        model_name=name,
        version=str(version.number),
        validation_score=record.validation_score,
        test_score=record.test_score,
        test_ci_low=record.test_ci_low,
        test_ci_high=record.test_ci_high,
        blackbox_model=record.blackbox_model,
        run_id=record.run_id,
        rechecks=tuple(version.run_metadata.get("rechecks", [])),
    )


def warm_start_source(config, task, blackbox_identity: str) -> tuple[str | None, str]:
    """The `result` artifact of the newest registered run whose observations this run can reuse, and one line
    saying what is reused and why it is comparable, or why nothing is (then the run starts cold)."""
    from zenml.client import Client

    from instructzero.registry.record import RegistryRecord, search_fingerprint, why_not_comparable

    client = Client()
    mine = search_fingerprint(config, task, blackbox_identity)
    try:
        versions = client.list_model_versions(config.registry_model_name, sort_by="desc:number", size=50).items
    except KeyError:
        versions = []
    refused = []
    for version in versions:
        try:
            record = RegistryRecord.from_metadata(version.run_metadata)
        except KeyError:
            continue
        why = why_not_comparable(mine, record.search_fingerprint)
        if why is not None:
            refused.append(f"version {version.number}: {why}")
            continue
        step = client.get_pipeline_run(record.run_id).steps[in_branch(record.branch, EVALUATE_ON_TEST)]
        artifact = step.outputs[RESULT][0]
        n = artifact.run_metadata.get("n_evaluations", "?")
        return str(artifact.id), (
            f"warm start: reusing the {n} scored instructions of version {version.number} (run {record.run_id}): "
            "same white box and generation settings, projection and seed, exemplars, black box and validation subset"
        )
    if not refused:
        return None, "warm start: no earlier run of this task is registered; starting cold"
    return None, f"warm start refused, starting cold: {'; '.join(refused[:3])}"
