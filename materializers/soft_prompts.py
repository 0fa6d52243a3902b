"""Soft-prompt batches (`n x d` arrays): ZenML's numpy materializer, with metadata that tolerates n = 0.

An empty batch is how the pipeline says "no more proposals" (early stop, last
round); the stock metadata (min/max) fails on it. Not registered as the default
for every ndarray: steps name it for their `soft_prompts` outputs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from zenml.materializers.numpy_materializer import NumpyMaterializer

from instructzero.materializers.io import content_hash


class SoftPromptsMaterializer(NumpyMaterializer):
    SKIP_REGISTRATION: ClassVar[bool] = True

    def save_visualizations(self, data: np.ndarray) -> dict[str, Any]:
        return super().save_visualizations(data) if data.size else {}

    def extract_metadata(self, data: np.ndarray) -> dict[str, Any]:
        return {"n_soft_prompts": int(data.shape[0]), "intrinsic_dim": int(data.shape[-1])}

    def compute_content_hash(self, data: np.ndarray) -> str:
        return content_hash(data)
