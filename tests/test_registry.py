"""Promotion to the prompt registry (ZenML Model Control Plane) with a real client on a local store."""

import json

import numpy as np
import pytest
from fake_openai import FakeOpenAIServer
from test_pipeline import hashed_answer, tiny_config

from instructzero.registry.promotion import decide_promotion, detect_regression
from instructzero.version import __version__


def right(prompt: str) -> str:
    a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
    return str(a + b)


def wrong(prompt: str) -> str:
    return "no idea"


def scores(right_of_30: int, first: int = 0) -> np.ndarray:
    """30 per-example scores, `right_of_30` of them 1, starting at example `first`."""
    out = np.zeros(30)
    out[first : first + right_of_30] = 1
    return out


def test_promotion_is_a_paired_comparison_above_a_floor():
    assert decide_promotion(scores(12), None).promote  # the first version, above zero
    zero = decide_promotion(scores(0), None)
    assert not zero.promote and "not above the floor 0.000 (zero)" in zero.reason
    below = decide_promotion(scores(12), None, floor=0.5, floor_source="best baseline instruction 'Add.'")
    assert not below.promote and "floor 0.500 (best baseline instruction 'Add.')" in below.reason
    # Better by one example of 30: not beyond noise, and the reason gives the difference and its interval.
    by_one = decide_promotion(scores(13), scores(12), incumbent_version="1")
    assert not by_one.promote and "+0.033 (95% CI +0.000 to +0.100, 30 paired examples)" in by_one.reason
    assert "not beyond noise" in by_one.reason
    # Better on most examples: promoted with the interval in the reason.
    most = decide_promotion(scores(24), scores(6, first=24), incumbent_version="1")
    assert most.promote and most.comparison.ci_low > 0 and "beats production version 1" in most.reason
    small = decide_promotion(scores(24), scores(6, first=24), incumbent_version="1", min_improvement=0.7)
    assert not small.promote and "less than the required +0.700" in small.reason
    assert decide_promotion(scores(1), scores(29), incumbent_version="1", force=True).promote


def test_regression_needs_a_drop_beyond_margin_and_noise():
    then = scores(24)
    dip = detect_regression(scores(23), then, paired=True, margin=0.05)
    assert not dip.regression and "no regression" in dip.reason
    drop = detect_regression(scores(12), then, paired=True, margin=0.05)
    assert drop.regression and "a drop of +0.400" in drop.reason and "paired examples" in drop.reason
    other_split = detect_regression(np.r_[scores(6), np.zeros(10)], then, paired=False, margin=0.05)
    assert other_split.regression and "unpaired" in other_split.reason


def test_first_run_promotes_worse_stays_better_replaces_and_export_matches(zenml_store, tiny_lm_dir, tmp_path, capsys):
    from zenml.client import Client
    from zenml.enums import ModelStages

    from instructzero.cli import main
    from instructzero.pipelines.registry import NoProductionPrompt, production_prompt
    from instructzero.pipelines.run import run_pipeline

    with pytest.raises(NoProductionPrompt, match="no production version of model 'instructzero-sum'"):
        production_prompt("sum")
    answers = {"now": hashed_answer}
    with FakeOpenAIServer(lambda prompt: answers["now"](prompt)) as server:

        def run(name, max_test=15):
            config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / f"{name}.sqlite")
            return run_pipeline(
                config.model_copy(update={"task": config.task.model_copy(update={"max_test": max_test})})
            )

        first, first_id = run("first")
        answers["now"] = wrong
        worse, _ = run("worse")
        answers["now"] = right
        better, better_id = run("better")
        # A different test split: production's instruction is re-scored on it before comparing (a tie stays).
        other_split, _ = run("other_split", max_test=12)

    assert 0 < first.test.score < 1 and worse.test.score == 0 and better.test.score == 1
    versions = {v.number: v for v in Client().list_model_versions("instructzero-sum").items}
    assert versions[1].stage == ModelStages.ARCHIVED  # the first production version, replaced
    assert versions[2].stage == ModelStages.ARCHIVED  # staging holds one version: the newest candidate (4)
    assert versions[3].stage == ModelStages.PRODUCTION
    assert "not above the floor 0.000 (zero)" in versions[2].run_metadata["promotion"]
    assert versions[4].stage == ModelStages.STAGING and other_split.test.score == 1
    reason = versions[4].run_metadata["promotion"]
    assert "production version 3 (re-scored) (1.000): +0.000" in reason and "12 paired examples" in reason
    meta = versions[3].run_metadata
    assert meta["instruction"] == better.best_instruction and meta["run_id"] == better_id
    assert meta["test_score"] == 1.0 and meta["blackbox_model"] == "stub-model" and meta["seed"] == 5
    assert meta["config"]["bo"]["n_init"] == 4 and meta["blackbox_calls"] == better.blackbox_calls
    assert versions[1].run_metadata["run_id"] == first_id
    assert meta["instructzero_version"] == __version__
    assert Client().get_pipeline_run(better_id).run_metadata["instructzero_version"] == __version__

    capsys.readouterr()  # drop the runs' own output
    prompt = production_prompt("sum")
    assert prompt.instruction == better.best_instruction and prompt.version == "3" and prompt.test_score == 1.0
    assert main(["prompt", "sum", "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["instruction"] == better.best_instruction and exported["run_id"] == better_id
    out_file = tmp_path / "prompt.txt"
    assert main(["prompt", "sum", "--output", str(out_file)]) == 0
    assert out_file.read_text() == better.best_instruction + "\n"
