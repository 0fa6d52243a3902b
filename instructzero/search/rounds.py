"""The round logic of the search, stated once for the in-process loop and the pipeline.

Round 0 evaluates an initial design; after each round, :func:`advance` appends
the scored batch to the history and either proposes the next round's soft
prompts or returns an empty `0 x d` batch: the run is done (last round, a
perfect validation score, or the budget spent). An empty batch flows through
generation and scoring at no cost, which is how the pipeline, whose rounds are
fixed before it starts, stops early.
"""

from __future__ import annotations

import numpy as np

from instructzero.blackbox.accounting import Spend
from instructzero.config.search import BOConfig
from instructzero.search.bo import DUPLICATE_TOLERANCE, next_soft_prompts, sobol_design, uniform_design
from instructzero.search.history import Candidates, History
from instructzero.seeding import derive_seed


def initial_soft_prompts(strategy: str, n_init: int, d: int, seed: int) -> np.ndarray:
    """`n_init x d` soft prompts of round 0: Sobol for BO, i.i.d. uniform for the random and APE baselines
    (APE uses a row only as the seed of its candidate)."""
    design = sobol_design if strategy == "bo" else uniform_design
    return design(n_init, d, derive_seed(seed, "init"))


def advance(
    bo: BOConfig, history: History, batch: Candidates, next_round: int, seed: int
) -> tuple[History, np.ndarray]:
    """Append the scored `batch`, then propose the soft prompts of round `next_round`.

    Args:
        batch: the round just scored; an empty batch (the run had stopped) leaves the history as it is.
        next_round: the round to propose for (≥ 1).
        seed: the run seed; round r uses `derive_seed(seed, "bo", r)`.

    Returns:
        The history, and a `q x d` array of soft prompts, or `0 x d` when the run is done.
    """
    if batch.instructions or batch.budget_exhausted:
        history = history.append(batch)
    d = batch.soft_prompts.shape[-1]
    if next_round > bo.n_rounds or history.stop_reason(bo.stop_at_score) is not None:
        return history, np.zeros((0, d))
    proposal = next_soft_prompts(
        history.soft_prompts,
        history.scores,
        q=bo.q,
        seed=derive_seed(seed, "bo", next_round),
        strategy=bo.strategy,
        kernel=bo.kernel,
        noise=bo.noise,
        acquisition=bo.acquisition,
        num_restarts=bo.num_restarts,
        raw_samples=bo.raw_samples,
        sequential=bo.sequential,
        targets=history.means,
        trials=history.trials,
    )
    return history, proposal


#: Round label of observations carried over from earlier runs (a warm start).
PRIOR_ROUND = -1


def warm_start(bo: BOConfig, prior: History, d: int, seed: int) -> tuple[History, np.ndarray]:
    """Round 0 of a run that starts from `prior`, the scored observations of comparable earlier runs.

    The observations become one batch of round -1 that this run did not pay for. With at least
    `n_init` of them, round 0 is a GP proposal of `q` soft prompts (the initial design is skipped);
    with fewer, round 0 is the Sobol design without the points already evaluated.
    """
    batch = Candidates(
        round=PRIOR_ROUND,
        soft_prompts=prior.soft_prompts,
        instructions=prior.instructions,
        scores=prior.scores,
        answers=[a for b in prior.batches for a in b.answers],
        spend=Spend(),
    )
    history = History([batch])
    if len(batch.instructions) >= bo.n_init:
        _, proposal = advance(bo.model_copy(update={"n_rounds": max(bo.n_rounds, 1)}), History(), batch, 1,
                              derive_seed(seed, "warm_start"))  # fmt: skip
        return history, proposal
    design = initial_soft_prompts(bo.strategy, bo.n_init, d, seed)
    seen = batch.soft_prompts
    fresh = [p for p in design if not len(seen) or np.min(np.max(np.abs(seen - p), axis=1)) / 2 >= DUPLICATE_TOLERANCE]
    return history, np.asarray(fresh, dtype=np.float64).reshape(len(fresh), d)
