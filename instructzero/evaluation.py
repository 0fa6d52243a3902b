"""Final evaluation: the winner and the user's own instructions on the held-out test split.

An :class:`Evaluator` holds what every test score needs (the black box behind
its cache, the task's metric, the interval settings and the run seed), so the
winner, the baselines, the registry's re-scores and the re-check all score the
same way. The black-box calls the test evaluation needs are held back from the
search's budget (:func:`~instructzero.blackbox.accounting.held_back_calls`), so a
run that exhausts its budget can still finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.blackbox.scoring import score_zero_shot
from instructzero.config.evaluation import EvaluationConfig
from instructzero.data.task import Example
from instructzero.errors import BlackBoxError
from instructzero.result import BaselineScore, Selection, TestResult
from instructzero.seeding import derive_seed
from instructzero.stats import DEFAULT_BOOTSTRAP_SAMPLES, bootstrap_means, percentile_interval


def bootstrap_ci(
    scores: np.ndarray, n_samples: int = DEFAULT_BOOTSTRAP_SAMPLES, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `scores` (a `t`-dim array)."""
    return percentile_interval(bootstrap_means(scores, n_samples, np.random.default_rng(seed)), confidence)


@dataclass(frozen=True)
class Evaluator:
    """Scores instructions on the test split (and baselines on the validation subset), uncapped: the
    search held their calls back.

    Example:
        >>> evaluator = Evaluator(caller, task.metric, config.evaluation, config.seed)
        >>> evaluator.on_test("Add the two numbers.", task.test).score
    """

    caller: BlackBoxCaller
    metric: str
    evaluation: EvaluationConfig = EvaluationConfig()
    #: The run seed; the intervals' resamples come from `derive_seed(seed, "bootstrap")`.
    seed: int = 0

    def on_test(self, instruction: str, test: Sequence[Example]) -> TestResult:
        """Zero-shot test score of one instruction with a bootstrap confidence interval."""
        report = score_zero_shot(self.caller, [instruction], test, self.metric)
        per_example = report.scores[0]
        low, high = bootstrap_ci(per_example, self.evaluation.bootstrap_samples, self.evaluation.confidence,
                                 derive_seed(self.seed, "bootstrap"))  # fmt: skip
        return TestResult(
            instruction=instruction,
            score=float(per_example.mean()),
            ci_low=low,
            ci_high=high,
            confidence=self.evaluation.confidence,
            per_example=per_example,
            answers=report.answers[0],
            spend=report.spend,
        )

    def winner_on_test(self, selection: Selection, test: Sequence[Example]) -> TestResult:
        """The test score of the run's winner (see :mod:`instructzero.selection`)."""
        if not selection.candidates:
            raise BlackBoxError(
                "the budget ran out before any instruction was fully scored: raise blackbox.max_calls or max_cost_usd."
            )
        return self.on_test(selection.winner_instruction, test)

    def baselines(
        self, instructions: Sequence[str], validation: Sequence[Example], test: Sequence[Example]
    ) -> list[BaselineScore]:
        """Each of the user's instructions on the validation subset and the test split."""
        scores = []
        for instruction in instructions:
            report = score_zero_shot(self.caller, [instruction], validation, self.metric)
            scores.append(BaselineScore(
                instruction=instruction,
                validation_score=float(report.scores[0].mean()),
                validation_per_example=report.scores[0],
                test=self.on_test(instruction, test),
                validation_spend=report.spend,
            ))  # fmt: skip
        return scores
