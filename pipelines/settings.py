"""ZenML settings for a Kubernetes stack, from the run config's `kubernetes` section.

Stated once per step kind and applied to every round's step of that kind:
`generate` requests the GPU (with its node selector and tolerations), the
others CPU and memory only. ZenML 0.98's Kubernetes orchestrator ignores
`ResourceSettings`; resources go into `KubernetesPodSettings`. The black box's
key reaches the step pods from a Kubernetes secret (`secret_env`), never through
a config or an artifact. On the local orchestrator these settings are inert.
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

#: ZenML's step-Job pod failure policy with `status: "True"` on its pod-condition rule: ZenML leaves
#: it out, which a real API server defaults but strict schemas of Kubernetes < 1.35 reject. Set at
#: pipeline level it also replaces the orchestrator Job's policy, so ZenML's rule for that Job (fail
#: at once on exit code 45, a failed dynamic run) is kept.
POD_FAILURE_POLICY: dict[str, Any] = {
    "rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [45]}},
        {"action": "Count", "onExitCodes": {"containerName": "main", "operator": "NotIn", "values": [0]}},
    ]
}


def _pod_settings(pod: StepPodConfig, k8s: KubernetesConfig):
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    requests = {k: v for k, v in {"cpu": pod.cpu, "memory": pod.memory}.items() if v}
    limits = {"memory": pod.memory} if pod.memory else {}
    if pod.gpu:
        limits["nvidia.com/gpu"] = str(pod.gpu)
    env = [{"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": var}}}
           for var, secret in sorted(k8s.secret_env.items())]  # fmt: skip
    return KubernetesPodSettings(
        resources={"requests": requests, "limits": limits},
        node_selectors=dict(pod.node_selector),
        tolerations=list(pod.tolerations),
        env=env,
    )


def step_settings(step_name: str, k8s: KubernetesConfig) -> dict[str, Any]:
    """`settings=` of one step: its kind's pod resources, placement and secret environment."""
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings

    kind = STEP_KINDS.get(step_name, "other")
    pod = _pod_settings(getattr(k8s, kind), k8s)
    return {"orchestrator.kubernetes": KubernetesOrchestratorSettings(pod_settings=pod)}


def on_kubernetes() -> bool:
    """The active stack runs steps as Kubernetes pods (the only place these settings and retries apply)."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    components = Client().active_stack_model.components
    return components[StackComponentType.ORCHESTRATOR][0].flavor_name == "kubernetes"


def step_options(step_name: str, k8s: KubernetesConfig) -> dict[str, Any]:
    """`with_options(...)` of one step on a Kubernetes stack: its settings and the retries of a failed pod
    (locally nothing: a failing step fails at once)."""
    if not on_kubernetes():
        return {}
    from zenml.config.retry_config import StepRetryConfig

    retry = StepRetryConfig(max_retries=k8s.step_retries, delay=k8s.retry_delay_s, backoff=2) \
        if k8s.step_retries else None  # fmt: skip
    return {"settings": step_settings(step_name, k8s), "retry": retry}


def pipeline_settings(k8s: KubernetesConfig) -> dict[str, Any]:
    """Pipeline-level settings on a Kubernetes stack: the step image (pre-built: no build) and the
    orchestrator's service accounts."""
    if not on_kubernetes():
        return {}
    from zenml.config import DockerSettings
    from zenml.integrations.kubernetes.flavors import KubernetesOrchestratorSettings
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    settings: dict[str, Any] = {
        "orchestrator.kubernetes": KubernetesOrchestratorSettings(
            service_account_name=k8s.service_account,
            step_pod_service_account_name=k8s.step_service_account,
            pod_failure_policy=POD_FAILURE_POLICY,
            orchestrator_pod_settings=KubernetesPodSettings(
                resources={"requests": {"cpu": "100m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
            ),
        )
    }
    if k8s.image:
        settings["docker"] = DockerSettings(parent_image=k8s.image, skip_build=True)
    return settings
