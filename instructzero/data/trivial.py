"""The trivial baseline of a task: always giving its most frequent answer.

A winner that merely makes the black box give that answer is no win (an
instruction such as "output 6 if ... and 0 otherwise" on a counting task
whose test words mostly have six letters), so the benchmark reports this score
beside every method's, and a task screen drops tasks where it is high.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from instructzero.data.metrics import score_answer
from instructzero.data.task import Example, TaskData


def most_frequent_answer(task: TaskData, examples: Sequence[Example] | None = None) -> tuple[str, float]:
    """The most frequent canonical answer outside the test split, and its mean score on `examples`
    (the test split by default; a screen that must not look at test passes validation examples)."""
    answer, _ = Counter(ex.output for ex in (*task.prompt_gen, *task.validation)).most_common(1)[0]
    examples = task.test if examples is None else examples
    score = sum(score_answer(task.metric, answer, ex.answers) for ex in examples) / len(examples)
    return answer, score
