from contextlib import nullcontext
from typing import Annotated

import numpy as np
from zenml import step

import materializers  # noqa: F401
from instructzero.blackbox.accounting import Budget
from instructzero.config import APEConfig, BlackBoxConfig, WhiteBoxConfig
from instructzero.evaluation import reserved_calls
from instructzero.search.history import History, Proposals
from instructzero.search.projection import SoftPromptProjection
from instructzero.search.proposals import propose
from instructzero.data.task import TaskData
from steps.caching import follows_imports
from steps.response_cache import step_response_cache


@step(cache_policy=follows_imports(__name__))
def generate_instructions(
    strategy: str,
    whitebox: WhiteBoxConfig,
    ape: APEConfig,
    proposer: BlackBoxConfig | None,
    n_exemplars: int,
    n_validation: int,
    n_baselines: int,
    seed: int,
    task: TaskData,
    projection: SoftPromptProjection,
    history: History,
    soft_prompts: np.ndarray,
) -> Annotated[Proposals, "instructions"]:
    """The GPU step: the white-box model writes one instruction per soft prompt (or samples APE candidates).

    `proposer` is the black box only when it proposes (APE as in its paper); then the budget
    (from `history`) covers its calls too.
    """
    budget = None
    if proposer is not None:
        reserve = reserved_calls(len(task.test), len(task.validation_subset(n_validation, seed)), n_baselines)
        budget = Budget.for_run(proposer, history.spend, reserve)
    with step_response_cache(proposer) if proposer is not None else nullcontext() as cache:
        return propose(strategy, whitebox, ape, projection, soft_prompts, task, n_exemplars, seed, proposer, cache,
                       budget, progress=True)  # fmt: skip
