from contextlib import nullcontext
from typing import Annotated

import numpy as np
from zenml import step

from instructzero.blackbox.accounting import search_budget
from instructzero.config.blackbox import BlackBoxConfig
from instructzero.config.search import APEConfig
from instructzero.config.whitebox import WhiteBoxConfig
from instructzero.data.task import TaskData
from instructzero.materializers.proposals import ProposalsMaterializer
from instructzero.search.history import History, Proposals
from instructzero.search.projection import SoftPromptProjection
from instructzero.search.proposals import propose_instructions
from instructzero.steps.caching import follows_imports
from instructzero.steps.names import INSTRUCTIONS
from instructzero.steps.response_cache import step_response_cache


@step(cache_policy=follows_imports(__name__), output_materializers=ProposalsMaterializer)
def generate_instructions(
    strategy: str,
    whitebox: WhiteBoxConfig,
    ape: APEConfig,
    proposer: BlackBoxConfig | None,
    n_exemplars: int,
    instructions: list[str],
    n_validation: int,
    n_baselines: int,
    selection_calls: int,
    seed: int,
    task: TaskData,
    projection: SoftPromptProjection,
    history: History | None,
    soft_prompts: np.ndarray,
) -> Annotated[Proposals, INSTRUCTIONS]:
    """The GPU step: the white-box model writes one instruction per soft prompt (or samples APE candidates).

    `proposer` is the black box only when it proposes (APE as in its paper); then the budget
    (from `history`, given only then: otherwise the history's bookkeeping would tie this step's
    cache to the scoring's) covers its calls too. `instructions` are the user's, which the white box reads
    only with `whitebox.show_instructions` (the pipeline passes none otherwise, so they stay out of the key).
    """
    budget = None
    if proposer is not None and history is not None:
        budget = search_budget(proposer, task, n_validation=n_validation, seed=seed, n_baselines=n_baselines,
                               selection_calls=selection_calls, spent=history.spend)  # fmt: skip
    with step_response_cache(proposer) if proposer is not None else nullcontext() as cache:
        return propose_instructions(
            strategy, soft_prompts, whitebox=whitebox, ape=ape, projection=projection, task=task,
            n_exemplars=n_exemplars, seed=seed, instructions=instructions, proposer=proposer, cache=cache, budget=budget, progress=True,
        )  # fmt: skip
