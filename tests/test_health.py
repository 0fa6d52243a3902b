"""Keeping production healthy: re-checks against today's black box, regressions, re-optimization, warm starts."""

import pytest
from fake_openai import FakeOpenAIServer
from test_pipeline import hashed_answer, tiny_config
from test_registry import right, wrong

from instructzero.cli import main


def test_a_recheck_of_an_unchanged_black_box_costs_nothing_and_finds_no_regression(zenml_store, tiny_lm_dir,
                                                                                   tmp_path, capsys):  # fmt: skip
    from zenml.client import Client

    from instructzero.pipelines.registry import production_prompt
    from instructzero.pipelines.run import run_pipeline, run_recheck

    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite")
        result, _ = run_pipeline(config)
        paid = len(server.requests)
        check = run_recheck(config).outcomes["sum"].check
        assert len(server.requests) == paid and check.calls == 0  # every answer is in the cache
        fresh = config.model_copy(update={"recheck": config.recheck.model_copy(update={"fresh_answers": True})})
        fresh_check = run_recheck(fresh).outcomes["sum"].check
        assert len(server.requests) == paid + config.task.max_test == paid + fresh_check.calls

    for c in (check, fresh_check):
        assert c.test_score == result.test.score == c.promoted_score and not c.regression
        assert c.drop == 0 and "no regression" in c.reason
    version = Client().get_model_version("instructzero-sum", "production")
    series = version.run_metadata["rechecks"]
    assert [s["fresh_answers"] for s in series] == [False, True] and "regression" not in [t.name for t in version.tags]
    capsys.readouterr()
    assert main(["prompt", "sum", "--format", "json"]) == 0
    assert '"rechecks"' in capsys.readouterr().out and len(production_prompt("sum").rechecks) == 2


@pytest.mark.parametrize("reoptimize", [False, True])
def test_a_worse_black_box_is_a_regression_and_a_small_dip_is_not(zenml_store, tiny_lm_dir, tmp_path, capsys,
                                                                  reoptimize):  # fmt: skip
    """One re-check pipeline holds the whole rule: a dip within noise runs the re-check only, even with
    `--reoptimize`; a regression with it runs the full optimization in the same run."""
    from zenml.client import Client

    from instructzero.pipelines.run import run_pipeline

    def newest_run():
        return Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0]

    answers = {"now": right}
    with FakeOpenAIServer(lambda prompt: answers["now"](prompt)) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite")
        config = config.model_copy(update={"recheck": config.recheck.model_copy(update={"fresh_answers": True})})
        result, _ = run_pipeline(config)
        assert result.test.score == 1.0
        test_inputs = [p.split("Input: ")[1].split("\n")[0] for p in server.prompts][-config.task.max_test:]

        # One test answer of 15 goes wrong: a drop of 0.067, above the margin but within noise.
        answers["now"] = lambda p: "no idea" if p.split("Input: ")[1].split("\n")[0] == test_inputs[0] else right(p)
        capsys.readouterr()
        paid = len(server.requests)
        assert main(["recheck", "sum"] + (["--reoptimize"] if reoptimize else [])) == 0
        out = capsys.readouterr().out
        assert "no regression" in out and "within noise" in out and "re-optimized" not in out
        assert set(newest_run().steps) == {"load_task", "recheck_production"}  # nothing else started, or paid
        assert len(server.requests) - paid == config.task.max_test

        answers["now"] = wrong  # the model behind the same name got worse
        runs_before = len(Client().list_pipeline_runs(size=100).items)
        paid = len(server.requests)
        assert main(["recheck", "sum"] + (["--reoptimize"] if reoptimize else [])) == 1
        out = capsys.readouterr().out

    assert "regression: test score 0.000 against 1.000 when promoted" in out and "paired examples" in out
    versions = Client().list_model_versions("instructzero-sum", sort_by="desc:number").items
    production = Client().get_model_version("instructzero-sum", "production")
    assert "regression" in [t.name for t in production.tags] and production.run_metadata["rechecks"][-1]["regression"]
    assert len(Client().list_pipeline_runs(size=100).items) - runs_before == 1  # one run holds the whole rule
    steps = newest_run().steps
    if reoptimize:  # the re-check, then a full optimization that goes through the promotion rule
        assert {"recheck_production", "generate_instructions_round_0", "evaluate_on_test", "promote"} <= set(steps)
        assert "re-optimized:" in out and "registry:" in out
        assert "not above the floor 0.000 (zero)" in out  # the broken black box scores 0: production is kept
        assert versions[0].number == 2 and versions[0].run_metadata["run_id"] == str(newest_run().id)
        assert versions[0].run_metadata["config"]["bo"]["warm_start"] is False
        assert versions[0].run_metadata["config"]["blackbox"]["cache_namespace"].startswith("after-")  # fresh answers
    else:  # without a re-optimization nothing more is spent than the re-check's test calls
        assert set(steps) == {"load_task", "recheck_production"} and "re-optimized" not in out
        assert len(server.requests) - paid == config.task.max_test and versions[0].number == 1


def test_a_warm_start_reuses_comparable_observations_and_refuses_others(zenml_store, tiny_lm_dir, tmp_path, capsys):
    from instructzero.pipelines.run import run_pipeline

    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cold.sqlite")
        cold, _ = run_pipeline(config)
        cold_calls = len(server.requests)

        warm_config = config.model_copy(update={
            "bo": config.bo.model_copy(update={"warm_start": True}),
            "blackbox": config.blackbox.model_copy(update={"cache_path": str(tmp_path / "warm.sqlite")}),
        })  # fmt: skip
        capsys.readouterr()
        warm, _ = run_pipeline(warm_config)
        warm_calls = len(server.requests) - cold_calls
        assert f"reusing the {len(cold.history.instructions)} scored instructions of version 1" in capsys.readouterr().out

        other_seed = warm_config.model_copy(update={"seed": 6, "blackbox": config.blackbox.model_copy(
            update={"cache_path": str(tmp_path / "other.sqlite")})})  # fmt: skip
        run_pipeline(other_seed)
        refused = capsys.readouterr().out

    assert warm_calls < cold_calls and warm.validation_score >= cold.validation_score
    prior = warm.history.batches[0]
    assert prior.round == -1 and prior.instructions == cold.history.instructions and prior.spend.calls == 0
    assert "warm start refused, starting cold" in refused and "projection (dimension, distribution or seed)" in refused
