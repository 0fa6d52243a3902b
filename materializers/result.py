"""The final result: the winner, its test score and interval, the full history, why the run stopped."""

from __future__ import annotations

import html
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer

from instructzero.blackbox.accounting import Spend
from instructzero.materializers.candidates import history_html, load_history, save_history
from instructzero.materializers.io import read_json, read_npz, write_json, write_npz, write_text
from instructzero.result import BaselineScore, OptimizationResult, Selection, TestResult
from instructzero.version import __version__

_FIELDS = ("task", "metric", "seed", "projection_seed", "stop_reason", "wall_time_s")


class OptimizationResultMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (OptimizationResult,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: OptimizationResult) -> None:
        baselines = [{"instruction": b.instruction, "validation_score": b.validation_score,
                      "validation_spend": b.validation_spend.as_metadata(), "test": _test_record(b.test)}
                     for b in data.baselines]  # fmt: skip
        record = {**{k: getattr(data, k) for k in _FIELDS}, "test": _test_record(data.test), "baselines": baselines,
                  "selection": data.selection.model_dump() if data.selection is not None else None}  # fmt: skip
        write_json(self.artifact_store, os.path.join(self.uri, "result.json"), record)
        arrays = {"per_example": data.test.per_example}
        for i, b in enumerate(data.baselines):
            arrays[f"baseline_{i}_test"], arrays[f"baseline_{i}_validation"] = b.test.per_example, b.validation_per_example
        write_npz(self.artifact_store, os.path.join(self.uri, "test.npz"), **arrays)
        save_history(self.artifact_store, self.uri, data.history)

    def load(self, data_type: type[Any]) -> OptimizationResult:
        record = read_json(self.artifact_store, os.path.join(self.uri, "result.json"))
        arrays = read_npz(self.artifact_store, os.path.join(self.uri, "test.npz"))
        test = _test_from(record.pop("test"), arrays["per_example"])
        baselines = [
            BaselineScore(b["instruction"], b["validation_score"], arrays[f"baseline_{i}_validation"],
                          _test_from(b["test"], arrays[f"baseline_{i}_test"]), Spend(**b["validation_spend"]))
            for i, b in enumerate(record.pop("baselines", []))
        ]  # fmt: skip
        selection = record.pop("selection", None)
        return OptimizationResult(history=load_history(self.artifact_store, self.uri), test=test, baselines=baselines,
                                  selection=Selection(**selection) if selection else None, **record)  # fmt: skip

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
            **data.spend.as_metadata(),
            "stop_reason": data.stop_reason,
            "n_evaluations": len(data.history.instructions),
            "seed": data.seed,
            "instructzero_version": __version__,
            "baselines": [{"instruction": b.instruction, "validation_score": b.validation_score,
                           "test_score": b.test.score} for b in data.baselines],  # fmt: skip
        }


def _test_record(t: TestResult) -> dict[str, Any]:
    return {"instruction": t.instruction, "score": t.score, "ci_low": t.ci_low, "ci_high": t.ci_high,
            "confidence": t.confidence, "answers": t.answers, "spend": t.spend.as_metadata()}  # fmt: skip


def _test_from(record: dict[str, Any], per_example) -> TestResult:
    return TestResult(per_example=per_example, **{**record, "spend": Spend(**record["spend"])})
