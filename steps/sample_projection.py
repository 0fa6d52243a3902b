from typing import Annotated

from zenml import step

from instructzero.config.whitebox import ProjectionConfig
from instructzero.materializers.projection import ProjectionMaterializer
from instructzero.search.projection import SoftPromptProjection, projection_for_model
from instructzero.steps.caching import follows_imports
from instructzero.steps.names import PROJECTION


@step(cache_policy=follows_imports(__name__), output_materializers=ProjectionMaterializer)
def sample_projection(
    model: str, gguf_file: str | None, n_soft_tokens: int, projection: ProjectionConfig, seed: int
) -> Annotated[SoftPromptProjection, PROJECTION]:
    """Draw the fixed random matrix A for this run's seed and the white box's width (read from its config,
    not its weights: this step needs no GPU)."""
    return projection_for_model(model, gguf_file, n_soft_tokens, projection, seed)
