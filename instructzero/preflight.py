"""Checks that fail a run before any step, model load or spending, on errors a user can fix."""

from __future__ import annotations

from instructzero.config import RunConfig
from instructzero.data.checks import load_checked_task
from instructzero.errors import ConfigError
from instructzero.evaluation import reserved_calls
from instructzero.models.files import SMOLLM2, smollm2_location
from instructzero.data.task import TaskData


def preflight(config: RunConfig, probe: bool = True) -> TaskData:
    """Task data (its expectations) and metric, a budget too small to score one instruction
    and test it, the default model's files, and for an endpoint: the key variable, then (with
    `probe` and `blackbox.probe`) one cheap request (URL, key, model). Returns the checked task.
    """
    task, _ = load_checked_task(config.task, config.seed)
    bb = config.blackbox
    n_validation = len(task.validation_subset(config.task.n_validation, config.seed))
    n_baselines = len(config.baseline_instructions)
    needed = n_validation + reserved_calls(len(task.test), n_validation, n_baselines)
    if bb.max_calls is not None and bb.max_calls < needed:
        raise ConfigError(
            f"blackbox.max_calls={bb.max_calls} cannot score even one instruction ({n_validation}"
            f" validation calls) and test it ({len(task.test)} calls)"
            + (f" and the {n_baselines} baseline instructions" if n_baselines else "")
            + f": raise it to at least {needed}."
        )
    if bb.backend == "openai":
        from instructzero.blackbox.backends import make_blackbox

        blackbox = make_blackbox(bb)  # checks that the key variable is set
        if probe and bb.probe:
            blackbox.probe()
    if SMOLLM2 in (config.whitebox.model, bb.model if bb.backend == "local" else None):
        smollm2_location()
    return task
