import re

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import Backend, Completion
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.blackbox.scoring import score_zero_shot as score_with
from instructzero.config import TokenPrice
from instructzero.data.task import Example

EXAMPLES = [Example(input=f"{a} {b}", answers=(str(a + b),)) for a, b in [(1, 2), (3, 4), (5, 5)]]


def calculator(prompt: str) -> str:
    """Adds when told to add, otherwise echoes the input: a black box whose score depends on the instruction."""
    x = re.search(r"Input: (\d+) (\d+)", prompt)
    a, b = int(x.group(1)), int(x.group(2))
    return f" {a + b}\n\nmore" if "add" in prompt.split("Input:")[0].lower() else f"{a} {b}"


class CountingBlackBox(Backend):
    identity = "counting"

    def __init__(self):
        self.prompts: list[str] = []

    def answer(self, requests, on_answer):
        for i, p in requests:
            self.prompts.append(p)
            on_answer(i, Completion(calculator(p), 3, 1))


def score_zero_shot(instructions, examples, bb, metric, cache, budget=None):
    return score_with(BlackBoxCaller(bb, cache), instructions, examples, metric, budget=budget)


def test_scores_per_example_and_mean():
    report = score_zero_shot(["Add them.", "Echo."], EXAMPLES, CountingBlackBox(), "exact_match", ResponseCache())
    np.testing.assert_array_equal(report.scores, [[1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(report.means, [1.0, 0.0])
    assert report.answers[0][0].strip().startswith("3")
    assert (report.spend.prompt_tokens, report.spend.completion_tokens) == (18, 6)


def test_identical_instructions_are_scored_once_and_cache_persists(tmp_path):
    bb = CountingBlackBox()
    cache = ResponseCache(tmp_path / "responses.sqlite")
    report = score_zero_shot(["Add.", "Add.", "Echo."], EXAMPLES, bb, "exact_match", cache)
    assert report.spend.calls == 6 and report.spend.cache_hits == 3 and len(bb.prompts) == 6
    np.testing.assert_array_equal(report.scores[0], report.scores[1])
    # A new process (a rerun) with the same file pays for nothing already answered.
    again = score_zero_shot(["Echo.", "Add."], EXAMPLES, bb, "exact_match", ResponseCache(tmp_path / "responses.sqlite"))
    assert again.spend.calls == 0 and len(bb.prompts) == 6
    np.testing.assert_array_equal(again.means, [0.0, 1.0])


def test_cache_key_separates_black_boxes():
    cache, a, b = ResponseCache(), CountingBlackBox(), CountingBlackBox()
    b.identity = "other-model"
    score_zero_shot(["Add."], EXAMPLES, a, "exact_match", cache)
    assert score_zero_shot(["Add."], EXAMPLES, b, "exact_match", cache).spend.calls == 3


def test_budget_drops_instructions_it_cannot_finish_and_keeps_their_answers(tmp_path):
    bb, cache = CountingBlackBox(), ResponseCache(tmp_path / "r.sqlite")
    # 3 examples per instruction: 7 calls pay for two whole instructions and one answer of the third.
    budget = Budget(max_calls=7, price=TokenPrice(prompt_per_million=1e6, completion_per_million=2e6))
    report = score_zero_shot(["Add.", "Echo.", "Add up."], EXAMPLES, bb, "exact_match", cache, budget=budget)
    assert report.budget_exhausted and report.kept == [0, 1] and report.spend.calls == 7
    np.testing.assert_array_equal(report.means, [1.0, 0.0])
    assert report.spend.cost_usd == 7 * (3 * 1 + 1 * 2)  # prompt 3 tokens at $1 each, completion 1 at $2
    assert len(cache) == 7  # the cut instruction's first answer is kept for later
    again = score_zero_shot(["Add up."], EXAMPLES, bb, "exact_match", cache, budget=Budget(max_calls=2))
    assert again.spend.calls == 2 and again.spend.cache_hits == 1 and not again.budget_exhausted


def test_budget_counts_what_earlier_rounds_spent_and_the_reserve():
    budget = Budget(max_calls=10, spent=Spend(calls=4), reserve_calls=3)
    assert [budget.try_reserve() for _ in range(4)] == [True, True, True, False]
    assert budget.exhausted
    cost_cap = Budget(max_cost_usd=1.0, price=TokenPrice(prompt_per_million=1e5), spent=Spend(calls=2, cost_usd=0.5))
    # The mean call so far cost $0.25: a third call would commit $0.75, a fourth $1.00 (the cap).
    assert cost_cap.try_reserve() and not cost_cap.try_reserve()
