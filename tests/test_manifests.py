"""Every manifest in k8s/ is valid for the oldest Kubernetes the README names (1.30), checked offline."""

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import REPO

from instructzero.cli import main

K8S = REPO / "k8s"
#: The oldest Kubernetes release the README supports.
MIN_VERSION = "1.30"


def kustomize(folder: Path) -> list[dict]:
    """What `kubectl apply -k folder` applies: its resources, with generated Secrets from the example env files."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs = [doc for resource in kustomization.get("resources", [])
            for doc in yaml.safe_load_all((folder / resource).read_text()) if doc]  # fmt: skip
    for generator in kustomization.get("secretGenerator", []):
        data = {}
        for env in generator["envs"]:
            example = (folder / f"{env}.example").read_text()
            data.update(line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#"))
        docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": generator["name"]}, "stringData": data})
    namespace = kustomization.get("namespace")
    for doc in docs:
        if namespace and doc["kind"] != "Namespace":
            doc["metadata"]["namespace"] = namespace
    return docs


@pytest.mark.parametrize("folder", ["", "s3-server", "recheck"])
def test_every_manifest_is_valid_for_kubernetes_1_30(folder):
    docs = kustomize(K8S / folder)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, MIN_VERSION, strict=True)
    kinds = {d["kind"] for d in docs}
    if folder == "":
        assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service",
                "PersistentVolumeClaim", "Secret"} <= kinds  # fmt: skip
        secrets = [d for d in docs if d["kind"] == "Secret"]
        assert all(not any(v.strip() for v in s["stringData"].values()) for s in secrets)  # templates: no values


def test_a_broken_manifest_is_caught():
    deployment = next(d for d in kustomize(K8S) if d["kind"] == "Deployment")
    broken = copy.deepcopy(deployment)
    broken["spec"]["replica"] = broken["spec"].pop("replicas")  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, MIN_VERSION, strict=True)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, MIN_VERSION, strict=True)


def test_a_schedule_on_the_local_stack_names_the_stack_it_needs(zenml_store, capsys):
    assert main(["schedule", "create", "--config", "configs/local.yaml", "--cron", "0 3 * * *"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'local' orchestrator, which cannot run schedules" in err
    assert "instructzero stack register" in err
