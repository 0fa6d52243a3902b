"""Data validation with great-expectations 1.x: bad task data stops a run before anything is paid for.

One expectation suite per split, run on the raw records (before parsing, so a
missing column is reported as such): required columns present, `input` and
`output` non-null and not blank, enough rows (κ exemplars, the validation
subset, a test set), few repeated inputs, and no validation input in the test
split. GX runs in an ephemeral context with analytics and progress bars off;
its results are turned into a :class:`DataValidationReport` that holds no GX
objects, so it can be stored as an artifact and read without GX.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

from instructzero.config.task import TaskConfig
from instructzero.data.load import RawSplits, read_raw_splits, read_task, task_from_raw
from instructzero.data.task import SPLITS, TaskData
from instructzero.errors import DataValidationError

REQUIRED_COLUMNS = ("input", "output")
#: Offending values quoted per failed check in the one-line message.
SHOWN_ROWS = 3
#: What each expectation's failure means, in the user's words.
MEANING = {
    "expect_column_to_exist": "column missing",
    "expect_column_values_to_not_be_null": "missing values",
    "expect_column_values_to_not_match_regex": "blank values",
    "expect_table_row_count_to_be_between": "too few rows",
    "expect_column_proportion_of_unique_values_to_be_between": "too many repeated inputs",
    "expect_column_values_to_not_be_in_set": "inputs also in the test split",
}


@dataclass(frozen=True)
class CheckResult:
    """One expectation on one split."""

    split: str
    expectation: str
    column: str | None
    success: bool
    observed: Any = None
    #: Row positions within the split (after the seeded split) that broke the expectation.
    unexpected_rows: list[int] = field(default_factory=list)
    unexpected_values: list[str] = field(default_factory=list)

    def describe(self) -> str:
        target = f"{self.expectation}({self.column})" if self.column else self.expectation
        text = f"{self.split}: {target}"
        if meaning := MEANING.get(self.expectation):
            text += f" [{meaning}]"
        if self.unexpected_rows:
            shown = ", ".join(repr(v)[:40] for v in self.unexpected_values[:SHOWN_ROWS])
            more = f" +{len(self.unexpected_rows) - SHOWN_ROWS} more" if len(self.unexpected_rows) > SHOWN_ROWS else ""
            text += f" failed on rows {self.unexpected_rows[:SHOWN_ROWS]}{more} ({shown})"
        elif self.observed is not None:
            text += f" failed (observed {self.observed:.3g})" if isinstance(self.observed, float) else \
                f" failed (observed {self.observed})"  # fmt: skip
        return text


@dataclass
class DataValidationReport:
    task: str
    checks: list[CheckResult]
    #: Thresholds the checks used, for the record.
    thresholds: dict[str, Any]
    rows: dict[str, int]

    @property
    def success(self) -> bool:
        return all(c.success for c in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success]

    def summary(self) -> str:
        """One line: each failed expectation with a few offending rows, and the fix."""
        if self.success:
            return f"task '{self.task}' passed {len(self.checks)} data checks"
        problems = "; ".join(c.describe() for c in self.failures)
        return (
            f"task '{self.task}' failed data validation: {problems}. Fix the data, or relax "
            "task.checks / task.n_exemplars / task.n_validation in the config."
        )


def _as_text(value: Any) -> str | None:
    """A cell as the string parsing will make of it; missing values stay missing (None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, str) else str(value)


def _import_gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    # After the import, which configures its own loggers: its ephemeral context's info lines are noise here.
    for name in ("great_expectations", "great_expectations.expectations.registry",
                 "great_expectations.data_context.types.base"):  # fmt: skip
        logging.getLogger(name).setLevel(logging.ERROR)
    return gx


def _min_rows(config: TaskConfig) -> dict[str, int]:
    """Rows each split needs: κ exemplars, the validation subset, a test set."""
    return {
        "prompt_gen": config.n_exemplars,
        "validation": config.n_validation,
        "test": config.checks.min_test_rows,
    }


def _suite(gx, name: str, split: str, columns: list[str], config: TaskConfig, test_inputs: list[str]):
    e, v = gx.expectations, config.checks
    min_rows = _min_rows(config)[split]
    suite = gx.ExpectationSuite(name=name)
    for column in REQUIRED_COLUMNS:
        suite.add_expectation(e.ExpectColumnToExist(column=column))
        if column in columns:  # value checks only on columns that exist: a missing one is reported once
            suite.add_expectation(e.ExpectColumnValuesToNotBeNull(column=column))
            suite.add_expectation(e.ExpectColumnValuesToNotMatchRegex(column=column, regex=r"^\s*$"))
    suite.add_expectation(e.ExpectTableRowCountToBeBetween(min_value=min_rows))
    if "input" in columns:
        suite.add_expectation(
            e.ExpectColumnProportionOfUniqueValuesToBeBetween(column="input", min_value=1 - v.max_duplicate_rate)
        )
        if split == "validation":
            suite.add_expectation(
                e.ExpectColumnValuesToNotBeInSet(column="input", value_set=test_inputs, mostly=1 - v.max_leak_rate)
            )
    return suite


#: Reports already made in this process, by what they were made of (see :func:`validate_task_data`).
_REPORTS: dict[str, DataValidationReport] = {}
#: How many of them are kept.
_KEPT_REPORTS = 8


def _report_key(config: TaskConfig, name: str, raw: RawSplits) -> str:
    made_of = [config.model_dump(mode="json"), name, raw]
    return hashlib.sha256(json.dumps(made_of, sort_keys=True, default=str).encode()).hexdigest()


def validate_task_data(config: TaskConfig, name: str, raw: RawSplits) -> DataValidationReport:
    """Run the expectation suite on every split of `raw`.

    The report is a function of the task config, the name and the records alone, so one made earlier in this
    process for the same three is returned again (a copy) instead of starting GX anew: a local run checks its
    task before any step (the one-line refusal) and again in its `load_task` step, in the same process.
    """
    key = _report_key(config, name, raw)
    if key not in _REPORTS:
        if len(_REPORTS) >= _KEPT_REPORTS:
            _REPORTS.pop(next(iter(_REPORTS)))
        _REPORTS[key] = _run_expectations(config, name, raw)
    return copy.deepcopy(_REPORTS[key])


def _run_expectations(config: TaskConfig, name: str, raw: RawSplits) -> DataValidationReport:
    import pandas as pd

    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("instructzero")
    test_inputs = sorted({str(r["input"]) for r in raw["test"] if r.get("input") is not None})
    checks: list[CheckResult] = []
    for split in SPLITS:
        frame = pd.DataFrame.from_records(raw[split])
        for column in REQUIRED_COLUMNS:  # strings, as parsing will make them; None stays null
            if column in frame:
                frame[column] = frame[column].map(_as_text)
        batch = source.add_dataframe_asset(name=split).add_batch_definition_whole_dataframe("all")
        suite = context.suites.add(_suite(gx, f"{name}-{split}", split, list(frame.columns), config, test_inputs))
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=split, data=batch, suite=suite))
        result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
        for r in result.results:
            details = r.result or {}
            rows = [int(i) for i in details.get("unexpected_index_list") or []]
            checks.append(
                CheckResult(
                    split=split,
                    expectation=r.expectation_config.type,
                    column=r.expectation_config.kwargs.get("column"),
                    success=bool(r.success),
                    observed=details.get("observed_value"),
                    unexpected_rows=rows,
                    unexpected_values=[str(frame.iloc[i].get("input", "")) if "input" in frame else "" for i in rows],
                )
            )
    v = config.checks
    return DataValidationReport(
        task=name,
        checks=checks,
        thresholds={
            "min_rows": _min_rows(config),
            "max_duplicate_rate": v.max_duplicate_rate,
            "max_leak_rate": v.max_leak_rate,
        },  # fmt: skip
        rows={split: len(raw[split]) for split in SPLITS},
    )


def check_task_data(config: TaskConfig, name: str, raw: RawSplits) -> DataValidationReport:
    """Validate; raise :class:`DataValidationError` (carrying the report) when any check fails."""
    report = validate_task_data(config, name, raw)
    if not report.success:
        raise DataValidationError(report.summary(), report)
    return report


def load_checked_task(config: TaskConfig, seed: int) -> tuple[TaskData, DataValidationReport | None]:
    """Read the task, run the checks on its raw splits (unless `task.checks.enabled` is off), then parse it.

    Raises :class:`DataValidationError` (with the report) when a check fails.
    """
    if not config.checks.enabled:
        return read_task(config, seed), None
    name, raw = read_raw_splits(config, seed)
    report = check_task_data(config, name, raw)
    return task_from_raw(config, name, raw), report
