from typing import Annotated

import numpy as np
from zenml import step

from instructzero.config.search import BOConfig
from instructzero.materializers.candidates import HistoryMaterializer
from instructzero.materializers.soft_prompts import SoftPromptsMaterializer
from instructzero.search.history import Candidates, History
from instructzero.search.rounds import advance
from instructzero.steps.caching import follows_imports
from instructzero.steps.names import HISTORY, SOFT_PROMPTS


@step(cache_policy=follows_imports(__name__),
      output_materializers={HISTORY: HistoryMaterializer, SOFT_PROMPTS: SoftPromptsMaterializer})  # fmt: skip
def update_gp(
    bo: BOConfig, seed: int, history: History, candidates: Candidates, next_round: int
) -> tuple[Annotated[History, HISTORY], Annotated[np.ndarray, SOFT_PROMPTS]]:
    """Append the scored batch, fit the GP on everything so far, propose round `next_round`
    (nothing once the run is done: see `instructzero.search.rounds.advance`)."""
    history, soft_prompts = advance(bo, history, candidates, next_round, seed)
    return history, soft_prompts  # a literal tuple: how ZenML tells two outputs from one
