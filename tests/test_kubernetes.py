"""The pipeline on ZenML's own Kubernetes orchestrator and S3 artifact store.

Real servers where one can run here: SeaweedFS (S3) and the ZenML server. Kubernetes itself is emulated: kmock
serves the API and a test kubelet runs every pod's command as a local process in the pod's own network namespace
(`tests/k8s_emulation.py`). Every server a pod must reach listens on the cluster network's address, which the
workstation (this process) uses too: one URL for both, as an Ingress gives; a loopback URL reaches nothing from a
pod. The API speaks TLS and wants a token: the workstation has an admin kubeconfig, pods run as their service
accounts with the in-cluster config, and every request a service account makes is checked against `k8s/rbac.yaml`.
The ZenML server runs with the manifest's auth settings; the workstation logs in with a service account's API key.
The command, the stack registration and the schedules are driven through the `instructzero` command in
subprocesses, as a user would. Cluster runs are few and do much each (every run costs minutes of pod start-ups).
"""

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from conftest import REPO
from fake_openai import FakeOpenAIServer, Fault
from test_pipeline import hashed_answer

BUCKET = "instructzero-k8s"
NAMESPACE = "instructzero"
API_KEY = "sk-from-a-kubernetes-secret"
ADMIN_PASSWORD = "an-admin-password"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, k8s_emulator):
    """SeaweedFS and a ZenML server on the cluster network's address, kmock + test kubelet, the stack registered.

    The ZenML server runs with `k8s/zenml-server.yaml`'s auth settings (OAuth2, a persistent JWT key, encrypted
    secrets); its admin account exists (what opening the dashboard once does), and the workstation logs in the way
    the README gives for CI: a service account's API key. Pods get their tokens from the server."""
    from servers import SeaweedFS, ZenMLServer, manifest_server_env

    root = tmp_path_factory.mktemp("k8s")
    kmock, kubelet = k8s_emulator
    assert kmock.namespace == NAMESPACE
    host = kubelet.network.host_ip
    s3 = SeaweedFS(data_dir=root / "seaweedfs", host=host).start()
    env, _ = manifest_server_env(REPO / "k8s" / "zenml-server.yaml")
    env.update(ZENML_SERVER_AUTO_ACTIVATE="true", ZENML_DEFAULT_USER_PASSWORD=ADMIN_PASSWORD)
    try:
        server = ZenMLServer(base_dir=root / "zenml-server", host=host, extra_env=env).start()
    except BaseException:
        s3.stop()
        raise
    try:
        yield _registered(root, s3, server, kmock, kubelet)
    finally:
        server.stop()
        s3.stop()


def _registered(root, s3, server, kmock, kubelet) -> dict:
    s3.ensure_bucket(BUCKET)
    # The black box's key, as `kubectl apply -k k8s/` would create it from blackbox.env.
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "instructzero-blackbox"},
              "data": {"IZ_TEST_KEY": base64.b64encode(API_KEY.encode()).decode()}}  # fmt: skip
    requests.post(f"{kmock.url}/api/v1/namespaces/{NAMESPACE}/secrets", json=secret, timeout=10).raise_for_status()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "AWS_"))}
    env.update(ZENML_STORE_URL=server.url, ZENML_CONFIG_PATH=str(root / "admin"), ZENML_ANALYTICS_OPT_IN="false",
               ZENML_STORE_USERNAME="default", ZENML_STORE_PASSWORD=ADMIN_PASSWORD)  # fmt: skip
    created = subprocess.run([str(Path(sys.executable).parent / "zenml"), "service-account", "create", "ci"],
                             env={**env, "COLUMNS": "1000"}, capture_output=True, text=True, timeout=300)  # fmt: skip
    api_key = re.search(r"ZENKEY_[A-Za-z0-9+/=_-]+", created.stdout + created.stderr)
    assert created.returncode == 0 and api_key, (created.stdout + created.stderr)[-2000:]
    for name in ("ZENML_STORE_USERNAME", "ZENML_STORE_PASSWORD"):
        del env[name]
    env.update(ZENML_STORE_API_KEY=api_key.group(0), ZENML_CONFIG_PATH=str(root / "client"),
               KUBECONFIG=str(kmock.kubeconfig_path), AWS_ACCESS_KEY_ID=s3.access_key,
               AWS_SECRET_ACCESS_KEY=s3.secret_key, IZ_TEST_KEY=API_KEY)  # fmt: skip
    cluster = {"s3": s3, "server": server, "kmock": kmock, "kubelet": kubelet, "env": env, "root": root,
               "host": kubelet.network.host_ip}  # fmt: skip
    registered = instructzero(cluster, *register_stack_argv(cluster))
    assert registered.returncode == 0, registered.stderr[-2000:]
    assert "created stack instructzero-k8s" in registered.stdout
    return cluster


def register_stack_argv(cluster) -> list[str]:
    return ["stack", "register", "--artifact-path", f"s3://{BUCKET}/runs", "--endpoint-url",
            cluster["s3"].endpoint_url, "--region", "us-east-1", "--container-registry",
            "registry.example.invalid/instructzero", "--kube-context", "kmock", "--namespace", NAMESPACE]  # fmt: skip


def instructzero(cluster, *argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "instructzero", *argv], cwd=REPO, env=cluster["env"],
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def k8s_config(cluster, base_url, tiny_lm_dir, **kubernetes) -> str:
    config = {
        "seed": 5,
        "task": {"source": "builtin", "name": "sum", "n_validation": 4, "max_test": 10, "checks": {"min_test_rows": 5}},
        "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 4},
        "blackbox": {"backend": "openai", "base_url": base_url, "model": "stub-model", "api_key_env": "IZ_TEST_KEY",
                     "cache_path": str(cluster["root"] / "cache.sqlite")},
        "bo": {"n_init": 3, "n_rounds": 0, "num_restarts": 1, "raw_samples": 16},
        "evaluation": {"bootstrap_samples": 100},
        "registry": {"force_promotion": True},  # production exists for the re-check schedule's run
        "kubernetes": {"image": "registry.example.invalid/instructzero:test", "step_retries": 0,
                       "secret_env": {"IZ_TEST_KEY": "instructzero-blackbox"},
                       "generate": {"gpu": 1, "cpu": "1", "memory": "1Gi", "node_selector": {"pool": "gpu"},
                                    "tolerations": [GPU_TOLERATION]},
                       **kubernetes},
    }  # fmt: skip
    path = cluster["root"] / f"config-{len(list(cluster['root'].glob('config-*')))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def pods(cluster) -> list[dict]:
    """The last stored version of every pod ever created."""
    return [[v for v in o["history"] if v][-1] for o in cluster["kmock"].objects() if o["resource"] == "v1/pods"]


def test_the_cluster_api_checks_tokens_and_the_rbac_rules_of_k8s(k8s_emulator):
    """The emulated API answers a service account only what `k8s/rbac.yaml` grants it, like an API server."""
    kmock, _ = k8s_emulator
    ca = str(kmock.ca_path)

    def token(account: str) -> str:
        minted = requests.post(f"{kmock.url}/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{account}/token",
                               json={"spec": {}}, timeout=10)  # fmt: skip
        minted.raise_for_status()
        return minted.json()["status"]["token"]

    def call(method: str, path: str, account: str | None, body: dict | None = None) -> int:
        headers = {"Authorization": f"Bearer {token(account)}"} if account else {}
        with requests.request(method, kmock.api_url + path, json=body, headers=headers, verify=ca, timeout=10,
                              stream=True) as response:  # a watch streams on  # fmt: skip
            return response.status_code

    jobs, pods = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", f"/api/v1/namespaces/{NAMESPACE}/pods"
    job = {"metadata": {"name": "rbac-probe"}, "spec": {"suspend": True, "template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "main", "image": "x", "command": ["true"]}]}}}}  # fmt: skip
    assert call("GET", pods, None) == 401  # no token: the cluster's address is not the harness
    assert call("POST", jobs, "zenml-orchestrator", job) in (200, 201)
    assert call("GET", f"{pods}?watch=true&timeoutSeconds=1", "zenml-orchestrator") == 200
    assert call("GET", f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs", "zenml-orchestrator") == 403  # not granted
    assert call("GET", "/api/v1/namespaces/default/pods", "zenml-orchestrator") == 403  # a RoleBinding is per namespace
    assert call("GET", pods, "instructzero-step") == 403  # step pods have no rights on the API
    assert call("DELETE", f"{jobs}/rbac-probe", "zenml-orchestrator") == 200
    with pytest.raises(requests.HTTPError):
        token("no-such-account")
    denied = [(a["user"].rsplit(":", 1)[1], a["verb"], a["resource"], a["namespace"]) for a in kmock.audit()
              if not a["allowed"]]  # fmt: skip
    assert denied == [("zenml-orchestrator", "list", "cronjobs", NAMESPACE), ("zenml-orchestrator", "list", "pods", "default"),
                      ("instructzero-step", "list", "pods", NAMESPACE)]  # fmt: skip
    pod = {"metadata": {"name": "orphan"}, "spec": {"serviceAccountName": "missing",
                                                    "containers": [{"name": "main", "image": "x"}]}}  # fmt: skip
    refused = requests.post(kmock.url + pods, json=pod, timeout=10)
    assert refused.status_code == 403 and 'serviceaccount "missing" not found' in refused.json()["message"]


def run_pods(cluster, run_id: str) -> dict[str, list[dict]]:
    """A run's step pods by step name (`<task>.<step>` in a fleet), oldest first; the orchestrator pod under ''."""
    by_step: dict[str, list[dict]] = {}
    for pod in pods(cluster):
        labels = pod["metadata"].get("labels") or {}
        if labels.get("run_id") == run_id:
            by_step.setdefault(labels.get("step_name", ""), []).append(pod)
    return by_step


def wait_for_job(cluster, job: str, timeout: float = 900) -> list[str]:
    """The conditions of a Job once it completed or failed (or at the deadline)."""
    import time

    deadline, conditions = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        status = requests.get(f"{cluster['kmock'].url}/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job}", timeout=10).json()
        conditions = [c["type"] for c in (status.get("status") or {}).get("conditions") or []]
        if "Complete" in conditions or "Failed" in conditions:
            break
        time.sleep(2)
    return conditions


def cronjobs(cluster) -> dict[str, str]:
    listed = requests.get(f"{cluster['kmock'].url}/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs", timeout=10).json()
    return {c["metadata"]["name"]: c["spec"]["schedule"] for c in listed.get("items", [])}


def production(cluster, task: str) -> dict:
    shown = instructzero(cluster, "prompt", task, "--format", "json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    return json.loads(shown.stdout)


def rechecks(cluster, model: str, version: str) -> list:
    """The `rechecks` series recorded on one registry version (what `recheck_production` writes)."""
    script = ("import json, sys; from zenml.client import Client; "
              "v = Client().get_model_version(sys.argv[1], sys.argv[2]); "
              "print(json.dumps(v.run_metadata.get('rechecks', [])))")  # fmt: skip
    shown = subprocess.run([sys.executable, "-c", script, model, str(version)], cwd=REPO, env=cluster["env"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    return json.loads(shown.stdout.strip().splitlines()[-1])


def test_a_fleet_runs_as_parallel_pods_of_its_service_accounts_and_a_task_with_a_loopback_url_fails_alone(
    cluster, tiny_lm_dir
):
    """One run of a three-task fleet on the cluster (`kubernetes.max_parallel_pods: 2`), as a user runs it:

    * every step is a pod of one run, pods of different tasks side by side and never more than two at once (the
      test kubelet's start and finish events); only generation pods carry the GPU limit, node selector and
      tolerations; the key comes from the Secret; artifacts land in the bucket;
    * pods run as their service accounts: the orchestrator pod's every request to the API is within its Role
      (`k8s/rbac.yaml`), step pods have no token and make none;
    * a step pod that fails is retried (`step_retries: 1`, the Job's backoff limit) and its task still finishes;
    * a task whose black-box URL is `127.0.0.1` passes the workstation's check but reaches nothing from its pods,
      as on a real cluster: it fails alone, the command exits 2 naming it, the other tasks are registered.
    """
    again = instructzero(cluster, *register_stack_argv(cluster))  # idempotent: all updated, nothing duplicated
    assert again.returncode == 0 and "created" not in again.stdout and again.stdout.count("updated") == 6
    kmock, kubelet = cluster["kmock"], cluster["kubelet"]
    audited, first_event = len(kmock.audit()), len(kubelet.events)
    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server, \
            FakeOpenAIServer(hashed_answer, api_key=API_KEY, model="loopback-model") as loopback:  # fmt: skip
        fleet = yaml.safe_load(open(k8s_config(cluster, server.base_url, tiny_lm_dir, step_retries=1,
                                               max_parallel_pods=2)))  # fmt: skip
        fleet["blackbox"]["max_retries"] = 0  # the black box's one error fails a scoring pod: the Job retries it
        fleet["tasks"] = {"sum": {}, "larger": {}, "loopback": {
            "task": {"name": "sum"}, "registry": {"model_name": "instructzero-loopback"},
            "blackbox": {"base_url": loopback.base_url, "model": "loopback-model"}}}  # fmt: skip
        path = cluster["root"] / "fleet.yaml"
        path.write_text(yaml.safe_dump(fleet))
        server.inject(Fault.http(500))  # the first scoring call of the cluster's black box fails
        done = instructzero(cluster, "run", "--config", str(path), timeout=1200)
    assert done.returncode == 2, (done.stdout + done.stderr)[-3000:]
    assert "1 of 3 tasks failed (loopback: " in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr
    assert loopback.model_listings and not loopback.requests  # the workstation reached it, no pod did
    assert [r.fault.status for r in server.requests if r.fault] == [500]
    assert all(r.auth == f"Bearer {API_KEY}" for r in server.requests)  # the key from the Secret
    run_id = re.search(r"ZenML run ([0-9a-f-]{36})", done.stdout).group(1)
    by_step = run_pods(cluster, run_id)

    assert {"sum.promote", "larger.promote"} <= set(by_step) and "loopback.promote" not in by_step
    assert all(pod["status"]["phase"] == "Succeeded" for pod in by_step["sum.promote"] + by_step["larger.promote"])
    scoring = [[p["status"]["phase"] for p in by_step[f"{task}.score_instructions_round_0"]] for task in ("sum", "larger")]
    assert sorted(scoring) == [["Failed", "Succeeded"], ["Succeeded"]]  # one retry, where the error hit
    unreachable = by_step["loopback.score_instructions_round_0"]
    assert [p["status"]["phase"] for p in unreachable] == ["Failed", "Failed"]  # retried, unreachable again
    assert all(p["status"]["podIP"] != "127.0.0.1" for p in unreachable)  # its own network namespace

    for name, (*_, pod) in by_step.items():
        assert pod["spec"]["serviceAccountName"] == ("instructzero-step" if name else "zenml-orchestrator")
        if not name or name.startswith("loopback."):
            continue
        container = pod["spec"]["containers"][0]
        limits = container.get("resources", {}).get("limits", {})
        if ".generate_instructions" in name:
            assert limits.get("nvidia.com/gpu") == "1" and pod["spec"]["nodeSelector"] == {"pool": "gpu"}
            assert GPU_TOLERATION in pod["spec"]["tolerations"]
        else:
            assert "nvidia.com/gpu" not in limits and not pod["spec"].get("nodeSelector"), name
            assert container["resources"]["requests"]["cpu"], name
        assert {"name": "IZ_TEST_KEY", "valueFrom": {"secretKeyRef": {"name": "instructzero-blackbox",
                                                                       "key": "IZ_TEST_KEY"}}} in container["env"]  # fmt: skip
        assert API_KEY not in json.dumps(pod)  # only a reference to the secret

    audit = kmock.audit()[audited:]
    assert {a["user"] for a in audit} == {f"system:serviceaccount:{NAMESPACE}:zenml-orchestrator"}
    assert [a for a in audit if not a["allowed"]] == []
    assert {"create", "get"} <= {a["verb"] for a in audit if a["resource"] == "jobs"}

    task_of = {p["metadata"]["name"]: name.split(".")[0] for name, ps in by_step.items() if name for p in ps}
    running, most, together = set(), 0, False
    for _, kind, message in kubelet.events[first_event:]:
        pod = re.match(r"pod [^/]+/(\S+)", message)
        if kind not in ("Started", "Finished", "Killing") or not pod or pod.group(1) not in task_of:
            continue
        (running.add if kind == "Started" else running.discard)(pod.group(1))
        most = max(most, len(running))
        together |= len({task_of[p] for p in running}) > 1
    assert most == 2 and together, (most, together)
    objects = cluster["s3"].boto3_client().list_objects_v2(Bucket=BUCKET, Prefix="runs/")["KeyCount"]
    assert objects > 20  # artifacts, step logs and the code archive


def test_a_schedule_is_one_cronjob_for_the_whole_fleet_that_can_be_listed_updated_and_deleted(cluster, tiny_lm_dir):
    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server:
        fleet = yaml.safe_load(open(k8s_config(cluster, server.base_url, tiny_lm_dir)))
        fleet["tasks"] = {"sum": {}, "larger": {}}
        path = cluster["root"] / "fleet-schedule.yaml"
        path.write_text(yaml.safe_dump(fleet))
        created = instructzero(cluster, "schedule", "create", "--config", str(path), "--cron", "0 3 * * *",
                               "--name", "nightly")  # fmt: skip
    assert created.returncode == 0, created.stderr[-2000:]
    assert list(cronjobs(cluster).values()) == ["0 3 * * *"]
    listed = instructzero(cluster, "schedule", "list")
    assert "nightly  0 3 * * *" in listed.stdout
    updated = instructzero(cluster, "schedule", "update", "--name", "nightly", "--cron", "30 4 * * *")
    assert updated.returncode == 0 and list(cronjobs(cluster).values()) == ["30 4 * * *"]
    deleted = instructzero(cluster, "schedule", "delete", "--name", "nightly")
    assert deleted.returncode == 0 and cronjobs(cluster) == {}


@pytest.mark.timeout(1800)
def test_the_fleets_recheck_schedule_fired_once_rechecks_every_task_and_reoptimizes_only_the_regressed_one(
    cluster, tiny_lm_dir
):
    """The nightly re-check is a ZenML schedule of the re-check pipeline for the whole fleet: its CronJob (no
    hand-made one), fired once, runs in pods with the credentials the server gave it, re-checks each task's
    production prompt and, in the same run, re-optimizes only the task whose black box got worse."""
    before = {task: production(cluster, task) for task in ("sum", "larger")}
    audited = len(cluster["kmock"].audit())
    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server, \
            FakeOpenAIServer(lambda prompt: "no idea", api_key=API_KEY, host=cluster["host"]) as worse:  # fmt: skip
        fleet = yaml.safe_load(open(k8s_config(cluster, server.base_url, tiny_lm_dir)))
        fleet["recheck"] = {"reoptimize": True}
        fleet["tasks"] = {"sum": {"blackbox": {"base_url": worse.base_url},  # the model behind the name changed
                                  "recheck": {"fresh_answers": True}}, "larger": {}}  # fmt: skip
        path = cluster["root"] / "fleet-recheck.yaml"
        path.write_text(yaml.safe_dump(fleet))
        created = instructzero(cluster, "schedule", "create", "--config", str(path), "--cron", "0 2 * * *",
                               "--pipeline", "recheck", "--name", "nightly-recheck")  # fmt: skip
        assert created.returncode == 0, created.stderr[-2000:]
        (cronjob,) = cronjobs(cluster)
        job = cluster["kubelet"].trigger_cronjob(NAMESPACE, cronjob)  # what the cron controller does at 02:00
        conditions = wait_for_job(cluster, job, timeout=1500)
    assert "Complete" in conditions, conditions
    after = {task: production(cluster, task) for task in ("sum", "larger")}
    # each re-check is recorded on the version that was in production when it ran
    recorded = {task: rechecks(cluster, before[task]["model_name"], before[task]["version"]) for task in before}
    for task in ("sum", "larger"):
        assert len(recorded[task]) == len(before[task].get("rechecks") or []) + 1, task
    assert recorded["sum"][-1]["regression"] is True and recorded["larger"][-1]["regression"] is False
    assert int(after["larger"]["version"]) == int(before["larger"]["version"])  # healthy: re-checked only
    assert int(after["sum"]["version"]) > int(before["sum"]["version"])  # regressed: re-optimized, promoted
    in_recheck = {(p["metadata"].get("labels") or {}).get("step_name"): p for p in pods(cluster)
                  if "recheck-pipeline" in p["metadata"]["name"]}  # fmt: skip
    assert {"sum.recheck_production", "larger.recheck_production", "sum.generate_instructions_round_0"} <= set(in_recheck)
    assert "larger.generate_instructions_round_0" not in in_recheck

    def lifetime(pod: dict) -> tuple[str, str]:
        (container,) = pod["status"]["containerStatuses"]
        return pod["metadata"]["creationTimestamp"], container["state"]["terminated"]["finishedAt"]

    loads = [lifetime(in_recheck[f"{task}.load_task"]) for task in ("sum", "larger")]
    assert max(created for created, _ in loads) < min(finished for _, finished in loads)  # the tasks side by side
    generate = in_recheck["sum.generate_instructions_round_0"]  # the dynamic run's generation pod has the GPU
    assert generate["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu") == "1"
    (orchestrator_log,) = cluster["kmock"].pod_log_dir.glob(f"{NAMESPACE}_{job}-*_main.log")
    assert "Failed to fetch orchestrator job name" not in orchestrator_log.read_text()  # in-cluster from the start
    audit = cluster["kmock"].audit()[audited:]  # the dynamic run's pod launched every step pod within its Role
    assert [a for a in audit if not a["allowed"]] == [] and {"create", "get"} <= {a["verb"] for a in audit}
    assert instructzero(cluster, "schedule", "delete", "--name", "nightly-recheck").returncode == 0


def test_every_job_and_cronjob_the_orchestrator_created_is_valid_for_kubernetes_1_30(cluster):
    import kubernetes_validate

    made = [{**c["body"], "apiVersion": c["body"].get("apiVersion") or c.get("apiVersion"),
             "kind": c["body"].get("kind") or c.get("kind")} for c in cluster["kmock"].created()]  # fmt: skip
    made = [m for m in made if m["kind"] in ("Job", "CronJob")]
    assert {m["kind"] for m in made} == {"Job", "CronJob"}
    for manifest in made:
        kubernetes_validate.validate(manifest, "1.30", strict=True)
