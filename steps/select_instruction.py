from typing import Annotated

from zenml import log_metadata, step

from instructzero.blackbox.accounting import search_budget
from instructzero.config.blackbox import BlackBoxConfig
from instructzero.config.search import BOConfig, SelectionConfig
from instructzero.data.task import TaskData
from instructzero.result import Selection
from instructzero.search.history import History
from instructzero.selection import ranking_values, score_user_instructions, select_winner
from instructzero.steps.caching import follows_imports
from instructzero.steps.names import SELECTION
from instructzero.steps.response_cache import step_caller


@step(cache_policy=follows_imports(__name__))
def select_instruction(
    blackbox: BlackBoxConfig,
    selection: SelectionConfig,
    bo: BOConfig,
    n_validation: int,
    n_baselines: int,
    user_instructions: list[str],
    objective: str,
    seed: int,
    task: TaskData,
    history: History,
) -> Annotated[Selection, SELECTION]:
    """Choose the winner: successive halving of the search's best distinct instructions on fresh validation
    examples (disabled: the best validation score, at no cost); ranked by the GP's posterior mean when
    `selection.rank_by` says so (`bo` gives its kernel and noise model). Under `objective: logprob` the search's
    scores choose the candidates but only the stage's own scores on the metric choose the winner. The user's own
    instructions (`user_instructions`) are scored on the search's validation subset and compete as incumbents."""
    budget = search_budget(blackbox, task, n_validation=n_validation, seed=seed, n_baselines=n_baselines,
                           spent=history.spend)  # fmt: skip
    examples = task.selection_subset(n_validation, selection.max_examples, seed)
    with step_caller(blackbox) as caller:
        users, user_spend = score_user_instructions(caller, user_instructions, task.validation_subset(n_validation, seed),
                                           task.metric)  # fmt: skip
        chosen = select_winner(caller, history, examples=examples, metric=task.metric, config=selection,
                               budget=budget, ranking=ranking_values(history, selection, bo, seed),
                               search_on_metric=objective == "metric", users=users, seed=seed).plus(user_spend)  # fmt: skip
    log_metadata(metadata={**chosen.cost.as_metadata(), "candidates": len(chosen.candidates),
                           "rungs": len(chosen.rungs),
                           "user_kept": chosen.user_kept if chosen.n_user else None})  # fmt: skip
    return chosen
