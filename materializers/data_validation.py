"""The data-validation report: JSON, an HTML table of every check, pass/fail counts as metadata."""

from __future__ import annotations

import dataclasses
import html
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer

from instructzero.data.checks import CheckResult, DataValidationReport
from instructzero.materializers.io import read_json, write_json, write_text


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)


def report_html(report: DataValidationReport) -> str:
    verdict = "passed" if report.success else "FAILED"
    rows = "".join(
        f"<tr style='background:{'#fff' if c.success else '#fde2e2'}'><td>{html.escape(c.split)}</td>"
        f"<td>{html.escape(c.expectation)}</td><td>{html.escape(c.column or '')}</td>"
        f"<td>{'ok' if c.success else 'failed'}</td><td>{html.escape(str(c.observed if c.observed is not None else ''))}</td>"
        f"<td>{html.escape(', '.join(f'{i}: {v[:60]}' for i, v in zip(c.unexpected_rows[:5], c.unexpected_values)))}</td></tr>"
        for c in report.checks
    )  # fmt: skip
    return (
        f"<h3>Data validation of task {html.escape(report.task)}: {verdict}</h3>"
        f"<p>rows: {html.escape(str(report.rows))}; thresholds: {html.escape(str(report.thresholds))}</p>"
        "<table border=1 cellpadding=4 style='border-collapse:collapse;font-family:sans-serif;font-size:13px'>"
        "<tr><th>split</th><th>expectation</th><th>column</th><th>result</th><th>observed</th>"
        f"<th>offending rows (first 5)</th></tr>{rows}</table>"
    )


class DataValidationReportMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (DataValidationReport,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA_ANALYSIS

    def save(self, data: DataValidationReport) -> None:
        checks = [{k: _jsonable(v) for k, v in dataclasses.asdict(c).items()} for c in data.checks]
        write_json(self.artifact_store, os.path.join(self.uri, "report.json"),
                   {"task": data.task, "checks": checks, "thresholds": data.thresholds, "rows": data.rows})  # fmt: skip

    def load(self, data_type: type[Any]) -> DataValidationReport:
        record = read_json(self.artifact_store, os.path.join(self.uri, "report.json"))
        checks = [CheckResult(**c) for c in record.pop("checks")]
        return DataValidationReport(checks=checks, **record)

    def save_visualizations(self, data: DataValidationReport) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "report.html")
        write_text(self.artifact_store, path, report_html(data))
        return {path: VisualizationType.HTML}

    def extract_metadata(self, data: DataValidationReport) -> dict[str, Any]:
        return {
            "success": data.success,
            "n_checks": len(data.checks),
            "n_failed": len(data.failures),
            "failed": [f"{c.split}:{c.expectation}({c.column or ''})" for c in data.failures],
        }
