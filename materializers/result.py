"""The final result: the winner, its test score and interval, the full history, the config."""

from __future__ import annotations

import dataclasses
import html
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer

from instructzero.config import RunConfig
from instructzero.evaluation import TestResult
from instructzero.loop import OptimizationResult
from materializers.candidates import history_html, load_history, save_history
from materializers.io import read_json, read_npz, write_json, write_npz, write_text


class OptimizationResultMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (OptimizationResult,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: OptimizationResult) -> None:
        test = {f.name: getattr(data.test, f.name) for f in dataclasses.fields(TestResult) if f.name != "per_example"}
        record = {
            "config": data.config.model_dump(mode="json"),
            "task": data.task,
            "metric": data.metric,
            "projection_seed": data.projection_seed,
            "wall_time_s": data.wall_time_s,
            "test": test,
        }
        write_json(self.artifact_store, os.path.join(self.uri, "result.json"), record)
        write_npz(self.artifact_store, os.path.join(self.uri, "test.npz"), per_example=data.test.per_example)
        save_history(self.artifact_store, self.uri, data.history)

    def load(self, data_type: type[Any]) -> OptimizationResult:
        record = read_json(self.artifact_store, os.path.join(self.uri, "result.json"))
        per_example = read_npz(self.artifact_store, os.path.join(self.uri, "test.npz"))["per_example"]
        return OptimizationResult(
            config=RunConfig.model_validate(record["config"]),
            task=record["task"],
            metric=record["metric"],
            history=load_history(self.artifact_store, self.uri),
            test=TestResult(per_example=per_example, **record["test"]),
            projection_seed=record["projection_seed"],
            wall_time_s=record["wall_time_s"],
        )

    def save_visualizations(self, data: OptimizationResult) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "result.html")
        summary = html.escape(data.summary())
        write_text(self.artifact_store, path, f"<pre>{summary}</pre>{history_html(data.history, 'All candidates')}")
        return {path: VisualizationType.HTML}

    def extract_metadata(self, data: OptimizationResult) -> dict[str, Any]:
        return {
            "best_instruction": data.best_instruction,
            "validation_score": data.validation_score,
            "test_score": data.test.score,
            "test_ci_low": data.test.ci_low,
            "test_ci_high": data.test.ci_high,
            "blackbox_calls": data.blackbox_calls,
            "prompt_tokens": data.tokens[0],
            "completion_tokens": data.tokens[1],
            "retries": data.history.retries + data.test.retries,
            "cost_usd": data.cost_usd,
            "stop_reason": data.stop_reason,
            "n_evaluations": len(data.history.instructions),
            "seed": data.config.seed,
        }
