"""Zero-shot scoring of instructions on the fixed validation subset: the objective H(p).

Answers come through the :class:`~instructzero.blackbox.caller.BlackBoxCaller`: only
requests missing from the response cache reach the black box, within the budget.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import ZERO_SHOT_TEMPLATE
from instructzero.blackbox.caller import BlackBoxCaller, Request
from instructzero.data.metrics import score_answer
from instructzero.data.task import Example
from instructzero.search.history import Candidates

logger = logging.getLogger(__name__)


@dataclass
class ScoreReport:
    """Scores of the `n` instructions that were fully answered, on `m` examples, and what they cost."""

    #: Positions (in the input order) of the instructions scored; the others were cut by the budget.
    kept: list[int]
    #: `n x m` per-example scores in [0, 1].
    scores: np.ndarray
    #: `n x m` raw black-box answers.
    answers: list[list[str]]
    spend: Spend
    #: True when the budget refused a request: the run should stop after this batch.
    budget_exhausted: bool = False

    @property
    def means(self) -> np.ndarray:
        """`n` validation scores H(p)."""
        return self.scores.mean(axis=1)


def score_zero_shot(
    caller: BlackBoxCaller,
    instructions: Sequence[str],
    examples: Sequence[Example],
    metric: str,
    *,
    template: str = ZERO_SHOT_TEMPLATE,
    budget: Budget | None = None,
) -> ScoreReport:
    """Per-example scores of each instruction (`n` instructions x `m` examples).

    When `budget` refuses a request, the instructions left without a full set of answers
    are dropped from the report (their answers so far stay cached for a later run with
    more budget).
    """
    requests = [Request.zero_shot(v, ex.input, template) for v in instructions for ex in examples]
    answers = caller.ask(requests, budget)
    m = len(examples)
    rows = [answers.texts[i * m : (i + 1) * m] for i in range(len(instructions))]
    kept = [i for i, row in enumerate(rows) if all(a is not None for a in row)]
    texts = [[str(a) for a in rows[i]] for i in kept]
    scores = np.array(
        [[score_answer(metric, a, ex.answers) for a, ex in zip(row, examples)] for row in texts], dtype=np.float64
    ).reshape(len(kept), m)
    return ScoreReport(kept, scores, texts, answers.spend, budget_exhausted=answers.budget_exhausted)


def score_candidates(
    caller: BlackBoxCaller,
    *,
    round_index: int,
    soft_prompts: np.ndarray,
    instructions: Sequence[str | None],
    examples: Sequence[Example],
    metric: str,
    budget: Budget | None = None,
    proposal_spend: Spend = Spend(),
) -> Candidates:
    """Score one round's batch on the validation subset.

    Args:
        soft_prompts: `q x d` soft prompts that produced `instructions` (`q` may be 0:
            a round after the run stopped, which costs nothing).
        instructions: one per soft prompt; None where the proposer was cut by the budget.
        budget: the run's caps; instructions it cut short are dropped with their soft prompts.
        proposal_spend: what proposing the batch cost (a black box as APE proposer); added to the batch's spend.
    """
    soft_prompts = np.asarray(soft_prompts, dtype=np.float64)
    proposed = [i for i, v in enumerate(instructions) if v is not None]
    texts = [instructions[i] for i in proposed]
    report = score_zero_shot(caller, texts, examples, metric, budget=budget)
    kept = [proposed[i] for i in report.kept]
    exhausted = report.budget_exhausted or len(proposed) < len(instructions)
    if exhausted:
        logger.warning(
            "budget (%s) reached in round %d: %d of %d instructions scored; the run stops after this round",
            budget.describe() if budget else "no cap", round_index, len(kept), len(instructions),
        )  # fmt: skip
    return Candidates(
        round=round_index,
        soft_prompts=soft_prompts[kept].reshape(len(kept), soft_prompts.shape[-1]),
        instructions=[instructions[i] for i in kept],
        scores=report.scores,
        answers=report.answers,
        spend=report.spend + proposal_spend,
        budget_exhausted=exhausted,
    )
