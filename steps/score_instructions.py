from typing import Annotated

import numpy as np
from zenml import log_metadata, step

import materializers  # noqa: F401
from instructzero.accounting import Budget
from instructzero.backends import make_blackbox
from instructzero.config import BlackBoxConfig
from instructzero.history import Candidates, History
from instructzero.scoring import score_candidates
from instructzero.task import TaskData
from steps.caching import follows_imports
from steps.response_cache import step_response_cache


@step(cache_policy=follows_imports(__name__))
def score_instructions(
    blackbox: BlackBoxConfig,
    n_validation: int,
    seed: int,
    task: TaskData,
    history: History,
    soft_prompts: np.ndarray,
    instructions: list[str],
    round_index: int,
) -> Annotated[Candidates, "candidates"]:
    """Zero-shot scores on the fixed validation subset; answers already paid for come from the cache.

    `history` says what the run has spent, so the budget caps hold across rounds.
    """
    examples = task.validation_subset(n_validation, seed)
    budget = Budget.for_run(blackbox, history.spend, reserve_calls=len(task.test))
    with step_response_cache(blackbox) as cache:
        batch = score_candidates(
            round_index, soft_prompts, instructions, examples, make_blackbox(blackbox), task.metric, cache,
            progress=True, budget=budget,
        )  # fmt: skip
    log_metadata(metadata={**batch.spend.as_metadata(), "budget_exhausted": batch.budget_exhausted,
                           "n_scored": len(batch.instructions)})  # fmt: skip
    return batch
