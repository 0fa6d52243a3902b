"""Zero-shot scoring of instructions on the fixed validation subset: the objective H(p).

Only requests missing from the :class:`~instructzero.blackbox.cache.ResponseCache`
reach the black box, and each answer is cached the moment it arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import ZERO_SHOT_TEMPLATE, BlackBox, Completion
from instructzero.search.history import Candidates
from instructzero.data.metrics import score_answer
from instructzero.blackbox.cache import ResponseCache
from instructzero.data.task import Example

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
    instructions: Sequence[str],
    examples: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    template: str = ZERO_SHOT_TEMPLATE,
    progress: bool = False,
    budget: Budget | None = None,
) -> ScoreReport:
    """Per-example scores of each instruction; only requests not in `cache` reach the black box.

    Answers are cached one by one as they arrive. When `budget` refuses a request,
    the instructions left without a full set of answers are dropped from the
    report (their answers so far stay cached for a later run with more budget).
    """
    keys = [[cache.key(blackbox.identity, template, v, ex.input) for ex in examples] for v in instructions]
    known = cache.get_many([k for row in keys for k in row])
    todo: dict[str, str] = {}
    for v, row in zip(instructions, keys):
        for ex, k in zip(examples, row):
            if k not in known and k not in todo:
                todo[k] = template.format(instruction=v, input=ex.input)
    todo_keys = list(todo)
    paid: list[Completion] = []

    def store(index: int, completion: Completion) -> None:
        cache.put_many([(todo_keys[index], completion.text, completion.prompt_tokens, completion.completion_tokens)])
        known[todo_keys[index]] = completion.text
        paid.append(completion)

    if todo:
        blackbox.complete(list(todo.values()), progress=progress, on_result=store, budget=budget)
    kept = [i for i, row in enumerate(keys) if all(k in known for k in row)]
    answers = [[known[k] for k in keys[i]] for i in kept]
    scores = np.array(
        [[score_answer(metric, a, ex.answers) for a, ex in zip(row, examples)] for row in answers],
        dtype=np.float64,
    ).reshape(len(kept), len(examples))
    prompt_tokens = sum(c.prompt_tokens for c in paid)
    completion_tokens = sum(c.completion_tokens for c in paid)
    price = budget.price if budget is not None else None
    spend = Spend(
        calls=len(paid),
        cache_hits=sum(len(row) for row in keys) - len(todo),
        retries=sum(c.attempts - 1 for c in paid),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=price.cost(prompt_tokens, completion_tokens) if price else 0.0,
    )
    return ScoreReport(kept, scores, answers, spend, budget_exhausted=budget is not None and budget.exhausted)


def score_candidates(
    round_index: int,
    soft_prompts: np.ndarray,
    instructions: Sequence[str | None],
    examples: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    progress: bool = False,
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
    report = score_zero_shot(texts, examples, blackbox, metric, cache, progress=progress, budget=budget)
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
