"""Final evaluation: the best validation instruction on the held-out test split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instructzero.accounting import Budget
from instructzero.blackbox import BlackBox
from instructzero.config import TokenPrice
from instructzero.data import Example
from instructzero.scoring import ResponseCache, score_instructions

#: Bootstrap resamples for the test-score interval; 1000 puts the Monte-Carlo
#: error of a 95% percentile bound well below one test example's weight.
DEFAULT_BOOTSTRAP_SAMPLES = 1000


@dataclass
class TestResult:
    instruction: str
    score: float
    ci_low: float
    ci_high: float
    confidence: float
    #: `t` per-example scores on the test split.
    per_example: np.ndarray
    answers: list[str]
    calls: int
    prompt_tokens: int
    completion_tokens: int
    retries: int = 0
    cost_usd: float = 0.0


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


def evaluate_on_test(
    instruction: str,
    test: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    n_bootstrap: int = DEFAULT_BOOTSTRAP_SAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    progress: bool = False,
    price: TokenPrice | None = None,
) -> TestResult:
    """Zero-shot test score of one instruction with a bootstrap confidence interval.

    Not capped by the run's budget: scoring held its calls in reserve for this.
    """
    report = score_instructions(
        [instruction], test, blackbox, metric, cache, progress=progress, budget=Budget(price=price)
    )
    per_example = report.scores[0]
    low, high = bootstrap_ci(per_example, n_bootstrap, confidence, seed)
    return TestResult(
        instruction=instruction,
        score=float(per_example.mean()),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        per_example=per_example,
        answers=report.answers[0],
        calls=report.calls,
        prompt_tokens=report.prompt_tokens,
        completion_tokens=report.completion_tokens,
        retries=report.retries,
        cost_usd=report.cost_usd,
    )
