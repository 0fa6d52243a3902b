from typing import Annotated

import numpy as np
from zenml import log_metadata, step

import materializers  # noqa: F401
from instructzero.blackbox.accounting import Budget
from instructzero.blackbox.backends import make_blackbox
from instructzero.config import BlackBoxConfig
from instructzero.evaluation import reserved_calls
from instructzero.search.history import Candidates, History, Proposals
from instructzero.blackbox.scoring import score_candidates
from instructzero.data.task import TaskData
from steps.caching import follows_imports
from steps.response_cache import step_response_cache


@step(cache_policy=follows_imports(__name__))
def score_instructions(
    blackbox: BlackBoxConfig,
    n_validation: int,
    n_baselines: int,
    seed: int,
    task: TaskData,
    history: History,
    soft_prompts: np.ndarray,
    instructions: Proposals,
    round_index: int,
) -> Annotated[Candidates, "candidates"]:
    """Zero-shot scores on the fixed validation subset; answers already paid for come from the cache.

    `history` says what the run has spent, so the budget caps hold across rounds; the calls
    for the test split and the baselines are held back.
    """
    examples = task.validation_subset(n_validation, seed)
    reserve = reserved_calls(len(task.test), len(examples), n_baselines)
    budget = Budget.for_run(blackbox, history.spend + instructions.spend, reserve)
    with step_response_cache(blackbox) as cache:
        batch = score_candidates(
            round_index, soft_prompts, instructions.instructions, examples, make_blackbox(blackbox), task.metric,
            cache, progress=True, budget=budget, proposal_spend=instructions.spend,
        )  # fmt: skip
    log_metadata(metadata={**batch.spend.as_metadata(), "budget_exhausted": batch.budget_exhausted,
                           "n_scored": len(batch.instructions)})  # fmt: skip
    return batch
