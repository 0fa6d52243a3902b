from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.client import Client

from instructzero.config.blackbox import BlackBoxConfig
from instructzero.config.evaluation import EvaluationConfig
from instructzero.config.registry import RecheckConfig
from instructzero.data.task import TaskData
from instructzero.errors import InstructZeroError
from instructzero.evaluation import Evaluator
from instructzero.registry.recheck import Recheck, recheck_instruction
from instructzero.registry.record import RegistryRecord
from instructzero.steps.model_registry import REGRESSION_TAG, production_version
from instructzero.steps.names import RECHECK
from instructzero.steps.response_cache import step_caller


@step(enable_cache=False)
def recheck_production(
    model_name: str,
    blackbox: BlackBoxConfig,
    evaluation: EvaluationConfig,
    recheck: RecheckConfig,
    seed: int,
    task: TaskData,
) -> Annotated[Recheck, RECHECK]:
    """Score the production instruction with today's black box on today's test split; record the result on
    the production version (its `rechecks` series) and tag it when it regressed. Never cached."""
    version = production_version(model_name)
    if version is None:
        raise InstructZeroError(f"no production version of model '{model_name}': run the pipeline first")
    record = RegistryRecord.from_metadata(version.run_metadata)
    with step_caller(blackbox, fresh_answers=recheck.fresh_answers) as caller:
        result = recheck_instruction(record, Evaluator(caller, task.metric, evaluation, seed), model_name=model_name,
                                     version=str(version.number), task=task, recheck=recheck)  # fmt: skip
    result = result.model_copy(update={"run_id": str(get_step_context().pipeline_run.id)})
    series = [*version.run_metadata.get("rechecks", []), result.model_dump()]
    entry = {"rechecks": series, "last_recheck": result.model_dump()}
    if result.regression:
        entry["regression"] = result.reason
        Client().update_model_version(version.model.id, version.id, add_tags=[REGRESSION_TAG])
    log_metadata(metadata=entry, model_version_id=version.id)
    log_metadata({"regression": result.regression, "reason": result.reason, "calls": result.calls})
    print(f"recheck: {model_name} version {version.number}: {result.reason}")
    return result
