from typing import Annotated

from zenml import step

import materializers  # noqa: F401
from instructzero import loop, models, projection
from instructzero.config import RunConfig
from instructzero.projection import SoftPromptProjection
from steps.caching import depends_on


@step(cache_policy=depends_on(projection, models, loop))
def sample_projection(config: RunConfig) -> Annotated[SoftPromptProjection, "projection"]:
    """Draw the fixed random matrix A for this run's seed and white-box width."""
    return loop.build_projection(config, loop.load_whitebox(config))
