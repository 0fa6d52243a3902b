"""A user's own metrics, named by import path in run configs (`task.metric: {callable: "custom_metrics:..."}`).

Importable because pytest puts tests/ on sys.path; other processes get it through PYTHONPATH.
"""


def half_credit(prediction: str, gold: str) -> float:
    """0.5 when the gold answer appears in the raw prediction: 'The sum is 7.' scores 0.5 where exact match gives 0
    and `contains` 1."""
    return 0.5 if gold in prediction else 0.0


def as_text(prediction: str, gold: str) -> str:
    return "yes"


def above_one(prediction: str, gold: str) -> float:
    return 2.0


def above_one_on_long_answers(prediction: str, gold: str) -> float:
    """Passes the config check on ('a', 'a'), fails on the first longer answer."""
    return 1.0 if len(prediction) < 2 else 2.0


def one_argument(prediction: str) -> float:
    return 1.0


NOT_A_FUNCTION = 0.5
