"""A task: examples with their gold answers, split three ways, and the metric they are scored by.

The splits (Chen et al., 2024, Sec. 4):

- ``prompt_gen``: where the κ exemplars shown to the white-box model come from,
- ``validation``: where the fixed validation subset (the BO objective) comes from,
- ``test``: held-out examples the best instruction is finally scored on.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, field_validator

from instructzero.seeding import derive_seed

SPLITS = ("prompt_gen", "validation", "test")


class Example(BaseModel):
    """One input with every acceptable answer; ``answers[0]`` is the canonical output."""

    model_config = ConfigDict(frozen=True)

    input: str
    answers: tuple[str, ...]

    @property
    def output(self) -> str:
        return self.answers[0]

    @field_validator("answers")
    @classmethod
    def _non_empty(cls, answers: tuple[str, ...]) -> tuple[str, ...]:
        if not answers:
            raise ValueError("an example needs at least one answer")
        return answers


class TaskData(BaseModel):
    """A task split three ways, with the metric its instructions are scored by."""

    model_config = ConfigDict(frozen=True)

    name: str
    metric: str
    prompt_gen: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]

    def exemplars(self, k: int, seed: int) -> tuple[Example, ...]:
        """κ exemplars for the white-box prompt, drawn once per run."""
        rng = random.Random(derive_seed(seed, "exemplars"))
        return tuple(rng.sample(self.prompt_gen, min(k, len(self.prompt_gen))))

    def validation_subset(self, m: int, seed: int) -> tuple[Example, ...]:
        """The fixed validation subset: same examples, same order, for every instruction."""
        rng = random.Random(derive_seed(seed, "validation_subset"))
        return tuple(rng.sample(self.validation, min(m, len(self.validation))))

    def selection_subset(self, m: int, k: int, seed: int) -> tuple[Example, ...]:
        """Up to `k` validation examples outside the fixed validation subset of size `m` (the selection
        stage's fresh evidence; the test split is never touched)."""
        search = set(self.validation_subset(m, seed))
        rest = [ex for ex in self.validation if ex not in search]
        rng = random.Random(derive_seed(seed, "selection_subset"))
        return tuple(rng.sample(rest, min(k, len(rest))))

    def repeat_block(self, m: int, block: int, seed: int, reserved: int = 0) -> tuple[Example, ...]:
        """The examples of an instruction's `block`-th evaluation (`bo.repeats: pool`).

        Block 0 is the fixed validation subset of size `m`; block b > 0 is `m` fresh validation examples, the same
        for every instruction, outside the subset and outside the selection stage's first `reserved` examples (so
        the stage's evidence stays fresh). Shorter than `m` (possibly empty) once the split runs out.
        """
        if block == 0:
            return self.validation_subset(m, seed)
        taken = set(self.validation_subset(m, seed)) | set(self.selection_subset(m, reserved, seed))
        rest = [ex for ex in self.validation if ex not in taken]
        order = random.Random(derive_seed(seed, "repeat_blocks")).sample(rest, len(rest))
        return tuple(order[(block - 1) * m : block * m])
