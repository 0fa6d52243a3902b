"""The pipeline on ZenML's own Kubernetes orchestrator and S3 artifact store.

Real servers where one can run here: SeaweedFS (S3) and the ZenML server. Kubernetes itself is emulated: kmock
serves the API and a test kubelet runs every pod's command as a local process in the pod's own network namespace
(`tests/k8s_emulation.py`). Every server a pod must reach listens on the cluster network's address, which the
workstation (this process) uses too: one URL for both, as an Ingress gives; a loopback URL reaches nothing from a
pod. The command, the stack registration and the schedules are driven through the `instructzero` command in
subprocesses, as a user would.
"""

import base64
import json
import os
import subprocess
import sys

import pytest
import requests
import yaml
from conftest import REPO
from fake_openai import FakeOpenAIServer
from test_pipeline import hashed_answer

BUCKET = "instructzero-k8s"
NAMESPACE = "zenml"
API_KEY = "sk-from-a-kubernetes-secret"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, k8s_emulator):
    """SeaweedFS and a ZenML server on the cluster network's address, kmock + test kubelet, the stack registered."""
    from servers import SeaweedFS, ZenMLServer

    root = tmp_path_factory.mktemp("k8s")
    kmock, kubelet = k8s_emulator
    assert kmock.namespace == NAMESPACE
    host = kubelet.network.host_ip
    s3 = SeaweedFS(data_dir=root / "seaweedfs", host=host).start()
    try:
        server = ZenMLServer(base_dir=root / "zenml-server", host=host).start()
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
    env.update(ZENML_STORE_URL=server.url, ZENML_CONFIG_PATH=str(root / "client"), KUBECONFIG=str(kmock.kubeconfig_path),
               ZENML_ANALYTICS_OPT_IN="false", AWS_ACCESS_KEY_ID=s3.access_key,
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


def test_the_pipeline_runs_as_pods_with_gpu_only_on_generation_and_artifacts_in_s3(cluster, tiny_lm_dir):
    again = instructzero(cluster, *register_stack_argv(cluster))  # idempotent: all updated, nothing duplicated
    assert again.returncode == 0 and "created" not in again.stdout and again.stdout.count("updated") == 6

    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server:
        done = instructzero(cluster, "run", "--config", k8s_config(cluster, server.base_url, tiny_lm_dir))
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "best instruction:" in done.stdout and "registry:" in done.stdout
    assert server.requests and all(r.auth == f"Bearer {API_KEY}" for r in server.requests)  # the key from the secret

    steps = {(p["metadata"].get("labels") or {}).get("step_name", ""): p for p in pods(cluster)}
    assert {"load_task", "sample_projection", "generate_instructions_round_0", "score_instructions_round_0",
            "evaluate_on_test", "promote"} <= set(steps)  # fmt: skip
    for name, pod in steps.items():
        if not name:
            continue  # the orchestrator pod
        container = pod["spec"]["containers"][0]
        assert pod["status"]["phase"] == "Succeeded", name
        limits = container.get("resources", {}).get("limits", {})
        if name.startswith("generate_instructions"):
            assert limits.get("nvidia.com/gpu") == "1" and pod["spec"]["nodeSelector"] == {"pool": "gpu"}
            assert GPU_TOLERATION in pod["spec"]["tolerations"]
        else:
            assert "nvidia.com/gpu" not in limits and not pod["spec"].get("nodeSelector"), name
            assert container["resources"]["requests"]["cpu"], name
        assert {"name": "IZ_TEST_KEY", "valueFrom": {"secretKeyRef": {"name": "instructzero-blackbox",
                                                                       "key": "IZ_TEST_KEY"}}} in container["env"]  # fmt: skip
        assert API_KEY not in json.dumps(pod)  # only a reference to the secret
    objects = cluster["s3"].boto3_client().list_objects_v2(Bucket=BUCKET, Prefix="runs/")["KeyCount"]
    assert objects > 20  # artifacts, step logs and the code archive


def test_a_loopback_url_reaches_nothing_from_a_pod_and_the_failing_step_fails_the_command(cluster, tiny_lm_dir):
    """The black box on 127.0.0.1 answers the workstation's check but not the pods, as on a real cluster."""
    with FakeOpenAIServer(hashed_answer, api_key=API_KEY) as server:  # loopback only
        config = k8s_config(cluster, server.base_url, tiny_lm_dir)
        data = yaml.safe_load(open(config))
        data["blackbox"].update(max_retries=0, retry_base_s=0.01, cache_namespace="loopback",  # nothing paid yet
                                cache_path=str(cluster["root"] / "loopback.sqlite"))  # fmt: skip
        open(config, "w").write(yaml.safe_dump(data))
        done = instructzero(cluster, "run", "--config", config)
    assert server.model_listings or server.requests  # the workstation reached it
    assert done.returncode == 2 and "ended failed in step score_instructions_round_0" in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().count("\n") == 0
    failed = [p for p in pods(cluster) if (p["metadata"].get("labels") or {}).get("step_name") == "score_instructions_round_0"]
    assert failed and failed[-1]["status"]["podIP"] != "127.0.0.1"  # it ran in its own network namespace


def test_a_schedule_is_a_cronjob_that_can_be_listed_updated_and_deleted(cluster, tiny_lm_dir):
    kmock = cluster["kmock"]

    def cronjobs():
        listed = requests.get(f"{kmock.url}/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs", timeout=10).json()
        return {c["metadata"]["name"]: c["spec"]["schedule"] for c in listed.get("items", [])}

    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server:
        config = k8s_config(cluster, server.base_url, tiny_lm_dir)
        created = instructzero(cluster, "schedule", "create", "--config", config, "--cron", "0 3 * * *",
                               "--name", "nightly")  # fmt: skip
    assert created.returncode == 0, created.stderr[-2000:]
    assert list(cronjobs().values()) == ["0 3 * * *"]
    listed = instructzero(cluster, "schedule", "list")
    assert "nightly  0 3 * * *" in listed.stdout
    updated = instructzero(cluster, "schedule", "update", "--name", "nightly", "--cron", "30 4 * * *")
    assert updated.returncode == 0 and list(cronjobs().values()) == ["30 4 * * *"]
    deleted = instructzero(cluster, "schedule", "delete", "--name", "nightly")
    assert deleted.returncode == 0 and cronjobs() == {}


def test_the_recheck_schedule_runs_in_the_cluster_when_its_cronjob_fires(cluster, tiny_lm_dir):
    """The nightly re-check is a ZenML schedule of the re-check pipeline: its CronJob, fired once, runs the pipeline
    in pods (no hand-made CronJob, no kube context inside the cluster) and records the re-check on production."""
    import time

    kmock, kubelet = cluster["kmock"], cluster["kubelet"]

    def rechecks() -> int:
        shown = instructzero(cluster, "prompt", "sum", "--format", "json")
        assert shown.returncode == 0, shown.stderr[-2000:]
        return len(json.loads(shown.stdout).get("rechecks") or [])

    before = rechecks()
    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server:
        config = k8s_config(cluster, server.base_url, tiny_lm_dir)
        created = instructzero(cluster, "schedule", "create", "--config", config, "--cron", "0 2 * * *",
                               "--pipeline", "recheck", "--name", "nightly-recheck")  # fmt: skip
        assert created.returncode == 0, created.stderr[-2000:]
        listed = requests.get(f"{kmock.url}/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs", timeout=10).json()
        (cronjob,) = [c["metadata"]["name"] for c in listed["items"]]
        job = kubelet.trigger_cronjob(NAMESPACE, cronjob)  # what the cron controller does at 02:00
        deadline, conditions = time.monotonic() + 480, []
        while time.monotonic() < deadline:
            status = requests.get(f"{kmock.url}/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job}", timeout=10).json()
            conditions = [c["type"] for c in (status.get("status") or {}).get("conditions") or []]
            if "Complete" in conditions or "Failed" in conditions:
                break
            time.sleep(2)
    assert "Complete" in conditions, conditions
    assert rechecks() == before + 1
    instructzero(cluster, "schedule", "delete", "--name", "nightly-recheck")


def test_every_job_and_cronjob_the_orchestrator_created_is_valid_for_kubernetes_1_30(cluster):
    import kubernetes_validate

    made = [{**c["body"], "apiVersion": c["body"].get("apiVersion") or c.get("apiVersion"),
             "kind": c["body"].get("kind") or c.get("kind")} for c in cluster["kmock"].created()]  # fmt: skip
    made = [m for m in made if m["kind"] in ("Job", "CronJob")]
    assert {m["kind"] for m in made} == {"Job", "CronJob"}
    for manifest in made:
        kubernetes_validate.validate(manifest, "1.30", strict=True)


def test_a_fleet_runs_its_tasks_as_parallel_step_pods_never_more_than_max_parallel_pods(cluster, tiny_lm_dir):
    """Three tasks, `kubernetes.max_parallel_pods: 2`: every task's steps run as pods of one run and each task
    registers its winner; pods of different tasks run side by side, and never more than two step pods run at once
    (counted in the order of the test kubelet's own start and finish events)."""
    import re

    kubelet = cluster["kubelet"]
    first_event = len(kubelet.events)
    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server:
        fleet = yaml.safe_load(open(k8s_config(cluster, server.base_url, tiny_lm_dir, max_parallel_pods=2)))
        fleet["tasks"] = {"sum": {}, "larger": {}, "sum_copy": {"task": {"name": "sum"},
                                                                 "registry": {"model_name": "instructzero-sum-copy"}}}
        path = cluster["root"] / "fleet.yaml"
        path.write_text(yaml.safe_dump(fleet))
        done = instructzero(cluster, "run", "--config", str(path), timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert sorted(line.split()[2] for line in done.stdout.splitlines() if line.startswith("== task")) == \
        ["larger", "sum", "sum_copy"] and done.stdout.count("registry:          ") == 3  # fmt: skip
    run_id = re.search(r"ZenML run ([0-9a-f-]{36})", done.stdout).group(1)

    step_of = {p["metadata"]["name"]: p["metadata"]["labels"]["step_name"] for p in pods(cluster)
               if (p["metadata"].get("labels") or {}).get("run_id") == run_id
               and (p["metadata"].get("labels") or {}).get("step_name")}  # fmt: skip
    assert {name.split(".")[0] for name in step_of.values()} == {"sum", "larger", "sum_copy"}
    assert {"sum.promote", "larger.promote", "sum_copy.promote"} <= set(step_of.values())
    running, most, together = set(), 0, False
    for _, kind, message in kubelet.events[first_event:]:
        pod = re.match(r"pod [^/]+/(\S+)", message)
        if kind not in ("Started", "Finished") or not pod or pod.group(1) not in step_of:
            continue
        (running.add if kind == "Started" else running.discard)(pod.group(1))
        most = max(most, len(running))
        together |= len({step_of[p].split(".")[0] for p in running}) > 1
    assert most == 2 and together, (most, together)


def test_a_recheck_that_finds_a_regression_reoptimizes_in_pods_of_the_same_run(cluster, tiny_lm_dir):
    """The re-check pipeline is dynamic: on a regression with `recheck.reoptimize` its orchestrator pod adds the
    optimization's steps, each in a pod of its own (generation with the GPU), in the same run."""
    import re

    with FakeOpenAIServer(lambda prompt: "no idea", api_key=API_KEY, host=cluster["host"]) as server:
        config = yaml.safe_load(open(k8s_config(cluster, server.base_url, tiny_lm_dir)))
        config["recheck"] = {"fresh_answers": True, "reoptimize": True}  # the model behind the name got worse
        path = cluster["root"] / "reoptimize.yaml"
        path.write_text(yaml.safe_dump(config))
        done = instructzero(cluster, "recheck", "sum", "--config", str(path), timeout=900)
    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    assert "regression: test score 0.000" in done.stdout and "re-optimized:" in done.stdout
    run_id = re.search(r"run ([0-9a-f-]{36})\)", done.stdout).group(1)
    steps = {(p["metadata"].get("labels") or {}).get("step_name"): p for p in pods(cluster)
             if (p["metadata"].get("labels") or {}).get("run_id") == run_id}  # fmt: skip
    assert {"load_task", "recheck_production", "generate_instructions_round_0", "promote"} <= set(steps)
    generate = steps["generate_instructions_round_0"]
    assert generate["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu") == "1"
    assert all(p["status"]["phase"] == "Succeeded" for name, p in steps.items() if name)


def test_one_schedule_runs_the_whole_fleet_when_its_cronjob_fires(cluster, tiny_lm_dir):
    """`schedule create` with a fleet config makes one CronJob; fired once, it runs every task's branch in pods."""
    import time

    kmock, kubelet = cluster["kmock"], cluster["kubelet"]

    def cronjobs() -> set[str]:
        listed = requests.get(f"{kmock.url}/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs", timeout=10).json()
        return {c["metadata"]["name"] for c in listed.get("items", [])}

    before, earlier_pods = cronjobs(), {p["metadata"]["name"] for p in pods(cluster)}
    with FakeOpenAIServer(hashed_answer, api_key=API_KEY, host=cluster["host"]) as server:
        fleet = yaml.safe_load(open(k8s_config(cluster, server.base_url, tiny_lm_dir)))
        fleet["tasks"] = {"sum": {}, "larger": {}}
        path = cluster["root"] / "fleet-schedule.yaml"
        path.write_text(yaml.safe_dump(fleet))
        created = instructzero(cluster, "schedule", "create", "--config", str(path), "--cron", "0 4 * * *",
                               "--name", "fleet-nightly")  # fmt: skip
        assert created.returncode == 0, created.stderr[-2000:]
        (cronjob,) = cronjobs() - before
        job = kubelet.trigger_cronjob(NAMESPACE, cronjob)
        deadline, conditions = time.monotonic() + 600, []
        while time.monotonic() < deadline:
            status = requests.get(f"{kmock.url}/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{job}", timeout=10).json()
            conditions = [c["type"] for c in (status.get("status") or {}).get("conditions") or []]
            if "Complete" in conditions or "Failed" in conditions:
                break
            time.sleep(2)
    assert "Complete" in conditions, conditions
    steps = {(p["metadata"].get("labels") or {}).get("step_name"): p["status"]["phase"] for p in pods(cluster)
             if p["metadata"]["name"] not in earlier_pods}  # fmt: skip
    assert steps.get("sum.promote") == steps.get("larger.promote") == "Succeeded", steps
    assert instructzero(cluster, "schedule", "delete", "--name", "fleet-nightly").returncode == 0
