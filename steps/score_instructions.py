from typing import Annotated

import numpy as np
from zenml import log_metadata, step

import materializers  # noqa: F401
from instructzero import blackbox, data, loop, metrics, scoring
from instructzero.blackbox import make_blackbox
from instructzero.config import RunConfig
from instructzero.data import TaskData
from instructzero.history import Candidates
from instructzero.scoring import ResponseCache
from steps.caching import depends_on


@step(cache_policy=depends_on(blackbox, scoring, metrics, data, loop))
def score_instructions(
    config: RunConfig, task: TaskData, soft_prompts: np.ndarray, instructions: list[str], round_index: int
) -> Annotated[Candidates, "candidates"]:
    """Zero-shot scores on the fixed validation subset; answers already paid for come from the cache."""
    examples = loop.validation_examples(config, task)
    if not instructions:
        return Candidates(round_index, soft_prompts, [], np.zeros((0, len(examples))), [])
    batch = loop.score_candidates(
        round_index,
        soft_prompts,
        instructions,
        examples,
        make_blackbox(config.blackbox),
        task.metric,
        ResponseCache(config.blackbox.cache_path),
        progress=True,
    )
    log_metadata(
        metadata={"calls": batch.calls, "cache_hits": batch.cache_hits, "prompt_tokens": batch.prompt_tokens,
                  "completion_tokens": batch.completion_tokens, "best_score": float(batch.means.max())}  # fmt: skip
    )
    return batch
