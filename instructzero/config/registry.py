"""The prompt registry: promotion rule and re-checks of production."""

from __future__ import annotations

from pydantic import Field

from instructzero.config.base import StrictModel


def default_registry_model_name(task: str) -> str:
    """The registry model of a task's instructions (shared by the pipeline and its consumers)."""
    return f"instructzero-{task}"


class RegistryConfig(StrictModel):
    """Where the pipeline registers its best instruction (the ZenML Model Control Plane)."""

    #: Model name in the registry; default `instructzero-<task name>`.
    model_name: str | None = None
    #: Promote to production even when the test score does not beat the current one.
    force_promotion: bool = False
    #: Least improvement of the test score over production (paired, same examples) to promote.
    min_improvement: float = Field(0.0, ge=0.0, le=1.0)
    #: Production needs a test score above this; default: the best baseline instruction's, else 0.
    floor: float | None = Field(None, ge=0.0, le=1.0)


class RecheckConfig(StrictModel):
    """Re-checking the production instruction against today's black box and test split."""

    #: A drop of the test score beyond this (and beyond noise) is a regression.
    margin: float = Field(0.05, ge=0.0, le=1.0)
    #: Ask the black box again instead of reusing cached answers: for an endpoint whose model name
    #: stays while the model behind it may change.
    fresh_answers: bool = False
    #: On a regression, run a full optimization (its result goes through the normal promotion rule).
    reoptimize: bool = False
