"""Bad task data stops the pipeline before the white box or the black box, and the report is kept."""

import json

import pytest

from instructzero.config import parse_config
from instructzero.errors import DataValidationError


def bad_config(tmp_path):
    records = [{"input": f"{i} plus {i}", "output": "" if i % 7 == 0 else str(2 * i)} for i in range(60)]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return parse_config({"task": {"source": "file", "path": str(path), "n_exemplars": 5, "n_validation": 10},
                         "blackbox": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key_env": None}})  # fmt: skip


def test_run_stops_before_any_step_and_keeps_the_report(zenml_store, tmp_path):
    from zenml.client import Client

    from instructzero.pipelines.run import run_pipeline

    with pytest.raises(DataValidationError) as info:
        run_pipeline(bad_config(tmp_path))
    message = str(info.value)
    assert "\n" not in message and "expect_column_values_to_not_match_regex(output)" in message
    assert "artifact data_validation_failed version 1" in message
    assert len(Client().list_pipeline_runs()) == 0  # nothing ran, nothing (not even the probe) was paid for
    artifact = Client().get_artifact_version("data_validation_failed")
    assert artifact.visualizations and artifact.run_metadata["success"] is False
    assert artifact.load().failures == info.value.report.failures


def test_a_scheduled_run_fails_in_load_task_and_runs_nothing_after_it(zenml_store, tmp_path):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from instructzero.pipelines.run import ensure_source_root
    from instructzero.pipelines.search import instructzero_pipeline

    ensure_source_root()
    with pytest.raises(Exception, match="load_task|failed data validation"):
        instructzero_pipeline(config=bad_config(tmp_path))  # no preflight, as a schedule would start it
    (run,) = Client().list_pipeline_runs().items
    assert run.status == ExecutionStatus.FAILED
    statuses = {name: s.status for name, s in run.steps.items()}
    assert statuses.get("load_task") == ExecutionStatus.FAILED
    assert not any(name.startswith(("generate_instructions", "score_instructions")) and s == ExecutionStatus.COMPLETED
                   for name, s in statuses.items())  # fmt: skip
    report = Client().get_artifact_version("data_validation_failed").load()
    assert not report.success and {c.expectation for c in report.failures} == {
        "expect_column_values_to_not_match_regex"
    }
