from datetime import datetime, timezone
from typing import Annotated

from zenml import get_step_context, log_metadata, step

import materializers  # noqa: F401
from instructzero.blackbox.accounting import describe_caps
from instructzero.blackbox.backends import make_blackbox
from instructzero.config import BlackBoxConfig, EvaluationConfig
from instructzero.evaluation import score_baselines, score_best_on_test
from instructzero.search.history import History
from instructzero.search.projection import SoftPromptProjection
from instructzero.result import OptimizationResult, build_result
from instructzero.data.task import TaskData
from steps.caching import follows_imports
from steps.response_cache import step_response_cache


@step(cache_policy=follows_imports(__name__))
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
) -> Annotated[OptimizationResult, "result"]:
    """Score the best validation instruction on the held-out test split, with a bootstrap interval,
    and the user's baseline instructions beside it."""
    bb = make_blackbox(blackbox)
    with step_response_cache(blackbox) as cache:
        test = score_best_on_test(history, task.test, bb, task.metric, cache, evaluation, seed, progress=True,
                                  price=blackbox.price)  # fmt: skip
        baselines = score_baselines(baseline_instructions, task.validation_subset(n_validation, seed), task.test,
                                    bb, task.metric, cache, evaluation, seed, progress=True, price=blackbox.price)  # fmt: skip
    log_metadata(metadata={**test.spend.as_metadata(), "n_baselines": len(baselines)})
    caps = describe_caps(blackbox.max_calls, blackbox.max_cost_usd)
    return build_result(task, history, test, seed, projection.seed, stop_at_score, caps, _seconds_since_run_start(),
                        baselines)  # fmt: skip


def _seconds_since_run_start() -> float:
    started = get_step_context().pipeline_run.start_time
    if started is None:
        return 0.0
    if started.tzinfo is None:  # ZenML stores naive UTC
        started = started.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - started).total_seconds()
