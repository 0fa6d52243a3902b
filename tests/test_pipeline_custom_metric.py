"""A user's own metric through the ZenML pipeline: resolved in the steps from the recorded reference, kept in the
lineage and the registry, and an edit to its module reruns the scoring instead of reusing cached scores."""

import importlib
import sys

from fake_openai import FakeOpenAIServer
from test_custom_metric import sum_in_words

from instructzero.config import parse_config
from instructzero.data.metrics import metric_reference

METRIC_MODULE = "pipeline_metric_under_edit"
SCORED = ("score_instructions_round_0", "score_instructions_round_1", "evaluate_on_test")


def write_metric(folder, credit: float) -> None:
    (folder / f"{METRIC_MODULE}.py").write_text(
        f"def credit(prediction, gold):\n    return {credit} if gold in prediction else 0.0\n"
    )
    sys.modules.pop(METRIC_MODULE, None)  # a new command would import the edited file; this process must too
    importlib.invalidate_caches()


def test_the_pipeline_scores_and_records_the_users_metric_and_follows_its_edits(
    zenml_store, tiny_lm_dir, tmp_path, monkeypatch
):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from instructzero.pipelines.registry import production_record
    from instructzero.pipelines.run import run_pipeline

    monkeypatch.syspath_prepend(str(tmp_path))
    write_metric(tmp_path, 0.5)
    metric = {"callable": f"{METRIC_MODULE}:credit"}
    with FakeOpenAIServer(sum_in_words) as server:
        config = parse_config({
            "seed": 5,
            "task": {"source": "builtin", "name": "sum", "n_validation": 6, "max_test": 10, "metric": metric},
            "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 4},
            "blackbox": {"backend": "openai", "base_url": server.base_url, "model": "stub-model", "api_key_env": None,
                         "cache_path": str(tmp_path / "answers.sqlite")},
            "bo": {"n_init": 3, "n_rounds": 1, "q": 2, "num_restarts": 2, "raw_samples": 32},
            "evaluation": {"bootstrap_samples": 200},
        })  # fmt: skip
        first, first_id = run_pipeline(config)
        reference = metric_reference(metric)
        write_metric(tmp_path, 0.25)
        edited, edited_id = run_pipeline(config)

    assert (first.history.scores == 0.5).all() and first.test.score == 0.5 and first.metric == reference
    run = Client().get_pipeline_run(first_id)
    assert run.steps["load_task"].outputs["task"][0].run_metadata["metric"] == reference
    assert run.steps["evaluate_on_test"].outputs["result"][0].load().metric == reference
    _, _, record = production_record("sum")
    assert record.metric == reference and record.run_id == first_id

    assert (edited.history.scores == 0.25).all() and edited.test.score == 0.25
    assert edited.metric.startswith(f"{METRIC_MODULE}:credit@") and edited.metric != reference
    rerun = Client().get_pipeline_run(edited_id)
    assert {rerun.steps[s].status for s in SCORED} == {ExecutionStatus.COMPLETED}  # not served from the cache
    assert rerun.steps["sample_projection"].status == ExecutionStatus.CACHED  # what the metric cannot change
