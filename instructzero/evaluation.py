"""Final evaluation: the best validation instruction on the held-out test split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import BlackBox
from instructzero.config import EvaluationConfig, TokenPrice
from instructzero.errors import BlackBoxError
from instructzero.search.history import History
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.scoring import score_zero_shot
from instructzero.seeding import derive_seed
from instructzero.data.task import Example

#: Bootstrap resamples for the test-score interval; 1000 puts the Monte-Carlo
#: error of a 95% percentile bound well below one test example's weight.
DEFAULT_BOOTSTRAP_SAMPLES = 1000


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


def bootstrap_ci(
    scores: np.ndarray, n_samples: int = DEFAULT_BOOTSTRAP_SAMPLES, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `scores` (a `t`-dim array)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(scores), size=(n_samples, len(scores)))
    means = scores[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return float(low), float(high)


def score_on_test(
    instruction: str,
    test: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    evaluation: EvaluationConfig = EvaluationConfig(),
    seed: int = 0,
    progress: bool = False,
    price: TokenPrice | None = None,
) -> TestResult:
    """Zero-shot test score of one instruction with a bootstrap confidence interval.

    Not capped by the run's budget: scoring held its calls in reserve for this.
    The interval's resamples come from `derive_seed(seed, "bootstrap")`.
    """
    report = score_zero_shot([instruction], test, blackbox, metric, cache, progress=progress, budget=Budget(price=price))
    per_example = report.scores[0]
    seed = derive_seed(seed, "bootstrap")
    low, high = bootstrap_ci(per_example, evaluation.bootstrap_samples, evaluation.confidence, seed)
    return TestResult(
        instruction=instruction,
        score=float(per_example.mean()),
        ci_low=low,
        ci_high=high,
        confidence=evaluation.confidence,
        per_example=per_example,
        answers=report.answers[0],
        spend=report.spend,
    )


def score_best_on_test(
    history: History,
    test: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    evaluation: EvaluationConfig,
    seed: int,
    progress: bool = False,
    price: TokenPrice | None = None,
) -> TestResult:
    """The test score of the run's best validation instruction (ties → the latest)."""
    if not history.instructions:
        raise BlackBoxError(
            "the budget ran out before any instruction was fully scored: raise blackbox.max_calls or max_cost_usd."
        )
    return score_on_test(history.best_instruction, test, blackbox, metric, cache, evaluation, seed, progress, price)


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


def reserved_calls(n_test: int, n_validation: int, n_baselines: int) -> int:
    """Black-box calls held back from the search for the winner's test and the baselines' scores."""
    return n_test + n_baselines * (n_validation + n_test)


def score_baselines(
    instructions: Sequence[str],
    validation: Sequence[Example],
    test: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    evaluation: EvaluationConfig,
    seed: int,
    progress: bool = False,
    price: TokenPrice | None = None,
) -> list[BaselineScore]:
    """Each baseline instruction on the fixed validation subset and the test split (not capped: the
    search held their calls in reserve)."""
    scores = []
    for instruction in instructions:
        report = score_zero_shot([instruction], validation, blackbox, metric, cache, progress=progress,
                                 budget=Budget(price=price))  # fmt: skip
        scores.append(BaselineScore(
            instruction=instruction,
            validation_score=float(report.scores[0].mean()),
            validation_per_example=report.scores[0],
            test=score_on_test(instruction, test, blackbox, metric, cache, evaluation, seed, progress, price),
            validation_spend=report.spend,
        ))  # fmt: skip
    return scores
