"""The whole InstructZero loop in one process: the reference the pipeline must match.

It calls the same core functions as the pipeline's steps, in the same order, with
the same derived seeds, so both compute the same numbers for the same config.
"""

from __future__ import annotations

import logging
import time

from instructzero.blackbox.accounting import Budget, describe_caps
from instructzero.blackbox.backends import make_blackbox
from instructzero.blackbox.base import BlackBox
from instructzero.config import RunConfig
from instructzero.errors import ConfigError
from instructzero.evaluation import reserved_calls, score_baselines, score_best_on_test
from instructzero.search.history import History
from instructzero.preflight import preflight
from instructzero.search.projection import projection_for_model
from instructzero.search.proposals import propose, proposer_blackbox
from instructzero.blackbox.cache import ResponseCache
from instructzero.result import OptimizationResult, build_result
from instructzero.search.rounds import advance, initial_soft_prompts
from instructzero.blackbox.scoring import score_candidates

logger = logging.getLogger(__name__)


def optimize(config: RunConfig, progress: bool = False, blackbox: BlackBox | None = None) -> OptimizationResult:
    """Run InstructZero (or a baseline strategy) end to end: rounds → best instruction → test score.

    `blackbox` replaces the configured one (the benchmark wraps it to share answers across runs).
    """
    if config.bo.warm_start:
        raise ConfigError("bo.warm_start reads earlier runs from the registry: run the pipeline, not --in-process")
    start = time.perf_counter()
    task = preflight(config)
    wb, bb, bo = config.whitebox, config.blackbox, config.bo
    projection = projection_for_model(wb.model, wb.gguf_file, wb.n_soft_tokens, config.projection, config.seed)
    examples = task.validation_subset(config.task.n_validation, config.seed)
    blackbox = blackbox or make_blackbox(bb)
    cache = ResponseCache(bb.cache_path)
    reserve = reserved_calls(len(task.test), len(examples), len(config.baseline_instructions))

    history = History()
    soft_prompts = initial_soft_prompts(bo.strategy, bo.n_init, config.projection.intrinsic_dim, config.seed)
    for round_index in range(bo.n_rounds + 1):
        proposals = propose(
            bo.strategy, wb, config.ape, projection, soft_prompts, task, config.task.n_exemplars, config.seed,
            proposer=proposer_blackbox(bo.strategy, config.ape, bb), cache=cache,
            budget=Budget.for_run(bb, history.spend, reserve), progress=progress,
        )  # fmt: skip
        batch = score_candidates(
            round_index, soft_prompts, proposals.instructions, examples, blackbox, task.metric, cache, progress,
            Budget.for_run(bb, history.spend + proposals.spend, reserve), proposals.spend,
        )  # fmt: skip
        history, soft_prompts = advance(bo, history, batch, round_index + 1, config.seed)
        logger.info(
            "round %d: %d instructions, best so far %.3f, %d calls",
            round_index,
            len(batch.instructions),
            history.best_score if history.instructions else 0.0,
            history.spend.calls,
        )
        if len(soft_prompts) == 0:
            break

    evaluation = config.evaluation
    test = score_best_on_test(history, task.test, blackbox, task.metric, cache, evaluation, config.seed, progress,
                              bb.price)  # fmt: skip
    baselines = score_baselines(config.baseline_instructions, examples, task.test, blackbox, task.metric, cache,
                                evaluation, config.seed, progress, bb.price)  # fmt: skip
    return build_result(
        task,
        history,
        test,
        seed=config.seed,
        projection_seed=projection.seed,
        stop_at_score=bo.stop_at_score,
        caps=describe_caps(bb.max_calls, bb.max_cost_usd),
        wall_time_s=time.perf_counter() - start,
        baselines=baselines,
    )
