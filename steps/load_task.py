from typing import Annotated

from zenml import save_artifact, step

import materializers  # noqa: F401  (registers the project's materializers)
from instructzero import builtin_tasks, data, loop, metrics, validation
from instructzero.config import RunConfig
from instructzero.data import TaskData
from instructzero.errors import DataValidationError
from instructzero.validation import DataValidationReport
from steps.caching import depends_on

#: Name under which a failed report is saved (a failed step stores no outputs of its own).
FAILED_VALIDATION_ARTIFACT = "data_validation_failed"


@step(cache_policy=depends_on(data, builtin_tasks, metrics, validation))
def load_task(
    config: RunConfig,
) -> tuple[Annotated[TaskData, "task"], Annotated[DataValidationReport, "data_validation"]]:
    """Read the task, check it with great-expectations, split it; bad data stops the run here.

    Nothing after this step (white box, black box) runs on data that failed a check.
    """
    try:
        task, report = loop.load_validated_task(config)
    except DataValidationError as exc:
        save_artifact(exc.report, name=FAILED_VALIDATION_ARTIFACT, tags=[f"task:{exc.report.task}"])
        raise
    if report is None:  # checks disabled in the config: record that they were skipped
        report = DataValidationReport(task.name, [], {"enabled": False}, {})
    return task, report
