"""Zero-shot scoring of instructions on the fixed validation subset: the objective H(p).

Answers come through the :class:`~instructzero.blackbox.caller.BlackBoxCaller`: only
requests missing from the response cache reach the black box, within the budget.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import ZERO_SHOT_TEMPLATE, parse_logprob
from instructzero.blackbox.caller import BlackBoxCaller, Request
from instructzero.data.metrics import LOGPROB, score_answer
from instructzero.data.task import Example, TaskData
from instructzero.search.history import Candidates, History

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

    `metric` is a task metric, or :data:`LOGPROB` (scores from the gold answers' log-probabilities; the
    report's answers are then those log-probabilities as text).
    When `budget` refuses a request, the instructions left without a full set of answers
    are dropped from the report (their answers so far stay cached for a later run with
    more budget).
    """
    if metric == LOGPROB:
        requests = [Request.gold_logprob(v, ex.input, ex.answers[0], template) for v in instructions for ex in examples]
    else:
        requests = [Request.zero_shot(v, ex.input, template) for v in instructions for ex in examples]
    answers = caller.ask(requests, budget)
    m = len(examples)
    rows = [answers.texts[i * m : (i + 1) * m] for i in range(len(instructions))]
    kept = [i for i, row in enumerate(rows) if all(a is not None for a in row)]
    texts = [[str(a) for a in rows[i]] for i in kept]
    if metric == LOGPROB:
        values = [[float(np.exp(parse_logprob(a))) for a in row] for row in texts]
    else:
        values = [[score_answer(metric, a, ex.answers) for a, ex in zip(row, examples)] for row in texts]
    scores = np.array(values, dtype=np.float64).reshape(len(kept), m)
    return ScoreReport(kept, scores, texts, answers.spend, budget_exhausted=answers.budget_exhausted)


@dataclass(frozen=True)
class RepeatBlocks:
    """`bo.repeats: pool`: a regenerated instruction is scored on its next block of fresh validation examples
    (`TaskData.repeat_block`) instead of reusing its answers on the fixed subset, and its blocks are pooled."""

    #: The run so far: which blocks each instruction has had.
    history: History
    #: Examples of block b ≥ 1 (shorter than the subset once the split runs out: the repeat then reuses block 0).
    block: Callable[[int], Sequence[Example]]

    @classmethod
    def of(cls, repeats: str, task: TaskData, history: History, *, n_validation: int, seed: int,
           reserved: int) -> RepeatBlocks | None:  # fmt: skip
        """The blocks of a run (`repeats: pool`), or None (`reuse`: a repeat reuses its answers on block 0).
        `reserved`: the selection stage's examples, which repeats never take."""
        if repeats == "reuse":
            return None
        return cls(history, lambda block: task.repeat_block(n_validation, block, seed, reserved))


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
    repeats: RepeatBlocks | None = None,
) -> Candidates:
    """Score one round's batch on the validation subset.

    Args:
        soft_prompts: `q x d` soft prompts that produced `instructions` (`q` may be 0:
            a round after the run stopped, which costs nothing).
        instructions: one per soft prompt; None where the proposer was cut by the budget.
        examples: the fixed validation subset (block 0).
        budget: the run's caps; instructions it cut short are dropped with their soft prompts.
        proposal_spend: what proposing the batch cost (a black box as APE proposer); added to the batch's spend.
        repeats: with it, an instruction scored before is scored on its next block of fresh examples.
    """
    soft_prompts = np.asarray(soft_prompts, dtype=np.float64)
    proposed = [i for i, v in enumerate(instructions) if v is not None]
    blocks = _blocks(instructions, proposed, repeats, len(examples))
    kept, rows, answers, spend, exhausted = [], {}, {}, Spend(), len(proposed) < len(instructions)
    for block in sorted(set(blocks.values())):  # block 0 first: new instructions before repeats
        members = [i for i in proposed if blocks[i] == block]
        on = examples if block == 0 else repeats.block(block)
        report = score_zero_shot(caller, [instructions[i] for i in members], on, metric, budget=budget)
        spend = spend + report.spend
        exhausted = exhausted or report.budget_exhausted
        for row, position in enumerate(report.kept):
            rows[members[position]], answers[members[position]] = report.scores[row], report.answers[row]
        kept += [members[position] for position in report.kept]
        if report.budget_exhausted:
            break
    kept.sort()
    if exhausted:
        logger.warning(
            "budget (%s) reached in round %d: %d of %d instructions scored; the run stops after this round",
            budget.describe() if budget else "no cap", round_index, len(kept), len(instructions),
        )  # fmt: skip
    return Candidates(
        round=round_index,
        soft_prompts=soft_prompts[kept].reshape(len(kept), soft_prompts.shape[-1]),
        instructions=[instructions[i] for i in kept],
        scores=np.stack([rows[i] for i in kept]) if kept else np.zeros((0, len(examples))),
        answers=[answers[i] for i in kept],
        spend=spend + proposal_spend,
        budget_exhausted=exhausted,
        blocks=[blocks[i] for i in kept] if repeats is not None else [],
    )


def _blocks(
    instructions: Sequence[str | None], proposed: list[int], repeats: RepeatBlocks | None, m: int
) -> dict[int, int]:
    """The example block of each proposed position: 0 without `repeats`; else the instruction's next block (a
    repeat within the batch counts too), or 0 once the split has no full block left."""
    if repeats is None:
        return {i: 0 for i in proposed}
    earlier: Counter[str] = Counter()
    blocks = {}
    for i in proposed:
        block = repeats.history.next_block(instructions[i]) + earlier[instructions[i]]
        earlier[instructions[i]] += 1
        blocks[i] = block if block == 0 or len(repeats.block(block)) == m else 0
    return blocks
