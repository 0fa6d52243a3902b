"""The production instruction of a task, for applications and people: `python prompt_registry.py <task>`.

The ZenML Model Control Plane is the registry: each pipeline run registers a
version of the model `instructzero-<task>` holding the best instruction (the
`best_instruction` artifact) and its scores as metadata, and `promote` moves it to
the `production` stage when it beats the version there. Applications fetch the
prompt at start-up with :func:`production_prompt`:

    from prompt_registry import production_prompt
    prompt = production_prompt("sum")
    messages = [{"role": "user", "content": f"Instruction: {prompt.instruction}\\n\\nInput: ..."}]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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


class NoProductionPrompt(LookupError):
    """The task has no version in production yet."""


def production_prompt(task: str, model_name: str | None = None) -> ProductionPrompt:
    """The instruction in production for `task`, exactly as the pipeline stored it."""
    from zenml.client import Client
    from zenml.enums import ModelStages

    from instructzero.config import default_registry_model_name
    from instructzero.registry import RegistryRecord

    name = model_name or default_registry_model_name(task)
    try:
        version = Client().get_model_version(name, ModelStages.PRODUCTION)
    except KeyError:
        raise NoProductionPrompt(
            f"no production version of model '{name}': run the pipeline for task '{task}' first"
        ) from None
    record = RegistryRecord.from_metadata(version.run_metadata)
    instruction = version.get_artifact("best_instruction").load()
    return ProductionPrompt(
        task=record.task,
        instruction=instruction,
        model_name=name,
        version=str(version.number),
        validation_score=record.validation_score,
        test_score=record.test_score,
        test_ci_low=record.test_ci_low,
        test_ci_high=record.test_ci_high,
        blackbox_model=record.blackbox_model,
        run_id=record.run_id,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print or export the production instruction of a task.")
    parser.add_argument("task", help="task name, e.g. sum or antonyms")
    parser.add_argument("--model-name", help="registry model name (default instructzero-<task>)")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument("--output", help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    try:
        prompt = production_prompt(args.task, args.model_name)
    except NoProductionPrompt as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        text = prompt.to_json() + "\n"
    elif args.output:
        text = prompt.instruction + "\n"
    else:
        text = (
            f"{prompt.instruction}\n\n"
            f"task {prompt.task} | {prompt.model_name} version {prompt.version} (production) | "
            f"test {prompt.test_score:.3f} [{prompt.test_ci_low:.3f}, {prompt.test_ci_high:.3f}] | "
            f"validation {prompt.validation_score:.3f} | black box {prompt.blackbox_model} | run {prompt.run_id}\n"
        )
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
