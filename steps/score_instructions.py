from typing import Annotated

import numpy as np
from zenml import log_metadata, step

from instructzero.blackbox.accounting import search_budget
from instructzero.blackbox.scoring import RepeatBlocks, score_candidates
from instructzero.config.blackbox import BlackBoxConfig
from instructzero.data.metrics import search_metric
from instructzero.data.task import TaskData
from instructzero.materializers.candidates import CandidatesMaterializer
from instructzero.search.history import Candidates, History, Proposals
from instructzero.steps.caching import follows_imports
from instructzero.steps.names import CANDIDATES
from instructzero.steps.response_cache import step_caller


@step(cache_policy=follows_imports(__name__), output_materializers=CandidatesMaterializer)
def score_instructions(
    blackbox: BlackBoxConfig,
    n_validation: int,
    n_baselines: int,
    selection_calls: int,
    repeats: str,
    reserved_for_selection: int,
    objective: str,
    seed: int,
    task: TaskData,
    history: History,
    soft_prompts: np.ndarray,
    instructions: Proposals,
    round_index: int,
) -> Annotated[Candidates, CANDIDATES]:
    """Zero-shot scores on the fixed validation subset; answers already paid for come from the cache.

    `history` says what the run has spent, so the budget caps hold across rounds; the calls
    for the test split and the baselines are held back. With `repeats: pool`, a regenerated instruction is
    scored on its next block of fresh validation examples (never the selection stage's first
    `reserved_for_selection`). `objective: logprob` scores by the gold answers' log-probabilities.
    """
    budget = search_budget(blackbox, task, n_validation=n_validation, seed=seed, n_baselines=n_baselines,
                           selection_calls=selection_calls, spent=history.spend + instructions.spend)  # fmt: skip
    with step_caller(blackbox) as caller:
        batch = score_candidates(
            caller, round_index=round_index, soft_prompts=soft_prompts, instructions=instructions.instructions,
            examples=task.validation_subset(n_validation, seed), metric=search_metric(objective, task.metric), budget=budget,
            proposal_spend=instructions.spend,
            repeats=RepeatBlocks.of(repeats, task, history, n_validation=n_validation, seed=seed,
                                    reserved=reserved_for_selection),
        )  # fmt: skip
    log_metadata(metadata={**batch.spend.as_metadata(), "budget_exhausted": batch.budget_exhausted,
                           "n_scored": len(batch.instructions)})  # fmt: skip
    return batch
