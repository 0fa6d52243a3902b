"""The test evaluation: bootstrap interval of the winner's test score."""

from __future__ import annotations

from pydantic import Field

from instructzero.config.base import StrictModel


class EvaluationConfig(StrictModel):
    bootstrap_samples: int = Field(1000, ge=10)
    confidence: float = Field(0.95, gt=0.0, lt=1.0)
