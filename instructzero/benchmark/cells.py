"""One benchmark cell: an in-process run of one method on one task and seed."""

from __future__ import annotations

import time
from typing import Any

from instructzero.benchmark.shared_answers import SharedAnswers
from instructzero.blackbox.backends import make_backend
from instructzero.blackbox.base import Backend
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.config.run import RunConfig
from instructzero.data.task import TaskData
from instructzero.evaluation import Evaluator
from instructzero.result import BaselineScore
from instructzero.search.history import History


def run_cell(
    config: RunConfig, method: str, task: TaskData, shared: ResponseCache | None = None
) -> tuple[dict[str, Any], list[tuple[int, float]], History | None]:
    """One cell's CSV row, best-so-far curve (black-box calls, best validation score) and history (None for
    `manual`, which searches nothing).

    `task` has passed the cell's preflight (the grid checks every cell before the first runs).
    `shared` keeps answers across cells (see :class:`SharedAnswers`); the cell's own response
    cache is `blackbox.cache_path` (in memory when unset).
    """
    from instructzero.search.generator import is_degenerate

    start = time.perf_counter()
    backend = make_backend(config.blackbox)
    if shared is not None:
        backend = SharedAnswers(backend, shared)
    history = None
    if method == "manual":
        result = _manual(config, backend, task)
        best = max(result, key=lambda b: b.validation_score)
        calls = sum(b.spend.calls for b in result)
        row = {"validation_score": best.validation_score, "pick_score": best.validation_score, "test": best.test,
               "calls": calls,
               "cache_hits": sum(b.spend.cache_hits for b in result), "instructions": [b.instruction for b in result]}  # fmt: skip
        curve = [(sum(b.validation_spend.calls for b in result), best.validation_score)]
    else:
        from instructzero.loop import optimize

        result = optimize(config, backend=backend, checked_task=task)
        row = {"validation_score": result.validation_score, "pick_score": result.pick_score, "test": result.test,
               "calls": result.blackbox_calls,
               "cache_hits": result.spend.cache_hits, "instructions": result.history.instructions,
               "user_kept": "" if result.selection is None or not result.selection.n_user else
               int(result.selection.user_kept)}  # fmt: skip
        curve = result.history.best_so_far()
        history = result.history
    instructions, test = row.pop("instructions"), row.pop("test")
    row.update(
        test_score=test.score, test_ci_low=test.ci_low, test_ci_high=test.ci_high, instructions=len(instructions),
        distinct=len(set(instructions)), degenerate=sum(map(is_degenerate, instructions)),
        wall_s=round(time.perf_counter() - start, 1), best_instruction=test.instruction,
    )  # fmt: skip
    return row, curve, history


def _manual(config: RunConfig, backend: Backend, task: TaskData) -> list[BaselineScore]:
    """The user's own instructions, scored like any run's winner and baselines."""
    bb = config.blackbox
    caller = BlackBoxCaller.for_config(bb, ResponseCache(bb.cache_path), backend=backend)
    examples = task.validation_subset(config.task.n_validation, config.seed)
    return Evaluator(caller, task.metric, config.evaluation, config.seed).baselines(
        config.task.instructions, examples, task.test
    )
