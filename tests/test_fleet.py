"""A fleet: several tasks in one config and one pipeline run, each in its own branch and registry entry."""

import json

import pytest
from fake_openai import FakeOpenAIServer
from test_pipeline import hashed_answer
from test_registry import right, wrong

from instructzero.cli import main
from instructzero.config.fleet import Fleet, parse_fleet
from instructzero.config.run import parse_config
from instructzero.errors import ConfigError


def shared(tiny_lm_dir, base_url: str, cache_path) -> dict:
    """The tiny pipeline config of tests/test_pipeline.py, one round fewer: the fleet's shared sections."""
    return {
        "seed": 5,
        "task": {"source": "builtin", "n_validation": 8, "max_test": 15},
        "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 6},
        "blackbox": {"backend": "openai", "base_url": base_url, "model": "stub-model", "api_key_env": None,
                     "cache_path": str(cache_path), "max_retries": 2, "retry_base_s": 0.01},
        "bo": {"n_init": 4, "n_rounds": 1, "q": 3, "num_restarts": 2, "raw_samples": 32},
        "evaluation": {"bootstrap_samples": 200},
    }  # fmt: skip


def larger_right(prompt: str) -> str:
    a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
    return str(max(a, b))


def test_each_task_is_the_shared_config_with_its_overrides_and_what_must_be_shared_is():
    fleet = parse_fleet({
        "task": {"name": "sum", "n_validation": 8},  # shared task settings; each name comes from its key
        "bo": {"n_init": 4, "n_rounds": 1},
        "blackbox": {"cache_path": "answers.sqlite"},
        "kubernetes": {"max_parallel_pods": 2},
        "tasks": {
            "sum": None,
            "larger": {"bo": {"n_rounds": 3}, "baseline_instructions": ["Pick the larger."]},
            "antonyms": {"task": {"source": "instruction_induction"}, "registry": {"model_name": "prompts-antonyms"}},
        },
    })  # fmt: skip
    assert fleet.named and list(fleet.tasks) == ["sum", "larger", "antonyms"]
    assert [c.task.name for c in fleet.tasks.values()] == ["sum", "larger", "antonyms"]  # the key names the task
    assert {c.task.n_validation for c in fleet.tasks.values()} == {8}
    assert [c.bo.n_rounds for c in fleet.tasks.values()] == [1, 3, 1] and fleet.tasks["sum"].bo.n_init == 4
    assert fleet.tasks["larger"].task.instructions == ["Pick the larger."] and not fleet.tasks["sum"].task.instructions
    assert [c.registry_model_name for c in fleet.tasks.values()] == ["instructzero-sum", "instructzero-larger",
                                                                     "prompts-antonyms"]  # fmt: skip
    assert {c.blackbox.cache_path for c in fleet.tasks.values()} == {"answers.sqlite"}
    assert fleet.kubernetes.max_parallel_pods == 2 and fleet.branch("sum") == "sum"

    plain = parse_fleet({"task": {"name": "larger"}})  # a plain run config: a fleet of one, steps unprefixed
    assert not plain.named and list(plain.tasks) == ["larger"] and plain.branch("larger") == ""
    assert Fleet.of(parse_config({})).tasks["sum"] == parse_config({})

    def refused(tasks: dict, match: str, **top) -> None:
        with pytest.raises(ConfigError, match=match) as raised:
            parse_fleet({**top, "tasks": tasks}, origin="fleet.yaml")
        assert str(raised.value).startswith("fleet.yaml") and "\n" not in str(raised.value)

    refused({"a": {"task": {"name": "sum"}}, "b": {"task": {"name": "sum"}}},
            "tasks a and b both register to 'instructzero-sum': set registry.model_name")  # fmt: skip
    refused({"sum": {"blackbox": {"cache_path": "mine.sqlite"}}, "larger": {}},
            "tasks.sum.blackbox.cache_path: a fleet shares one response cache")  # fmt: skip
    refused({"sum": {}, "larger": {"kubernetes": {"max_parallel_pods": 8}}},
            "tasks.larger.kubernetes.max_parallel_pods: a run-wide setting")  # fmt: skip
    refused({"Sum.v2": {}}, "a task name has 1-32 lower-case letters")
    refused({"sum": {"bo": {"q": 0}}}, r"fleet.yaml: tasks.sum: bo.q")
    refused({}, "tasks must map task names to their overrides")


def test_a_fleet_runs_each_task_in_its_own_branch_and_a_broken_task_stops_only_itself(zenml_store, tiny_lm_dir,
                                                                                        tmp_path, capsys):  # fmt: skip
    """Three tasks, one whose endpoint fails every completion (it lists its model, so it passes its checks and
    breaks inside the run): the other two finish and register, the command exits non-zero naming the broken one.
    `sum_again` asks exactly what `sum` asked (same model, same prompts) and pays for none of it: the fleet shares
    one response cache (step caching is off, so its steps really run)."""
    from zenml.client import Client
    from zenml.enums import ModelStages

    with FakeOpenAIServer(hashed_answer) as server, FakeOpenAIServer(hashed_answer) as down:
        down.fail_from(0, 503)
        config = tmp_path / "fleet.yaml"
        config.write_text(json.dumps({**shared(tiny_lm_dir, server.base_url, tmp_path / "answers.sqlite"), "tasks": {
            "sum": {},
            "broken": {"task": {"name": "larger"}, "blackbox": {"base_url": down.base_url, "max_retries": 0}},
            "sum_again": {"task": {"name": "sum", "instructions": ["Add the two numbers."]},
                          "registry": {"model_name": "instructzero-sum-again"},
                          "selection": {"user_instructions": False}},  # reported beside the winner only
        }}))  # fmt: skip
        capsys.readouterr()
        code = main(["run", "--config", str(config), "--no-step-cache"])
        out, err = capsys.readouterr()

    assert code == 2, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("error: 1 of 3 tasks failed (broken: failed in step "
                                                   "broken.score_instructions_round_0")  # fmt: skip
    assert out.count("best instruction:") == 2 and out.count("registry:          ") == 2  # the command's summary
    assert "== task broken ==\nFAILED:            failed in step broken.score_instructions_round_0" in out
    assert down.requests and all(r.fault for r in down.requests)

    (run,) = Client().list_pipeline_runs(size=10).items
    run = Client().get_pipeline_run(run.id)
    assert run.status.value == "failed"  # the run says a task failed; its other branches completed
    steps = {name: step.status.value for name, step in run.steps.items()}
    for task in ("sum", "sum_again"):
        assert {f"{task}.{s}" for s in ("load_task", "score_instructions_round_1", "evaluate_on_test", "promote")} \
            <= {name for name, status in steps.items() if status == "completed"}  # fmt: skip
    assert steps["broken.score_instructions_round_0"] == "failed" and "broken.update_gp_round_0" not in steps
    for model in ("instructzero-sum", "instructzero-sum-again"):
        version = Client().get_model_version(model, ModelStages.PRODUCTION)
        assert version.run_metadata["run_id"] == str(run.id) and version.run_metadata["branch"] == model[13:].replace("-", "_")
    with pytest.raises(KeyError):
        Client().get_model_version("instructzero-larger", ModelStages.PRODUCTION)
    # The failed task left no empty version in the registry (its run created one; it held no record).
    assert not Client().list_model_versions(model_name_or_id="instructzero-larger").items

    first, again = (run.steps[f"{task}.evaluate_on_test"].outputs["result"][0].load() for task in ("sum", "sum_again"))
    assert first.history.instructions == again.history.instructions and first.history.spend.calls > 0
    assert again.history.spend.calls == 0 and again.history.spend.cache_hits == first.history.spend.calls
    assert len(again.baselines) == 1 and again.best_instruction == first.best_instruction


def test_the_recheck_of_a_fleet_reoptimizes_exactly_the_regressed_task(zenml_store, tiny_lm_dir, tmp_path, capsys):
    """Three tasks in production; then `larger`'s black box gets worse and `outage`'s goes down. One re-check
    run of the fleet re-checks all three, re-optimizes `larger` only, and `outage`'s failure stops no other task
    (the command exits 2 naming it); `sum` runs its two re-check steps and nothing else."""
    from zenml.client import Client

    answers = {"sum": right, "larger": larger_right}
    with FakeOpenAIServer(lambda p: answers["sum"](p)) as sum_box, \
            FakeOpenAIServer(lambda p: answers["larger"](p)) as larger_box, FakeOpenAIServer(right) as outage_box:  # fmt: skip
        config = tmp_path / "fleet.yaml"
        config.write_text(json.dumps({
            **shared(tiny_lm_dir, sum_box.base_url, tmp_path / "answers.sqlite"),
            "recheck": {"fresh_answers": True, "reoptimize": True},
            "tasks": {"sum": {}, "larger": {"blackbox": {"base_url": larger_box.base_url}},
                      "outage": {"task": {"name": "sum"}, "registry": {"model_name": "instructzero-outage"},
                                 "blackbox": {"base_url": outage_box.base_url, "max_retries": 0}}},
        }))  # fmt: skip
        assert main(["run", "--config", str(config)]) == 0
        answers["larger"] = wrong
        outage_box.fail_from(0, 503)  # it still lists its model: the client's checks pass, the re-check step fails
        capsys.readouterr()
        sum_paid = len(sum_box.requests)
        code = main(["recheck", "--config", str(config)])
        out, err = capsys.readouterr()

    assert code == 2, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("error: 1 of 3 tasks failed (outage: failed in step "
                                                   "outage.recheck_production")  # fmt: skip
    assert "sum: recheck:           instructzero-sum version 1: no regression" in out
    assert "larger: recheck:           instructzero-larger version 1: regression" in out
    assert "larger: re-optimized:" in out and "sum: re-optimized" not in out
    assert len(sum_box.requests) - sum_paid == 15  # sum's re-check: its test split, asked afresh; nothing more
    run = Client().list_pipeline_runs(sort_by="desc:created", size=1).items[0]
    run = Client().get_pipeline_run(run.id)
    assert run.status.value == "failed" and run.steps["outage.recheck_production"].status.value == "failed"
    sum_steps = {name for name in run.steps if name.startswith("sum.")}
    larger_steps = {name for name in run.steps if name.startswith("larger.")}
    assert sum_steps == {"sum.load_task", "sum.recheck_production"}
    assert {"larger.recheck_production", "larger.generate_instructions_round_0", "larger.promote"} <= larger_steps
    versions = Client().list_model_versions("instructzero-larger", sort_by="desc:number").items
    assert versions[0].number == 2 and versions[0].run_metadata["run_id"] == str(run.id)
    assert [v.number for v in Client().list_model_versions("instructzero-sum").items] == [1]


@pytest.mark.slow
def test_sigterm_during_a_local_fleet_run_stops_it_and_no_other_branch_starts(zenml_store, tiny_lm_dir, tmp_path):
    """The local orchestrator runs every branch in one process: a SIGTERM in one task's step must stop the whole
    run there (exit 143, one line), start no other step of either task, and keep the answers paid for."""
    import datetime
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO
    from zenml.client import Client

    from instructzero.blackbox.cache import ResponseCache

    with FakeOpenAIServer(hashed_answer, latency_s=0.2) as server:
        config = tmp_path / "fleet.yaml"
        config.write_text(json.dumps({**shared(tiny_lm_dir, server.base_url, tmp_path / "answers.sqlite"),
                                      "tasks": {"sum": {}, "larger": {}}}))  # fmt: skip
        env = {**os.environ, "ZENML_CONFIG_PATH": str(zenml_store)}
        run = subprocess.Popen([sys.executable, "-m", "instructzero", "run", "--config", str(config)], cwd=REPO,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 300
        while len(server.requests) < 6 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
        assert run.poll() is None, run.communicate()[1][-2000:]
        signalled_at = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
        time.sleep(1)
        paid = len(server.requests)
    assert run.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("stopped by SIGTERM") and "Traceback" not in err, err[-3000:]
    (stopped,) = Client().list_pipeline_runs(size=10).items
    steps = Client().get_pipeline_run(stopped.id).steps
    # The local orchestrator interleaves the two branches' steps; after the signal none starts (ZenML's times are
    # naive UTC): the one running then failed, and every other is finished or was never started.
    assert all(step.start_time < signalled_at for step in steps.values()), steps
    statuses = [step.status.value for step in steps.values()]
    assert statuses.count("failed") == 1 and set(statuses) <= {"completed", "cached", "failed"}, statuses
    assert not any(name.endswith((".evaluate_on_test", ".promote")) for name in steps)
    for model in ("instructzero-sum", "instructzero-larger"):  # and the stopped run left no empty version
        assert not Client().list_model_versions(model_name_or_id=model).items
    cache = ResponseCache(tmp_path / "answers.sqlite")
    in_flight = 8  # blackbox.max_concurrency: requests cut off by the signal
    assert len(cache) >= paid - in_flight and paid >= 6  # every answer that arrived is cached
