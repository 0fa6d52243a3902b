"""The search: budget and strategy (BO, uniform, APE-style)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from instructzero.config.base import StrictModel


class BOConfig(StrictModel):
    """Budget and search strategy. Budget = n_init + n_rounds × q instructions (and `blackbox.max_calls`).

    Strategies: `bo` (InstructZero: GP + expected improvement over soft prompts), `uniform`
    (random soft prompts, the same generator), `ape` (APE-style forward generation: the
    proposer samples instructions from varied exemplar subsets, no soft prompt; see `ape`).
    """

    strategy: Literal["bo", "uniform", "ape"] = "bo"
    kernel: Literal["coupled", "matern"] = "coupled"
    #: Observation noise: `learned` (one homoscedastic noise level fitted by the GP, the paper's model) or
    #: `binomial` (each score's own variance from its counts, p(1-p)/m, with qLogNoisyExpectedImprovement).
    noise: Literal["learned", "binomial"] = "learned"
    #: How a round's q soft prompts are chosen: `ei`, q-batch log expected improvement optimized by gradient
    #: (log *noisy* EI with `noise: binomial`); `thompson`, the maxima of q posterior draws over a finite candidate
    #: set (one factorization: seconds at hundreds of observations where the gradient search takes a minute).
    acquisition: Literal["ei", "thompson"] = "ei"
    #: A regenerated instruction (a soft prompt that writes an instruction already scored): `reuse` scores it
    #: again from its cached answers on the fixed subset, at no cost (the paper); `pool` scores it on its next
    #: block of fresh validation examples and pools all its blocks into one validation score, so the
    #: instructions the search keeps returning to earn more evidence.
    repeats: Literal["reuse", "pool"] = "reuse"
    n_init: int = Field(25, ge=2)
    n_rounds: int = Field(5, ge=0)
    #: Soft prompts proposed per round (BoTorch's q).
    q: int = Field(25, ge=1)
    #: Greedy sequential q-batch optimization (one point at a time, each conditioned on the
    #: previous ones) instead of one joint `q x d` optimization.
    sequential: bool = False
    #: Start from the scored observations of earlier comparable runs of this task (found in the
    #: registry; pipeline runs only): the initial design shrinks or is replaced by a GP proposal.
    warm_start: bool = False
    num_restarts: int = Field(8, ge=1)
    raw_samples: int = Field(256, ge=1)
    stop_at_score: float = Field(1.0, gt=0.0, le=1.0)


class APEConfig(StrictModel):
    """APE-style proposals (`bo.strategy: ape`): instructions sampled from varied exemplar subsets."""

    #: `whitebox` (default) samples with the white-box model; `blackbox` asks the black box, as the APE paper does
    #: (its proposal calls count as black-box calls; a local black box decodes greedily, so only the varied
    #: exemplar subsets make its proposals differ).
    proposer: Literal["whitebox", "blackbox"] = "whitebox"
    temperature: float = Field(1.0, gt=0.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)


class SelectionConfig(StrictModel):
    """The selection stage: the winner is chosen on evidence, not on one noisy validation score.

    After the search, the `candidates` best distinct instructions (by validation score) are
    re-scored on examples the search never saw (validation examples outside its fixed subset;
    never the test split), by successive halving: each rung spends an equal share of `calls`
    on the survivors, all on the same fresh examples, and keeps the best 1/`eta` by pooled
    evidence (search subset and selection examples together). The user's own instructions join
    them as incumbents (`user_instructions`). Disabled, the winner is the search's best validation
    score, as in the paper.
    """

    enabled: bool = True
    #: The user's own instructions (`task.instructions`) compete as incumbents: they stay the winner unless the
    #: search's best beats them (see `min_gain`). False: they are only reported beside the winner (the paper).
    user_instructions: bool = True
    #: How the search's instructions are ranked for the pick (and for the stage's candidates): `validation`, their
    #: mean on the search's validation subset (the paper); `posterior_mean`, the GP's estimate of their score at
    #: their soft prompts, which shrinks a lucky draw toward its neighbours (Ax's recommendation; `bo` only).
    rank_by: Literal["validation", "posterior_mean"] = "validation"
    candidates: int = Field(4, ge=2)
    #: Black-box calls of the whole stage; held back from the search's budget under a cap.
    calls: int = Field(72, ge=1)
    #: Selection examples drawn at most (each rung uses fresh ones).
    max_examples: int = Field(100, ge=1)
    eta: int = Field(2, ge=2)
    #: How much higher (a mean over the same validation examples) the search's best must score than the best of
    #: the user's own instructions (`task.instructions`) to replace it; 0: strictly higher.
    min_gain: float = Field(0.0, ge=0.0, le=1.0)
