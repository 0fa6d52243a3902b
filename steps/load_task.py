from typing import Annotated

from zenml import save_artifact, step

from instructzero.config.task import TaskConfig
from instructzero.data.checks import DataValidationReport, load_checked_task
from instructzero.data.task import TaskData
from instructzero.errors import DataValidationError
from instructzero.materializers.data_validation import DataValidationReportMaterializer
from instructzero.materializers.task import TaskDataMaterializer
from instructzero.steps.names import DATA_VALIDATION, FAILED_DATA_VALIDATION, TASK


def save_failed_validation(exc: DataValidationError) -> None:
    """Keep the report of data that failed its checks in the artifact store (with its HTML view), and name
    its version in the error: the one place a failed report is saved, by the client's preflight or this step."""
    artifact = save_artifact(exc.report, name=FAILED_DATA_VALIDATION, tags=[f"task:{exc.report.task}"],
                             materializer=DataValidationReportMaterializer)  # fmt: skip
    exc.args = (f"{exc.args[0]} (report: artifact {FAILED_DATA_VALIDATION} version {artifact.version})",)


# Never cached: its key cannot see the task files' contents, and drifting data must not hide behind a cache
# hit. The task artifact is content-hashed, so unchanged data still leaves every later step cached.
@step(enable_cache=False,
      output_materializers={TASK: TaskDataMaterializer, DATA_VALIDATION: DataValidationReportMaterializer})  # fmt: skip
def load_task(
    task: TaskConfig, seed: int
) -> tuple[Annotated[TaskData, TASK], Annotated[DataValidationReport, DATA_VALIDATION]]:
    """Read the task, check it with great-expectations, split it; bad data stops the run here.

    Nothing after this step (white box, black box) runs on data that failed a check.
    """
    try:
        data, report = load_checked_task(task, seed)
    except DataValidationError as exc:
        save_failed_validation(exc)
        raise
    if report is None:  # checks disabled in the config: record that they were skipped
        report = DataValidationReport(data.name, [], {"enabled": False}, {})
    return data, report
