"""Step pods on a Kubernetes stack: resources, placement, secrets, retries."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from instructzero.config.base import StrictModel


class StepPodConfig(StrictModel):
    """Resources and placement of one kind of step pod on the Kubernetes stack."""

    cpu: str | None = None
    memory: str | None = None
    #: `nvidia.com/gpu` limit (generation only, normally).
    gpu: int = Field(0, ge=0)
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []


class KubernetesConfig(StrictModel):
    """How steps run on a stack with ZenML's Kubernetes orchestrator; ignored by the local one.

    Stated once per step kind (`generate`, `score`, `gp`, `evaluate`, `other`), applied to every
    round's step of that kind.
    """

    #: A pre-built step image (see the Dockerfile); None lets ZenML build one with the stack's image builder.
    image: str | None = None
    #: Service account of the orchestrator pod (it creates the step Jobs) and of the step pods (no API rights).
    service_account: str = "zenml-orchestrator"
    step_service_account: str = "instructzero-step"
    #: Environment variables of the step pods taken from Kubernetes secrets: variable -> secret name
    #: (the key in the secret is the variable's name). The black box's key arrives this way, never in a config.
    secret_env: dict[str, str] = {}
    #: Retries of a step whose pod failed (evicted, preempted node, ...), with backoff.
    step_retries: int = Field(2, ge=0)
    retry_delay_s: int = Field(30, ge=0)
    generate: StepPodConfig = StepPodConfig(cpu="4", memory="16Gi", gpu=1)
    score: StepPodConfig = StepPodConfig(cpu="1", memory="2Gi")
    gp: StepPodConfig = StepPodConfig(cpu="2", memory="4Gi")
    evaluate: StepPodConfig = StepPodConfig(cpu="1", memory="2Gi")
    other: StepPodConfig = StepPodConfig(cpu="500m", memory="1Gi")
