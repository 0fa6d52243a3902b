"""Task splits: ZenML's Pydantic materializer (JSON) plus split sizes as metadata."""

from __future__ import annotations

from typing import Any, ClassVar

from zenml.materializers.pydantic_materializer import PydanticMaterializer

from instructzero.data.task import TaskData


class TaskDataMaterializer(PydanticMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TaskData,)

    def extract_metadata(self, data: TaskData) -> dict[str, Any]:
        return {
            "task": data.name,
            "metric": data.metric,
            "n_prompt_gen": len(data.prompt_gen),
            "n_validation": len(data.validation),
            "n_test": len(data.test),
        }
