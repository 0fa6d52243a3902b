"""Data validation with great-expectations: clean data passes, each kind of bad file names its expectation."""

import json

import pytest

from instructzero.config import parse_config
from instructzero.data.checks import load_checked_task, validate_task_data
from instructzero.data.load import read_raw_splits
from instructzero.errors import DataValidationError


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def clean_records(n=60, offset=0):
    return [{"input": f"{i} plus {i + 1}", "output": str(2 * i + 1)} for i in range(offset, offset + n)]


def file_config(path, test_path=None, **checks):
    task = {"source": "file", "path": str(path), "n_exemplars": 5, "n_validation": 10, "max_test": 100,
            "checks": checks}  # fmt: skip
    if test_path:
        task["test_path"] = str(test_path)
    return parse_config({"task": task})


def failed(config):
    with pytest.raises(DataValidationError) as info:
        load_checked_task(config.task, config.seed)
    message = str(info.value)
    assert "\n" not in message and "failed data validation" in message
    return info.value.report, message


def test_clean_tasks_pass_every_check(tmp_path):
    for config in (
        parse_config({}),  # the built-in default
        parse_config({"task": {"source": "instruction_induction", "name": "antonyms"}}),
        file_config(write_jsonl(tmp_path / "clean.jsonl", clean_records())),
    ):
        task, report = load_checked_task(config.task, config.seed)
        assert report.success and report.failures == []
        assert {c.split for c in report.checks} == {"prompt_gen", "validation", "test"}
        assert report.rows == {"prompt_gen": len(task.prompt_gen), "validation": len(task.validation),
                               "test": len(task.test)}  # fmt: skip


def test_missing_column_is_reported_as_such(tmp_path):
    path = write_jsonl(
        tmp_path / "no_output.jsonl", [{"input": r["input"], "answer": r["output"]} for r in clean_records()]
    )
    report, message = failed(file_config(path))
    assert {(c.expectation, c.column) for c in report.failures} == {("expect_column_to_exist", "output")}
    assert "expect_column_to_exist(output)" in message


def test_empty_and_null_outputs_name_the_rows(tmp_path):
    records = clean_records()
    records[3]["output"], records[17]["output"], records[40]["output"] = "", "   ", None
    report, message = failed(file_config(write_jsonl(tmp_path / "empty.jsonl", records)))
    kinds = {c.expectation for c in report.failures}
    assert kinds == {"expect_column_values_to_not_match_regex", "expect_column_values_to_not_be_null"}
    bad_inputs = {v for c in report.failures for v in c.unexpected_values}
    assert bad_inputs == {"3 plus 4", "17 plus 18", "40 plus 41"}
    assert all(c.column == "output" for c in report.failures) and "'17 plus 18'" in message


def test_too_few_rows(tmp_path):
    report, _ = failed(file_config(write_jsonl(tmp_path / "small.jsonl", clean_records(20))))
    # 20 rows: 6 held out for test (10 needed), 7 left for validation (10 needed).
    assert {(c.split, c.expectation, c.observed) for c in report.failures} == {
        ("validation", "expect_table_row_count_to_be_between", 7),
        ("test", "expect_table_row_count_to_be_between", 6),
    }


def test_leakage_between_validation_and_test(tmp_path):
    main = write_jsonl(tmp_path / "main.jsonl", clean_records(60))
    test = write_jsonl(tmp_path / "test.jsonl", clean_records(20, offset=50) + clean_records(20, offset=100))
    report, message = failed(file_config(main, test))
    assert [(c.split, c.expectation) for c in report.failures] == [
        ("validation", "expect_column_values_to_not_be_in_set")
    ]
    name, raw = read_raw_splits(file_config(main, test).task, 0)
    test_inputs = {r["input"] for r in raw["test"]}
    leaked = {r["input"] for r in raw["validation"]} & test_inputs
    assert set(report.failures[0].unexpected_values) == leaked and leaked
    # A tolerated share of leakage passes.
    assert validate_task_data(file_config(main, test, max_leak_rate=0.5).task, name, raw).success


def test_duplicates_over_the_threshold(tmp_path):
    records = clean_records(40) + clean_records(20)  # a third of the rows repeat an input
    # Leakage tolerated here: repeated inputs also land in both validation and test.
    report, _ = failed(file_config(write_jsonl(tmp_path / "dups.jsonl", records), max_leak_rate=1.0))
    kinds = {c.expectation for c in report.failures}
    assert kinds == {"expect_column_proportion_of_unique_values_to_be_between"}
    assert all(c.column == "input" and c.observed < 0.9 for c in report.failures)
    _, raw = read_raw_splits(file_config(tmp_path / "dups.jsonl").task, 0)
    assert validate_task_data(
        file_config(tmp_path / "dups.jsonl", max_duplicate_rate=0.5, max_leak_rate=1.0).task, "dups", raw
    ).success


def test_checks_can_be_disabled(tmp_path):
    path = write_jsonl(tmp_path / "small.jsonl", clean_records(20))
    task, report = load_checked_task(file_config(path, enabled=False).task, 0)
    assert report is None and len(task.validation) == 7


def test_the_same_data_is_checked_once_a_process_and_any_change_checks_it_again(tmp_path, monkeypatch):
    from instructzero.data import checks

    made = []
    run = checks._run_expectations
    monkeypatch.setattr(checks, "_run_expectations", lambda *a: made.append(a) or run(*a))
    monkeypatch.setattr(checks, "_REPORTS", {})
    path = write_jsonl(tmp_path / "task.jsonl", clean_records())
    config = file_config(path).task
    name, raw = read_raw_splits(config, 0)
    first = validate_task_data(config, name, raw)
    again = validate_task_data(config, name, raw)  # the preflight's check, then the load_task step's
    assert len(made) == 1 and again == first and again is not first
    raw["validation"][0]["output"] = " "  # one blank answer: not the same data
    assert not validate_task_data(config, name, raw).success and len(made) == 2
    stricter = file_config(path, min_test_rows=1000).task
    assert not validate_task_data(stricter, name, read_raw_splits(stricter, 0)[1]).success and len(made) == 3
