"""Answer normalization and the per-example metrics of the instruction-induction benchmark.

Follows the evaluation of APE (Zhou et al., 2023) and InstructZero (Chen et al.,
2024): the black box's answer is normalized (first line, text before the first
period, lowercase, ``-`` → space, no punctuation, no "and"), then compared with
every gold answer; the best match counts.

A run may score with its own metric instead, named by import path in the config
(`task.metric: {callable: "my_pkg.metrics:score"}`). Steps run in separate
processes (pods), so a run records a metric as a string, its *reference*, and each
process resolves that string itself (:func:`metric_function`): a built-in name, or
``module.path:function@digest``, where the digest identifies the module's source.
The digest is part of the task's content, so editing the function reruns the
scoring steps instead of reusing cached scores, and a process that imports another
version of the module fails instead of scoring differently.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import numbers
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

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


class CallableMetric(BaseModel):
    """A user's own metric, `task.metric: {callable: "my_pkg.metrics:score"}`: a function of (prediction: str,
    gold: str) -> float in [0, 1], like the built-ins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    callable: str


#: Where a user's metric is named in the config, for error messages.
CALLABLE_INPUT = "task.metric.callable"
#: The example a user's metric is tried on when the config is checked: identical answers must give a number.
PROBE = ("a", "a")
#: Hex digits of the module digest in a reference: enough to tell two versions of a file apart.
DIGEST_LENGTH = 12
_IMPORT_PATH = re.compile(r"(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):(?P<function>[A-Za-z_]\w*)")
_REFERENCE = re.compile(rf"{_IMPORT_PATH.pattern}(?:@(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}}))?")


def metric_reference(metric: str | CallableMetric | Mapping[str, Any]) -> str:
    """Check `task.metric` (a built-in name or a user's function) and return the reference a run records.

    A user's function is imported, called once on :data:`PROBE` and must return a number in [0, 1]; every
    failure is a one-line :class:`ConfigError` naming :data:`CALLABLE_INPUT` and the fix.
    """
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ConfigError(f"unknown metric '{metric}'. Use one of: {', '.join(METRICS)} (task.metric), "
                              f'or your own function as {{callable: "my_pkg.metrics:score"}}.')  # fmt: skip
        return metric
    path = _callable_path(metric)
    match = _IMPORT_PATH.fullmatch(path)
    if match is None:
        raise ConfigError(f"{CALLABLE_INPUT} '{path}' is not an import path. Write module.path:function, "
                          f"e.g. my_pkg.metrics:score.")  # fmt: skip
    fn, digest = _import(match["module"], match["function"])
    try:
        value = fn(*PROBE)
    except Exception as exc:  # whatever the user's function raises is reported the same way
        raise ConfigError(f"{CALLABLE_INPUT} '{path}' raised {_one_line(exc)} when called with {PROBE!r}. It must "
                          f"take (prediction: str, gold: str) and return a number in [0, 1].") from None  # fmt: skip
    _check_score(path, value, PROBE)
    return f"{path}@{digest}" if digest else path


def metric_function(reference: str) -> Callable[[str, str], float]:
    """The per-example metric a recorded reference names, resolved in this process (once)."""
    return _resolved(reference)


@functools.cache
def _resolved(reference: str) -> Callable[[str, str], float]:
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        return METRICS[metric_reference(reference)]  # a built-in name; metric_reference raises for anything else
    path = f"{match['module']}:{match['function']}"
    fn, digest = _import(match["module"], match["function"])
    if match["digest"] and digest != match["digest"]:
        raise ConfigError(f"{CALLABLE_INPUT} '{path}': module {match['module']} in this process (digest {digest}) "
                          f"is not the version the task was loaded with ({match['digest']}). Install the same "
                          f"version wherever the run's steps run (e.g. the step image).")  # fmt: skip

    def checked(prediction: str, gold: str) -> float:
        return _check_score(path, fn(prediction, gold), (prediction, gold))

    return checked


def _callable_path(metric: CallableMetric | Mapping[str, Any]) -> str:
    if isinstance(metric, CallableMetric):
        return metric.callable
    if isinstance(metric, Mapping) and set(metric) == {"callable"} and isinstance(metric["callable"], str):
        return metric["callable"]
    raise ConfigError(f"task.metric {metric!r} is neither a metric name nor {{callable: \"module.path:function\"}}. "
                      f"Use one of {', '.join(METRICS)} or a mapping with the single key callable.")  # fmt: skip


def _import(module_name: str, function: str) -> tuple[Callable[..., Any], str]:
    """The function and the digest of its module's file ('' for a module without one)."""
    path = f"{module_name}:{function}"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # whatever the user's module raises is reported the same way
        raise ConfigError(f"{CALLABLE_INPUT} '{path}': module {module_name} cannot be imported ({_one_line(exc)}). "
                          f"Install it or put it on PYTHONPATH, in every process that runs steps.") from None  # fmt: skip
    fn = getattr(module, function, None)
    if fn is None:
        raise ConfigError(f"{CALLABLE_INPUT} '{path}': module {module_name} has no attribute {function}. "
                          f"Name a function defined in {getattr(module, '__file__', None) or module_name}.")  # fmt: skip
    if not callable(fn):
        raise ConfigError(f"{CALLABLE_INPUT} '{path}' is a {type(fn).__name__}, not a function. Name a function "
                          f"(prediction: str, gold: str) -> float in [0, 1].")  # fmt: skip
    source = Path(module.__file__) if getattr(module, "__file__", None) else None  # none: a namespace package
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:DIGEST_LENGTH] if source and source.is_file() else ""
    return fn, digest


def _check_score(path: str, value: Any, example: tuple[str, str]) -> float:
    if isinstance(value, numbers.Real) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise ConfigError(f"{CALLABLE_INPUT} '{path}' returned {value!r} ({type(value).__name__}) for {example!r}. "
                      f"It must return a number in [0, 1].")  # fmt: skip


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def score_answer(metric: str, prediction: str, answers: Sequence[str]) -> float:
    """Score of one prediction against all gold answers: the best one counts. `metric` is a reference
    (:func:`metric_reference`)."""
    fn = metric_function(metric)
    return max(fn(prediction, gold) for gold in answers)
