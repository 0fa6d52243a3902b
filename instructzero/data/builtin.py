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


def _smallest(rng: random.Random) -> list[Example]:
    """The smallest of three distinct numbers below 100 (a rule the user states easily, the white box less so)."""
    triples = {tuple(rng.sample(range(100), 3)) for _ in range(400)}
    return [Example(input=f"{a} {b} {c}", answers=(str(min(a, b, c)),)) for a, b, c in sorted(triples)]


def _last_letter(rng: random.Random) -> list[Example]:
    """The last letter of a common English word (the words of the packaged `first_word_letter` task)."""
    import json
    from importlib.resources import files

    data = json.loads((files("instructzero") / "datasets" / "instruction_induction" / "induce" /
                       "first_word_letter.json").read_text())  # fmt: skip
    words = sorted({ex["input"].strip().lower() for ex in data["examples"].values() if ex["input"].strip().isalpha()})
    chosen = rng.sample(words, min(400, len(words)))
    return [Example(input=word, answers=(word[-1],)) for word in sorted(chosen)]


BUILTIN_TASKS: dict[str, Callable[[random.Random], list[Example]]] = {
    "sum": _sum,
    "larger": _larger,
    "smallest": _smallest,
    "last_letter": _last_letter,
}


def builtin_examples(name: str, seed: int) -> list[Example]:
    """The examples of a built-in task in a seeded order."""
    if name not in BUILTIN_TASKS:
        raise TaskDataError(f"unknown built-in task '{name}'. Choose one of: {', '.join(BUILTIN_TASKS)}.")
    rng = random.Random(seed)
    examples = BUILTIN_TASKS[name](rng)
    rng.shuffle(examples)
    return examples
