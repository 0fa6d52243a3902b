import pytest

from instructzero.data.metrics import (
    contains,
    exact_match,
    exact_set,
    f1,
    metric_for_task,
    metric_reference,
    normalize_answer,
    score_answer,
)
from instructzero.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        (" Forty-two.\nmore text", "forty two"),
        ("Cats and dogs!", "cats dogs"),
        ("Sentence 1: it rained", "it rained"),
        ("  HELLO, world  ", "hello world"),
        ("3.14", "3"),
    ],
)
def test_normalize_answer(raw, normalized):
    assert normalize_answer(raw) == normalized


def test_exact_match_ignores_case_punctuation_and_trailing_lines():
    assert exact_match(" 42\n\nExplanation: 20 + 22 = 42", "42") == 1.0
    assert exact_match("The answer is 42", "42") == 0.0


def test_f1_hand_computed():
    # pred tokens {involve, going, up}, gold {involve, vertical, movement}: 1 common
    assert f1("involve going up.", "involve vertical movement.") == pytest.approx(2 * (1 / 3) * (1 / 3) / (2 / 3))
    assert f1("nothing", "something else") == 0.0
    assert f1("a b", "a b") == 1.0


def test_exact_set_is_order_free_but_exact():
    assert exact_set("dog cat", "cat dog") == 1.0
    assert exact_set("dog cat cow", "cat dog") == 0.0


def test_contains_requires_word_boundary():
    assert contains("it is very big", "big") == 1.0
    assert contains("it is bigger", "big") == 0.0


def test_several_gold_answers_take_the_best():
    assert score_answer("exact_match", "nein", ["not the same", "nein"]) == 1.0
    assert score_answer("f1", "involve going up", ["involve vertical movement", "involve going up"]) == 1.0


def test_task_defaults_and_unknown_metric():
    assert metric_for_task("synonyms") == "contains"
    assert metric_for_task("taxonomy_animal") == "exact_set"
    assert metric_for_task("antonyms") == "exact_match"
    with pytest.raises(ConfigError, match="unknown metric 'bleu'.*exact_match"):
        metric_reference("bleu")
