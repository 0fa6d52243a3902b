from datetime import datetime, timezone
from typing import Annotated

from zenml import get_step_context, log_metadata, step

import materializers  # noqa: F401
from instructzero import accounting, blackbox, evaluation, loop, openai_backend, scoring
from instructzero.blackbox import make_blackbox
from instructzero.config import RunConfig
from instructzero.data import TaskData
from instructzero.history import History
from instructzero.loop import OptimizationResult
from instructzero.projection import SoftPromptProjection
from steps.caching import depends_on
from steps.response_cache import step_response_cache


@step(cache_policy=depends_on(blackbox, openai_backend, accounting, evaluation, scoring, loop))
def evaluate_on_test(
    config: RunConfig, task: TaskData, projection: SoftPromptProjection, history: History
) -> Annotated[OptimizationResult, "result"]:
    """Score the best validation instruction on the held-out test split, with a bootstrap interval."""
    bb = make_blackbox(config.blackbox)
    with step_response_cache(config.blackbox) as cache:
        test = loop.evaluate_best(config, task, history, bb, cache, progress=True)
    log_metadata(metadata={"calls": test.calls, "retries": test.retries, "cost_usd": test.cost_usd})
    return OptimizationResult(
        config=config,
        task=task.name,
        metric=task.metric,
        history=history,
        test=test,
        projection_seed=projection.seed,
        wall_time_s=_seconds_since_run_start(),
    )


def _seconds_since_run_start() -> float:
    started = get_step_context().pipeline_run.start_time
    if started is None:
        return 0.0
    if started.tzinfo is None:  # ZenML stores naive UTC
        started = started.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - started).total_seconds()
