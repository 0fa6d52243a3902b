"""The outcome of a run: the winner, its test score and interval, the full history, the cost.

Built by :func:`build_result` only, by the in-process loop and by the pipeline's
evaluation step alike. Reading a stored result needs nothing but this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict

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


class UserComparison(BaseModel):
    """The selection's best challenger against the best of the user's own instructions, on the validation
    examples both were scored on (paired): the mean difference (challenger minus user) and its 95% interval."""

    model_config = ConfigDict(frozen=True)

    #: True when the user's instruction stayed the winner.
    kept: bool
    difference: float
    ci_low: float
    ci_high: float
    #: Paired validation examples behind the difference.
    n: int
    #: Candidate indices (in `Selection.candidates`) of the challenger and of the user's instruction.
    challenger: int
    user: int


class Selection(BaseModel):
    """How the winner was chosen: the candidates, the evidence on each, the rungs, what it cost.

    Without a selection stage there is one candidate, the search's best validation score.
    """

    model_config = ConfigDict(frozen=True)

    #: Distinct instructions, best validation score first.
    candidates: list[str]
    #: Each candidate's mean on the search's fixed validation subset of `validation_n` examples.
    validation_scores: list[float]
    validation_n: int
    #: Examples behind each candidate's validation score: `validation_n`, or a multiple of it when a repeated
    #: instruction earned fresh blocks (`bo.repeats: pool`). Empty: `validation_n` each.
    validation_counts: list[int] = []
    #: Sum of per-example scores and number of examples on the selection split, per candidate.
    selection_sums: list[float] = []
    selection_n: list[int] = []
    #: Candidate indices alive in each rung.
    rungs: list[list[int]] = []
    winner: int = 0
    #: What the stage's black-box calls cost (`Spend` fields).
    spend: dict[str, int | float] = {}
    #: The first `n_user` candidates are the user's own instructions (`task.instructions`), the incumbents.
    n_user: int = 0
    #: How the best challenger fared against the user's best instruction (None: no user instruction, or no
    #: challenger).
    user_comparison: UserComparison | None = None

    @property
    def user_kept(self) -> bool:
        """The winner is one of the user's own instructions."""
        return self.winner < self.n_user

    def describe_user(self) -> str:
        """Kept or beaten, and by how much, on the validation evidence."""
        if not self.n_user:
            return ""
        c = self.user_comparison
        if c is None:
            return "kept: the search found no other instruction to compare"
        versus = (f"{c.difference:+.3f} (95% CI {c.ci_low:+.3f} to {c.ci_high:+.3f}, {c.n} paired validation "
                  f"examples)")  # fmt: skip
        if self.user_kept:
            return f"kept: the best challenger {self.candidates[c.challenger]!r} scored {versus}"
        return f"beaten by {versus}"

    @property
    def winner_instruction(self) -> str:
        return self.candidates[self.winner]

    @property
    def pooled_means(self) -> np.ndarray:
        """Each candidate's mean over the search subset and its selection examples together."""
        n = np.asarray(self.validation_counts or [self.validation_n] * len(self.candidates), dtype=float)
        sums = np.asarray(self.validation_scores) * n + np.asarray(self.selection_sums or 0.0)
        return sums / (n + np.asarray(self.selection_n or 0))

    @property
    def cost(self) -> Spend:
        """The stage's calls, and those that scored the user's instructions on the search's subset."""
        return Spend(**self.spend)

    def plus(self, spend: Spend) -> Selection:
        """This selection with `spend` (the user's instructions' scoring) added to its cost."""
        return self.model_copy(update={"spend": (self.cost + spend).as_metadata()})

    def describe(self) -> str:
        if not self.rungs:
            if self.n_user:
                return "your instruction against the search's best on the validation subset (no selection stage)"
            return "the best validation score (no selection stage)"
        n = (self.validation_counts[self.winner] if self.validation_counts else self.validation_n) + \
            self.selection_n[self.winner]  # fmt: skip
        return (f"selection stage: {len(self.candidates)} candidates, {len(self.rungs)} rung{'s' if len(self.rungs) != 1 else ''}, winner pooled "
                f"{self.pooled_means[self.winner]:.3f} over {n} examples")  # fmt: skip


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
    #: How the winner was chosen (None: the search's best validation score, as in the paper).
    selection: Selection | None = None

    @property
    def best_instruction(self) -> str:
        """The winner: the instruction scored on the test split."""
        return self.test.instruction

    @property
    def validation_score(self) -> float:
        """The winner's score on the search's fixed validation subset."""
        if self.selection is not None and self.selection.candidates:
            return self.selection.validation_scores[self.selection.winner]
        return self.history.best_score

    @property
    def pick_score(self) -> float:
        """The score the winner was chosen on: its pooled mean after a selection stage, else its validation score
        (what the winner's curse is measured against)."""
        if self.selection is not None and self.selection.rungs:
            return float(self.selection.pooled_means[self.selection.winner])
        return self.validation_score

    @property
    def spend(self) -> Spend:
        """Validation scoring, the selection stage, the test evaluation and the baselines together."""
        selection = self.selection.cost if self.selection is not None else Spend()
        return sum((b.spend for b in self.baselines), self.history.spend + selection + self.test.spend)

    @property
    def user_baseline(self) -> BaselineScore | None:
        """The user's instruction the winner was compared with (the best of them on validation evidence)."""
        if self.selection is None or not self.selection.n_user or not self.baselines:
            return None
        c = self.selection.user_comparison
        text = self.selection.candidates[c.user if c is not None else 0]
        return next((b for b in self.baselines if b.instruction == text), None)

    def user_test_comparison(self):
        """The winner minus the user's instruction on the same test examples (a paired
        :class:`~instructzero.registry.comparison.Comparison`), or None without a user instruction."""
        from instructzero.registry.comparison import compare
        from instructzero.seeding import derive_seed

        user = self.user_baseline
        if user is None or len(user.test.per_example) != len(self.test.per_example):
            return None
        return compare(self.test.per_example, user.test.per_example, paired=True, confidence=self.test.confidence,
                       seed=derive_seed(self.seed, "user_test"))  # fmt: skip

    def describe_user(self) -> str:
        """One line: was the user's instruction kept or beaten, by how much on validation, and on test."""
        user = self.user_baseline
        if user is None or self.selection is None:
            return ""
        line = f"{self.selection.describe_user()}; "
        if self.selection.user_kept:
            return line + f"the winner is yours: {user.instruction!r}"
        comparison = self.user_test_comparison()
        on_test = f"on test {comparison.describe()}" if comparison is not None else "not compared on test"
        return line + f"{on_test} against {user.instruction!r}"

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
                f"({len(self.history.instructions)} instructions; chosen by "
                f"{self.selection.describe() if self.selection else 'the best validation score'})",
                f"test score:        {t.score:.3f} ({pct}% CI {t.ci_low:.3f}-{t.ci_high:.3f}, "
                f"{len(t.per_example)} examples)",
                f"black-box calls:   {s.calls} ({s.cache_hits} repeated requests answered without paying again, {s.retries} retries)",
                f"tokens, cost:      {s.prompt_tokens} prompt + {s.completion_tokens} completion, ${s.cost_usd:.4f}",
                *(f"your instruction:  validation {b.validation_score:.3f}, test {b.test.score:.3f} "
                  f"({pct}% CI {b.test.ci_low:.3f}-{b.test.ci_high:.3f}): {b.instruction}" for b in self.baselines),
                *([f"against yours:     {line}"] if (line := self.describe_user()) else []),
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
    selection: Selection | None = None,
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
        selection=selection,
    )
