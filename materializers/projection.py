"""The projection matrix A as safetensors, with its seed and shape as JSON and metadata."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from safetensors.torch import load, save
from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer

from instructzero.materializers.io import read_json, write_json
from instructzero.search.projection import SoftPromptProjection

_FIELDS = ("n_tokens", "hidden", "seed", "distribution", "scale")


class ProjectionMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (SoftPromptProjection,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: SoftPromptProjection) -> None:
        with self.artifact_store.open(os.path.join(self.uri, "matrix.safetensors"), "wb") as handle:
            handle.write(save({"A": data.matrix.contiguous()}))
        write_json(self.artifact_store, os.path.join(self.uri, "projection.json"), {k: getattr(data, k) for k in _FIELDS})

    def load(self, data_type: type[Any]) -> SoftPromptProjection:
        with self.artifact_store.open(os.path.join(self.uri, "matrix.safetensors"), "rb") as handle:
            matrix = load(handle.read())["A"]
        return SoftPromptProjection(matrix=matrix, **read_json(self.artifact_store, os.path.join(self.uri, "projection.json")))

    def extract_metadata(self, data: SoftPromptProjection) -> dict[str, Any]:
        return {
            "shape": str(tuple(data.matrix.shape)),
            "intrinsic_dim": data.intrinsic_dim,
            **{k: getattr(data, k) for k in _FIELDS},
        }
