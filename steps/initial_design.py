from typing import Annotated

import numpy as np
from zenml import step

from instructzero.config.search import BOConfig
from instructzero.materializers.candidates import HistoryMaterializer
from instructzero.materializers.soft_prompts import SoftPromptsMaterializer
from instructzero.result import OptimizationResult
from instructzero.search.history import History
from instructzero.search.rounds import initial_soft_prompts, warm_start
from instructzero.steps.caching import follows_imports
from instructzero.steps.names import HISTORY, SOFT_PROMPTS


@step(cache_policy=follows_imports(__name__),
      output_materializers={HISTORY: HistoryMaterializer, SOFT_PROMPTS: SoftPromptsMaterializer})  # fmt: skip
def initial_design(
    bo: BOConfig, intrinsic_dim: int, seed: int, prior: OptimizationResult | None = None
) -> tuple[Annotated[History, HISTORY], Annotated[np.ndarray, SOFT_PROMPTS]]:
    """Round 0: an empty history and the Sobol (or uniform, for the baselines) starting soft prompts; with
    `prior` (a comparable earlier run's result, for a warm start) its observations and what they leave to do."""
    if prior is not None:
        history, soft_prompts = warm_start(bo, prior.history, intrinsic_dim, seed)
    else:
        history, soft_prompts = History(), initial_soft_prompts(bo.strategy, bo.n_init, intrinsic_dim, seed)
    return history, soft_prompts
