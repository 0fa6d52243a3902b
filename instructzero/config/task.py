"""The task section: where the data comes from, how it is split and checked."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from instructzero.config.base import DEFAULT_MAX_TEST, DEFAULT_N_EXEMPLARS, DEFAULT_N_VALIDATION, StrictModel
from instructzero.data.metrics import CallableMetric, metric_reference


class DataChecksConfig(StrictModel):
    """Thresholds of the data checks (great-expectations) run before anything is generated or paid for.

    Minimum rows per split follow from the task config: κ exemplars for
    `prompt_gen`, the validation subset for `validation`, `min_test_rows` for `test`.
    """

    enabled: bool = True
    min_test_rows: int = Field(10, ge=1)
    #: Share of repeated inputs allowed within a split.
    max_duplicate_rate: float = Field(0.1, ge=0.0, le=1.0)
    #: Share of validation inputs allowed to appear in the test split (leakage).
    max_leak_rate: float = Field(0.0, ge=0.0, le=1.0)


class TaskConfig(StrictModel):
    """Where the task comes from and how it is split."""

    source: Literal["builtin", "instruction_induction", "file"] = "builtin"
    name: str = "sum"
    #: Folder with `induce/` and `execute/` (source `instruction_induction`); default: the 33 tasks in the package.
    data_dir: str | None = None
    #: JSONL or CSV with `input`, `output` and optional `answers` (source `file`).
    path: str | None = None
    #: Optional held-out test file; without it a share of `path` is held out.
    test_path: str | None = None
    test_fraction: float = Field(0.3, gt=0.0, lt=1.0)
    #: Largest task file read (source `file`), in MB: a far larger file is usually the wrong one.
    max_file_mb: float = Field(20.0, gt=0.0)
    #: A built-in metric name (default: the task's own, else exact_match) or a user's function,
    #: `{callable: "my_pkg.metrics:score"}`, importable wherever the run's steps run.
    metric: str | CallableMetric | None = None
    #: What the search scores instructions by: `metric` (the task's metric on generated answers, the reference)
    #: or `logprob` (the black box's probability of the gold answer: a continuous, less noisy score; the backend
    #: must give log-probabilities, and the winner is still picked on the metric by the selection stage).
    objective: Literal["metric", "logprob"] = "metric"
    #: The user's own instructions for this task (their current prompts). They are scored first, on the same
    #: validation subset as the search's, enter the selection stage as incumbents and stay the winner unless an
    #: instruction of the search beats them on the examples both were scored on; they are scored on the test
    #: split beside the winner and set the registry's floor.
    instructions: list[str] = []
    n_exemplars: int = Field(DEFAULT_N_EXEMPLARS, ge=1)
    n_validation: int = Field(DEFAULT_N_VALIDATION, ge=1)
    max_test: int = Field(DEFAULT_MAX_TEST, ge=1)
    checks: DataChecksConfig = DataChecksConfig()

    @field_validator("metric", mode="before")
    @classmethod
    def _metric_resolves(cls, metric: object) -> object:
        """Checked when the config is read (a user's function is imported and tried once), not mid-run."""
        if metric is not None:
            metric_reference(metric)
        return metric

    @field_validator("instructions")
    @classmethod
    def _instructions_not_blank(cls, instructions: list[str]) -> list[str]:
        cleaned = [" ".join(v.split()) for v in instructions]
        if any(not v for v in cleaned):
            raise ValueError("an instruction is blank: give each of your instructions as text, or remove it")
        if len(set(cleaned)) < len(cleaned):
            raise ValueError("an instruction appears twice: list each of your instructions once")
        return cleaned

    @model_validator(mode="after")
    def _source_fields(self) -> TaskConfig:
        if self.source == "file" and not self.path:
            raise ValueError("task.path is required for source 'file'")
        return self
