"""The ZenML pipeline on the local orchestrator, each test in its own ZenML store."""

import hashlib
import os

import numpy as np
import pytest
import torch
from fake_openai import FakeOpenAIServer

from instructzero import optimize
from instructzero.blackbox.accounting import Spend
from instructzero.config import load_config, parse_config
from instructzero.result import OptimizationResult
from instructzero.search.history import Candidates, History

N_ROUNDS = 2
STEPS = (
    ["load_task", "sample_projection", "initial_design", "select_instruction", "evaluate_on_test", "promote"]
    + [f"{s}_round_{r}" for r in range(N_ROUNDS + 1) for s in ("generate_instructions", "score_instructions", "update_gp")]
)  # fmt: skip


def hashed_answer(prompt: str) -> str:
    """Right on roughly a third of (instruction, input) pairs: scores vary with the instruction."""
    a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
    right = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3 == 0
    return str(a + b) if right else str(a * b + 1)


def tiny_config(tiny_lm_dir, base_url, cache_path):
    return parse_config({
        "seed": 5,
        "task": {"source": "builtin", "name": "sum", "n_validation": 8, "max_test": 15},
        "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 6},
        "blackbox": {"backend": "openai", "base_url": base_url, "model": "stub-model", "api_key_env": None,
                     "cache_path": str(cache_path), "max_retries": 2, "retry_base_s": 0.01},
        "bo": {"n_init": 4, "n_rounds": N_ROUNDS, "q": 3, "num_restarts": 2, "raw_samples": 32},
        "evaluation": {"bootstrap_samples": 200},
        "selection": {"enabled": True, "candidates": 3, "calls": 24, "max_examples": 12},
    })  # fmt: skip


def test_pipeline_matches_optimize_keeps_lineage_and_hits_the_cache(zenml_store, tiny_lm_dir, tmp_path):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from instructzero.pipelines.run import run_pipeline

    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "pipeline.sqlite")
        config = config.model_copy(update={  # the evidence options: repeats earn fresh examples, the GP ranks
            "bo": config.bo.model_copy(update={"repeats": "pool"}),
            "selection": config.selection.model_copy(update={"rank_by": "posterior_mean"}),
        })  # fmt: skip
        result, run_id = run_pipeline(config)
        calls_first_run = len(server.requests)
        reference = optimize(config.model_copy(update={"blackbox": config.blackbox.model_copy(
            update={"cache_path": str(tmp_path / "reference.sqlite")})}))  # fmt: skip
        second, second_id = run_pipeline(config)
        calls_second_run = len(server.requests) - calls_first_run - reference.blackbox_calls

    # Same numbers as the in-process loop.
    assert result.history.instructions == reference.history.instructions
    np.testing.assert_array_equal(result.history.soft_prompts, reference.history.soft_prompts)
    np.testing.assert_array_equal(result.history.scores, reference.history.scores)
    np.testing.assert_array_equal(result.history.blocks, reference.history.blocks)
    repeated = len(set(result.history.instructions)) < len(result.history.instructions)
    assert (result.history.blocks.max() >= 1) == repeated  # a repeat earns fresh examples (`repeats: pool`)
    assert 0 < result.validation_score == reference.validation_score
    assert result.best_instruction == reference.best_instruction
    assert result.test.score == reference.test.score and result.test.ci_low == reference.test.ci_low
    assert result.blackbox_calls == reference.blackbox_calls == calls_first_run
    assert result.selection == reference.selection and result.selection.rungs  # the winner chosen on fresh examples
    assert 0 < result.selection.cost.calls <= config.selection.calls

    # Every step of every round ran and left its artifacts in the lineage.
    run = Client().get_pipeline_run(run_id)
    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) == set(STEPS)
    for r in range(N_ROUNDS + 1):
        batch = run.steps[f"score_instructions_round_{r}"].outputs["candidates"][0]
        assert batch.load().round == r and batch.visualizations
        assert batch.run_metadata["n_candidates"] == len(batch.load().instructions)
        assert run.steps[f"generate_instructions_round_{r}"].outputs["instructions"][0].load()
        assert set(run.steps[f"update_gp_round_{r}"].outputs) == {"history", "soft_prompts"}
    validation = run.steps["load_task"].outputs["data_validation"][0]
    assert validation.run_metadata["success"] is True and validation.run_metadata["n_failed"] == 0
    assert validation.visualizations and validation.load().checks
    result_artifact = run.steps["evaluate_on_test"].outputs["result"][0]
    assert result_artifact.run_metadata["best_instruction"] == reference.best_instruction
    assert result_artifact.visualizations
    projection = run.steps["sample_projection"].outputs["projection"][0].load()
    assert torch.equal(projection.matrix, projection_from_loaded_model(config).matrix)

    # The rerun is served from ZenML's cache and pays for nothing.
    rerun = Client().get_pipeline_run(second_id)
    # (`promote` always runs: production may have changed since; `load_task` too: its files may have.)
    assert {s.status for n, s in rerun.steps.items() if n not in ("promote", "load_task")} == {ExecutionStatus.CACHED}
    assert calls_second_run == 0
    assert second.best_instruction == result.best_instruction


def test_materializers_round_trip_exactly(zenml_store):
    from zenml.client import Client

    from instructzero.materializers.candidates import CandidatesMaterializer, HistoryMaterializer
    from instructzero.materializers.projection import ProjectionMaterializer
    from instructzero.materializers.result import OptimizationResultMaterializer
    from instructzero.result import TestResult
    from instructzero.search.projection import draw_projection

    store = Client().active_stack.artifact_store
    rng = np.random.default_rng(0)
    batch = Candidates(1, rng.uniform(-1, 1, (3, 10)), ["a", "b \"quoted\"", "ü"], rng.random((3, 4)),
                       [["x"] * 4] * 3, Spend(calls=12, cache_hits=0, prompt_tokens=40, completion_tokens=8))  # fmt: skip
    history = History([batch, Candidates(2, rng.uniform(-1, 1, (1, 10)), ["c"], rng.random((1, 4)), [["y"] * 4])])
    projection = draw_projection(10, 2, 8, seed=4)
    result = OptimizationResult(
        task="sum", metric="exact_match", history=history,
        test=TestResult("a", 0.5, 0.25, 0.75, 0.95, np.array([1.0, 0.0]), ["1", "0"],
                        Spend(calls=2, prompt_tokens=10, completion_tokens=2)),
        seed=9, projection_seed=4, stop_reason="all rounds done", wall_time_s=1.5,
    )  # fmt: skip

    def round_trip(materializer_class, data, name):
        uri = os.path.join(store.path, "round-trip", name)
        store.makedirs(uri)
        materializer_class(uri, artifact_store=store).save(data)
        return materializer_class(uri, artifact_store=store).load(type(data))

    loaded = round_trip(CandidatesMaterializer, batch, "candidates")
    np.testing.assert_array_equal(loaded.soft_prompts, batch.soft_prompts)
    np.testing.assert_array_equal(loaded.scores, batch.scores)
    assert (loaded.instructions, loaded.answers, loaded.spend.calls, loaded.spend.prompt_tokens) == (
        batch.instructions, batch.answers, 12, 40)  # fmt: skip
    loaded = round_trip(HistoryMaterializer, history, "history")
    assert [b.round for b in loaded.batches] == [1, 2] and loaded.instructions == history.instructions
    np.testing.assert_array_equal(loaded.scores, history.scores)
    loaded = round_trip(ProjectionMaterializer, projection, "projection")
    assert torch.equal(loaded.matrix, projection.matrix)
    assert (loaded.seed, loaded.hidden, loaded.distribution) == (4, 8, "uniform")
    loaded = round_trip(OptimizationResultMaterializer, result, "result")
    assert (loaded.seed, loaded.stop_reason) == (9, "all rounds done")
    assert loaded.best_instruction == result.best_instruction and loaded.spend == result.spend
    np.testing.assert_array_equal(loaded.test.per_example, result.test.per_example)
    assert (loaded.test.ci_low, loaded.test.answers, loaded.wall_time_s) == (0.25, ["1", "0"], 1.5)


@pytest.mark.slow
def test_smollm2_yaml_with_a_reduced_budget(zenml_store, tmp_path):
    """The job on the package's own model, with the shipped defaults: the user's prompt scored and compared."""
    from instructzero.pipelines.run import run_pipeline

    config = load_config("configs/smollm2.yaml", overrides={
        "task": {"n_validation": 5, "max_test": 10},
        "whitebox": {"max_new_tokens": 16},
        "blackbox": {"cache_path": str(tmp_path / "cache.sqlite")},
        "bo": {"n_init": 3, "n_rounds": 1, "q": 2, "num_restarts": 2, "raw_samples": 32},
    })  # fmt: skip
    result, _ = run_pipeline(config)
    assert len(result.history.instructions) == 5
    assert all(v.startswith("Output") for v in result.history.instructions)  # the default form
    assert result.selection.n_user == 1 and result.selection.candidates[0] == "Add the two numbers."
    assert result.best_instruction in ("Add the two numbers.", *result.history.instructions)
    assert [b.instruction for b in result.baselines] == ["Add the two numbers."]
    assert len(result.test.per_example) == 10 and 0 <= result.test.score <= 1


def test_user_errors_stop_before_any_step_with_one_line(zenml_store, tmp_path, capsys):
    from zenml.client import Client

    from instructzero.cli import main

    config = tmp_path / "bad.yaml"
    config.write_text(f"task: {{source: file, path: {tmp_path / 'missing.jsonl'}}}\n")
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.jsonl not found" in err
    config.write_text("bo: {n_rounds: -1}\n")
    assert main(["run", "--config", str(config)]) == 2
    assert "bo.n_rounds" in capsys.readouterr().err
    assert len(Client().list_pipeline_runs()) == 0


def projection_from_loaded_model(config):
    """A drawn with the width of the loaded white box: what the step must match without loading it."""
    from instructzero.models.loading import load_causal_lm
    from instructzero.search.projection import draw_projection
    from instructzero.seeding import derive_seed

    wb, projection = config.whitebox, config.projection
    lm = load_causal_lm(wb.model, wb.gguf_file)
    std = lm.embedding_std() if projection.distribution == "normal" else None  # the default: embedding-scaled
    return draw_projection(projection.intrinsic_dim, wb.n_soft_tokens, lm.hidden_size,
                           derive_seed(config.seed, "projection"), projection.distribution, std)  # fmt: skip


def distinct_round0_instructions(config) -> int:
    from instructzero.data.load import read_task
    from instructzero.search.generator import exemplar_prompt, instructions_from_soft_prompts
    from instructzero.search.rounds import initial_soft_prompts

    task = read_task(config.task, config.seed)
    text = exemplar_prompt(task.exemplars(config.task.n_exemplars, config.seed))
    bo = config.bo
    soft_prompts = initial_soft_prompts(bo.strategy, bo.n_init, config.projection.intrinsic_dim, config.seed)
    return len(set(instructions_from_soft_prompts(config.whitebox, projection_from_loaded_model(config),
                                         torch.as_tensor(soft_prompts), text)))  # fmt: skip


def test_rerun_after_a_crash_in_round_1_resumes_at_round_1(zenml_store, tiny_lm_dir, tmp_path):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from instructzero.pipelines.run import run_pipeline

    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite")
        round0_calls = distinct_round0_instructions(config) * config.task.n_validation
        server.fail_from(round0_calls, 503)  # an outage starting with round 1, outlasting the retries
        with pytest.raises(RuntimeError, match="score_instructions_round_1"):
            run_pipeline(config)
        server.fail_from(None)
        paid_before_rerun = len(server.requests)
        run_pipeline(config)

    runs = Client().list_pipeline_runs(sort_by="asc:created").items
    assert [r.status for r in runs] == [ExecutionStatus.FAILED, ExecutionStatus.COMPLETED]
    steps = runs[1].steps
    assert steps["load_task"].status == ExecutionStatus.COMPLETED  # re-reads the data, same content
    for name in ("sample_projection", "initial_design", "generate_instructions_round_0",
                 "score_instructions_round_0", "update_gp_round_0", "generate_instructions_round_1"):  # fmt: skip
        assert steps[name].status == ExecutionStatus.CACHED, name
    assert steps["score_instructions_round_1"].status == ExecutionStatus.COMPLETED
    # The rerun asks nothing of round 0 again.
    rerun_prompts = [r.prompt for r in server.requests[paid_before_rerun:]]
    round0 = {r.prompt for r in server.requests[:round0_calls]}
    assert not round0 & set(rerun_prompts)


def test_ape_with_the_black_box_proposing_and_user_baselines_match_optimize(zenml_store, tiny_lm_dir, tmp_path):
    from zenml.client import Client

    from instructzero.pipelines.run import run_pipeline

    baselines = ["Add the two numbers.", "Say five."]
    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "pipeline.sqlite")
        config = config.model_copy(update={
            "bo": config.bo.model_copy(update={"strategy": "ape"}),
            "ape": config.ape.model_copy(update={"proposer": "blackbox", "temperature": 0.7}),
            "task": config.task.model_copy(update={"instructions": baselines}),
        })  # fmt: skip
        result, run_id = run_pipeline(config)
        paid = len(server.requests)
        proposals = [r for r in server.requests if r.prompt.startswith("I gave a friend")]
        reference = optimize(config.model_copy(update={"blackbox": config.blackbox.model_copy(
            update={"cache_path": str(tmp_path / "reference.sqlite")})}))  # fmt: skip

    assert result.history.instructions == reference.history.instructions
    assert result.blackbox_calls == reference.blackbox_calls == paid
    # The proposer's calls are black-box calls of the search, booked on its rounds.
    assert len(proposals) == config.max_instructions and all(r.body["temperature"] == 0.7 for r in proposals)
    assert result.history.spend.calls == paid - result.selection.cost.calls - result.test.spend.calls - sum(
        b.spend.calls for b in result.baselines)
    assert [b.instruction for b in result.baselines] == baselines
    assert all(len(b.test.per_example) == 15 and len(b.validation_per_example) == 8 for b in result.baselines)
    assert [b.test.score for b in result.baselines] == [b.test.score for b in reference.baselines]
    assert result.summary().count("your instruction:") == 2 and "against yours:" in result.summary()
    # The user's instructions compete as incumbents, in the pipeline as in the loop.
    assert result.selection == reference.selection and result.selection.n_user == 2
    assert result.selection.candidates[:2] == baselines and all(0 in r and 1 in r for r in result.selection.rungs)
    record = Client().get_pipeline_run(run_id).model_version.run_metadata
    assert [b["instruction"] for b in record["baselines"]] == baselines
    assert record["user_instruction"]["kept"] == result.selection.user_kept
    assert record["user_instruction"]["instruction"] in baselines
