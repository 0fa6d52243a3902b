"""The one cached, budgeted caller of the black box, and backends chosen by name."""

import pytest

from instructzero.blackbox.accounting import Budget
from instructzero.blackbox.backends import backend_class, backend_names, make_backend, register_backend
from instructzero.blackbox.base import Backend, Completion
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller, Request
from instructzero.config import TokenPrice, parse_config
from instructzero.errors import BlackBoxError, ConfigError


class Flaky(Backend):
    """Answers `fail_after` prompts (the prompt upper-cased), then fails for good on the next one."""

    identity = "flaky"

    def __init__(self, fail_after: int | None = None):
        self.fail_after, self.pulled = fail_after, []

    def answer(self, requests, on_answer):
        for index, prompt in requests:
            self.pulled.append(prompt)
            if self.fail_after is not None and len(self.pulled) > self.fail_after:
                raise BlackBoxError("endpoint gone")
            on_answer(index, Completion(prompt.upper(), prompt_tokens=2, completion_tokens=1, attempts=2))


REQUESTS = [Request(p, "t", p) for p in ("a", "b", "a", "c", "d")]


def test_cached_answers_and_duplicates_are_free_and_spend_is_booked_once():
    cache, backend = ResponseCache(), Flaky()
    price = TokenPrice(prompt_per_million=1e6, completion_per_million=1e6)
    answers = BlackBoxCaller(backend, cache, price=price).ask(REQUESTS)
    assert answers.texts == ["A", "B", "A", "C", "D"] and backend.pulled == ["a", "b", "c", "d"]
    assert (answers.spend.calls, answers.spend.cache_hits, answers.spend.retries) == (4, 1, 4)
    assert answers.spend.cost_usd == 4 * 3
    again = BlackBoxCaller(backend, cache).ask(REQUESTS)
    assert again.texts == answers.texts and again.spend.calls == 0 and len(backend.pulled) == 4


def test_the_budget_admits_requests_as_the_backend_pulls_them():
    backend, budget = Flaky(), Budget(max_calls=2)
    answers = BlackBoxCaller(backend, ResponseCache()).ask(REQUESTS, budget)
    assert backend.pulled == ["a", "b"]  # the third distinct prompt was never handed to the backend
    assert answers.texts == ["A", "B", "A", None, None] and answers.budget_exhausted
    assert budget.spent.calls == 2 and budget.in_flight == 0


def test_a_fatal_error_keeps_every_answer_paid_for_and_releases_the_rest(tmp_path):
    budget = Budget(max_calls=10)
    with pytest.raises(BlackBoxError, match="endpoint gone"):
        BlackBoxCaller(Flaky(fail_after=2), ResponseCache(tmp_path / "r.sqlite")).ask(REQUESTS, budget)
    assert budget.in_flight == 0 and budget.spent.calls == 2  # the failed request was released, not booked
    resumed, backend = ResponseCache(tmp_path / "r.sqlite"), Flaky()
    answers = BlackBoxCaller(backend, resumed).ask(REQUESTS)
    assert backend.pulled == ["c", "d"] and answers.texts == ["A", "B", "A", "C", "D"]


def test_answers_of_one_model_are_never_reused_for_another():
    cache, other = ResponseCache(), Flaky()
    other.identity = "another-model"
    BlackBoxCaller(Flaky(), cache).ask(REQUESTS)
    assert BlackBoxCaller(other, cache).ask(REQUESTS).spend.calls == 4


def test_a_backend_is_one_registered_class_and_configs_name_it():
    @register_backend("echo-for-test")
    class Echo(Backend):
        identity = "echo"

        @classmethod
        def from_config(cls, config):
            return cls()

        def answer(self, requests, on_answer):
            for index, prompt in requests:
                on_answer(index, Completion(prompt))

    assert {"local", "openai", "echo-for-test"} <= set(backend_names())
    config = parse_config({"blackbox": {"backend": "echo-for-test"}})
    assert isinstance(make_backend(config.blackbox), Echo) and backend_class("echo-for-test") is Echo
    assert config.blackbox.price == TokenPrice()  # not billed
    with pytest.raises(ConfigError, match=r"unknown backend 'nope': use one of \[.*'local'.*'openai'"):
        parse_config({"blackbox": {"backend": "nope"}})


def test_warm_start_needs_the_bo_strategy():
    with pytest.raises(ConfigError, match="bo.warm_start needs bo.strategy 'bo'"):
        parse_config({"bo": {"warm_start": True, "strategy": "uniform"}})
