"""The OpenAI-compatible backend against a real HTTP server on loopback, with injected faults."""

import asyncio
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import numpy as np
import pytest
from fake_openai import FakeOpenAIServer, Fault

from instructzero.blackbox.accounting import Budget
from instructzero.blackbox.backends.openai_compatible import OpenAICompatibleBackend, RetryPolicy, retry_after_seconds
from instructzero.blackbox.base import ZERO_SHOT_TEMPLATE
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.blackbox.ratelimit import TokenBucket
from instructzero.blackbox.scoring import score_zero_shot
from instructzero.config import parse_config
from instructzero.data.task import Example
from instructzero.errors import BlackBoxError, ConfigError
from instructzero.preflight import preflight

EXAMPLES = [Example(input=f"{a} {b}", answers=(str(a + b),)) for a, b in [(1, 2), (3, 4), (5, 5), (2, 7)]]
INSTRUCTIONS = ["Add the numbers.", "Repeat the input.", "Add them up.", "Say hi."]
FAST_RETRY = RetryPolicy(max_retries=3, base_s=0.01, max_s=0.05)


def calculator(prompt: str) -> str:
    """Adds when told to add, otherwise echoes: a deterministic black box whose score depends on the instruction."""
    if "Input: " not in prompt:
        return "OK"
    instruction, rest = prompt.split("Input: ")
    a, b = map(int, rest.split("\n")[0].split())
    return f" {a + b}" if "add" in instruction.lower() else f"{a} {b}"


def backend(server: FakeOpenAIServer, **kwargs) -> OpenAICompatibleBackend:
    kwargs = {"api_key_env": None, "retry": FAST_RETRY, **kwargs}
    return OpenAICompatibleBackend(server.base_url, server.model, **kwargs)


def score(bb, cache=None, instructions=INSTRUCTIONS, budget=None):
    caller = BlackBoxCaller(bb, ResponseCache() if cache is None else cache)
    return score_zero_shot(caller, instructions, EXAMPLES, "exact_match", budget=budget)


def complete(bb, prompts):
    """The backend's answers to `prompts`, in order (no cache, no budget)."""
    answers = {}
    bb.answer(enumerate(prompts), lambda i, completion: answers.__setitem__(i, completion))
    return [answers[i] for i in range(len(prompts))]


def test_scores_over_real_http_with_the_reference_query():
    with FakeOpenAIServer(calculator) as server:
        report = score(backend(server, max_concurrency=2))
    np.testing.assert_array_equal(report.means, [1.0, 0.0, 1.0, 0.0])
    assert report.spend.calls == len(server.requests) == 16 and report.spend.retries == 0
    body = server.requests[0].body
    assert body["temperature"] == 0 and body["max_tokens"] == 16 and body["model"] == "stub-model"
    assert ZERO_SHOT_TEMPLATE.format(instruction="Add the numbers.", input="1 2") in server.prompts
    assert (report.spend.prompt_tokens, report.spend.completion_tokens) == (
        sum(len(p.split()) for p in server.prompts),
        sum(len(calculator(p).split()) for p in server.prompts),
    )


def test_the_key_comes_from_the_named_variable_and_nowhere_else(monkeypatch):
    monkeypatch.setenv("IZ_TEST_KEY", "sk-test-123")
    with FakeOpenAIServer(calculator, api_key="sk-test-123") as server:
        bb = backend(server, api_key_env="IZ_TEST_KEY")
        assert complete(bb, ["Instruction: add\n\nInput: 1 1\n\nOutput:"])[0].text == " 2"
    assert server.requests[0].auth == "Bearer sk-test-123"
    assert "sk-test-123" not in bb.identity + repr(bb)


def test_correct_scores_despite_every_kind_of_fault():
    faults = [Fault.rate_limit(), Fault.rate_limit(retry_after=0.1), Fault.http(500), Fault.http(502),
              Fault.slow(1.5), Fault.malformed(), Fault.reset()]  # fmt: skip
    with FakeOpenAIServer(calculator) as clean:
        expected = score(backend(clean))
    with FakeOpenAIServer(calculator) as server:
        server.inject(*faults)
        cache = ResponseCache()
        report = score(backend(server, max_concurrency=4, timeout_s=0.5), cache)
    np.testing.assert_array_equal(report.scores, expected.scores)
    assert report.answers == expected.answers
    assert report.spend.retries == len(faults) and report.spend.calls == 16
    assert len(server.requests) == 16 + len(faults) and len(cache) == 16
    assert server.max_in_flight <= 4


def test_retry_after_is_honoured_and_backoff_is_short_without_it():
    with FakeOpenAIServer(calculator) as server:
        server.inject(Fault.rate_limit(retry_after=1), Fault.rate_limit())
        bb = backend(server, max_concurrency=1)
        complete(bb, ["Instruction: add\n\nInput: 1 1\n\nOutput:"])
        complete(bb, ["Instruction: add\n\nInput: 2 2\n\nOutput:"])
    t = [r.started for r in server.requests]
    assert len(t) == 4
    assert 1.0 <= t[1] - t[0] < 2.5  # waited as told
    assert t[3] - t[2] < 0.5  # jittered exponential backoff from 10 ms


def test_backoff_grows_exponentially_with_jitter_below_the_cap():
    import random

    policy, rng = RetryPolicy(max_retries=8, base_s=1.0, max_s=8.0), random.Random(0)
    for attempt, cap in enumerate([1, 2, 4, 8, 8]):
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert cap / 2 <= min(delays) and max(delays) <= cap and np.std(delays) > cap / 10
    assert 5.0 <= policy.delay(0, 5.0, rng) <= 6.0  # Retry-After wins, plus at most 1 s of jitter


def test_retry_after_header_forms():
    in_3s = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=3), usegmt=True)
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert 1.5 < retry_after_seconds({"retry-after": in_3s}) <= 3.0
    assert retry_after_seconds({}) is None


def test_concurrency_is_used_and_never_above_the_limit():
    with FakeOpenAIServer(calculator, latency_s=0.05) as server:
        score(backend(server, max_concurrency=3))
    assert server.max_in_flight == 3


def test_requests_per_minute_limit_spreads_requests():
    with FakeOpenAIServer(calculator) as server:
        start = time.monotonic()
        score(backend(server, max_concurrency=8, requests_per_minute=600))  # 10/s, bursts of at most 10
        elapsed = time.monotonic() - start
    t = np.array(sorted(r.started for r in server.requests))
    assert elapsed >= (16 - 10) / 10 - 0.05
    assert max(np.sum((t >= s) & (t < s + 1.0)) for s in t) <= 20


def test_token_bucket_waits_for_refill_and_books_corrections():
    async def run():
        bucket = TokenBucket(per_minute=600)  # 10 units a second, at most 10 banked
        start = time.monotonic()
        await bucket.acquire(10)
        assert time.monotonic() - start < 0.05
        await bucket.acquire(5)
        waited = time.monotonic() - start
        bucket.adjust(-5)  # the last request used 5 units less than estimated
        t = time.monotonic()
        await bucket.acquire(5)
        return waited, time.monotonic() - t

    waited, refunded = asyncio.run(run())
    assert 0.45 <= waited < 0.8 and refunded < 0.05


def test_exhausted_retries_name_endpoint_and_status_and_keep_every_answer(tmp_path):
    cache_path = tmp_path / "responses.sqlite"
    with FakeOpenAIServer(calculator) as server:
        server.fail_from(5, 503)
        with pytest.raises(BlackBoxError) as info:
            score(backend(server, max_concurrency=1), ResponseCache(cache_path))
        message = str(info.value)
        assert server.base_url in message and "HTTP 503" in message and "4 attempts" in message
        assert "\n" not in message
        assert len(ResponseCache(cache_path)) == 5  # answered before the outage, cached one by one
        paid = set(server.prompts[:5])
        server.fail_from(None)
        before = len(server.requests)
        report = score(backend(server, max_concurrency=1), ResponseCache(cache_path))
    assert report.spend.calls == 11 and report.spend.cache_hits == 5
    assert not paid & set(server.prompts[before:])


def test_errors_that_retrying_cannot_fix_fail_at_once():
    with FakeOpenAIServer(calculator) as server:
        server.inject(Fault.rate_limit(code="insufficient_quota"))
        with pytest.raises(BlackBoxError, match="insufficient_quota"):
            score(backend(server, max_concurrency=1))
        assert len(server.requests) == 1
        server.inject(Fault.http(400))
        with pytest.raises(BlackBoxError, match="HTTP 400"):
            score(backend(server, max_concurrency=1))
        assert len(server.requests) == 2


def test_rerun_pays_for_nothing(tmp_path):
    with FakeOpenAIServer(calculator) as server:
        first = score(backend(server), ResponseCache(tmp_path / "r.sqlite"))
        paid = len(server.requests)
        second = score(backend(server), ResponseCache(tmp_path / "r.sqlite"))
    assert len(server.requests) == paid == first.spend.calls == 16
    assert second.spend.calls == 0 and second.spend.cache_hits == 16
    np.testing.assert_array_equal(first.scores, second.scores)


def test_budget_cap_stops_cleanly_with_concurrent_requests():
    with FakeOpenAIServer(calculator, latency_s=0.02) as server:
        report = score(backend(server, max_concurrency=4), budget=Budget(max_calls=10))
    assert len(server.requests) == 10  # never more than the cap, though 4 were in flight at a time
    assert report.budget_exhausted and report.kept == [0, 1]
    np.testing.assert_array_equal(report.means, [1.0, 0.0])


def run_config(base_url, **blackbox):
    return parse_config({
        "task": {"source": "builtin", "name": "sum", "n_validation": 5, "max_test": 10},
        "blackbox": {"backend": "openai", "base_url": base_url, "model": "stub-model", **blackbox},
    })  # fmt: skip


def test_preflight_names_each_cause_before_any_spending(monkeypatch):
    monkeypatch.delenv("IZ_MISSING_KEY", raising=False)
    monkeypatch.setenv("IZ_WRONG_KEY", "sk-wrong")
    with FakeOpenAIServer(calculator, api_key="sk-right") as server:
        with pytest.raises(BlackBoxError, match="IZ_MISSING_KEY is not set"):
            preflight(run_config(server.base_url, api_key_env="IZ_MISSING_KEY"))
        with pytest.raises(BlackBoxError, match=r"rejected the API key. Check the key in \$IZ_WRONG_KEY"):
            preflight(run_config(server.base_url, api_key_env="IZ_WRONG_KEY"))
        monkeypatch.setenv("IZ_WRONG_KEY", "sk-right")
        with pytest.raises(BlackBoxError, match="does not serve model 'gpt-nope'"):
            preflight(run_config(server.base_url, api_key_env="IZ_WRONG_KEY", model="gpt-nope"))
        preflight(run_config(server.base_url, api_key_env="IZ_WRONG_KEY"))
        url = server.base_url
    # The model list answered the probes; only the unknown model took a 1-token request (refused, so free).
    assert [(r.body["model"], r.body["max_tokens"]) for r in server.requests] == [("gpt-nope", 1)]
    with pytest.raises(BlackBoxError, match=f"cannot reach {url}"):
        preflight(run_config(url, api_key_env=None, timeout_s=2))
    with pytest.raises(ConfigError, match="max_calls=8 cannot score even one instruction"):
        preflight(run_config(url, api_key_env=None, max_calls=8))


def test_probe_falls_back_to_one_token_when_the_server_lists_no_models():
    with FakeOpenAIServer(calculator, list_models=False) as server:
        preflight(run_config(server.base_url, api_key_env=None))
        with pytest.raises(BlackBoxError, match="does not serve model 'other'"):
            preflight(run_config(server.base_url, api_key_env=None, model="other"))
    assert [r.body["max_tokens"] for r in server.requests] == [1, 1]


def test_cost_cap_needs_a_price():
    with pytest.raises(ConfigError, match="add blackbox.prices.stub-model"):
        run_config("http://x/v1", max_cost_usd=1.0)
    config = run_config("http://x/v1", max_cost_usd=1.0, prices={"stub-model": {"prompt_per_million": 0.15,
                                                                                "completion_per_million": 0.6}})  # fmt: skip
    assert config.blackbox.price.cost(1_000_000, 1_000_000) == pytest.approx(0.75)
