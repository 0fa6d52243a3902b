"""The whole InstructZero loop in one process: the reference the pipeline must match.

It calls the same core functions as the pipeline's steps, in the same order, with
the same derived seeds, so both compute the same numbers for the same config.
"""

from __future__ import annotations

import logging
import time

import torch

from instructzero.accounting import Budget, describe_caps
from instructzero.backends import make_blackbox
from instructzero.config import RunConfig
from instructzero.evaluation import score_best_on_test
from instructzero.generator import exemplar_prompt, generate_instructions
from instructzero.history import History
from instructzero.preflight import preflight
from instructzero.projection import projection_for_model
from instructzero.response_cache import ResponseCache
from instructzero.result import OptimizationResult, build_result
from instructzero.rounds import advance, initial_soft_prompts
from instructzero.scoring import score_candidates

logger = logging.getLogger(__name__)


def optimize(config: RunConfig, progress: bool = False) -> OptimizationResult:
    """Run InstructZero end to end: initial design → BO rounds → best instruction → test score."""
    start = time.perf_counter()
    task = preflight(config)
    wb, bb = config.whitebox, config.blackbox
    projection = projection_for_model(wb.model, wb.gguf_file, wb.n_soft_tokens, config.projection, config.seed)
    text = exemplar_prompt(task.exemplars(config.task.n_exemplars, config.seed), wb.template)
    examples = task.validation_subset(config.task.n_validation, config.seed)
    blackbox = make_blackbox(bb)
    cache = ResponseCache(bb.cache_path)

    history = History()
    soft_prompts = initial_soft_prompts(
        config.bo.strategy, config.bo.n_init, config.projection.intrinsic_dim, config.seed
    )
    for round_index in range(config.bo.n_rounds + 1):
        instructions = generate_instructions(wb, projection, torch.as_tensor(soft_prompts), text, progress)
        budget = Budget.for_run(bb, history.spend, reserve_calls=len(task.test))
        batch = score_candidates(
            round_index, soft_prompts, instructions, examples, blackbox, task.metric, cache, progress, budget
        )
        history, soft_prompts = advance(config.bo, history, batch, round_index + 1, config.seed)
        logger.info(
            "round %d: %d instructions, best so far %.3f, %d calls",
            round_index,
            len(batch.instructions),
            history.best_score if history.instructions else 0.0,
            history.spend.calls,
        )
        if len(soft_prompts) == 0:
            break

    test = score_best_on_test(
        history, task.test, blackbox, task.metric, cache, config.evaluation, config.seed, progress, bb.price
    )
    return build_result(
        task,
        history,
        test,
        seed=config.seed,
        projection_seed=projection.seed,
        stop_at_score=config.bo.stop_at_score,
        caps=describe_caps(bb.max_calls, bb.max_cost_usd),
        wall_time_s=time.perf_counter() - start,
    )
