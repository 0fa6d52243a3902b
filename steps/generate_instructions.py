from typing import Annotated

import numpy as np
import torch
from zenml import step

import materializers  # noqa: F401
from instructzero import data, generator, loop, models
from instructzero.config import RunConfig
from instructzero.data import TaskData
from instructzero.projection import SoftPromptProjection
from steps.caching import depends_on


@step(cache_policy=depends_on(generator, models, data, loop))
def generate_instructions(
    config: RunConfig, task: TaskData, projection: SoftPromptProjection, soft_prompts: np.ndarray
) -> Annotated[list[str], "instructions"]:
    """The GPU step: the white-box model writes one instruction per soft prompt."""
    if len(soft_prompts) == 0:  # BO stopped early: nothing left to generate
        return []
    gen = loop.build_generator(config, projection)
    return gen.generate(torch.as_tensor(soft_prompts), loop.generation_text(config, task), progress=True)
