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

from instructzero.task import Example, TaskData
from instructzero.version import __version__

if TYPE_CHECKING:
    from instructzero.config import RunConfig
    from instructzero.result import OptimizationResult


def split_fingerprint(test: Sequence[Example], metric: str) -> str:
    """Identifies a test split and its metric: scores are comparable only when fingerprints match."""
    payload = json.dumps([metric, [[e.input, list(e.answers)] for e in test]])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


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
    #: The whole run config, for reproduction.
    config: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def of_run(
        cls, config: RunConfig, task: TaskData, result: OptimizationResult, blackbox_identity: str, run_id: str
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
            config=config.model_dump(mode="json"),
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


def incumbent_score(
    incumbent: RegistryRecord, challenger: RegistryRecord, rescore: Callable[[str], float]
) -> tuple[float, bool]:
    """Production's test score on the challenger's terms, and whether it had to be re-scored.

    The stored score when the two records are comparable; otherwise `rescore`
    scores production's instruction on the challenger's test split and black box.
    """
    if incumbent.comparable_with(challenger):
        return incumbent.test_score, False
    return rescore(incumbent.instruction), True
