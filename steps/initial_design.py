from typing import Annotated

import numpy as np
from zenml import step

from instructzero.history import History
from instructzero.rounds import initial_soft_prompts
from materializers import SoftPromptsMaterializer
from steps.caching import follows_imports


@step(cache_policy=follows_imports(__name__), output_materializers={"soft_prompts": SoftPromptsMaterializer})
def initial_design(
    strategy: str, n_init: int, intrinsic_dim: int, seed: int
) -> tuple[Annotated[History, "history"], Annotated[np.ndarray, "soft_prompts"]]:
    """Round 0: an empty history and the Sobol (or uniform, for the baseline) starting soft prompts."""
    return History(), initial_soft_prompts(strategy, n_init, intrinsic_dim, seed)
