"""Answer normalization and the per-example metrics of the instruction-induction benchmark.

Follows the evaluation of APE (Zhou et al., 2023) and InstructZero (Chen et al.,
2024): the black box's answer is normalized (first line, text before the first
period, lowercase, ``-`` → space, no punctuation, no "and"), then compared with
every gold answer; the best match counts.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

from instructzero.errors import ConfigError

_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Canonical form of an answer before comparison."""
    text = text.replace(" and ", " ").replace("Sentence 1:", " ").replace("Sentence 2:", " ")
    text = text.strip().split("\n")[0].split(".")[0].lower()
    text = text.replace("-", " ").translate(_PUNCTUATION)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Token-level F1 (SQuAD style) between normalized answers."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_set(prediction: str, gold: str) -> float:
    """Same set of words, in any order (e.g. orthography_starts_with, taxonomy_animal)."""
    return float(set(normalize_answer(prediction).split()) == set(normalize_answer(gold).split()))


def contains(prediction: str, gold: str) -> float:
    """The gold answer appears in the prediction as whole words (e.g. synonyms)."""
    gold_norm = normalize_answer(gold)
    if not gold_norm:
        return 0.0
    return float(re.search(rf"\b{re.escape(gold_norm)}\b", normalize_answer(prediction)) is not None)


METRICS: dict[str, Callable[[str, str], float]] = {
    "exact_match": exact_match,
    "f1": f1,
    "exact_set": exact_set,
    "contains": contains,
}

#: Per-task metric of the reference evaluation; every other task uses exact match.
TASK_METRICS = {
    "common_concept": "f1",
    "informal_to_formal": "f1",
    "orthography_starts_with": "exact_set",
    "taxonomy_animal": "exact_set",
    "synonyms": "contains",
}


#: `task.objective: logprob`: the search scores an example by the black box's probability of its first gold
#: answer, exp(mean token log-probability) in (0, 1], instead of the metric on a generated answer.
LOGPROB = "logprob"


def search_metric(objective: str, metric: str) -> str:
    """What the search scores instructions by: the task's `metric`, or :data:`LOGPROB`. The selection stage and
    the test always use the metric."""
    return LOGPROB if objective == LOGPROB else metric


def metric_for_task(task: str) -> str:
    return TASK_METRICS.get(task, "exact_match")


def resolve_metric(name: str) -> str:
    """Check a metric name from config, failing with the list of known ones."""
    if name not in METRICS:
        raise ConfigError(f"unknown metric '{name}'. Use one of: {', '.join(METRICS)} (task.metric).")
    return name


def score_answer(metric: str, prediction: str, answers: Sequence[str]) -> float:
    """Score of one prediction against all gold answers: the best one counts."""
    fn = METRICS[resolve_metric(metric)]
    return max(fn(prediction, gold) for gold in answers)
