from typing import Annotated

import numpy as np
from zenml import step

from instructzero import bo, history, kernel, loop
from instructzero.config import RunConfig
from instructzero.history import Candidates, History
from materializers import SoftPromptsMaterializer
from steps.caching import depends_on


@step(cache_policy=depends_on(bo, kernel, history, loop), output_materializers={"soft_prompts": SoftPromptsMaterializer})
def update_gp(
    config: RunConfig, history: History, candidates: Candidates, next_round: int
) -> tuple[Annotated[History, "history"], Annotated[np.ndarray, "soft_prompts"]]:
    """Append the scored batch, fit the GP on everything so far, propose round `next_round`.

    Proposes nothing after the last round, once the validation score is perfect or the budget is spent.
    """
    if candidates.instructions or candidates.budget_exhausted:
        history = history.append(candidates)
    if next_round > config.bo.n_rounds or loop.should_stop(config, history):
        return history, np.zeros((0, config.projection.intrinsic_dim))
    return history, loop.propose_round(config, history, next_round)
