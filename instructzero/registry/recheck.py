"""Re-checking a production instruction: today's black box on today's test split, against its promotion.

A black box behind an API can change without notice and task data drifts; a
prompt promoted last month can silently get worse. A re-check scores the
production instruction again and compares the per-example scores with those
stored at promotion (:func:`instructzero.registry.promotion.detect_regression`): paired
when the test split is the same, unpaired when it changed. A regression may call for a
full optimization (:func:`reoptimization`), which the re-check pipeline then runs.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from pydantic import BaseModel, ConfigDict

from instructzero.config.registry import RecheckConfig
from instructzero.config.run import RunConfig
from instructzero.data.task import TaskData
from instructzero.evaluation import Evaluator
from instructzero.registry.promotion import detect_regression
from instructzero.registry.record import RegistryRecord, split_fingerprint
from instructzero.seeding import derive_seed


class Recheck(BaseModel):
    """One re-check of a production version: a point of its time series in the registry."""

    model_config = ConfigDict(frozen=True)

    checked_at: str
    model_name: str
    version: str
    instruction: str
    test_score: float
    test_ci_low: float
    test_ci_high: float
    promoted_score: float
    drop: float
    drop_ci_low: float
    drop_ci_high: float
    regression: bool
    reason: str
    blackbox_identity: str
    test_fingerprint: str
    calls: int
    fresh_answers: bool
    run_id: str = ""


def recheck_instruction(
    record: RegistryRecord,
    evaluator: Evaluator,
    *,
    model_name: str,
    version: str,
    task: TaskData,
    recheck: RecheckConfig,
) -> Recheck:
    """Score production's instruction on `task.test` with `evaluator` and decide whether it regressed.

    With `recheck.fresh_answers` give the evaluator an empty response cache: every answer is asked again.
    """
    evaluation, seed = evaluator.evaluation, evaluator.seed
    test = evaluator.on_test(record.instruction, task.test)
    fingerprint = split_fingerprint(task.test, task.metric)
    paired = fingerprint == record.test_fingerprint and len(record.test_per_example) == len(test.per_example)
    decision = detect_regression(test.per_example, np.asarray(record.test_per_example), paired=paired,
                                 margin=recheck.margin, evaluation=evaluation, seed=derive_seed(seed, "recheck"))  # fmt: skip
    drop = decision.comparison
    return Recheck(
        checked_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model_name=model_name,
        version=version,
        instruction=record.instruction,
        test_score=test.score,
        test_ci_low=test.ci_low,
        test_ci_high=test.ci_high,
        promoted_score=record.test_score,
        drop=drop.difference,
        drop_ci_low=drop.ci_low,
        drop_ci_high=drop.ci_high,
        regression=decision.regression,
        reason=decision.reason,
        blackbox_identity=evaluator.caller.identity,
        test_fingerprint=fingerprint,
        calls=test.spend.calls,
        fresh_answers=recheck.fresh_answers,
    )


def reoptimization(config: RunConfig, check: Recheck) -> RunConfig | None:
    """The run config of the optimization a re-check calls for, or None: production is healthy, or
    `recheck.reoptimize` is off.

    Earlier observations describe the black box before the change, so the optimization starts cold (no
    warm start). After a regression found with fresh answers (same model name, changed model) it also
    asks again: a new `blackbox.cache_namespace`, named after the re-check, so no old answer is reused.
    """
    if not (check.regression and config.recheck.reoptimize):
        return None
    update: dict = {"bo": config.bo.model_copy(update={"warm_start": False})}
    if config.recheck.fresh_answers:
        update["blackbox"] = config.blackbox.model_copy(update={"cache_namespace": f"after-{check.checked_at}"})
    return config.model_copy(update=update)
