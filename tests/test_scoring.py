import re

import numpy as np
import pytest

from instructzero.blackbox import ZERO_SHOT_TEMPLATE, Completion, OpenAIBlackBox
from instructzero.data import Example
from instructzero.errors import BlackBoxError
from instructzero.scoring import ResponseCache, score_instructions

from openai_server import OpenAIStubServer

EXAMPLES = [Example(input=f"{a} {b}", answers=(str(a + b),)) for a, b in [(1, 2), (3, 4), (5, 5)]]


def calculator(prompt: str) -> str:
    """Adds when told to add, otherwise echoes the input: a black box whose score depends on the instruction."""
    x = re.search(r"Input: (\d+) (\d+)", prompt)
    a, b = int(x.group(1)), int(x.group(2))
    return f" {a + b}\n\nmore" if "add" in prompt.split("Input:")[0].lower() else f"{a} {b}"


class CountingBlackBox:
    identity = "counting"

    def __init__(self):
        self.prompts: list[str] = []

    def complete(self, prompts, progress=False):
        self.prompts += prompts
        return [Completion(calculator(p), 3, 1) for p in prompts]


def test_scores_per_example_and_mean():
    report = score_instructions(["Add them.", "Echo."], EXAMPLES, CountingBlackBox(), "exact_match", ResponseCache())
    np.testing.assert_array_equal(report.scores, [[1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(report.means, [1.0, 0.0])
    assert report.answers[0][0].strip().startswith("3")
    assert (report.prompt_tokens, report.completion_tokens) == (18, 6)


def test_identical_instructions_are_scored_once_and_cache_persists(tmp_path):
    bb = CountingBlackBox()
    cache = ResponseCache(tmp_path / "responses.sqlite")
    report = score_instructions(["Add.", "Add.", "Echo."], EXAMPLES, bb, "exact_match", cache)
    assert report.calls == 6 and report.cache_hits == 3 and len(bb.prompts) == 6
    np.testing.assert_array_equal(report.scores[0], report.scores[1])
    # A new process (a rerun) with the same file pays for nothing already answered.
    again = score_instructions(["Echo.", "Add."], EXAMPLES, bb, "exact_match", ResponseCache(tmp_path / "responses.sqlite"))
    assert again.calls == 0 and len(bb.prompts) == 6
    np.testing.assert_array_equal(again.means, [0.0, 1.0])


def test_cache_key_separates_black_boxes():
    cache, a, b = ResponseCache(), CountingBlackBox(), CountingBlackBox()
    b.identity = "other-model"
    score_instructions(["Add."], EXAMPLES, a, "exact_match", cache)
    assert score_instructions(["Add."], EXAMPLES, b, "exact_match", cache).calls == 3


def test_openai_backend_over_real_http():
    with OpenAIStubServer(calculator) as server:
        bb = OpenAIBlackBox(server.base_url, "stub-model", api_key_env=None, max_concurrency=2)
        report = score_instructions(["Add the numbers.", "Repeat."], EXAMPLES, bb, "exact_match", ResponseCache())
    np.testing.assert_array_equal(report.means, [1.0, 0.0])
    assert report.calls == len(server.requests) == 6
    body = server.requests[0]["body"]
    assert body["temperature"] == 0 and body["messages"][0]["content"].startswith("Instruction: ")
    assert ZERO_SHOT_TEMPLATE.format(instruction="Add the numbers.", input="1 2") in {
        r["body"]["messages"][0]["content"] for r in server.requests
    }


def test_openai_backend_sends_the_key_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("IZ_TEST_KEY", "sk-test-123")
    with OpenAIStubServer(calculator) as server:
        bb = OpenAIBlackBox(server.base_url, "stub-model", api_key_env="IZ_TEST_KEY")
        bb.complete(["Instruction: add\n\nInput: 1 1\n\nOutput:"])
    assert server.requests[0]["auth"] == "Bearer sk-test-123"
    assert "sk-test-123" not in bb.identity


def test_openai_errors_name_the_cause(monkeypatch):
    monkeypatch.delenv("IZ_MISSING_KEY", raising=False)
    with pytest.raises(BlackBoxError, match="IZ_MISSING_KEY is not set"):
        OpenAIBlackBox("http://127.0.0.1:9/v1", "m", api_key_env="IZ_MISSING_KEY")
    with OpenAIStubServer(calculator) as server:
        with pytest.raises(BlackBoxError, match="does not serve model 'nope'"):
            OpenAIBlackBox(server.base_url, "nope", api_key_env=None).complete(["x"])
        url = server.base_url
    bb = OpenAIBlackBox(url, "stub-model", api_key_env=None, timeout_s=2)
    bb._client_args["max_retries"] = 0
    with pytest.raises(BlackBoxError, match="cannot reach"):
        bb.complete(["x"])
