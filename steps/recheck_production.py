from contextlib import nullcontext
from typing import Annotated

from zenml import get_step_context, log_metadata, step
from zenml.client import Client

import materializers  # noqa: F401
from instructzero.blackbox.backends import make_blackbox
from instructzero.config import BlackBoxConfig, EvaluationConfig, RecheckConfig
from instructzero.errors import InstructZeroError
from instructzero.registry.recheck import Recheck, recheck_instruction
from instructzero.registry.record import RegistryRecord
from instructzero.blackbox.cache import ResponseCache
from instructzero.data.task import TaskData
from pipelines.registry import REGRESSION_TAG, production_version
from steps.response_cache import step_response_cache


@step(enable_cache=False)
def recheck_production(
    model_name: str,
    blackbox: BlackBoxConfig,
    evaluation: EvaluationConfig,
    recheck: RecheckConfig,
    seed: int,
    task: TaskData,
) -> Annotated[Recheck, "recheck"]:
    """Score the production instruction with today's black box on today's test split; record the result on
    the production version (its `rechecks` series) and tag it when it regressed. Never cached."""
    version = production_version(model_name)
    if version is None:
        raise InstructZeroError(f"no production version of model '{model_name}': run the pipeline first")
    record = RegistryRecord.from_metadata(version.run_metadata)
    cache_context = nullcontext(ResponseCache()) if recheck.fresh_answers else step_response_cache(blackbox)
    with cache_context as cache:
        result = recheck_instruction(record, model_name, str(version.number), task, make_blackbox(blackbox), cache,
                                     recheck, evaluation, seed)  # fmt: skip
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
