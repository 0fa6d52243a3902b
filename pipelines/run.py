"""Run a config as the ZenML pipeline on the active stack (local by default)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from instructzero.config.run import RunConfig
from instructzero.data.task import TaskData
from instructzero.errors import DataValidationError
from instructzero.preflight import preflight
from instructzero.result import OptimizationResult
from instructzero.steps.names import EVALUATE_ON_TEST, PROMOTE, RECHECK, RECHECK_PRODUCTION, RESULT, in_branch

if TYPE_CHECKING:
    from instructzero.registry.recheck import Recheck

#: The checkout this module lives in, when it is one (an editable install); None when installed from a wheel.
CHECKOUT = Path(__file__).resolve().parents[1] if (Path(__file__).resolve().parents[1] / "pyproject.toml").is_file() \
    else None  # fmt: skip


def ensure_source_root() -> None:
    """Give ZenML a source root, so step sources resolve the same way in every process.

    In a checkout that is the checkout (`zenml init` there once); an installed
    package's steps resolve as a distribution package from any folder, so the
    current folder serves, unless a ZenML repository above it is found first.
    """
    from zenml.client import Client
    from zenml.utils import source_utils

    if Client.find_repository() is not None:
        return
    if CHECKOUT is not None:
        Client.initialize(CHECKOUT)
    else:
        source_utils.set_custom_source_root(os.getcwd())


def check_artifact_store() -> None:
    """Fail in one line, before any step, when the active stack's artifact store cannot be used (a remote
    store with wrong keys, a missing bucket, or its endpoint down).

    It lists the store's own prefix, which needs list rights on that prefix only, not on the whole bucket.
    Before a first run the prefix holds nothing: s3fs then answers "not found" from a listing that worked
    (no S3 error behind it), which is fine; "not found" from S3 itself (no such bucket) is not."""
    from zenml.client import Client

    from instructzero.errors import ConfigError

    store = Client().active_stack.artifact_store
    if store.flavor == "local":
        return
    try:
        filesystem = getattr(store, "filesystem", None)
        if filesystem is None:
            store.exists(store.path)
        else:
            try:
                filesystem.ls(store.path)
            except FileNotFoundError as exc:
                if exc.__cause__ is not None:  # raised by S3 (e.g. NoSuchBucket), not by an empty listing
                    raise
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line naming the fix
        endpoint = (getattr(store.config, "client_kwargs", None) or {}).get("endpoint_url", "")
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ConfigError(
            f"cannot use the artifact store {store.path}{f' at {endpoint}' if endpoint else ''} ({reason}). "
            "Check the stack's S3 keys or credentials (its ZenML secret, the pods' role or its service connector), "
            "the bucket and that the endpoint is up."
        ) from None


def run_pipeline(
    config: RunConfig, run_name: str | None = None, step_cache: bool = True, task: TaskData | None = None
) -> tuple[OptimizationResult, str]:
    """Run the pipeline; returns the result and the run id.

    `step_cache=False` reruns every step; black-box answers still come from the response cache.
    Task data that fails validation stops here, before any step; its report is saved as an artifact.
    `task`: the task the caller's preflight just returned (then it is not run again).
    """
    try:
        if task is None:
            task = preflight(config)
    except DataValidationError as exc:
        ensure_source_root()
        from instructzero.steps.load_task import save_failed_validation

        save_failed_validation(exc)
        raise
    ensure_source_root()
    check_artifact_store()
    from instructzero.blackbox.backends import make_backend
    from instructzero.pipelines.registry import warm_start_source
    from instructzero.pipelines.search import instructzero_pipeline
    from instructzero.pipelines.settings import pipeline_settings
    from instructzero.steps.model_registry import registry_model

    warm_start_from = None
    if config.bo.warm_start:
        warm_start_from, note = warm_start_source(config, task, make_backend(config.blackbox).identity)
        print(note)

    options: dict = {"enable_cache": step_cache, "model": registry_model(config),
                     "settings": pipeline_settings(config.kubernetes)}  # fmt: skip
    if run_name:
        options["run_name"] = run_name
    run = finished(_run(instructzero_pipeline.with_options(**options), config=config, warm_start_from=warm_start_from))
    result = run.steps[EVALUATE_ON_TEST].outputs[RESULT][0].load()
    return result, str(run.id)


def _run(pipeline, **parameters):
    """Run `pipeline`; the local orchestrator's exception for a failed step becomes one line naming the step."""
    from instructzero.errors import PipelineRunError

    try:
        return pipeline(**parameters)
    except RuntimeError as exc:
        if "Pipeline run has failed" not in str(exc):
            raise
        raise PipelineRunError(f"{exc}: see `zenml pipeline runs list` and the step logs") from exc


def finished(run):
    """The run as the server has it now; a run that did not complete is an error naming where to look.

    (A remote orchestrator's client returns normally when a run fails.)
    """
    from zenml.client import Client

    from instructzero.errors import PipelineRunError

    run = Client().get_pipeline_run(run.id)
    if run.status.value != "completed":
        failed = [name for name, step in run.steps.items() if step.status.value == "failed"]
        raise PipelineRunError(
            f"pipeline run {run.name} ended {run.status.value}" + (f" in step {', '.join(failed)}" if failed else "")
            + f": see `zenml pipeline runs describe {run.id}` and the step logs"
        )
    return run


def registry_decision(run_id: str, branch: str = "") -> str:
    """What `promote` did with a run's winner (of one task's `branch` in a run of several)."""
    from zenml.client import Client

    meta = Client().get_pipeline_run(run_id).steps[in_branch(branch, PROMOTE)].run_metadata
    return f"{meta['model']} version {meta['version']} -> {meta['stage']}: {meta['reason']}"


@dataclass(frozen=True)
class RecheckOutcome:
    """What a run of the re-check pipeline did: the re-check, and the optimization it called for, if any."""

    check: Recheck
    run_id: str
    #: The re-optimization's result and what the registry did with its winner; None when none ran.
    reoptimized: OptimizationResult | None = None
    decision: str | None = None


def run_recheck(config: RunConfig) -> RecheckOutcome:
    """Run the re-check pipeline for the config's task: the re-check and, on a regression with
    `recheck.reoptimize`, the optimization in the same run."""
    ensure_source_root()
    check_artifact_store()
    from instructzero.pipelines.recheck import recheck_pipeline
    from instructzero.pipelines.settings import pipeline_settings

    run = finished(_run(recheck_pipeline.with_options(enable_cache=False, settings=pipeline_settings(config.kubernetes)),
                        config=config))  # fmt: skip
    check = run.steps[RECHECK_PRODUCTION].outputs[RECHECK][0].load()
    if EVALUATE_ON_TEST not in run.steps:
        return RecheckOutcome(check, str(run.id))
    result = run.steps[EVALUATE_ON_TEST].outputs[RESULT][0].load()
    return RecheckOutcome(check, str(run.id), result, registry_decision(str(run.id)))


def require_schedulable_stack() -> None:
    """One line naming the fix when the active stack cannot run schedules (the local orchestrator)."""
    from zenml.client import Client

    from instructzero.errors import ConfigError

    ensure_source_root()
    stack = Client().active_stack
    if not stack.orchestrator.config.is_schedulable:
        raise ConfigError(
            f"the active stack '{stack.name}' runs on the '{stack.orchestrator.flavor}' orchestrator, which cannot run"
            " schedules: register and activate the Kubernetes stack (`instructzero stack register ...`)"
        )


def create_schedule(config: RunConfig, cron: str, name: str, pipeline: str = "optimize") -> str:
    """Schedule the optimization (or the re-check) pipeline with a cron expression; returns the schedule's id.

    On the Kubernetes orchestrator this creates a CronJob that starts the run's orchestrator pod.
    """
    from zenml.client import Client
    from zenml.config.schedule import Schedule

    from instructzero.pipelines.settings import pipeline_settings
    from instructzero.steps.model_registry import registry_model

    require_schedulable_stack()
    check_artifact_store()
    preflight(config)
    if pipeline == "recheck":
        from instructzero.pipelines.recheck import recheck_pipeline as chosen
    else:
        from instructzero.pipelines.search import instructzero_pipeline as chosen
    options: dict = {"schedule": Schedule(name=name, cron_expression=cron), "settings": pipeline_settings(config.kubernetes)}
    if pipeline != "recheck":
        options["model"] = registry_model(config)
    chosen.with_options(**options)(config=config)
    return str(Client().get_schedule(name).id)


def list_schedules() -> list[str]:
    """One line per schedule of the active stack's server: name, cron expression, whether active, id."""
    from zenml.client import Client

    return [f"{s.name}  {s.cron_expression}  active={s.active}  {s.id}" for s in Client().list_schedules(size=100).items]


def update_schedule(name: str, cron: str) -> None:
    from zenml.client import Client

    Client().update_schedule(name, cron_expression=cron)


def delete_schedule(name: str) -> None:
    from zenml.client import Client

    Client().delete_schedule(name)
