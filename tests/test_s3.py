"""The pipeline on a real S3 server (SeaweedFS on 127.0.0.1): artifacts, the shared response cache, and the
one-line errors for wrong keys or a stopped endpoint, before any step runs."""

import pytest
from fake_openai import FakeOpenAIServer
from servers import SeaweedFS
from test_pipeline import hashed_answer, tiny_config

from instructzero.errors import ConfigError

BUCKET = "instructzero-artifacts"


@pytest.fixture
def s3(request, tmp_path):
    """The session's SeaweedFS with this module's bucket, or a private one for a test that stops its server."""
    if request.node.get_closest_marker("own_server") is None:
        server = request.getfixturevalue("s3_server")
        server.ensure_bucket(BUCKET)
        yield server
        return
    server = SeaweedFS(data_dir=tmp_path / "seaweedfs", buckets=[BUCKET]).start()
    yield server
    server.stop()


def keys(server: SeaweedFS) -> list[str]:
    pages = server.boto3_client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def use_s3_stack(server: SeaweedFS, secret_key: str | None = None) -> None:
    """An S3 artifact store on SeaweedFS (keys through a ZenML secret) with the local orchestrator."""
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack import stack

    client = Client()
    values = {"aws_access_key_id": server.access_key, "aws_secret_access_key": secret_key or server.secret_key}
    try:
        client.update_secret("seaweed-s3", add_or_update_values=values)
    except KeyError:
        client.create_secret("seaweed-s3", values=values)
        client.create_stack_component("seaweed", "s3", StackComponentType.ARTIFACT_STORE, {
            "path": f"s3://{BUCKET}/runs", "key": "{{seaweed-s3.aws_access_key_id}}",
            "secret": "{{seaweed-s3.aws_secret_access_key}}",
            "client_kwargs": {"endpoint_url": server.endpoint_url, "region_name": "us-east-1"}})  # fmt: skip
        client.create_stack("s3-local", components={StackComponentType.ARTIFACT_STORE: "seaweed",
                                                    StackComponentType.ORCHESTRATOR: "default"})  # fmt: skip
        client.activate_stack("s3-local")
    stack._STACK_CACHE.clear()  # the stack (and its store's keys) is read again


def test_the_pipeline_keeps_every_artifact_in_s3_and_shares_paid_answers_through_it(zenml_store, tiny_lm_dir,
                                                                                   tmp_path, s3):  # fmt: skip
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from instructzero.pipelines.run import run_pipeline
    from instructzero.steps.response_cache import SHARED_CACHE_DIR

    use_s3_stack(s3)
    with FakeOpenAIServer(hashed_answer) as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "a.sqlite")
        config = config.model_copy(update={"bo": config.bo.model_copy(update={"n_rounds": 1})})
        first, first_id = run_pipeline(config)
        paid = len(server.requests)
        second, second_id = run_pipeline(config)  # the same store: every step a cache hit
        # Another machine: an empty local cache and no step cache; the answers come from S3's shards.
        other = config.model_copy(update={"blackbox": config.blackbox.model_copy(
            update={"cache_path": str(tmp_path / "b.sqlite")})})  # fmt: skip
        third, _ = run_pipeline(other, step_cache=False)

    assert paid > 0 and len(server.requests) == paid and third.blackbox_calls == 0
    assert second.best_instruction == third.best_instruction == first.best_instruction
    run = Client().get_pipeline_run(first_id)
    uris = [a.uri for step in run.steps.values() for outputs in step.outputs.values() for a in outputs]
    assert len(uris) >= 10 and all(u.startswith(f"s3://{BUCKET}/runs/") for u in uris)
    stored = keys(s3)
    for step in ("load_task", "sample_projection", "score_instructions_round_0", "evaluate_on_test"):
        assert any(f"/{step}/" in k for k in stored), step
    assert len([k for k in stored if f"runs/{SHARED_CACHE_DIR}/" in k]) >= 2  # shards the scoring steps wrote
    rerun = Client().get_pipeline_run(second_id)
    assert {s.status for n, s in rerun.steps.items() if n not in ("load_task", "promote")} == {ExecutionStatus.CACHED}


@pytest.mark.own_server  # it stops its S3 server
def test_wrong_keys_and_a_stopped_endpoint_fail_in_one_line_before_any_step(zenml_store, tiny_lm_dir, tmp_path, s3):
    from zenml.client import Client

    from instructzero.pipelines.run import run_pipeline

    config = tiny_config(tiny_lm_dir, "http://127.0.0.1:9/v1", tmp_path / "cache.sqlite")
    config = config.model_copy(update={"blackbox": config.blackbox.model_copy(update={"probe": False})})
    use_s3_stack(s3, secret_key="not-the-secret")
    with pytest.raises(ConfigError) as wrong:
        run_pipeline(config)
    use_s3_stack(s3)
    s3.stop()
    with pytest.raises(ConfigError) as down:
        run_pipeline(config)

    for error in (wrong, down):
        message = str(error.value)
        assert "\n" not in message and f"cannot use the artifact store s3://{BUCKET}/runs at {s3.endpoint_url}" in message
        assert "Check the stack's S3 keys" in message
    assert len(Client().list_pipeline_runs().items) == 0  # nothing started
