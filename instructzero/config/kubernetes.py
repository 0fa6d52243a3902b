"""Step pods on a Kubernetes stack: resources, placement, secrets, model volume, retries, Job clean-up."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from instructzero.config.base import StrictModel

#: A Kubernetes object name (RFC 1123 subdomain), e.g. a PersistentVolumeClaim's.
K8S_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"
#: Settings of a whole run (its orchestrator pod, image, schedule, parallel pods), not of one step: the tasks
#: of a fleet share them.
RUN_WIDE = ("image", "service_account", "step_service_account", "job_ttl_s", "schedule", "max_parallel_pods")


class StepPodConfig(StrictModel):
    """Resources and placement of one kind of step pod on the Kubernetes stack."""

    cpu: str | None = None
    memory: str | None = None
    #: `nvidia.com/gpu` limit (generation only, normally).
    gpu: int = Field(0, ge=0)
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, Any]] = []


class ModelVolumeConfig(StrictModel):
    """Model weights from a PersistentVolumeClaim, mounted into every step pod (the white box is read by
    `sample_projection` and generation, a local black box by scoring and evaluation).

    Step pods may run on different nodes at once: the claim must allow that (`ReadOnlyMany` or
    `ReadWriteMany`, e.g. a disk in read-only mode or NFS/EFS/Filestore); `ReadWriteOnce` works only
    while every step pod lands on one node.
    """

    claim_name: str = Field(pattern=K8S_NAME, max_length=253)
    #: Where the claim appears in the pod; `whitebox.model` names a folder below it (e.g. /models/vicuna-7b-v1.5).
    mount_path: str = Field("/models", pattern=r"^/.*[^/]$")
    read_only: bool = True


class ScheduleConfig(StrictModel):
    """The CronJob of a schedule (`instructzero schedule create`)."""

    #: A run still going at the next tick: `Forbid` skips the tick, `Replace` stops the old run, `Allow` runs both.
    concurrency_policy: Literal["Forbid", "Replace", "Allow"] = "Forbid"
    successful_jobs_history_limit: int = Field(3, ge=0)
    failed_jobs_history_limit: int = Field(3, ge=0)
    #: Seconds after a missed tick (controller down, Forbid) in which it may still start; None: no limit.
    starting_deadline_s: int | None = Field(None, ge=0)


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
    #: Model weights from a volume instead of baked into the image; None: no volume.
    model_volume: ModelVolumeConfig | None = None
    #: Retries of a step whose pod failed (evicted, preempted node, ...): the step Job's backoffLimit. Kubernetes
    #: waits between the pods itself (10 s, 20 s, 40 s, ... up to 6 min); ZenML's orchestrator takes no delay.
    step_retries: int = Field(2, ge=0)
    #: Seconds a finished Job (orchestrator or step, with its pods and their logs) is kept before Kubernetes
    #: deletes it; None: kept until deleted by hand. Runs, logs and artifacts stay in ZenML and S3.
    job_ttl_s: int | None = Field(86_400, ge=0)
    schedule: ScheduleConfig = ScheduleConfig()
    #: Step pods of a run running at once, at most (ZenML's `max_parallelism`): a fleet's tasks are independent
    #: branches that run side by side up to this bound; None: no bound.
    max_parallel_pods: int | None = Field(None, ge=1)
    generate: StepPodConfig = StepPodConfig(cpu="4", memory="16Gi", gpu=1)
    score: StepPodConfig = StepPodConfig(cpu="1", memory="2Gi")
    gp: StepPodConfig = StepPodConfig(cpu="2", memory="4Gi")
    evaluate: StepPodConfig = StepPodConfig(cpu="1", memory="2Gi")
    other: StepPodConfig = StepPodConfig(cpu="500m", memory="1Gi")

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and "retry_delay_s" in data:
            raise ValueError("retry_delay_s was removed: ZenML's Kubernetes orchestrator takes no retry delay (the "
                             "step Job backs off by itself, 10 s doubling up to 6 min); delete the key")  # fmt: skip
        return data
