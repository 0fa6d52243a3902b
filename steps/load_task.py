from typing import Annotated

from zenml import step

import materializers  # noqa: F401  (registers the project's materializers)
from instructzero import builtin_tasks, data, metrics
from instructzero.config import RunConfig
from instructzero.data import TaskData
from steps.caching import depends_on


@step(cache_policy=depends_on(data, builtin_tasks, metrics))
def load_task(config: RunConfig) -> Annotated[TaskData, "task"]:
    """Read the task and split it into prompt-generation, validation and test examples."""
    return data.load_task(config.task, config.seed)
