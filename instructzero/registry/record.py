"""The prompt-registry record: what a run registers about its best instruction, typed.

The pipeline writes one :class:`RegistryRecord` as metadata on its model version;
promotion, the consumer command and applications read it back with
:meth:`RegistryRecord.from_metadata`. Scores of two records are comparable only
on the same test split (:func:`split_fingerprint`) with the same black box.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from instructzero.data.metrics import search_metric
from instructzero.data.task import Example, TaskData
from instructzero.version import __version__

if TYPE_CHECKING:
    from instructzero.config.run import RunConfig
    from instructzero.result import OptimizationResult


def split_fingerprint(test: Sequence[Example], metric: str) -> str:
    """Identifies a test split and its metric: scores are comparable only when fingerprints match."""
    payload = json.dumps([metric, [[e.input, list(e.answers)] for e in test]])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def search_fingerprint(config: RunConfig, task: TaskData, blackbox_identity: str) -> dict[str, Any]:
    """What makes two runs' observations interchangeable: the same soft prompt gives the same instruction
    (white box, generation settings, projection and its seed, exemplars) and the same instruction the
    same per-example scores (black box, validation subset, metric)."""
    wb = config.whitebox
    return {
        "whitebox": [wb.model, wb.gguf_file, wb.n_soft_tokens, wb.max_new_tokens, wb.template,
                     wb.no_repeat_ngram_size, wb.use_chat_template, wb.instruction_form,
                     wb.instruction_start],  # fmt: skip
        "projection": [config.projection.intrinsic_dim, config.projection.distribution, config.seed],
        "exemplars": split_fingerprint(task.exemplars(config.task.n_exemplars, config.seed), task.metric),
        "blackbox": blackbox_identity,
        "validation": split_fingerprint(task.validation_subset(config.task.n_validation, config.seed),
                                        search_metric(config.task.objective, task.metric)),
    }


def why_not_comparable(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> str | None:
    """None when two search fingerprints match, else which parts differ."""
    names = {"whitebox": "white box or its generation settings", "projection": "projection (dimension, "
             "distribution or seed)", "exemplars": "exemplars", "blackbox": "black box", "validation":
             "validation subset or metric"}  # fmt: skip
    differ = [names.get(k, k) for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
    return ", ".join(differ) + " differ" if differ else None


@dataclass(frozen=True)
class RegistryRecord:
    """One registered instruction with its scores, where they come from, and what they cost."""

    instruction: str
    task: str
    metric: str
    validation_score: float
    test_score: float
    test_ci_low: float
    test_ci_high: float
    test_examples: int
    #: :func:`split_fingerprint` of the test split the test score is on.
    test_fingerprint: str
    blackbox_model: str
    #: The black box's identity (endpoint, model, decoding settings): what answers depend on.
    blackbox_identity: str
    whitebox_model: str
    budget_instructions: int
    blackbox_calls: int
    cost_usd: float
    seed: int
    run_id: str
    #: The instructzero release that produced it.
    instructzero_version: str = ""
    #: The user's own instructions scored beside it: `instruction`, `validation_score`, `test_score`,
    #: `test_ci_low`, `test_ci_high` each.
    baselines: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Was the user's own instruction (`task.instructions`) kept or beaten, and by how much: `kept`,
    #: `instruction` (the user's one compared), `validation` and `test` (each `difference`, `ci_low`, `ci_high`,
    #: `n`: the winner minus the user's on the same examples). Empty without a competing user instruction.
    user_instruction: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: `t` per-example test scores: what paired comparisons (promotion, regression) use.
    test_per_example: list[float] = dataclasses.field(default_factory=list)
    #: :func:`search_fingerprint` of the run: when its observations may warm-start another.
    search_fingerprint: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The whole run config, for reproduction.
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The fleet task whose branch of the run produced it: its steps are `<branch>.<step>` ('' outside a fleet).
    branch: str = ""

    @property
    def best_baseline(self) -> dict[str, Any] | None:
        return max(self.baselines, key=lambda b: b["test_score"]) if self.baselines else None

    @classmethod
    def of_run(
        cls, config: RunConfig, task: TaskData, result: OptimizationResult, *, blackbox_identity: str, run_id: str,
        branch: str = "",
    ) -> RegistryRecord:
        """The record of a finished run."""
        return cls(
            instruction=result.best_instruction,
            task=result.task,
            metric=result.metric,
            validation_score=result.validation_score,
            test_score=result.test.score,
            test_ci_low=result.test.ci_low,
            test_ci_high=result.test.ci_high,
            test_examples=len(result.test.per_example),
            test_fingerprint=split_fingerprint(task.test, task.metric),
            blackbox_model=config.blackbox.model,
            blackbox_identity=blackbox_identity,
            whitebox_model=config.whitebox.model,
            budget_instructions=config.max_instructions,
            blackbox_calls=result.blackbox_calls,
            cost_usd=result.cost_usd,
            seed=config.seed,
            run_id=run_id,
            instructzero_version=__version__,
            baselines=[{"instruction": b.instruction, "validation_score": b.validation_score,
                        "test_score": b.test.score, "test_ci_low": b.test.ci_low, "test_ci_high": b.test.ci_high}
                       for b in result.baselines],  # fmt: skip
            user_instruction=user_instruction_record(result),
            test_per_example=[float(x) for x in result.test.per_example],
            search_fingerprint=search_fingerprint(config, task, blackbox_identity),
            config=config.model_dump(mode="json"),
            branch=branch,
        )

    def to_metadata(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> RegistryRecord:
        """The record in a model version's metadata (other keys, e.g. the promotion reason, are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        optional = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING}  # fmt: skip
        missing = sorted(names - set(metadata) - optional)
        if missing:
            raise KeyError(f"not an instructzero registry record: metadata lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in metadata.items() if k in names})

    def comparable_with(self, other: RegistryRecord) -> bool:
        """Same test split and same black box: the two test scores can be compared as stored."""
        return (self.test_fingerprint, self.blackbox_identity) == (other.test_fingerprint, other.blackbox_identity)


def user_instruction_record(result: OptimizationResult) -> dict[str, Any]:
    """The registry's account of the user's instruction against the winner (see `RegistryRecord.user_instruction`)."""
    user, selection = result.user_baseline, result.selection
    if user is None or selection is None:
        return {}
    record: dict[str, Any] = {"kept": selection.user_kept, "instruction": user.instruction}
    if (c := selection.user_comparison) is not None:
        sign = 0.0 if selection.user_kept else 1.0  # the winner minus the user's: zero when the winner is theirs
        record["validation"] = {"difference": sign * c.difference, "ci_low": sign * c.ci_low, "ci_high": sign * c.ci_high,
                                "n": c.n, "best_challenger": selection.candidates[c.challenger],
                                "challenger_difference": c.difference}  # fmt: skip
    if (t := result.user_test_comparison()) is not None:
        record["test"] = {"difference": t.difference, "ci_low": t.ci_low, "ci_high": t.ci_high, "n": t.n}
    return record


def incumbent_scores(
    incumbent: RegistryRecord, challenger: RegistryRecord, rescore: Callable[[str], np.ndarray]
) -> tuple[np.ndarray, bool]:
    """Production's per-example test scores on the challenger's terms, and whether they had to be re-scored.

    The stored scores when the two records are comparable; otherwise `rescore`
    scores production's instruction on the challenger's test split and black box.
    """
    if incumbent.comparable_with(challenger) and len(incumbent.test_per_example) == challenger.test_examples:
        return np.asarray(incumbent.test_per_example, dtype=np.float64), False
    return rescore(incumbent.instruction), True


def production_floor(challenger: RegistryRecord, floor: float | None) -> tuple[float, str]:
    """The score production must exceed, and where it comes from: the configured floor, else the best
    baseline instruction's test score, else zero."""
    if floor is not None:
        return floor, "registry.floor"
    best = challenger.best_baseline
    if best is not None:
        return float(best["test_score"]), f"best baseline instruction {best['instruction']!r}"
    return 0.0, "zero"
