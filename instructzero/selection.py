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
from dataclasses import dataclass

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.blackbox.scoring import score_zero_shot
from instructzero.config.search import BOConfig, SelectionConfig
from instructzero.data.task import Example
from instructzero.result import Selection, UserComparison
from instructzero.search.history import History
from instructzero.seeding import derive_seed


@dataclass(frozen=True)
class UserInstruction:
    """One of the user's own instructions (`task.instructions`) with its scores on the search's fixed subset."""

    instruction: str
    #: `m` per-example scores on the fixed validation subset (the same examples, in the same order, as the search's).
    scores: np.ndarray


def score_user_instructions(
    caller: BlackBoxCaller, instructions: Sequence[str], examples: Sequence[Example], metric: str,
    budget: Budget | None = None,
) -> tuple[list[UserInstruction], Spend]:
    """The user's instructions on the fixed validation subset: what the search's instructions must beat.
    Their calls were held back from the search's budget, so `budget` only guards the cap."""
    if not instructions:
        return [], Spend()
    report = score_zero_shot(caller, list(instructions), examples, metric, budget=budget)
    users = [UserInstruction(instructions[i], np.asarray(row, dtype=np.float64)) for i, row in zip(report.kept,
                                                                                                   report.scores)]
    return users, report.spend


def distinct_candidates(
    history: History, k: int, ranking: np.ndarray | None = None, exclude: Sequence[str] = ()
) -> tuple[list[str], list[float], list[int], list[int]]:
    """The `k` best distinct instructions of `history` (not in `exclude`), their validation means, the examples
    behind those and the index of the observation each stands for (ties → the latest).

    Args:
        ranking: `n` values to rank the observations by (e.g. :func:`ranking_values`); their validation
            means by default. An instruction observed more than once ranks by its best observation.
    """
    values = history.means if ranking is None else np.asarray(ranking, dtype=np.float64)
    best: dict[str, tuple[float, int]] = {}
    for index, (instruction, value) in enumerate(zip(history.instructions, values)):
        if instruction in exclude:
            continue
        if instruction not in best or (float(value), index) >= best[instruction]:
            best[instruction] = (float(value), index)
    ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)[:k]
    means, trials = history.means, history.trials
    return ([v for v, _ in ranked], [float(means[index]) for _, (_, index) in ranked],
            [int(trials[index]) for _, (_, index) in ranked], [index for _, (_, index) in ranked])  # fmt: skip


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
    candidates, validation, trials, _ = distinct_candidates(history, 1, ranking)
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
    users: Sequence[UserInstruction] = (),
    seed: int = 0,
) -> Selection:
    """Successive halving over the search's best distinct instructions on `examples` (the selection split).

    The user's own instructions (`users`), when given, are incumbents: they enter every rung (so they are
    scored on the same fresh examples as every challenger) and stay the winner unless the best challenger's
    mean on the examples both were scored on (the fixed subset and the rungs' examples) beats the best user
    instruction's by more than `config.min_gain` (MIPROv2 and GEPA keep the seed program unless beaten).
    Without a selection stage (`config.enabled` off) the comparison is on the fixed subset alone.

    Args:
        examples: fresh examples, disjoint from the search's validation subset and from the test split.
        budget: the run's budget (the stage's calls were held back for it); a refusal ends the stage early.
        search_on_metric: False when the search scored by another objective (`task.objective: logprob`): its
            scores still choose the candidates, but carry no weight in the pooled evidence on `metric`.
        users: the user's instructions with their scores on the fixed subset (:func:`score_user_instructions`).
        seed: the run seed; the interval of the user comparison resamples under `derive_seed(seed, "user")`.
    """
    users = list(users)
    if not users and (not config.enabled or not history.instructions):
        return no_selection(history, ranking)
    m = int(history.scores.shape[1]) if history.instructions else (len(users[0].scores) if users else 0)
    k_search = config.candidates if config.enabled else 1
    found, found_validation, found_trials, found_index = (
        distinct_candidates(history, k_search, ranking, exclude=[u.instruction for u in users])
        if history.instructions else ([], [], [], []))  # fmt: skip
    if not search_on_metric:
        found_trials = [0] * len(found)
    n_user = len(users)
    candidates = [u.instruction for u in users] + found
    validation = [float(u.scores.mean()) for u in users] + found_validation
    trials = [len(u.scores) for u in users] + found_trials
    # Per-example evidence each candidate has on the fixed subset (None: not on the metric, or pooled blocks).
    fixed = [u.scores for u in users] + [
        history.scores[i] if search_on_metric and history.blocks[i] == 0 else None for i in found_index]
    n = np.asarray(trials, dtype=float)  # examples behind each validation score (m, or more for pooled repeats)
    k = len(candidates)
    sums, counts = np.zeros(k), np.zeros(k, dtype=int)
    fresh_rows: list[list[float]] = [[] for _ in range(k)]
    challengers = list(range(n_user, k))
    alive, rungs, spend, used = list(range(k)), [], Spend(), 0
    if not config.enabled:
        n_rungs = 0
    elif len(challengers) > 1:
        n_rungs = max(1, math.ceil(math.log(len(challengers), config.eta)))
    else:
        n_rungs = 1 if challengers and n_user else 0

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
            fresh_rows[i] += report.scores[row].tolist()
        means = pooled()
        alive_challengers = [i for i in alive if i >= n_user]
        keep = max(1, math.ceil(len(alive_challengers) / config.eta))
        alive = list(range(n_user)) + sorted(alive_challengers, key=lambda i: (-means[i], i))[:keep]
    means = pooled()
    comparison = None
    if not users:
        winner = min(alive, key=lambda i: (-means[i], i))
    else:
        user = min(range(n_user), key=lambda i: (-means[i], i))
        alive_challengers = [i for i in alive if i >= n_user]
        winner = user
        if alive_challengers:
            best = min(alive_challengers, key=lambda i: (-means[i], i))
            comparison = user_comparison(best, user, fixed=fixed, fresh=fresh_rows, seed=seed)
            if comparison is not None and comparison.difference > config.min_gain:
                winner = best
            comparison = comparison.model_copy(update={"kept": winner == user}) if comparison is not None else None
    return Selection(
        candidates=candidates, validation_scores=validation, validation_n=m, validation_counts=trials,
        selection_sums=sums.tolist(),
        selection_n=counts.tolist(), rungs=rungs, winner=winner, spend=spend.as_metadata(), n_user=n_user,
        user_comparison=comparison,
    )  # fmt: skip


def user_comparison(
    challenger: int, user: int, *, fixed: Sequence[np.ndarray | None], fresh: Sequence[Sequence[float]], seed: int
) -> UserComparison | None:
    """The challenger minus the user's instruction on the examples both were scored on (the fixed subset when
    both have scores there, and every selection example both had), paired, with a 95% bootstrap interval; None
    when they share no example."""
    from instructzero.registry.comparison import compare

    a: list[float] = list(fresh[challenger])
    b: list[float] = list(fresh[user])[: len(a)]
    if fixed[challenger] is not None and fixed[user] is not None and len(fixed[challenger]) == len(fixed[user]):
        a, b = list(fixed[challenger]) + a, list(fixed[user]) + b
    if not a:
        return None
    result = compare(np.asarray(a), np.asarray(b), paired=True, seed=derive_seed(seed, "user"))
    return UserComparison(kept=True, difference=result.difference, ci_low=result.ci_low, ci_high=result.ci_high,
                          n=result.n, challenger=challenger, user=user)  # fmt: skip


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
