from typing import Annotated

import numpy as np
from zenml import step

from instructzero import bo, loop
from instructzero.config import RunConfig
from instructzero.history import History
from materializers import SoftPromptsMaterializer
from steps.caching import depends_on


@step(cache_policy=depends_on(bo, loop), output_materializers={"soft_prompts": SoftPromptsMaterializer})
def initial_design(config: RunConfig) -> tuple[Annotated[History, "history"], Annotated[np.ndarray, "soft_prompts"]]:
    """Round 0: an empty history and the Sobol (or uniform, for the baseline) starting soft prompts."""
    return History(), loop.initial_soft_prompts(config)
