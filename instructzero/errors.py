"""Errors a user can cause. Each message names the input at fault and the fix."""

import re


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


class MissingAnswersError(BlackBoxError):
    """A stored-only black box (a replay) was asked for answers the response cache lacks."""

    def __init__(self, missing: int) -> None:
        self.missing = missing
        super().__init__(f"the stored answers lack {missing} answer(s) asked for here")

    @staticmethod
    def missing_in(message: str) -> int | None:
        """How many answers were missing, read back from this error's message (where only the text survives, as
        in a failed step's exception info); None when `message` is not this error's."""
        found = re.search(r"the stored answers lack (\d+) answer\(s\) asked for here", message)
        return int(found.group(1)) if found else None


class PipelineRunError(InstructZeroError, RuntimeError):
    """A pipeline run did not complete (a step failed): the message names the run and the failed steps."""


class DataValidationError(TaskDataError):
    """Task data failed its expectations; `report` holds every check and the offending rows."""

    def __init__(self, message: str, report) -> None:
        super().__init__(message)
        self.report = report
