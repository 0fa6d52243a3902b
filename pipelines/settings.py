"""ZenML settings for a Kubernetes stack, from the run config's `kubernetes` section.

Stated once per step kind and applied to every round's step of that kind:
`generate` requests the GPU (with its node selector and tolerations), the
others CPU and memory only. ZenML 0.98's Kubernetes orchestrator ignores
`ResourceSettings`; resources go into `KubernetesPodSettings`. The black box's
key reaches the step pods from a Kubernetes secret (`secret_env`), never through
a config or an artifact; model weights may come from a volume (`model_volume`).
Finished Jobs are deleted after `job_ttl_s`; a schedule's CronJob gets its
concurrency policy and history limits from `schedule`. On the local orchestrator
these settings are inert.
"""

from __future__ import annotations

from typing import Any

from instructzero.config.kubernetes import KubernetesConfig, StepPodConfig
from instructzero.steps import names

#: Step name (without the round suffix) -> step kind of `KubernetesConfig`.
STEP_KINDS = {
    names.GENERATE_INSTRUCTIONS: "generate",
    names.SCORE_INSTRUCTIONS: "score",
    names.UPDATE_GP: "gp",
    names.INITIAL_DESIGN: "gp",
    names.SELECT_INSTRUCTION: "score",
    names.EVALUATE_ON_TEST: "evaluate",
    names.RECHECK_PRODUCTION: "evaluate",
}
#: Name of the model volume in the step pods.
MODEL_VOLUME = "models"


def pod_failure_policy() -> dict[str, Any]:
    """ZenML's own failure policy of its orchestrator Job, for every Job of the run.

    Set at pipeline level, `pod_failure_policy` replaces ZenML's default of the orchestrator Job and of the
    step Jobs alike, so the orchestrator Job's rules are kept in full: disruptions (eviction, preemption) do
    not count, ZenML's exit code of a dynamic run that already failed ends the Job at once, any other failure
    of the `main` container counts against the backoff limit. ZenML's step-Job default leaves `status` out of
    its DisruptionTarget condition: an API server defaults it to "True", but the OpenAPI schema of
    Kubernetes 1.30 requires it, so a strict schema check (kubernetes-validate --strict, kubeconform) rejects
    that Job. This policy is complete and validates strictly (tests/test_manifests.py).
    """
    from zenml.constants import DYNAMIC_PIPELINE_RUN_FAILED_EXIT_CODE

    return {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In",
                                                  "values": [DYNAMIC_PIPELINE_RUN_FAILED_EXIT_CODE]}},
            {"action": "Count", "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [0]}},
        ]
    }  # fmt: skip


def _pod_settings(pod: StepPodConfig, k8s: KubernetesConfig):
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    requests = {k: v for k, v in {"cpu": pod.cpu, "memory": pod.memory}.items() if v}
    limits = {"memory": pod.memory} if pod.memory else {}
    if pod.gpu:
        limits["nvidia.com/gpu"] = str(pod.gpu)
    env = [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": var}}}
           for var, secret in sorted(k8s.secret_env.items())]  # fmt: skip
    volumes, mounts = [], []
    if volume := k8s.model_volume:
        claim = {"claimName": volume.claim_name, "readOnly": volume.read_only}
        volumes.append({"name": MODEL_VOLUME, "persistentVolumeClaim": claim})
        mounts.append({"name": MODEL_VOLUME, "mountPath": volume.mount_path, "readOnly": volume.read_only})
    return KubernetesPodSettings(
        resources={"requests": requests, "limits": limits},
        node_selectors=dict(pod.node_selector),
        tolerations=list(pod.tolerations),
        env=env,
        volumes=volumes,
        volume_mounts=mounts,
    )  # fmt: skip


def step_settings(step_name: str, k8s: KubernetesConfig) -> dict[str, Any]:
    """`settings=` of one step: its kind's pod resources, placement, secret environment and model volume."""
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings

    kind = STEP_KINDS.get(step_name, "other")
    pod = _pod_settings(getattr(k8s, kind), k8s)
    return {"orchestrator.kubernetes": KubernetesOrchestratorSettings(pod_settings=pod)}


def step_retry(k8s: KubernetesConfig):
    """The retries of a failed step pod: only `max_retries`, which ZenML's Kubernetes orchestrator turns into the
    step Job's backoffLimit. It honours no delay or backoff (and warns once per step when either is set);
    Kubernetes spaces a Job's pods itself."""
    from zenml.config.retry_config import StepRetryConfig

    return StepRetryConfig(max_retries=k8s.step_retries) if k8s.step_retries else None


def on_kubernetes() -> bool:
    """The active stack runs steps as Kubernetes pods (the only place these settings and retries apply)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    components = Client().active_stack_model.components
    return components[StackComponentType.ORCHESTRATOR][0].flavor_name == "kubernetes"


#: Serialized size (bytes) up to which a dynamic pipeline passes a step's raw input (a config section, a seed) as
#: a step parameter, as a static pipeline does. ZenML 0.98's default (0) makes each one an external artifact,
#: stored and registered again for every step: in the orchestrator pod that was most of a re-optimization's time.
STEP_PARAMETER_BYTES = 64 * 1024


def prepare_dynamic_run() -> None:
    """The first call of a dynamic pipeline's function (it runs in the orchestrator pod on Kubernetes): small raw
    step inputs travel as step parameters (`ZENML_PARAMETER_SIZE_THRESHOLD`, unless the user set it).

    (The orchestrator pod reaches the Kubernetes API with its service account because the stack's orchestrator
    says `incluster`: `instructzero stack register`.)"""
    import os

    os.environ.setdefault("ZENML_PARAMETER_SIZE_THRESHOLD", str(STEP_PARAMETER_BYTES))


def step_options(step_name: str, k8s: KubernetesConfig) -> dict[str, Any]:
    """`with_options(...)` of one step on a Kubernetes stack: its settings, the retries of a failed pod and its
    own pod in a dynamic pipeline too (locally nothing: a failing step fails at once).

    A dynamic pipeline (the re-check) runs a step inside its orchestrator pod unless the step asks for an
    isolated runtime; static pipelines ignore the runtime and give every step a pod anyway.
    """
    if not on_kubernetes():
        return {}
    from zenml.enums import StepRuntime

    return {"settings": step_settings(step_name, k8s), "retry": step_retry(k8s), "runtime": StepRuntime.ISOLATED}


def orchestrator_settings(k8s: KubernetesConfig):
    """Pipeline-level `KubernetesOrchestratorSettings`: service accounts, the failure policy, the Jobs' TTL,
    the schedule's CronJob, how many step pods run at once and the orchestrator pod's resources. Steps inherit
    every field they leave unset."""
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    return KubernetesOrchestratorSettings(
        service_account_name=k8s.service_account,
        step_pod_service_account_name=k8s.step_service_account,
        pod_failure_policy=pod_failure_policy(),
        ttl_seconds_after_finished=k8s.job_ttl_s,
        concurrency_policy=k8s.schedule.concurrency_policy,
        successful_jobs_history_limit=k8s.schedule.successful_jobs_history_limit,
        failed_jobs_history_limit=k8s.schedule.failed_jobs_history_limit,
        starting_deadline_seconds=k8s.schedule.starting_deadline_s,
        max_parallelism=k8s.max_parallel_pods,
        orchestrator_pod_settings=KubernetesPodSettings(
            resources={"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
        ),
    )


def pipeline_settings(k8s: KubernetesConfig) -> dict[str, Any]:
    """Pipeline-level settings on a Kubernetes stack: the step image (pre-built: no build) and the
    orchestrator's settings."""
    if not on_kubernetes():
        return {}
    from zenml.config import DockerSettings

    settings: dict[str, Any] = {"orchestrator.kubernetes": orchestrator_settings(k8s)}
    if k8s.image:
        settings["docker"] = DockerSettings(parent_image=k8s.image, skip_build=True)
    return settings
