"""The whole InstructZero loop in one process: the reference the pipeline must match.

It calls the same core functions as the pipeline's steps, in the same order, with
the same derived seeds, so both compute the same numbers for the same config.
"""

from __future__ import annotations

import logging
import time

from instructzero.blackbox.accounting import describe_caps, search_budget
from instructzero.blackbox.base import Backend
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.blackbox.scoring import RepeatBlocks, score_candidates
from instructzero.config.run import RunConfig
from instructzero.data.metrics import search_metric
from instructzero.data.task import TaskData
from instructzero.errors import ConfigError
from instructzero.evaluation import Evaluator
from instructzero.preflight import preflight
from instructzero.result import OptimizationResult, build_result
from instructzero.search.history import History
from instructzero.search.projection import projection_for_model
from instructzero.search.proposals import propose_instructions, proposer_blackbox
from instructzero.search.rounds import advance, initial_soft_prompts
from instructzero.selection import (
    ranking_values,
    reserved_for_selection,
    score_user_instructions,
    select_winner,
    selection_calls,
)

logger = logging.getLogger(__name__)


def optimize(
    config: RunConfig,
    progress: bool = False,
    *,
    backend: Backend | None = None,
    checked_task: TaskData | None = None,
) -> OptimizationResult:
    """Run InstructZero (or a baseline strategy) end to end: rounds → best instruction → test score.

    `backend` replaces the configured black box (the benchmark wraps it to share answers across runs);
    `checked_task` is the task when the caller already ran :func:`~instructzero.preflight.preflight`
    on this config (the benchmark checks every cell before the first one runs).
    """
    if config.bo.warm_start:
        raise ConfigError("bo.warm_start reads earlier runs from the registry: run the pipeline, not --in-process")
    start = time.perf_counter()
    task = checked_task if checked_task is not None else preflight(config)
    wb, bb, bo = config.whitebox, config.blackbox, config.bo
    projection = projection_for_model(wb.model, wb.gguf_file, wb.n_soft_tokens, config.projection, config.seed)
    examples = task.validation_subset(config.task.n_validation, config.seed)
    cache = ResponseCache(bb.cache_path)
    caller = BlackBoxCaller.for_config(bb, cache, backend=backend, progress=progress)
    sizes = {"n_validation": config.task.n_validation, "seed": config.seed,
             "n_baselines": len(config.task.instructions), "selection_calls": selection_calls(config)}  # fmt: skip

    # The user's own instructions first, on the same validation subset: the incumbents the search must beat.
    users, user_spend = score_user_instructions(caller, config.user_instructions, examples, task.metric)
    history = History()
    soft_prompts = initial_soft_prompts(bo.strategy, bo.n_init, config.projection.intrinsic_dim, config.seed)
    for round_index in range(bo.n_rounds + 1):
        proposals = propose_instructions(
            bo.strategy, soft_prompts, whitebox=wb, ape=config.ape, projection=projection, task=task,
            n_exemplars=config.task.n_exemplars, seed=config.seed, instructions=config.task.instructions,
            proposer=proposer_blackbox(bo.strategy, config.ape, bb), cache=cache,
            budget=search_budget(bb, task, spent=history.spend, **sizes), progress=progress,
        )  # fmt: skip
        batch = score_candidates(
            caller, round_index=round_index, soft_prompts=soft_prompts, instructions=proposals.instructions,
            examples=examples, metric=search_metric(config.task.objective, task.metric),
            budget=search_budget(bb, task, spent=history.spend + proposals.spend, **sizes),
            proposal_spend=proposals.spend,
            repeats=RepeatBlocks.of(bo.repeats, task, history, n_validation=config.task.n_validation,
                                    seed=config.seed, reserved=reserved_for_selection(config)),
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

    selection = select_winner(
        caller, history, examples=task.selection_subset(config.task.n_validation, config.selection.max_examples,
                                                        config.seed),
        metric=task.metric, config=config.selection,
        budget=search_budget(bb, task, spent=history.spend, **{**sizes, "selection_calls": 0}),
        ranking=ranking_values(history, config.selection, bo, config.seed),
        search_on_metric=config.task.objective == "metric", users=users, seed=config.seed,
    ).plus(user_spend)  # fmt: skip
    evaluator = Evaluator(caller, task.metric, config.evaluation, config.seed)
    test = evaluator.winner_on_test(selection, task.test)
    baselines = evaluator.baselines(config.task.instructions, examples, task.test)
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
        selection=selection,
    )
