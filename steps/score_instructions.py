from typing import Annotated

import numpy as np
from zenml import log_metadata, step

import materializers  # noqa: F401
from instructzero import accounting, blackbox, data, loop, metrics, openai_backend, scoring
from instructzero.blackbox import make_blackbox
from instructzero.config import RunConfig
from instructzero.data import TaskData
from instructzero.history import Candidates, History
from steps.caching import depends_on
from steps.response_cache import step_response_cache


@step(cache_policy=depends_on(blackbox, openai_backend, accounting, scoring, metrics, data, loop))
def score_instructions(
    config: RunConfig,
    task: TaskData,
    history: History,
    soft_prompts: np.ndarray,
    instructions: list[str],
    round_index: int,
) -> Annotated[Candidates, "candidates"]:
    """Zero-shot scores on the fixed validation subset; answers already paid for come from the cache.

    `history` says what the run has spent, so the budget caps hold across rounds.
    """
    examples = loop.validation_examples(config, task)
    if not instructions:  # the run stopped early: nothing to score, nothing to pay
        batch = Candidates(round_index, soft_prompts, [], np.zeros((0, len(examples))), [])
    else:
        with step_response_cache(config.blackbox) as cache:
            batch = loop.score_candidates(
                round_index,
                soft_prompts,
                instructions,
                examples,
                make_blackbox(config.blackbox),
                task.metric,
                cache,
                progress=True,
                budget=loop.make_budget(config, task, history),
            )
    log_metadata(
        metadata={
            "calls": batch.calls,
            "cache_hits": batch.cache_hits,
            "retries": batch.retries,
            "prompt_tokens": batch.prompt_tokens,
            "completion_tokens": batch.completion_tokens,
            "cost_usd": batch.cost_usd,
            "budget_exhausted": batch.budget_exhausted,
            "n_scored": len(batch.instructions),
            "best_score": float(batch.means.max()) if batch.instructions else 0.0,
        }
    )
    return batch
