"""What a run has evaluated so far: batches of candidates and their scores."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from instructzero.blackbox.accounting import Spend


@dataclass
class Proposals:
    """One round's instructions before scoring, aligned with its `q x d` soft prompts (or APE draws)."""

    #: One instruction per row; None where a paid proposer was refused by the budget.
    instructions: list[str | None]
    #: Black-box calls the proposer made (APE with the black box as proposer); free otherwise.
    spend: Spend = Spend()


@dataclass
class Candidates:
    """One batch of soft prompts, the instructions they produced, and their validation scores."""

    round: int
    #: `q x d` soft prompts in [-1, 1]^d.
    soft_prompts: np.ndarray
    instructions: list[str]
    #: `q x m` per-example scores on the fixed validation subset.
    scores: np.ndarray
    #: `q x m` raw black-box answers.
    answers: list[list[str]]
    spend: Spend = Spend()
    #: The spending cap was reached while scoring this batch: no further rounds.
    budget_exhausted: bool = False
    #: Which example block each row was scored on (`bo.repeats: pool`): 0 is the fixed validation subset, b > 0
    #: the b-th block of fresh validation examples that a repeated instruction earned. Empty: all 0.
    blocks: list[int] = field(default_factory=list)

    @property
    def means(self) -> np.ndarray:
        return self.scores.mean(axis=1)

    @property
    def block_of_row(self) -> np.ndarray:
        return np.asarray(self.blocks, dtype=int) if self.blocks else np.zeros(len(self.instructions), dtype=int)


@dataclass
class History:
    """All batches of a run in order; BO fits on their union."""

    batches: list[Candidates] = field(default_factory=list)

    def append(self, batch: Candidates) -> History:
        return History(self.batches + [batch])

    @property
    def soft_prompts(self) -> np.ndarray:
        return np.concatenate([b.soft_prompts for b in self.batches])

    @property
    def scores(self) -> np.ndarray:
        return np.concatenate([b.scores for b in self.batches])

    @property
    def instructions(self) -> list[str]:
        return [v for b in self.batches for v in b.instructions]

    @property
    def rounds(self) -> np.ndarray:
        return np.concatenate([np.full(len(b.instructions), b.round) for b in self.batches])

    @property
    def blocks(self) -> np.ndarray:
        """`n` example blocks, one per observation (see `Candidates.blocks`)."""
        return np.concatenate([b.block_of_row for b in self.batches]) if self.batches else np.zeros(0, dtype=int)

    @property
    def means(self) -> np.ndarray:
        """`n` validation scores: each observation's instruction's mean over every distinct example block it was
        scored on (its pooled evidence; with one block, its mean on the fixed subset)."""
        return self._pooled()[0]

    @property
    def trials(self) -> np.ndarray:
        """`n` example counts behind `means`: `m` times the distinct blocks of the observation's instruction."""
        return self._pooled()[1]

    def _pooled(self) -> tuple[np.ndarray, np.ndarray]:
        scores, blocks = self.scores, self.blocks
        sums: dict[str, dict[int, float]] = {}
        for instruction, block, row in zip(self.instructions, blocks, scores):
            sums.setdefault(instruction, {})[int(block)] = float(row.sum())  # a block's scores are the same each time
        m = scores.shape[1] if scores.ndim == 2 else 0
        trials = np.array([m * len(sums[v]) for v in self.instructions], dtype=float)
        means = np.array([sum(sums[v].values()) for v in self.instructions], dtype=float) / np.maximum(trials, 1)
        return means, trials

    def next_block(self, instruction: str) -> int:
        """The example block of `instruction`'s next evaluation: the number of distinct blocks it has had."""
        return len({int(b) for v, b in zip(self.instructions, self.blocks) if v == instruction})

    @property
    def best_index(self) -> int:
        """Index of the best validation score; ties go to the latest evaluation."""
        means = self.means
        return int(len(means) - 1 - np.argmax(means[::-1]))

    @property
    def best_instruction(self) -> str:
        return self.instructions[self.best_index]

    @property
    def best_score(self) -> float:
        return float(self.means[self.best_index])

    @property
    def spend(self) -> Spend:
        """What validation scoring has cost so far."""
        return sum((b.spend for b in self.batches), Spend())

    @property
    def budget_exhausted(self) -> bool:
        return any(b.budget_exhausted for b in self.batches)

    def stop_reason(self, stop_at_score: float, caps: str = "") -> str | None:
        """Why the run stops after this history, or None while it goes on.

        A spent budget ends it (`caps` describes the budget); so does a validation
        score of `stop_at_score` (1.0 by default: a perfect score cannot be improved on).
        """
        if self.budget_exhausted:
            return f"budget reached ({caps})" if caps else "budget reached"
        if self.instructions and self.best_score >= stop_at_score:
            return f"validation score reached {stop_at_score:g}"
        return None

    def best_so_far(self) -> list[tuple[int, float]]:
        """(cumulative black-box calls, best validation score) after each batch."""
        curve, calls, best = [], 0, -np.inf
        for batch in self.batches:
            calls += batch.spend.calls
            if not batch.instructions:
                continue
            best = max(best, float(batch.means.max()))
            curve.append((calls, best))
        return curve
