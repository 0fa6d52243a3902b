"""Promotion to the prompt registry (ZenML Model Control Plane) with a real client on a local store."""

import json

import pytest
from fake_openai import FakeOpenAIServer
from test_pipeline import hashed_answer, tiny_config

from instructzero.promotion import decide_promotion
from instructzero.version import __version__


def right(prompt: str) -> str:
    a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
    return str(a + b)


def wrong(prompt: str) -> str:
    return "no idea"


def test_promotion_rule():
    assert decide_promotion(0.4, None).promote
    assert decide_promotion(0.5, 0.4, "1").promote
    tie = decide_promotion(0.4, 0.4, "1")
    assert not tie.promote and "does not beat production version 1's 0.400" in tie.reason
    assert decide_promotion(0.1, 0.9, "1", force=True).promote


def test_first_run_promotes_worse_stays_better_replaces_and_export_matches(zenml_store, tiny_lm_dir, tmp_path, capsys):
    from zenml.client import Client
    from zenml.enums import ModelStages

    from instructzero.cli import main
    from pipelines.registry import NoProductionPrompt, production_prompt
    from pipelines.run import run_pipeline

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
        answers["now"] = wrong
        other_split, _ = run("other_split", max_test=12)

    assert 0 < first.test.score < 1 and worse.test.score == 0 and better.test.score == 1
    versions = {v.number: v for v in Client().list_model_versions("instructzero-sum").items}
    assert versions[1].stage == ModelStages.ARCHIVED  # the first production version, replaced
    assert versions[2].stage == ModelStages.ARCHIVED  # staging holds one version: the newest candidate (4)
    assert versions[3].stage == ModelStages.PRODUCTION
    assert "does not beat production version 1" in versions[2].run_metadata["promotion"]
    assert versions[4].stage == ModelStages.STAGING and other_split.test.score == 0
    assert "production version 3 (re-scored)'s 0.000" in versions[4].run_metadata["promotion"]
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
