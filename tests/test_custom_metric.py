"""A user's own metric named by import path: checked when the config is read, recorded in the lineage, resolved
from the recorded reference in any process."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_openai import FakeOpenAIServer

from instructzero import optimize
from instructzero.config import load_config, parse_config
from instructzero.data.load import read_task
from instructzero.data.metrics import metric_reference, score_answer
from instructzero.errors import ConfigError
from instructzero.registry.record import RegistryRecord, split_fingerprint

TESTS = Path(__file__).resolve().parent
HALF_CREDIT = {"callable": "custom_metrics:half_credit"}


def sum_in_words(prompt: str) -> str:
    """The right sum inside a sentence: exact match scores it 0, `half_credit` 0.5."""
    a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
    return f"The sum is {a + b}."


def test_a_run_scores_with_the_users_metric_and_records_it(tiny_lm_dir):
    with FakeOpenAIServer(sum_in_words) as server:
        config = parse_config({
            "seed": 3,
            "task": {"source": "builtin", "name": "sum", "n_validation": 6, "max_test": 12, "metric": HALF_CREDIT},
            "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 4},
            "blackbox": {"backend": "openai", "base_url": server.base_url, "model": "stub-model", "api_key_env": None},
            "bo": {"n_init": 4, "n_rounds": 1, "q": 2, "num_restarts": 2, "raw_samples": 32},
            "evaluation": {"bootstrap_samples": 200},
        })  # fmt: skip
        result = optimize(config)
    reference = metric_reference(HALF_CREDIT)
    assert reference.startswith("custom_metrics:half_credit@")
    assert (result.history.scores == 0.5).all() and result.history.scores.shape == (6, 6)
    assert result.validation_score == 0.5 and result.test.score == 0.5 and len(result.test.per_example) == 12
    assert result.metric == reference and f"(metric {reference})" in result.summary()
    task = read_task(config.task, config.seed)
    record = RegistryRecord.of_run(config, task, result, blackbox_identity="stub", run_id="r")
    assert record.metric == reference and record.config["task"]["metric"] == HALF_CREDIT
    assert (
        record.test_fingerprint
        == split_fingerprint(task.test, reference)
        != split_fingerprint(task.test, "exact_match")
    )
    assert parse_config(record.config).task.metric == config.task.metric  # the recorded config reads back


def test_the_reference_resolves_in_another_process():
    reference = metric_reference(HALF_CREDIT)
    code = (
        f"from instructzero.data.metrics import score_answer; print(score_answer({reference!r}, 'it is 7', ['9', '7']))"
    )
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.5"


def test_a_reference_to_another_version_of_the_module_fails_in_one_line():
    path, digest = metric_reference(HALF_CREDIT).split("@")
    stale = f"{path}@{'0' * len(digest)}"
    with pytest.raises(ConfigError) as caught:
        score_answer(stale, "7", ["7"])
    assert "not the version the task was loaded with" in str(caught.value) and "\n" not in str(caught.value)


def test_a_score_outside_0_1_during_the_run_fails_in_one_line():
    reference = metric_reference({"callable": "custom_metrics:above_one_on_long_answers"})  # ('a', 'a') passes
    with pytest.raises(ConfigError, match=r"returned 2\.0 .*number in \[0, 1\]") as caught:
        score_answer(reference, "a longer answer", ["7"])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("metric", "problem"),
    [
        ({"callable": "no_such_module:score"}, "module no_such_module cannot be imported .*ModuleNotFoundError"),
        ({"callable": "custom_metrics:missing"}, "module custom_metrics has no attribute missing"),
        ({"callable": "custom_metrics:NOT_A_FUNCTION"}, "is a float, not a function"),
        ({"callable": "custom_metrics:as_text"}, r"returned 'yes' \(str\)"),
        ({"callable": "custom_metrics:above_one"}, r"returned 2\.0 \(float\)"),
        ({"callable": "custom_metrics:one_argument"}, "raised TypeError"),
        ({"callable": "custom_metrics.half_credit"}, "is not an import path. Write module.path:function"),
    ],
)
def test_a_bad_callable_fails_when_the_config_is_read_in_one_line(metric, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_config({"task": {"metric": metric}}, origin="mine.yaml")
    message = str(caught.value)
    assert message.startswith("mine.yaml: task.metric.callable ") and "\n" not in message


@pytest.mark.parametrize("metric", [{"callable": "custom_metrics:half_credit", "args": 1}, {"function": "x:y"}, 3])
def test_a_metric_that_is_neither_a_name_nor_a_callable_mapping_fails_in_one_line(metric):
    with pytest.raises(ConfigError, match="neither a metric name nor") as caught:
        parse_config({"task": {"metric": metric}})
    assert "\n" not in str(caught.value)


def test_instructzero_validate_names_the_bad_import_path(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump({"task": {"metric": HALF_CREDIT}}))
    bad.write_text(yaml.safe_dump({"task": {"metric": {"callable": "custom_metrics:missing"}}}))
    assert load_config(good).task.metric.callable == HALF_CREDIT["callable"]
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    cli = [sys.executable, "-m", "instructzero", "validate", "--config"]
    ok = subprocess.run([*cli, str(good)], env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert f"metric {metric_reference(HALF_CREDIT)};" in ok.stdout
    failed = subprocess.run([*cli, str(bad)], env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [f"error: {bad}: task.metric.callable 'custom_metrics:missing': "
                                                  f"module custom_metrics has no attribute missing. Name a function "
                                                  f"defined in {TESTS / 'custom_metrics.py'}."]  # fmt: skip
