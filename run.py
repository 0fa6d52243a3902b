"""Run an InstructZero config as a ZenML pipeline: `python run.py --config configs/local.yaml`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# Offline by default: no analytics, no model hub. Set before zenml/transformers are imported.
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from instructzero.config import RunConfig, load_config  # noqa: E402
from instructzero.data_validation import FAILED_REPORT_ARTIFACT  # noqa: E402
from instructzero.errors import DataValidationError, InstructZeroError  # noqa: E402
from instructzero.preflight import preflight  # noqa: E402
from instructzero.result import OptimizationResult  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent


def ensure_source_root() -> None:
    """Mark this folder as ZenML's source root (`zenml init`), so step sources resolve from here."""
    if not (REPO_ROOT / ".zen").is_dir():
        from zenml.client import Client

        Client.initialize(REPO_ROOT)


def save_failed_validation(exc: DataValidationError) -> None:
    """Keep the failed report in the artifact store (with its HTML view) for the dashboard."""
    ensure_source_root()
    from zenml import save_artifact

    import materializers  # noqa: F401

    artifact = save_artifact(exc.report, name=FAILED_REPORT_ARTIFACT, tags=[f"task:{exc.report.task}"])
    exc.args = (f"{exc.args[0]} (report: artifact {FAILED_REPORT_ARTIFACT} version {artifact.version})",)


def run_pipeline(
    config: RunConfig, run_name: str | None = None, step_cache: bool = True
) -> tuple[OptimizationResult, str]:
    """Run the pipeline on the active ZenML stack (local by default); returns the result and the run id.

    `step_cache=False` reruns every step; black-box answers still come from the response cache.
    Task data that fails validation stops here, before any step; its report is saved as an artifact.
    """
    try:
        preflight(config)
    except DataValidationError as exc:
        save_failed_validation(exc)
        raise
    ensure_source_root()
    from zenml import Model

    from pipelines import instructzero_pipeline

    model = Model(
        name=config.registry_model_name,
        description=f"InstructZero instructions for task '{config.task.name}' (black box {config.blackbox.model})",
        tags=["instructzero", f"task:{config.task.name}"],
    )
    options: dict = {"enable_cache": step_cache, "model": model}
    if run_name:
        options["run_name"] = run_name
    run = instructzero_pipeline.with_options(**options)(config=config)
    result = run.steps["evaluate_on_test"].outputs["result"][0].load()
    return result, str(run.id)


def registry_decision(run_id: str) -> str:
    from zenml.client import Client

    meta = Client().get_pipeline_run(run_id).steps["promote"].run_metadata
    return f"{meta['model']} version {meta['version']} -> {meta['stage']}: {meta['reason']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/local.yaml", help="YAML run config")
    parser.add_argument(
        "--in-process", action="store_true", help="run the plain loop (`instructzero.optimize`) without ZenML"
    )
    parser.add_argument(
        "--no-step-cache",
        action="store_true",
        help="rerun every step (paid answers still come from the response cache)",
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("instructzero").addHandler(handler)
    logging.getLogger("instructzero").setLevel(logging.INFO)
    try:
        config = load_config(args.config)
        if args.in_process:
            from instructzero import optimize

            result, where = optimize(config, progress=True), "in-process run (no ZenML lineage)"
        else:
            result, run_id = run_pipeline(config, step_cache=not args.no_step_cache)
            where = (
                f"ZenML run {run_id}: `zenml pipeline runs list`, "
                "`zenml login --local` for the dashboard (needs zenml[server])"
            )
            print(f"registry:          {registry_decision(run_id)}")
    except InstructZeroError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    print(f"see:               {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
