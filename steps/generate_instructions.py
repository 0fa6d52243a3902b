from typing import Annotated

import numpy as np
import torch
from zenml import step

import materializers  # noqa: F401
from instructzero.config import WhiteBoxConfig
from instructzero.generator import exemplar_prompt
from instructzero.generator import generate_instructions as generate
from instructzero.projection import SoftPromptProjection
from instructzero.task import TaskData
from steps.caching import follows_imports


@step(cache_policy=follows_imports(__name__))
def generate_instructions(
    whitebox: WhiteBoxConfig,
    n_exemplars: int,
    seed: int,
    task: TaskData,
    projection: SoftPromptProjection,
    soft_prompts: np.ndarray,
) -> Annotated[list[str], "instructions"]:
    """The GPU step: the white-box model writes one instruction per soft prompt."""
    text = exemplar_prompt(task.exemplars(n_exemplars, seed), whitebox.template)
    return generate(whitebox, projection, torch.as_tensor(soft_prompts), text, progress=True)
