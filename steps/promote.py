import dataclasses
import logging
from typing import Annotated

import numpy as np
from zenml import ArtifactConfig, get_step_context, log_metadata, step
from zenml.enums import ModelStages

from instructzero.blackbox.backends import make_backend
from instructzero.config.run import RunConfig
from instructzero.data.task import TaskData
from instructzero.evaluation import Evaluator
from instructzero.registry.promotion import decide_promotion
from instructzero.registry.record import RegistryRecord, incumbent_scores, production_floor
from instructzero.result import OptimizationResult
from instructzero.seeding import derive_seed
from instructzero.steps.model_registry import production_version
from instructzero.steps.names import BEST_INSTRUCTION
from instructzero.steps.response_cache import step_caller

logger = logging.getLogger(__name__)


@step(enable_cache=False)
def promote(
    config: RunConfig, task: TaskData, result: OptimizationResult, branch: str = ""
) -> Annotated[str, ArtifactConfig(name=BEST_INSTRUCTION)]:
    """Register the best instruction on this run's model version and promote it if it beats production
    (the paired rule of `instructzero.registry.promotion`).

    Works on the step context's model version (this run's own), never on "latest", which
    a concurrent run could have created. Never cached: production may have changed. It
    records the whole run config, so it is the one step that takes all of it, and the `branch` of
    the run its steps are in (a fleet's task), where a later run finds its artifacts.
    """
    context = get_step_context()
    version = context.model
    record = RegistryRecord.of_run(config, task, result, blackbox_identity=make_backend(config.blackbox).identity,
                                   run_id=str(context.pipeline_run.id), branch=branch)  # fmt: skip
    version.log_metadata(record.to_metadata())
    log_metadata({"instructzero_version": record.instructzero_version}, run_id_name_or_prefix=context.pipeline_run.id)

    def rescore(instruction: str) -> np.ndarray:  # only when production must be scored on this run's terms
        with step_caller(config.blackbox) as caller:
            evaluator = Evaluator(caller, task.metric, config.evaluation, config.seed)
            return evaluator.on_test(instruction, task.test).per_example

    production = production_version(version.name)
    scores = label = None
    if production is not None and production.id != version.id:
        scores, rescored = incumbent_scores(RegistryRecord.from_metadata(production.run_metadata), record, rescore)
        label = f"{production.number}{' (re-scored)' if rescored else ''}"
    floor, source = production_floor(record, config.registry.floor)
    decision = decide_promotion(
        result.test.per_example, scores, incumbent_version=label, floor=floor, floor_source=source,
        min_improvement=config.registry.min_improvement, force=config.registry.force_promotion,
        evaluation=config.evaluation, seed=derive_seed(config.seed, "promotion"),
    )  # fmt: skip
    if not decision.promote and result.selection is not None and result.selection.user_kept:
        decision = dataclasses.replace(decision, reason="the winner is your own instruction (the search did not beat "
                                       f"it): {decision.reason}")  # fmt: skip
    stage = ModelStages.PRODUCTION if decision.promote else ModelStages.STAGING
    version.set_stage(stage, force=True)  # force: the previous production version is archived
    version.log_metadata({"promotion": decision.reason, "promoted": decision.promote})
    log_metadata({"model": version.name, "version": str(version.number), "stage": stage.value,
                  "reason": decision.reason})  # fmt: skip
    # The command prints the decision once (`registry_decision`); the step's log keeps it for the dashboard.
    logger.info("registry: %s version %s -> %s: %s", version.name, version.number, stage.value, decision.reason)
    return result.best_instruction
