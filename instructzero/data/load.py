"""Task loaders: raw splits from each source, then parsed into a :class:`TaskData`.

Sources: tasks the project builds itself (:mod:`instructzero.data.builtin`), the
instruction-induction JSON format (``induce/`` → prompt_gen + validation,
``execute/`` → test), and user files in JSONL or CSV.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from pathlib import Path

from instructzero.config.task import TaskConfig
from instructzero.data.builtin import builtin_examples
from instructzero.data.metrics import metric_for_task, metric_reference
from instructzero.data.task import SPLITS, Example, TaskData
from instructzero.errors import TaskDataError
from instructzero.seeding import derive_seed

#: A task before parsing: split name -> raw records (`input`, `output`, optional `answers`).
RawSplits = dict[str, list[dict]]


def read_task(config: TaskConfig, seed: int) -> TaskData:
    """Load and split the task a run config names, without the data checks (see `data_validation`)."""
    name, raw = read_raw_splits(config, seed)
    return task_from_raw(config, name, raw)


def read_raw_splits(config: TaskConfig, seed: int) -> tuple[str, RawSplits]:
    """The task's splits as raw records, before any column is required: what data validation checks."""
    if config.source == "builtin":
        pool = builtin_examples(config.name, seed=derive_seed(seed, "builtin_task"))
        test_n = min(config.max_test, max(1, round(len(pool) * config.test_fraction)))
        task = _split(config.name, pool[test_n:], pool[:test_n], seed)
    elif config.source == "instruction_induction":
        task = load_instruction_induction(config.data_dir, config.name, seed)
    else:
        return _read_user_splits(config.path, config.test_path, seed, config.test_fraction, config.max_file_mb)
    raw = {split: [_record(e) for e in getattr(task, split)] for split in SPLITS}
    raw["test"] = raw["test"][: config.max_test]
    return task.name, raw


def task_files(config: TaskConfig) -> list[Path]:
    """The user's files the task is read from; none for data that ships with the package (built-in tasks, the
    packaged instruction-induction folder)."""
    if config.source == "file":
        return [Path(p) for p in (config.path, config.test_path) if p]
    if config.source == "instruction_induction" and config.data_dir:
        root = Path(config.data_dir)
        execute = root / "execute" / f"{config.name}.json"
        return [root / "induce" / f"{config.name}.json", *([execute] if execute.is_file() else [])]
    return []


def task_from_raw(config: TaskConfig, name: str, raw: RawSplits) -> TaskData:
    """Parse raw splits into a TaskData (the first `max_test` test examples) with its metric."""
    default_metric = metric_for_task(config.name) if config.source == "instruction_induction" else "exact_match"
    metric = metric_reference(config.metric or default_metric)
    splits = {split: tuple(_example(r, name) for r in raw[split]) for split in SPLITS}
    splits["test"] = splits["test"][: config.max_test]
    task = TaskData(name=name, metric=metric, **splits)
    _check_sizes(task)
    return task


def _record(example: Example) -> dict:
    return {"input": example.input, "output": example.output, "answers": list(example.answers[1:])}


def _example(record: dict, where: str) -> Example:
    _require_columns(where, list(record))
    answers = [str(record["output"])]
    extra = record.get("answers") or []
    if isinstance(extra, str):
        extra = [a for a in extra.split("|") if a]
    answers += [str(a) for a in extra if str(a) not in answers]
    return Example(input=str(record["input"]), answers=tuple(answers))


def _check_sizes(task: TaskData) -> None:
    for split in SPLITS:
        if not getattr(task, split):
            raise TaskDataError(
                f"task '{task.name}': the {split} split is empty. Provide more examples "
                f"(at least 3 in all, or a separate test file)."
            )


def _split(name: str, induce: Sequence[Example], test: Sequence[Example], seed: int) -> TaskData:
    """Halve `induce` into prompt_gen and validation with a seeded shuffle."""
    induce = list(induce)
    random.Random(derive_seed(seed, "split", name)).shuffle(induce)
    half = len(induce) // 2
    return TaskData(
        name=name,
        metric="exact_match",
        prompt_gen=tuple(induce[:half]),
        validation=tuple(induce[half:]),
        test=tuple(test),
    )


# ---------------------------------------------------------------------------
# Instruction-induction JSON format


def packaged_instruction_induction() -> Path:
    """The 33 instruction-induction tasks shipped inside the package (`induce/`, `execute/`)."""
    return Path(__file__).resolve().parents[1] / "datasets" / "instruction_induction"


def instruction_induction_tasks(data_dir: str | Path | None = None) -> list[str]:
    """Names of the tasks in `data_dir` (default: the packaged ones)."""
    return sorted(p.stem for p in (Path(data_dir or packaged_instruction_induction()) / "induce").glob("*.json"))


def load_instruction_induction(data_dir: str | Path | None, name: str, seed: int) -> TaskData:
    """One task of the instruction-induction benchmark (24 II tasks + 9 BIG-bench).

    `data_dir` None means the tasks shipped in the package. Tasks without an
    ``execute`` file (``ascii_word_recognition``, ``cs_algorithms``) hold out a
    third of ``induce`` as their test split.
    """
    root = Path(data_dir or packaged_instruction_induction())
    induce_path = root / "induce" / f"{name}.json"
    if not induce_path.is_file():
        available = instruction_induction_tasks(root)
        hint = f" Known tasks: {', '.join(available)}." if available else f" Check task.data_dir ({root})."
        raise TaskDataError(f"task file {induce_path} not found.{hint}")
    induce = _read_ii_file(induce_path, name, seed)
    execute_path = root / "execute" / f"{name}.json"
    if execute_path.is_file():
        test = _read_ii_file(execute_path, name, seed)
    else:
        rng = random.Random(derive_seed(seed, "holdout", name))
        rng.shuffle(induce)
        cut = len(induce) // 3
        test, induce = induce[:cut], induce[cut:]
    return _split(name, induce, test, seed)


def _read_ii_file(path: Path, name: str, seed: int) -> list[Example]:
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise TaskDataError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}). Fix or replace the file."
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("examples"), dict):
        raise TaskDataError(
            f'{path} has no "examples" mapping. Expected {{"examples": {{"1": {{"input": ..., "output": ...}}}}}}.'
        )
    rng = random.Random(derive_seed(seed, "ii_order", name))
    examples = []
    for key, record in raw["examples"].items():
        try:
            examples.append(_ii_example(name, record, rng))
        except (KeyError, TypeError, ValueError):
            raise TaskDataError(
                f"{path}: example {key} lacks the fields task '{name}' needs (input/output). Fix that record."
            ) from None
    return examples


def _ii_example(name: str, record: dict, rng: random.Random) -> Example:
    """Map one record to an Example, with the benchmark's per-task special cases."""
    if name == "cause_and_effect":
        cause, effect = record["cause"], record["effect"]
        first, second = (cause, effect) if rng.random() < 0.5 else (effect, cause)
        return Example(input=f"Sentence 1: {first} Sentence 2: {second}", answers=(cause,))
    if name == "common_concept":
        concepts = tuple(record["all_common_concepts"])
        return Example(input=", ".join(record["items"]), answers=concepts)
    extra_field = {"rhymes": "other_rhymes", "word_in_context": "possible_outputs"}.get(name)
    if name.startswith("translation_"):
        extra_field = "possible_translations"
    answers = [str(record["output"])]
    for extra in record.get(extra_field, []) if extra_field else []:
        if extra not in answers:
            answers.append(str(extra))
    return Example(input=str(record["input"]), answers=tuple(answers))


# ---------------------------------------------------------------------------
# User files: JSONL or CSV with `input`, `output` and optional `answers`


def _read_user_splits(
    path: str | Path | None, test_path: str | Path | None, seed: int, test_fraction: float, max_mb: float
) -> tuple[str, RawSplits]:
    path = Path(path or "")
    records = read_records(path, max_mb)
    if test_path:
        test = read_records(Path(test_path), max_mb)
    else:
        rng = random.Random(derive_seed(seed, "holdout", path.name))
        rng.shuffle(records)
        cut = max(1, round(len(records) * test_fraction))
        test, records = records[:cut], records[cut:]
    rng = random.Random(derive_seed(seed, "split", path.stem))
    rng.shuffle(records)
    half = len(records) // 2
    return path.stem, {"prompt_gen": records[:half], "validation": records[half:], "test": test}


def read_records(path: Path, max_mb: float) -> list[dict]:
    """Raw records of a JSONL or CSV task file (`input`, `output`, optional `answers`: a JSON list or `a|b`),
    UTF-8, at most `max_mb` megabytes (`task.max_file_mb`): an optimization needs hundreds of examples, and a
    file far larger is usually the wrong one (it would be read, split and checked in every step)."""
    if not path.is_file():
        raise TaskDataError(f"task file {path} not found. Check task.path / task.test_path.")
    size_mb = path.stat().st_size / 1e6
    if size_mb > max_mb:
        raise TaskDataError(f"task file {path} is {size_mb:.1f} MB, more than task.max_file_mb ({max_mb:g} MB): "
                            "sample a few thousand examples into a smaller file, or raise task.max_file_mb.")  # fmt: skip
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            records = _read_jsonl(path)
        elif suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                records = list(csv.DictReader(handle))
        else:
            raise TaskDataError(f"task file {path} must end in .jsonl or .csv.")
    except UnicodeDecodeError as exc:
        raise TaskDataError(f"task file {path} is not UTF-8 (byte {exc.object[exc.start:exc.start + 1]!r} at offset "
                            f"{exc.start}): save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`).") from None  # fmt: skip
    if not records:
        raise TaskDataError(f"task file {path} has no examples. Add records with input and output.")
    return records


def _read_jsonl(path: Path) -> list[dict]:
    records = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskDataError(f"{path}:{line_no} is not valid JSON ({exc.msg}). Fix that line.") from None
        if not isinstance(record, dict):
            raise TaskDataError(f"{path}:{line_no} must be a JSON object with input and output.")
        records.append(record)
    return records


def _require_columns(where: str, columns: list[str]) -> None:
    missing = [c for c in ("input", "output") if c not in columns]
    if missing:
        raise TaskDataError(f"{where} is missing column(s) {', '.join(missing)}. Every example needs input and output.")
