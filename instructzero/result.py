"""The outcome of a run: the winner, its test score and interval, the full history, the cost.

Built by :func:`build_result` only, by the in-process loop and by the pipeline's
evaluation step alike. Reading a stored result needs nothing but this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from instructzero.blackbox.accounting import Spend
from instructzero.data.task import TaskData
from instructzero.search.history import History


@dataclass
class TestResult:
    """One instruction's zero-shot score on the test split, with its bootstrap interval."""

    __test__ = False  # not a pytest test class

    instruction: str
    score: float
    ci_low: float
    ci_high: float
    confidence: float
    #: `t` per-example scores on the test split.
    per_example: np.ndarray
    answers: list[str]
    spend: Spend = Spend()


@dataclass
class BaselineScore:
    """One of the user's own instructions, scored like the winner: validation subset, then test split."""

    instruction: str
    validation_score: float
    #: `m` per-example scores on the validation subset.
    validation_per_example: np.ndarray
    test: TestResult
    validation_spend: Spend = Spend()

    @property
    def spend(self) -> Spend:
        return self.validation_spend + self.test.spend


@dataclass
class OptimizationResult:
    """Everything a run produced: the full history, the winner, its test score, the cost."""

    task: str
    metric: str
    history: History
    test: TestResult
    seed: int
    projection_seed: int
    stop_reason: str
    wall_time_s: float
    #: The user's own instructions (`baseline_instructions`), scored the same way.
    baselines: list[BaselineScore] = field(default_factory=list)

    @property
    def best_instruction(self) -> str:
        return self.history.best_instruction

    @property
    def validation_score(self) -> float:
        return self.history.best_score

    @property
    def spend(self) -> Spend:
        """Validation scoring, the test evaluation and the baselines together."""
        return sum((b.spend for b in self.baselines), self.history.spend + self.test.spend)

    @property
    def blackbox_calls(self) -> int:
        return self.spend.calls

    @property
    def cost_usd(self) -> float:
        return self.spend.cost_usd

    def summary(self) -> str:
        t, s = self.test, self.spend
        pct = round(t.confidence * 100)
        return "\n".join(
            [
                f"task:              {self.task} (metric {self.metric})",
                f"best instruction:  {self.best_instruction}",
                f"validation score:  {self.validation_score:.3f} "
                f"(best of {len(self.history.instructions)} instructions)",
                f"test score:        {t.score:.3f} ({pct}% CI {t.ci_low:.3f}-{t.ci_high:.3f}, "
                f"{len(t.per_example)} examples)",
                f"black-box calls:   {s.calls} ({s.cache_hits} answers reused from cache, {s.retries} retries)",
                f"tokens, cost:      {s.prompt_tokens} prompt + {s.completion_tokens} completion, ${s.cost_usd:.4f}",
                *(f"baseline:          validation {b.validation_score:.3f}, test {b.test.score:.3f} "
                  f"({pct}% CI {b.test.ci_low:.3f}-{b.test.ci_high:.3f}): {b.instruction}" for b in self.baselines),
                f"stopped:           {self.stop_reason}",
                f"wall time:         {self.wall_time_s:.1f} s",
            ]
        )


def build_result(
    task: TaskData,
    history: History,
    test: TestResult,
    *,
    seed: int,
    projection_seed: int,
    stop_at_score: float,
    caps: str,
    wall_time_s: float,
    baselines: list[BaselineScore] | None = None,
) -> OptimizationResult:
    """The run's result, with why it stopped (`caps` describes the budget)."""
    return OptimizationResult(
        task=task.name,
        metric=task.metric,
        history=history,
        test=test,
        seed=seed,
        projection_seed=projection_seed,
        stop_reason=history.stop_reason(stop_at_score, caps) or "all rounds done",
        wall_time_s=wall_time_s,
        baselines=baselines or [],
    )
