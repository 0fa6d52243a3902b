"""Run a config as the ZenML pipeline on the active stack (local by default)."""

from __future__ import annotations

import os
from pathlib import Path

# Offline by default: no analytics, no model hub. Set before zenml/transformers are imported.
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from instructzero.config import RunConfig  # noqa: E402
from instructzero.data_validation import FAILED_REPORT_ARTIFACT  # noqa: E402
from instructzero.errors import DataValidationError  # noqa: E402
from instructzero.preflight import preflight  # noqa: E402
from instructzero.result import OptimizationResult  # noqa: E402
from instructzero.task import TaskData  # noqa: E402

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


def save_failed_validation(exc: DataValidationError) -> None:
    """Keep the failed report in the artifact store (with its HTML view) for the dashboard."""
    ensure_source_root()
    from zenml import save_artifact

    import materializers  # noqa: F401

    artifact = save_artifact(exc.report, name=FAILED_REPORT_ARTIFACT, tags=[f"task:{exc.report.task}"])
    exc.args = (f"{exc.args[0]} (report: artifact {FAILED_REPORT_ARTIFACT} version {artifact.version})",)


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
        save_failed_validation(exc)
        raise
    ensure_source_root()
    from zenml import Model

    from instructzero.backends import make_blackbox
    from pipelines.registry import warm_start_source
    from pipelines.search import instructzero_pipeline

    warm_start_from = None
    if config.bo.warm_start:
        warm_start_from, note = warm_start_source(config, task, make_blackbox(config.blackbox).identity)
        print(note)

    model = Model(
        name=config.registry_model_name,
        description=f"InstructZero instructions for task '{config.task.name}' (black box {config.blackbox.model})",
        tags=["instructzero", f"task:{config.task.name}"],
    )
    options: dict = {"enable_cache": step_cache, "model": model}
    if run_name:
        options["run_name"] = run_name
    run = instructzero_pipeline.with_options(**options)(config=config, warm_start_from=warm_start_from)
    result = run.steps["evaluate_on_test"].outputs["result"][0].load()
    return result, str(run.id)


def registry_decision(run_id: str) -> str:
    from zenml.client import Client

    meta = Client().get_pipeline_run(run_id).steps["promote"].run_metadata
    return f"{meta['model']} version {meta['version']} -> {meta['stage']}: {meta['reason']}"


def run_recheck(config: RunConfig) -> tuple[object, str]:
    """Run the re-check pipeline for the config's task; returns the `Recheck` and the run id."""
    ensure_source_root()
    from pipelines.recheck import recheck_pipeline

    run = recheck_pipeline.with_options(enable_cache=False)(config=config)
    if run.status.value != "completed":
        raise RuntimeError(f"the re-check run {run.id} ended {run.status.value}: see `zenml pipeline runs describe {run.id}`")
    return run.steps["recheck_production"].outputs["recheck"][0].load(), str(run.id)
