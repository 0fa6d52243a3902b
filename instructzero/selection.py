"""The selection stage: choose the winner on pooled evidence, by successive halving on fresh examples.

The paper's rule (the best score on the fixed validation subset) picks the
argmax of many noisy means and so suffers the winner's curse: the pick's
validation score overstates its test score. Here the search's `K` best distinct
instructions are re-scored on selection examples it never saw, in rungs
(sequential halving, Karnin et al., 2013): rung `r` spends `calls / R` calls
on its survivors, all on the same fresh examples (so the comparison is paired),
then keeps the best `1/eta` by pooled mean over the search subset and every
selection example so far. `R = ceil(log_eta K)` rungs leave one winner. This is
what APE's multi-stage filtering and TRIPLE's best-arm identification do for the
final pick.

References:
    Karnin, Z., Koren, T., Somekh, O. Almost Optimal Exploration in Multi-Armed Bandits. ICML 2013.
    Zhou, Y. et al. Large Language Models Are Human-Level Prompt Engineers. ICLR 2023 (Sec. 3.2).
    Shi, C. et al. Best Arm Identification for Prompt Learning under a Limited Budget (TRIPLE). NeurIPS 2024.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.blackbox.scoring import score_zero_shot
from instructzero.config.search import SelectionConfig
from instructzero.data.task import Example
from instructzero.result import Selection
from instructzero.search.history import History


def distinct_candidates(history: History, k: int) -> tuple[list[str], list[float]]:
    """The `k` best distinct instructions of `history` and their validation means (ties → the latest)."""
    best: dict[str, tuple[float, int]] = {}
    for index, (instruction, mean) in enumerate(zip(history.instructions, history.means)):
        if instruction not in best or (float(mean), index) >= best[instruction]:
            best[instruction] = (float(mean), index)
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:k]
    return [v for v, _ in ranked], [mean for _, (mean, _) in ranked]


def no_selection(history: History) -> Selection:
    """The paper's rule: the search's best validation score wins (no candidate when nothing was scored)."""
    if not history.instructions:
        return Selection(candidates=[], validation_scores=[], validation_n=0)
    return Selection(candidates=[history.best_instruction], validation_scores=[history.best_score],
                     validation_n=int(history.scores.shape[1]))  # fmt: skip


def select_winner(
    caller: BlackBoxCaller,
    history: History,
    *,
    examples: Sequence[Example],
    metric: str,
    config: SelectionConfig,
    budget: Budget | None = None,
) -> Selection:
    """Successive halving over the search's best distinct instructions on `examples` (the selection split).

    Args:
        examples: fresh examples, disjoint from the search's validation subset and from the test split.
        budget: the run's budget (the stage's calls were held back for it); a refusal ends the stage early.
    """
    if not config.enabled or not history.instructions:
        return no_selection(history)
    candidates, validation = distinct_candidates(history, config.candidates)
    m = int(history.scores.shape[1])
    k = len(candidates)
    sums, counts = np.zeros(k), np.zeros(k, dtype=int)
    alive, rungs, spend, used = list(range(k)), [], Spend(), 0
    n_rungs = max(1, math.ceil(math.log(k, config.eta))) if k > 1 else 0

    def pooled() -> np.ndarray:  # the same rule as `Selection.pooled_means`, on the evidence so far
        return (np.asarray(validation) * m + sums) / (m + counts)

    for _ in range(n_rungs):
        per_candidate = min(config.calls // n_rungs // len(alive), len(examples) - used)
        if per_candidate < 1:
            break
        fresh = examples[used : used + per_candidate]
        report = score_zero_shot(caller, [candidates[i] for i in alive], fresh, metric, budget=budget)
        spend = spend + report.spend
        if len(report.kept) < len(alive):  # the budget ran out mid-rung: decide on what is complete
            break
        rungs.append(list(alive))
        used += per_candidate
        for row, i in enumerate(alive):
            sums[i] += report.scores[row].sum()
            counts[i] += per_candidate
        means = pooled()
        keep = max(1, math.ceil(len(alive) / config.eta))
        alive = sorted(alive, key=lambda i: (-means[i], i))[:keep]
    means = pooled()
    winner = min(alive, key=lambda i: (-means[i], i))
    return Selection(
        candidates=candidates, validation_scores=validation, validation_n=m, selection_sums=sums.tolist(),
        selection_n=counts.tolist(), rungs=rungs, winner=winner, spend=spend.as_metadata(),
    )  # fmt: skip


def selection_calls(config) -> int:
    """Calls the selection stage holds back from the search: its own `calls` when enabled under a spending cap
    (without a cap nothing needs holding back, and the search's steps stay independent of the stage)."""
    bb = config.blackbox
    capped = bb.max_calls is not None or bb.max_cost_usd is not None
    return config.selection.calls if config.selection.enabled and capped else 0
