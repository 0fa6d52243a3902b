"""Every kustomization in k8s/ builds with `kubectl kustomize` and validates strictly for the oldest Kubernetes the
README names (1.30), offline; so do the Jobs and CronJobs ZenML builds from the project's orchestrator settings."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import REPO

from instructzero.cli import main
from instructzero.config import parse_config

K8S = REPO / "k8s"
#: The oldest Kubernetes release the README supports.
MIN_VERSION = "1.30"
#: The switch of a kustomize component, commented out in k8s/kustomization.yaml.
COMPONENT_SWITCH = "# components:\n#   - {}\n"


def kubectl() -> str:
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("kubectl (with its built-in kustomize) is not installed: install it (Debian: kubectl)")
    return found


@pytest.fixture()
def k8s_copy(tmp_path) -> Path:
    """k8s/ as a user has it before `kubectl apply -k`: every .env file created from its .example (the
    values stay empty: templates)."""
    copy_ = tmp_path / "k8s"
    shutil.copytree(K8S, copy_, ignore=shutil.ignore_patterns("*.env"))
    for example in copy_.rglob("*.env.example"):
        example.with_suffix("").write_text(example.read_text())
    return copy_


def build(folder: Path) -> list[dict]:
    """What `kubectl apply -k folder` applies."""
    done = subprocess.run([kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def kustomizations(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.glob("**/kustomization.yaml"))


def switch_on(root: Path, component: Path) -> None:
    """Switch a component on in the root kustomization, the way its comment tells the user."""
    kustomization = root / "kustomization.yaml"
    switch = COMPONENT_SWITCH.format(component.relative_to(root).as_posix())
    text = kustomization.read_text()
    assert switch in text, f"k8s/kustomization.yaml shows no switch for {component.name}"
    kustomization.write_text(text.replace(switch, switch.replace("# ", "").replace("#", "")))


def built(root: Path, folder: Path) -> list[dict]:
    """The manifests of one kustomization; a component is built as switched on in the root kustomization."""
    if yaml.safe_load((folder / "kustomization.yaml").read_text())["kind"] == "Component":
        switch_on(root, folder)
        return build(root)
    return build(folder)


def by(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def env_of(deployment: dict) -> dict[str, dict]:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])}


def test_every_kustomization_and_component_builds_and_is_valid_for_kubernetes_1_30(k8s_copy):
    found = kustomizations(k8s_copy)
    assert {f.relative_to(k8s_copy).as_posix() for f in found} >= {".", "s3-server", "models", "components/mysql"}
    for folder in found:
        root = k8s_copy.parent / f"root-{folder.name}"
        shutil.copytree(k8s_copy, root)
        docs = built(root, root / folder.relative_to(k8s_copy))
        assert docs, folder
        for doc in docs:
            kubernetes_validate.validate(doc, MIN_VERSION, strict=True)
            assert doc["kind"] != "ConfigMap", "kustomize-local settings must not be applied"
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == "instructzero", (folder, doc["metadata"]["name"])
        assert "CronJob" not in {d["kind"] for d in docs}  # schedules are ZenML's (`instructzero schedule create`)


def test_the_base_has_the_server_its_secrets_and_one_https_host(k8s_copy):
    kustomization = k8s_copy / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("host=zenml.example.com", "host=zenml.ml.acme.org"))
    docs = build(k8s_copy)
    assert {"Namespace", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service", "PersistentVolumeClaim",
            "Secret", "Ingress"} == {d["kind"] for d in docs}  # fmt: skip
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    assert set(secrets) == {"instructzero-s3", "instructzero-blackbox", "zenml-server"}
    assert all(not any(s.get("data", {}).values()) for s in secrets.values())  # templates: no values
    assert {"ZENML_SERVER_JWT_SECRET_KEY", "ZENML_SECRETS_STORE_ENCRYPTION_KEY"} <= set(secrets["zenml-server"]["data"])

    server = by(docs, "Deployment", "zenml-server")
    env = env_of(server)
    assert env["ZENML_STORE_URL"]["value"].startswith("sqlite:////zenml/data/")
    assert env["ZENML_SERVER_AUTH_SCHEME"]["value"] == "OAUTH2_PASSWORD_BEARER"
    assert env["ZENML_SERVER_DEPLOYMENT_TYPE"]["value"] == "kubernetes"
    assert env["ZENML_SECRETS_STORE_TYPE"]["value"] == "sql"
    for key in ("ZENML_SERVER_JWT_SECRET_KEY", "ZENML_SECRETS_STORE_ENCRYPTION_KEY"):
        assert env[key]["valueFrom"]["secretKeyRef"] == {"name": "zenml-server", "key": key}
    # One address for workstations and pods: the Ingress host, also the server's own URL.
    assert env["ZENML_SERVER_SERVER_URL"]["value"] == "https://zenml.ml.acme.org"
    ingress = by(docs, "Ingress", "zenml-server")
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["zenml.ml.acme.org"]
    assert ingress["spec"]["tls"][0]["hosts"] == ["zenml.ml.acme.org"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "zenml-server"


def test_the_mysql_component_takes_the_database_url_from_the_secret_and_drops_the_sqlite_volume(k8s_copy):
    switch_on(k8s_copy, k8s_copy / "components" / "mysql")
    docs = build(k8s_copy)
    server = by(docs, "Deployment", "zenml-server")
    assert env_of(server)["ZENML_STORE_URL"] == {
        "name": "ZENML_STORE_URL", "valueFrom": {"secretKeyRef": {"name": "zenml-server", "key": "ZENML_STORE_URL"}}}  # fmt: skip
    assert "ZENML_STORE_URL" in by(docs, "Secret", "zenml-server")["data"]
    assert not server["spec"]["template"]["spec"].get("volumes") and server["spec"]["strategy"]["type"] == "RollingUpdate"
    assert "PersistentVolumeClaim" not in {d["kind"] for d in docs}


def test_the_s3_server_runs_the_tests_seaweedfs_release_with_flags_it_has(k8s_copy):
    from servers import weed_binary

    kustomization = k8s_copy / "s3-server" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("host=s3.example.com", "host=s3.ml.acme.org"))
    docs = build(k8s_copy / "s3-server")
    container = by(docs, "Deployment", "seaweedfs")["spec"]["template"]["spec"]["containers"][0]
    # e.g. "Version 8000GB 4.48 pypi linux amd64": 8000GB is the large-disk build (5-byte offsets), tagged _large_disk
    _, size_limit, version, *_ = subprocess.run([weed_binary(), "version"], capture_output=True, text=True,
                                                timeout=30).stdout.split()  # fmt: skip
    assert container["image"] == f"chrislusf/seaweedfs:{version}{'_large_disk' if size_limit == '8000GB' else ''}"
    help_text = subprocess.run([weed_binary(), "mini", "-h"], capture_output=True, text=True, timeout=30)
    flags = {line.split()[0] for line in (help_text.stdout + help_text.stderr).splitlines() if line.startswith("  -")}
    assert container["args"][0] == "mini"
    for arg in container["args"][1:]:
        assert arg.split("=", 1)[0] in flags, f"`weed mini` {version} has no flag {arg}"
    assert env_of(by(docs, "Deployment", "seaweedfs"))["S3_EXTERNAL_URL"]["value"] == "https://s3.ml.acme.org"
    ingress = by(docs, "Ingress", "seaweedfs")
    assert ingress["spec"]["rules"][0]["host"] == "s3.ml.acme.org" == ingress["spec"]["tls"][0]["hosts"][0]


def test_a_broken_manifest_is_caught(k8s_copy):
    deployment = by(build(k8s_copy), "Deployment", "zenml-server")
    broken = copy.deepcopy(deployment)
    broken["spec"]["replica"] = broken["spec"].pop("replicas")  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, MIN_VERSION, strict=True)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, MIN_VERSION, strict=True)


def zenml_manifests(k8s, step_name: str) -> dict[str, dict]:
    """The step Job, orchestrator Job and schedule CronJob ZenML's manifest builders make from the project's
    settings (pipeline-level settings, overridden by the step's pod settings, as ZenML merges them)."""
    from kubernetes.client import ApiClient
    from zenml.integrations.kubernetes.manifest_utils import (
        build_cron_job_manifest,
        build_job_manifest,
        build_pod_manifest,
        job_template_manifest_from_job,
        pod_template_manifest_from_pod,
    )

    from instructzero.pipelines.settings import orchestrator_settings, step_retry, step_settings

    pipeline = orchestrator_settings(k8s)
    step = pipeline.model_copy(update={"pod_settings": step_settings(step_name, k8s)["orchestrator.kubernetes"].pod_settings})  # fmt: skip
    retry = step_retry(k8s)

    def job(name, settings, pod_settings, service_account, backoff_limit):
        pod = build_pod_manifest(pod_name=None, image_name="registry.example.invalid/instructzero:test",
                                 command=["python", "-m", "zenml"], args=[], privileged=False,
                                 pod_settings=pod_settings, service_account_name=service_account,
                                 env={"ZENML_STORE_URL": "https://zenml.example.com"})  # fmt: skip
        return build_job_manifest(job_name=name, pod_template=pod_template_manifest_from_pod(pod),
                                  backoff_limit=backoff_limit, ttl_seconds_after_finished=settings.ttl_seconds_after_finished,
                                  active_deadline_seconds=settings.active_deadline_seconds,
                                  pod_failure_policy=settings.pod_failure_policy)  # fmt: skip

    step_job = job("step", step, step.pod_settings, step.step_pod_service_account_name,
                   (retry.max_retries if retry else 0) + step.backoff_limit_margin)  # fmt: skip
    orchestrator_job = job("orchestrator", pipeline, pipeline.orchestrator_pod_settings, pipeline.service_account_name,
                           pipeline.orchestrator_job_backoff_limit)  # fmt: skip
    cron_job = build_cron_job_manifest(
        job_template=job_template_manifest_from_job(orchestrator_job), cron_expression="0 3 * * *",
        successful_jobs_history_limit=pipeline.successful_jobs_history_limit,
        failed_jobs_history_limit=pipeline.failed_jobs_history_limit,
        concurrency_policy=pipeline.concurrency_policy, starting_deadline_seconds=pipeline.starting_deadline_seconds,
    )  # fmt: skip
    made = {"step": step_job, "orchestrator": orchestrator_job, "schedule": cron_job}
    return {key: {"apiVersion": "batch/v1", "kind": type(m).__name__[2:], **ApiClient().sanitize_for_serialization(m)}
            for key, m in made.items()}  # fmt: skip


def test_the_jobs_and_cronjob_zenml_builds_from_the_settings_are_valid_and_cleaned_up():
    from zenml.constants import DYNAMIC_PIPELINE_RUN_FAILED_EXIT_CODE

    from instructzero.pipelines.settings import step_retry

    k8s = parse_config({"kubernetes": {"model_volume": {"claim_name": "instructzero-models"},
                                       "schedule": {"starting_deadline_s": 600}}}).kubernetes  # fmt: skip
    made = zenml_manifests(k8s, "generate_instructions")
    for manifest in made.values():
        kubernetes_validate.validate(manifest, MIN_VERSION, strict=True)
    step, orchestrator, schedule = made["step"]["spec"], made["orchestrator"]["spec"], made["schedule"]["spec"]
    assert step["ttlSecondsAfterFinished"] == orchestrator["ttlSecondsAfterFinished"] == 86_400
    assert step["backoffLimit"] == 2  # kubernetes.step_retries: Kubernetes spaces the retries itself
    rules = step["podFailurePolicy"]["rules"]
    assert rules[1]["onExitCodes"]["values"] == [DYNAMIC_PIPELINE_RUN_FAILED_EXIT_CODE]
    assert schedule["concurrencyPolicy"] == "Forbid" and schedule["startingDeadlineSeconds"] == 600
    assert (schedule["successfulJobsHistoryLimit"], schedule["failedJobsHistoryLimit"]) == (3, 3)
    assert schedule["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 86_400
    pod = step["template"]["spec"]
    assert pod["volumes"] == [{"name": "models", "persistentVolumeClaim": {"claimName": "instructzero-models",
                                                                          "readOnly": True}}]  # fmt: skip
    assert pod["containers"][0]["volumeMounts"] == [{"name": "models", "mountPath": "/models", "readOnly": True}]
    assert "volumes" not in orchestrator["template"]["spec"]  # the orchestrator pod loads no model
    # ZenML's Kubernetes orchestrator honours max_retries only, and warns per step about a delay or backoff.
    retry = step_retry(k8s)
    assert (retry.max_retries, retry.delay, retry.backoff) == (2, 0, 0)
    assert step_retry(parse_config({"kubernetes": {"step_retries": 0}}).kubernetes) is None


def test_zenml_s_own_step_job_policy_fails_strict_1_30_validation_and_ours_passes():
    """Why the project sets a complete pod failure policy: ZenML's step-Job default leaves out `status`, which the
    1.30 schema requires (an API server would default it)."""
    from instructzero.pipelines.settings import pod_failure_policy

    def job(policy):
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "step"},
                "spec": {"podFailurePolicy": policy, "template": {"spec": {
                    "restartPolicy": "Never", "containers": [{"name": "main", "image": "i"}]}}}}  # fmt: skip

    zenml_default = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}
    with pytest.raises(kubernetes_validate.ValidationError, match="'status' is a required property"):
        kubernetes_validate.validate(job(zenml_default), MIN_VERSION, strict=True)
    kubernetes_validate.validate(job(pod_failure_policy()), MIN_VERSION, strict=True)


def test_a_schedule_on_the_local_stack_names_the_stack_it_needs(zenml_store, capsys):
    assert main(["schedule", "create", "--config", "configs/smollm2.yaml", "--cron", "0 3 * * *"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'local' orchestrator, which cannot run schedules" in err
    assert "instructzero stack register" in err
