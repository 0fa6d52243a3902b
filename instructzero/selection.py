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
from instructzero.config.search import BOConfig, SelectionConfig
from instructzero.data.task import Example
from instructzero.result import Selection
from instructzero.search.history import History
from instructzero.seeding import derive_seed


def distinct_candidates(
    history: History, k: int, ranking: np.ndarray | None = None
) -> tuple[list[str], list[float], list[int]]:
    """The `k` best distinct instructions of `history`, their validation means and the examples behind those
    (ties → the latest).

    Args:
        ranking: `n` values to rank the observations by (e.g. :func:`ranking_values`); their validation
            means by default. An instruction observed more than once ranks by its best observation.
    """
    values = history.means if ranking is None else np.asarray(ranking, dtype=np.float64)
    best: dict[str, tuple[float, int]] = {}
    for index, (instruction, value) in enumerate(zip(history.instructions, values)):
        if instruction not in best or (float(value), index) >= best[instruction]:
            best[instruction] = (float(value), index)
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:k]
    means, trials = history.means, history.trials
    return ([v for v, _ in ranked], [float(means[index]) for _, (_, index) in ranked],
            [int(trials[index]) for _, (_, index) in ranked])  # fmt: skip


def ranking_values(history: History, config: SelectionConfig, bo: BOConfig, seed: int) -> np.ndarray | None:
    """What the pick ranks the search's observations by: None for their validation means, or the GP's
    posterior means (`rank_by: posterior_mean`, fitted as in a round under `derive_seed(seed, "rank")`)."""
    if config.rank_by == "validation" or len(history.instructions) < 2:
        return None
    from instructzero.search.bo import posterior_means  # botorch: only when the GP ranks

    return posterior_means(history.soft_prompts, history.scores, kernel=bo.kernel, noise=bo.noise,
                           seed=derive_seed(seed, "rank"), targets=history.means, trials=history.trials)  # fmt: skip


def no_selection(history: History, ranking: np.ndarray | None = None) -> Selection:
    """The paper's rule: the search's best validation score wins (no candidate when nothing was scored);
    with a `ranking`, the best by it."""
    if not history.instructions:
        return Selection(candidates=[], validation_scores=[], validation_n=0)
    candidates, validation, trials = distinct_candidates(history, 1, ranking)
    return Selection(candidates=candidates, validation_scores=validation, validation_n=int(history.scores.shape[1]),
                     validation_counts=trials)  # fmt: skip


def select_winner(
    caller: BlackBoxCaller,
    history: History,
    *,
    examples: Sequence[Example],
    metric: str,
    config: SelectionConfig,
    budget: Budget | None = None,
    ranking: np.ndarray | None = None,
    search_on_metric: bool = True,
) -> Selection:
    """Successive halving over the search's best distinct instructions on `examples` (the selection split).

    Args:
        examples: fresh examples, disjoint from the search's validation subset and from the test split.
        budget: the run's budget (the stage's calls were held back for it); a refusal ends the stage early.
        search_on_metric: False when the search scored by another objective (`task.objective: logprob`): its
            scores still choose the candidates, but carry no weight in the pooled evidence on `metric`.
    """
    if not config.enabled or not history.instructions:
        return no_selection(history, ranking)
    candidates, validation, trials = distinct_candidates(history, config.candidates, ranking)
    m = int(history.scores.shape[1])
    if not search_on_metric:
        trials = [0] * len(candidates)
    n = np.asarray(trials, dtype=float)  # examples behind each validation score (m, or more for pooled repeats)
    k = len(candidates)
    sums, counts = np.zeros(k), np.zeros(k, dtype=int)
    alive, rungs, spend, used = list(range(k)), [], Spend(), 0
    n_rungs = max(1, math.ceil(math.log(k, config.eta))) if k > 1 else 0

    def pooled() -> np.ndarray:  # the same rule as `Selection.pooled_means`, on the evidence so far
        with np.errstate(invalid="ignore"):  # no evidence on the metric yet (search_on_metric False): NaN
            return (np.asarray(validation) * n + sums) / (n + counts)

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
        candidates=candidates, validation_scores=validation, validation_n=m, validation_counts=trials,
        selection_sums=sums.tolist(),
        selection_n=counts.tolist(), rungs=rungs, winner=winner, spend=spend.as_metadata(),
    )  # fmt: skip


def reserved_for_selection(config) -> int:
    """Selection examples that repeat blocks (`bo.repeats: pool`) leave alone: the stage's `max_examples` when
    it is enabled."""
    return config.selection.max_examples if config.selection.enabled else 0


def selection_calls(config) -> int:
    """Calls the selection stage holds back from the search: its own `calls` when enabled under a spending cap
    (without a cap nothing needs holding back, and the search's steps stay independent of the stage)."""
    bb = config.blackbox
    capped = bb.max_calls is not None or bb.max_cost_usd is not None
    return config.selection.calls if config.selection.enabled and capped else 0
