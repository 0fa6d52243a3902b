"""Tasks the project generates itself, so the default run needs nothing but the clone.

They are easy enough that the offline default black box (SmolLM2-135M) solves
some examples, so the default run's scores are real and not all zero.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from instructzero.data.task import Example
from instructzero.errors import TaskDataError


def _sum(rng: random.Random) -> list[Example]:
    """All 100 single-digit additions: hard enough to separate instructions, easy enough for SmolLM2."""
    pairs = [(a, b) for a in range(10) for b in range(10)]
    return [Example(input=f"{a} {b}", answers=(str(a + b),)) for a, b in pairs]


def _larger(rng: random.Random) -> list[Example]:
    """The larger of two distinct numbers below 100."""
    pairs = {tuple(rng.sample(range(100), 2)) for _ in range(300)}
    return [Example(input=f"{a} {b}", answers=(str(max(a, b)),)) for a, b in sorted(pairs)]


BUILTIN_TASKS: dict[str, Callable[[random.Random], list[Example]]] = {
    "sum": _sum,
    "larger": _larger,
}


def builtin_examples(name: str, seed: int) -> list[Example]:
    """The examples of a built-in task in a seeded order."""
    if name not in BUILTIN_TASKS:
        raise TaskDataError(f"unknown built-in task '{name}'. Choose one of: {', '.join(BUILTIN_TASKS)}.")
    rng = random.Random(seed)
    examples = BUILTIN_TASKS[name](rng)
    rng.shuffle(examples)
    return examples
