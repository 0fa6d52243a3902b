"""Errors a user can cause. Each message names the input at fault and the fix."""


class InstructZeroError(Exception):
    """Base class: caught by the command line and printed as one line."""


class ConfigError(InstructZeroError):
    """A run config key is unknown or has a bad value."""


class TaskDataError(InstructZeroError):
    """A task file is missing, malformed or has too few usable examples."""


class ModelLoadError(InstructZeroError):
    """A white-box or local black-box model cannot be loaded from local files."""


class BlackBoxError(InstructZeroError):
    """The black-box endpoint cannot be used (missing key, unreachable, unknown model)."""


class PipelineRunError(InstructZeroError, RuntimeError):
    """A pipeline run did not complete (a step failed): the message names the run and the failed steps."""


class DataValidationError(TaskDataError):
    """Task data failed its expectations; `report` holds every check and the offending rows."""

    def __init__(self, message: str, report) -> None:
        super().__init__(message)
        self.report = report
