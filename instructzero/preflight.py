"""Checks that fail a run before any step, model load or spending, on errors a user can fix."""

from __future__ import annotations

from instructzero.blackbox.accounting import held_back_calls
from instructzero.blackbox.backends import make_backend
from instructzero.config.run import RunConfig
from instructzero.data.checks import load_checked_task
from instructzero.data.task import TaskData
from instructzero.errors import ConfigError
from instructzero.models.files import require_local_model
from instructzero.selection import selection_calls


def preflight(config: RunConfig, probe: bool = True, checked_task: TaskData | None = None) -> TaskData:
    """Task data (its expectations) and metric, a budget too small to score one instruction
    and test it, the models' files, and the black box's own check (for an endpoint: the key
    variable, then with `probe` and `blackbox.probe` one cheap request). Returns the checked task.

    `checked_task`: the task when its data already passed the checks (same `task` section and seed).
    """
    task = checked_task if checked_task is not None else load_checked_task(config.task, config.seed)[0]
    bb = config.blackbox
    n_validation = len(task.validation_subset(config.task.n_validation, config.seed))
    n_baselines = len(config.task.instructions)
    held = selection_calls(config)
    needed = n_validation + held_back_calls(task, n_validation=config.task.n_validation, seed=config.seed,
                                            n_baselines=n_baselines, selection_calls=held)  # fmt: skip
    if bb.max_calls is not None and bb.max_calls < needed:
        raise ConfigError(
            f"blackbox.max_calls={bb.max_calls} cannot score even one instruction ({n_validation}"
            f" validation calls) and test it ({len(task.test)} calls)"
            + (f" and your {n_baselines} instruction(s) (task.instructions)" if n_baselines else "")
            + (f" after the selection stage's {held} calls (selection.calls)" if held else "")
            + f": raise it to at least {needed}."
        )
    backend = make_backend(bb)
    backend.check(probe=probe and bb.probe)
    if config.task.objective == "logprob":
        if not backend.supports_logprobs:
            raise ConfigError(f"black-box backend '{bb.backend}' cannot give log-probabilities: use task.objective:"
                              " metric, or a backend that can (local, openai with echo + logprobs).")  # fmt: skip
        if probe and bb.probe:
            backend.probe_logprobs()
    require_local_model(config.whitebox.model, config.whitebox.gguf_file)
    return task
