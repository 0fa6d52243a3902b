from datetime import datetime, timezone
from typing import Annotated

from zenml import get_step_context, log_metadata, step

from instructzero.blackbox.accounting import describe_caps
from instructzero.config.blackbox import BlackBoxConfig
from instructzero.config.evaluation import EvaluationConfig
from instructzero.data.task import TaskData
from instructzero.evaluation import Evaluator
from instructzero.materializers.result import OptimizationResultMaterializer
from instructzero.result import OptimizationResult, Selection, build_result
from instructzero.search.history import History
from instructzero.search.projection import SoftPromptProjection
from instructzero.steps.caching import follows_imports
from instructzero.steps.names import RESULT
from instructzero.steps.response_cache import step_caller


@step(cache_policy=follows_imports(__name__), output_materializers=OptimizationResultMaterializer)
def evaluate_on_test(
    blackbox: BlackBoxConfig,
    evaluation: EvaluationConfig,
    stop_at_score: float,
    n_validation: int,
    baseline_instructions: list[str],
    seed: int,
    task: TaskData,
    projection: SoftPromptProjection,
    history: History,
    selection: Selection,
) -> Annotated[OptimizationResult, RESULT]:
    """Score the winner on the held-out test split, with a bootstrap interval, and the user's baseline
    instructions beside it."""
    with step_caller(blackbox) as caller:
        evaluator = Evaluator(caller, task.metric, evaluation, seed)
        test = evaluator.winner_on_test(selection, task.test)
        baselines = evaluator.baselines(baseline_instructions, task.validation_subset(n_validation, seed), task.test)
    log_metadata(metadata={**test.spend.as_metadata(), "n_baselines": len(baselines)})
    return build_result(
        task, history, test, seed=seed, projection_seed=projection.seed, stop_at_score=stop_at_score,
        caps=describe_caps(blackbox.max_calls, blackbox.max_cost_usd), wall_time_s=_seconds_since_run_start(),
        baselines=baselines, selection=selection,
    )  # fmt: skip


def _seconds_since_run_start() -> float:
    started = get_step_context().pipeline_run.start_time
    if started is None:
        return 0.0
    if started.tzinfo is None:  # ZenML stores naive UTC
        started = started.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - started).total_seconds()
