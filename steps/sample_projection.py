from typing import Annotated

from zenml import step

import materializers  # noqa: F401
from instructzero.config import ProjectionConfig
from instructzero.search.projection import SoftPromptProjection, projection_for_model
from steps.caching import follows_imports


@step(cache_policy=follows_imports(__name__))
def sample_projection(
    model: str, gguf_file: str | None, n_soft_tokens: int, projection: ProjectionConfig, seed: int
) -> Annotated[SoftPromptProjection, "projection"]:
    """Draw the fixed random matrix A for this run's seed and the white box's width (read from its config,
    not its weights: this step needs no GPU)."""
    return projection_for_model(model, gguf_file, n_soft_tokens, projection, seed)
