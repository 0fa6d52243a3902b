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

    @property
    def means(self) -> np.ndarray:
        return self.scores.mean(axis=1)


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
    def means(self) -> np.ndarray:
        return self.scores.mean(axis=1)

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
