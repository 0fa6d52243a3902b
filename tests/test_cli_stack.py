"""`instructzero stack register`: one line when the ZenML server cannot be reached, and the artifact store's three
ways to reach S3 (static keys in a ZenML secret, implicit credentials, a service connector)."""

import os
import subprocess
import sys
import time

import pytest
from conftest import REPO
from servers import free_port

from instructzero.cli import main

REGISTER = ["stack", "register", "--artifact-path", "s3://instructzero-test/runs", "--container-registry",
            "registry.example.invalid/instructzero", "--kube-context", "test-cluster", "--no-activate"]  # fmt: skip


def test_an_unreachable_zenml_server_is_one_line_naming_it_and_the_fix(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "AWS_"))}
    env.update(ZENML_STORE_URL=url, ZENML_CONFIG_PATH=str(tmp_path / "zenml"), ZENML_ANALYTICS_OPT_IN="false",
               AWS_ACCESS_KEY_ID="key", AWS_SECRET_ACCESS_KEY="secret")  # fmt: skip
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "instructzero", *REGISTER], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    err = done.stderr.strip()
    assert err.count("\n") == 0, err[-3000:]
    assert err.startswith(f"error: cannot reach the ZenML server at {url} (Connection refused)")
    assert "ZENML_STORE_URL" in err
    assert time.monotonic() - started < 60  # no minute of retries first


def artifact_store():
    from zenml.client import Client
    from zenml.enums import StackComponentType

    return Client().get_stack_component(StackComponentType.ARTIFACT_STORE, "instructzero-k8s-artifacts")


def secret_exists(name: str) -> bool:
    from zenml.client import Client

    try:
        Client().get_secret(name)
    except KeyError:
        return False
    return True


def test_s3_auth_keys_implicit_and_connector(zenml_store, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    # implicit: no keys anywhere, s3fs/boto3 use what the pod has (IAM role, IRSA, workload identity, ...)
    assert main([*REGISTER, "--s3-auth", "implicit"]) == 0
    config = artifact_store().configuration
    assert config["path"] == "s3://instructzero-test/runs" and not config.get("key") and not config.get("secret")
    assert not secret_exists("instructzero-k8s-s3")

    # keys (the default): the keys go into a ZenML secret that the store references
    assert main(REGISTER) == 2
    assert "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert main(REGISTER) == 0
    assert artifact_store().configuration["key"] == "{{instructzero-k8s-s3.aws_access_key_id}}"
    assert secret_exists("instructzero-k8s-s3")

    # back to implicit: the references are removed, not merged into the old configuration
    assert main([*REGISTER, "--s3-auth", "implicit"]) == 0
    config = artifact_store().configuration
    assert not config.get("key") and not config.get("secret")

    # connector: an existing service connector, checked before it is linked; every mistake is one line
    capsys.readouterr()
    assert main([*REGISTER, "--s3-auth", "connector"]) == 2
    assert "--s3-auth connector needs --connector NAME" in capsys.readouterr().err
    assert main([*REGISTER, "--s3-auth", "connector", "--connector", "no-such-connector"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no ZenML service connector 'no-such-connector'" in err
    assert artifact_store().connector is None



def test_s3_auth_connector_links_a_registered_connector_and_unlinks_it_later(zenml_store, monkeypatch):
    """The link itself, with ZenML's AWS connector registered unverified: verifying it would ask AWS STS (no
    network here), so `verify_service_connector` answers as it would for a reachable bucket."""
    from zenml.client import Client
    from zenml.models import ServiceConnectorResourcesModel, ServiceConnectorTypedResourcesModel

    client = Client()
    connector, _ = client.create_service_connector(
        name="team-s3", connector_type="aws", auth_method="secret-key", resource_type="s3-bucket",
        configuration={"aws_access_key_id": "key", "aws_secret_access_key": "secret", "region": "us-east-1"},
        verify=False, list_resources=False,
    )  # fmt: skip
    asked = []

    def verify(self, id, resource_type=None, resource_id=None, **_):
        asked.append((id, resource_type, resource_id))
        return ServiceConnectorResourcesModel(id=id, name="team-s3", connector_type="aws", resources=[
            ServiceConnectorTypedResourcesModel(resource_type=resource_type, resource_ids=["s3://instructzero-test"])])  # fmt: skip

    monkeypatch.setattr(type(client), "verify_service_connector", verify)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    assert main([*REGISTER, "--s3-auth", "connector", "--connector", "team-s3"]) == 0
    store = artifact_store()
    assert asked == [(connector.id, "s3-bucket", "s3://instructzero-test/runs")]
    assert (store.connector.name, store.connector_resource_id) == ("team-s3", "s3://instructzero-test")
    assert not store.configuration.get("key") and not secret_exists("instructzero-k8s-s3")

    assert main([*REGISTER, "--s3-auth", "implicit"]) == 0
    assert artifact_store().connector is None


def test_the_artifact_store_check_lists_only_its_prefix_which_may_not_exist_yet(zenml_store, s3_server):
    """Before a first run the store's prefix is empty: fine. A missing bucket is not (one line)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack import stack

    from instructzero.errors import ConfigError
    from instructzero.pipelines.run import check_artifact_store

    s3_server.ensure_bucket("instructzero-prefix-check")
    client = Client()
    client.create_secret("check-s3", values={"aws_access_key_id": s3_server.access_key,
                                             "aws_secret_access_key": s3_server.secret_key})  # fmt: skip
    for name, path in (("fresh", "s3://instructzero-prefix-check/not/written/yet"), ("lost", "s3://no-such-bucket/x")):
        client.create_stack_component(name, "s3", StackComponentType.ARTIFACT_STORE, {
            "path": path, "key": "{{check-s3.aws_access_key_id}}", "secret": "{{check-s3.aws_secret_access_key}}",
            "client_kwargs": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"}})  # fmt: skip
        client.create_stack(name, components={StackComponentType.ARTIFACT_STORE: name,
                                              StackComponentType.ORCHESTRATOR: "default"})  # fmt: skip
    client.activate_stack("fresh")
    check_artifact_store()
    client.activate_stack("lost")
    stack._STACK_CACHE.clear()
    with pytest.raises(ConfigError) as lost:
        check_artifact_store()
    assert "\n" not in str(lost.value) and "cannot use the artifact store s3://no-such-bucket/x" in str(lost.value)
    assert "bucket does not exist" in str(lost.value)


def test_the_server_as_the_manifest_configures_it_refuses_a_client_that_is_not_logged_in_in_one_line(tmp_path):
    """k8s/zenml-server.yaml's settings (OAuth2 password bearer, a JWT key, the SQL secrets store with an encryption
    key, deployment type kubernetes) on the installed ZenML server; a register without `zenml login` is one line."""
    import requests
    from servers import ZenMLServer, manifest_server_env

    env, secret_keys = manifest_server_env(REPO / "k8s" / "zenml-server.yaml")
    assert secret_keys == {"ZENML_SERVER_JWT_SECRET_KEY", "ZENML_SECRETS_STORE_ENCRYPTION_KEY"}
    server = ZenMLServer(base_dir=tmp_path / "server", extra_env=env)
    server.start()
    try:
        info = requests.get(f"{server.url}/api/v1/info", timeout=10).json()
        assert (info["auth_scheme"], info["deployment_type"]) == ("OAUTH2_PASSWORD_BEARER", "kubernetes")
        client_env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "AWS_"))}
        client_env.update(ZENML_STORE_URL=server.url, ZENML_CONFIG_PATH=str(tmp_path / "client"),
                          ZENML_ANALYTICS_OPT_IN="false")  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "instructzero", *REGISTER, "--s3-auth", "implicit"], cwd=REPO,
                              env=client_env, capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        server.stop()
    err = done.stderr.strip()
    assert done.returncode == 2 and err.count("\n") == 0, err[-3000:]
    assert err.startswith("error: the ZenML server refused the client") and f"zenml login {server.url}" in err
