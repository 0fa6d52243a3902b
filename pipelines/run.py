"""Run a config as the ZenML pipeline on the active stack (local by default)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from instructzero.config.fleet import Fleet
from instructzero.config.run import RunConfig
from instructzero.data.task import TaskData
from instructzero.errors import DataValidationError, InstructZeroError, PipelineRunError
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


@contextmanager
def zenml_logs_to_stderr() -> Iterator[None]:
    """Within the block, ZenML's console log lines (its warnings about the repository's stack, say) go to stderr,
    so that stdout carries only a command's own output: JSON or an instruction that a script reads. ZenML's own
    streams come back after it (a command called in-process, by a test say, leaves nothing behind)."""
    import logging
    import sys

    from zenml.logger import ZenMLConsoleHandler

    class _Stderr:  # whatever sys.stderr is when a line is written (a test's capture may come and go)
        def write(self, text: str) -> int:
            return sys.stderr.write(text)

        def flush(self) -> None:
            sys.stderr.flush()

    handlers = [h for h in logging.getLogger().handlers if isinstance(h, ZenMLConsoleHandler)]
    streams = [h.stream for h in handlers]
    for handler in handlers:
        handler.setStream(_Stderr())
    try:
        yield
    finally:
        for handler, stream in zip(handlers, streams):
            handler.setStream(stream)


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


@dataclass(frozen=True)
class TaskOutcome:
    """What a run did for one task of its fleet."""

    name: str
    #: The optimization's result and what the registry did with its winner; None when none ran (or it failed).
    result: OptimizationResult | None = None
    decision: str | None = None
    #: The re-check, in a run of the re-check pipeline.
    check: Recheck | None = None
    #: Why the task failed (its failed step and the error, or its checks before the run); None when it did not.
    error: str | None = None


@dataclass(frozen=True)
class FleetRun:
    """A run of a fleet: its id (None when no task passed its checks, so nothing ran) and each task's outcome,
    in the config's order."""

    run_id: str | None
    outcomes: dict[str, TaskOutcome]

    @property
    def failed(self) -> list[str]:
        return [name for name, outcome in self.outcomes.items() if outcome.error is not None]


def checked_tasks(fleet: Fleet, checked: dict[str, TaskData] | None = None) -> tuple[dict[str, TaskData], dict]:
    """Preflight every task of the fleet: the tasks that passed (with their data) and a failed `TaskOutcome`
    for each that did not. In a fleet of one from a plain config the error is raised, as for any run.

    Task data that fails validation has its report saved as an artifact. `checked`: tasks whose preflight the
    caller has just run."""
    passed, failed = {}, {}
    for name, config in fleet.tasks.items():
        try:
            passed[name] = (checked or {}).get(name) or preflight(config)
        except InstructZeroError as exc:
            if isinstance(exc, DataValidationError):
                ensure_source_root()
                from instructzero.steps.load_task import save_failed_validation

                save_failed_validation(exc)
            if not fleet.named:
                raise
            failed[name] = TaskOutcome(name, error=f"its checks before the run: {exc}")
    return passed, failed


def run_fleet(fleet: Fleet, *, step_cache: bool = True, run_name: str | None = None,
              checked: dict[str, TaskData] | None = None) -> FleetRun:  # fmt: skip
    """Run the optimization pipeline for every task of the fleet that passes its checks, each in its own branch;
    returns what happened to each task. A task that fails (its checks, or a step in the run) stops only itself.

    `step_cache=False` reruns every step; black-box answers still come from the response cache.
    """
    tasks, outcomes = checked_tasks(fleet, checked)
    if not tasks:
        return FleetRun(None, outcomes)
    ensure_source_root()
    check_artifact_store()
    from instructzero.blackbox.backends import make_backend
    from instructzero.pipelines.registry import warm_start_source
    from instructzero.pipelines.search import fleet_pipeline, instructzero_pipeline
    from instructzero.steps.model_registry import registry_model

    ready = fleet.only(list(tasks))
    warm_start_from = {}
    for name, config in ready.tasks.items():
        if config.bo.warm_start:
            warm_start_from[name], note = warm_start_source(config, tasks[name], make_backend(config.blackbox).identity)
            print(f"{name}: {note}" if fleet.named else note)
    options = {**_run_options(ready, run_name), "enable_cache": step_cache}
    with unfinished_versions_dropped(options["run_name"]):
        if fleet.named:
            run = _submitted(fleet_pipeline.with_options(**options), options["run_name"], fleet=ready,
                             warm_start_from={k: v for k, v in warm_start_from.items() if v} or None)  # fmt: skip
        else:  # a plain config: the one-task pipeline, whose run has the task's model version (its steps register on it)
            (name, config), = ready.tasks.items()
            run = _submitted(instructzero_pipeline.with_options(model=registry_model(config), **options),
                             options["run_name"], config=config, warm_start_from=warm_start_from.get(name))  # fmt: skip
    outcomes.update(task_outcomes(run, ready))
    return FleetRun(str(run.id), {name: outcomes[name] for name in fleet.tasks})


def run_pipeline(
    config: RunConfig, run_name: str | None = None, step_cache: bool = True, task: TaskData | None = None
) -> tuple[OptimizationResult, str]:
    """Run the pipeline for one task; returns the result and the run id (a failed run is an error naming
    its failed step).

    `step_cache=False` reruns every step; black-box answers still come from the response cache.
    Task data that fails validation stops here, before any step; its report is saved as an artifact.
    `task`: the task the caller's preflight just returned (then it is not run again).
    """
    fleet = Fleet.of(config)
    done = run_fleet(fleet, step_cache=step_cache, run_name=run_name,
                     checked={config.task.name: task} if task is not None else None)  # fmt: skip
    from zenml.client import Client

    finished(Client().get_pipeline_run(done.run_id))
    return done.outcomes[config.task.name].result, done.run_id


@contextmanager
def unfinished_versions_dropped(run_name: str) -> Iterator[None]:
    """After the run `run_name` (finished, failed or stopped by a signal), its tasks' model versions without a
    registry record are deleted, so a failed task leaves no empty version in the registry."""
    import logging

    from instructzero.steps.model_registry import drop_unfinished_versions

    log = logging.getLogger(__name__)
    try:
        yield
    finally:
        try:
            if dropped := drop_unfinished_versions(run_name):
                log.info("dropped the empty model version(s) of failed tasks: %s", ", ".join(dropped))
        except Exception as exc:  # noqa: BLE001 - never hide the run's own outcome behind the clean-up's
            log.warning("could not drop the empty model versions of run %s: %s", run_name, exc)


def _run_options(fleet: Fleet, run_name: str | None) -> dict:
    """Options of a run of the fleet: a run name to find it by, the stack's settings, and ZenML's execution
    mode `continue_on_failure` (its default, stated): a failed step stops its own task's branch only."""
    from zenml.enums import ExecutionMode

    from instructzero.pipelines.settings import pipeline_settings

    unique = f"instructzero-{datetime.now():%Y_%m_%d-%H_%M_%S}-{uuid.uuid4().hex[:6]}"
    return {"run_name": run_name or unique, "settings": pipeline_settings(fleet.kubernetes),
            "execution_mode": ExecutionMode.CONTINUE_ON_FAILURE}  # fmt: skip


def _run(pipeline, **parameters):
    """Run `pipeline`; the local orchestrator's exception for a failed step becomes one line naming the step."""
    try:
        return pipeline(**parameters)
    except RuntimeError as exc:
        if "Pipeline run has failed" not in str(exc):
            raise
        raise PipelineRunError(f"{exc}: see `zenml pipeline runs list` and the step logs") from exc


def _submitted(pipeline, run_name: str, **parameters):
    """Run `pipeline` and return the run as the server has it, whether or not its steps all succeeded.

    The local orchestrator raises when a step failed (after running every step that did not depend on it);
    a remote orchestrator's client returns normally. Either way the run is found by its name; an error
    before the run exists is raised.
    """
    from zenml.client import Client

    from instructzero import interrupt

    # The local orchestrator runs every step in this process: a SIGTERM in one must stop them all.
    interrupt.stop_whole_process(Client().active_stack.orchestrator.flavor == "local")
    try:
        pipeline(**parameters)
    except Exception as exc:
        try:
            return Client().get_pipeline_run(run_name)
        except KeyError:
            raise exc from None
    return Client().get_pipeline_run(run_name)


def task_outcomes(run, fleet: Fleet) -> dict[str, TaskOutcome]:
    """Each task's outcome in a finished run of the fleet, from its branch's steps."""
    outcomes = {}
    for name in fleet.tasks:
        branch = fleet.branch(name)
        mine = {step: run_step for step, run_step in run.steps.items() if not branch or step.startswith(f"{branch}.")}
        failed = [(step, run_step) for step, run_step in mine.items() if run_step.status.value == "failed"]
        check = result = decision = error = None
        if (recheck := mine.get(in_branch(branch, RECHECK_PRODUCTION))) and recheck.status.is_successful:
            check = recheck.outputs[RECHECK][0].load()
        if failed:
            step, run_step = failed[0]
            info = run_step.exception_info
            why = " ".join((info.message or "").split())[:300] if info else ""
            error = f"failed in step {step}" + (f": {why}" if why else "")
        elif (promoted := mine.get(in_branch(branch, PROMOTE))) and promoted.status.is_successful:
            result = mine[in_branch(branch, EVALUATE_ON_TEST)].outputs[RESULT][0].load()
            decision = registry_decision(str(run.id), branch)
        elif check is None:
            error = f"did not finish (the run ended {run.status.value})"
        outcomes[name] = TaskOutcome(name, result=result, decision=decision, check=check, error=error)
    return outcomes


def finished(run):
    """The run as the server has it now; a run that did not complete is an error naming where to look.

    (A remote orchestrator's client returns normally when a run fails.)
    """
    from zenml.client import Client

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


def run_recheck(fleet: Fleet | RunConfig) -> FleetRun:
    """Run the re-check pipeline for every task of the fleet that passes its checks: each task's re-check and,
    on a regression with `recheck.reoptimize`, its optimization in the same run. A task that fails stops only
    itself; a fleet of one (a plain config) raises instead, naming the failed step."""
    if isinstance(fleet, RunConfig):
        fleet = Fleet.of(fleet)
    tasks, outcomes = checked_tasks(fleet)
    if not tasks:
        return FleetRun(None, outcomes)
    ensure_source_root()
    check_artifact_store()
    from instructzero.pipelines.recheck import recheck_pipeline

    ready = fleet.only(list(tasks))
    options = _run_options(ready, None)
    with unfinished_versions_dropped(options["run_name"]):
        run = _submitted(recheck_pipeline.with_options(enable_cache=False, **options), options["run_name"],
                         fleet=ready)  # fmt: skip
    if not fleet.named:
        finished(run)
    outcomes.update(task_outcomes(run, ready))
    return FleetRun(str(run.id), {name: outcomes[name] for name in fleet.tasks})


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


def create_schedule(fleet: Fleet | RunConfig, cron: str, name: str, pipeline: str = "optimize") -> str:
    """Schedule the optimization (or the re-check) pipeline of a fleet (or one config) with a cron expression;
    returns the schedule's id. Every task must pass its checks now; at a tick, a task that fails stops only itself.

    On the Kubernetes orchestrator this creates a CronJob that starts the run's orchestrator pod.
    """
    from zenml.client import Client
    from zenml.config.schedule import Schedule

    from instructzero.steps.model_registry import registry_model

    if isinstance(fleet, RunConfig):
        fleet = Fleet.of(fleet)
    require_schedulable_stack()
    check_artifact_store()
    for task, config in fleet.tasks.items():
        try:
            preflight(config)
        except InstructZeroError as exc:
            if not fleet.named:
                raise
            raise InstructZeroError(f"task {task}: {exc}") from None
    options = {**_run_options(fleet, None), "schedule": Schedule(name=name, cron_expression=cron)}
    del options["run_name"]  # each tick names its own run
    if pipeline == "recheck":
        from instructzero.pipelines.recheck import recheck_pipeline

        recheck_pipeline.with_options(**options)(fleet=fleet)
    elif fleet.named:
        from instructzero.pipelines.search import fleet_pipeline

        fleet_pipeline.with_options(**options)(fleet=fleet)
    else:
        from instructzero.pipelines.search import instructzero_pipeline

        (config,) = fleet.tasks.values()
        instructzero_pipeline.with_options(model=registry_model(config), **options)(config=config)
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
