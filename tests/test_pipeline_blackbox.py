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
