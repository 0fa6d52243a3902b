"""The pipeline's black-box side: spending caps, the API key, and the response cache shared between machines."""

import os

import pytest
from fake_openai import FakeOpenAIServer
from test_pipeline import hashed_answer, tiny_config


def with_blackbox(config, **update):
    return config.model_copy(update={"blackbox": config.blackbox.model_copy(update=update)})


def test_budget_cap_ends_the_run_cleanly_with_the_best_so_far(zenml_store, tiny_lm_dir, tmp_path):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from instructzero.pipelines.run import run_pipeline

    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite")
        n_val, n_test = config.task.n_validation, config.task.max_test
        # The test evaluation's calls are held back; what is left pays for at most 5 instructions.
        config = with_blackbox(config, max_calls=n_test + 5 * n_val)
        result, run_id = run_pipeline(config)

    assert len(server.requests) <= config.blackbox.max_calls
    assert result.blackbox_calls == len(server.requests)
    assert result.stop_reason.startswith("budget reached")
    assert len(result.history.instructions) <= 5 and result.test.spend.calls <= n_test
    assert result.best_instruction in result.history.instructions
    run = Client().get_pipeline_run(run_id)
    assert run.status == ExecutionStatus.COMPLETED
    exhausted = [r for r in range(3) if run.steps[f"score_instructions_round_{r}"].run_metadata["budget_exhausted"]]
    assert len(exhausted) == 1  # later rounds get an empty batch and make no calls
    for r in range(exhausted[0] + 1, 3):
        assert run.steps[f"score_instructions_round_{r}"].outputs["candidates"][0].load().spend.calls == 0
    assert run.steps["evaluate_on_test"].outputs["result"][0].run_metadata["stop_reason"] == result.stop_reason


def test_the_api_key_never_reaches_artifacts_logs_or_caches(zenml_store, tiny_lm_dir, tmp_path, monkeypatch, capfd):
    from instructzero.pipelines.run import run_pipeline

    secret = "sk-do-not-store-4b7e1f"
    monkeypatch.setenv("IZ_PIPELINE_KEY", secret)
    with FakeOpenAIServer(hashed_answer, api_key=secret) as server:
        config = with_blackbox(tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite"),
                               api_key_env="IZ_PIPELINE_KEY")  # fmt: skip
        run_pipeline(config)
    assert server.requests and all(r.auth == f"Bearer {secret}" for r in server.requests)
    out, err = capfd.readouterr()
    assert secret not in out + err
    scanned = 0
    for root in (zenml_store, tmp_path):
        for folder, _, files in os.walk(root):
            for name in files:
                with open(os.path.join(folder, name), "rb") as f:
                    assert secret.encode() not in f.read(), os.path.join(folder, name)
                scanned += 1
    assert scanned > 20  # the store, the artifacts, the step logs and the response cache were all read


@pytest.mark.parametrize("sync", ["always", "never"])
def test_the_response_cache_travels_through_the_artifact_store(zenml_store, tiny_lm_dir, tmp_path, sync):
    """Two 'machines' (separate local cache files, no step cache) share paid answers only through the store."""
    from zenml.client import Client

    from instructzero.pipelines.run import run_pipeline
    from instructzero.steps.response_cache import SHARED_CACHE_DIR

    with FakeOpenAIServer(hashed_answer) as server:
        config = with_blackbox(tiny_config(tiny_lm_dir, server.base_url, tmp_path / "a.sqlite"), cache_sync=sync)
        first, _ = run_pipeline(config)
        paid = len(server.requests)
        second, _ = run_pipeline(with_blackbox(config, cache_path=str(tmp_path / "b.sqlite")), step_cache=False)

    assert second.best_instruction == first.best_instruction and second.test.score == first.test.score
    shards = os.path.join(Client().active_stack.artifact_store.path, SHARED_CACHE_DIR)
    if sync == "always":
        assert len(server.requests) == paid and second.blackbox_calls == 0
        assert len(os.listdir(shards)) >= 2  # one shard per scoring step that paid for something
    else:
        assert len(server.requests) == 2 * paid and second.blackbox_calls == paid
        assert not os.path.exists(shards)


@pytest.mark.slow
def test_sigterm_stops_a_run_in_one_line_and_keeps_every_answer_paid_for(zenml_store, tiny_lm_dir, tmp_path):
    """A pod's eviction or `kill`: the run stops within a grace period, says so in one line, and a rerun asks the
    black box only what it had not answered yet."""
    import signal
    import subprocess
    import sys
    import time

    import yaml
    from conftest import REPO

    def command(server):
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite").model_dump(mode="json")
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "ZENML_CONFIG_PATH": str(zenml_store)}
        return subprocess.Popen([sys.executable, "-m", "instructzero", "run", "--config", str(path)], cwd=REPO,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    with FakeOpenAIServer(hashed_answer, latency_s=0.2) as server:
        run = command(server)
        deadline = time.monotonic() + 300
        while len(server.requests) < 6 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        assert run.poll() is None, run.communicate()[1][-2000:]
        run.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        out, err = run.communicate(timeout=30)  # a pod's default grace period
        stopped_after = time.monotonic() - sent
        paid = [r.prompt for r in server.requests]
    assert run.returncode == 143 and stopped_after < 30, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("stopped by SIGTERM") and "Traceback" not in err, err[-3000:]

    with FakeOpenAIServer(hashed_answer) as again:
        rerun = command(again)
        rerun.communicate(timeout=600)
    assert rerun.returncode == 0
    asked_again = [p for p in (r.prompt for r in again.requests) if p in set(paid)]
    in_flight = tiny_config(tiny_lm_dir, "http://unused", tmp_path / "unused").blackbox.max_concurrency
    assert len(paid) >= 6 and len(asked_again) <= in_flight  # only calls cut off by the signal are asked again
