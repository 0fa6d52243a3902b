from typing import Annotated

from zenml import save_artifact, step

import materializers  # noqa: F401  (registers the project's materializers)
from instructzero.config import TaskConfig
from instructzero.data.checks import FAILED_REPORT_ARTIFACT, DataValidationReport, load_checked_task
from instructzero.errors import DataValidationError
from instructzero.data.task import TaskData


# Never cached: its key cannot see the task files' contents, and drifting data must not hide behind a cache
# hit. The task artifact is content-hashed, so unchanged data still leaves every later step cached.
@step(enable_cache=False)
def load_task(
    task: TaskConfig, seed: int
) -> tuple[Annotated[TaskData, "task"], Annotated[DataValidationReport, "data_validation"]]:
    """Read the task, check it with great-expectations, split it; bad data stops the run here.

    Nothing after this step (white box, black box) runs on data that failed a check.
    """
    try:
        data, report = load_checked_task(task, seed)
    except DataValidationError as exc:
        save_artifact(exc.report, name=FAILED_REPORT_ARTIFACT, tags=[f"task:{exc.report.task}"])
        raise
    if report is None:  # checks disabled in the config: record that they were skipped
        report = DataValidationReport(data.name, [], {"enabled": False}, {})
    return data, report
