from typing import Annotated

import numpy as np
from zenml import step

from instructzero.config import BOConfig
from instructzero.search.history import Candidates, History
from instructzero.search.rounds import advance
from materializers import SoftPromptsMaterializer
from steps.caching import follows_imports


@step(cache_policy=follows_imports(__name__), output_materializers={"soft_prompts": SoftPromptsMaterializer})
def update_gp(
    bo: BOConfig, seed: int, history: History, candidates: Candidates, next_round: int
) -> tuple[Annotated[History, "history"], Annotated[np.ndarray, "soft_prompts"]]:
    """Append the scored batch, fit the GP on everything so far, propose round `next_round`
    (nothing once the run is done: see `instructzero.search.rounds.advance`)."""
    history, soft_prompts = advance(bo, history, candidates, next_round, seed)
    return history, soft_prompts  # a literal tuple: how ZenML tells two outputs from one
