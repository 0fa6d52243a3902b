"""The benchmark command on a tiny grid: every cell runs once at the same budget, and the report says so."""

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from fake_openai import FakeOpenAIServer

from instructzero.benchmark import load_benchmark_config, run_benchmark
from instructzero.benchmark.config import cell_config, cell_key
from instructzero.cli import main
from instructzero.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
#: 36 distinct made-up words for the user's own tasks.
WORDS = [a + b for a in ("ka", "lo", "mi", "nu", "pe", "ri") for b in ("sa", "to", "vu", "ze", "bi", "do")]


def mixed_answer(prompt: str) -> str:
    """Sums or maxima, by a hash of the prompt: each instruction scores differently on each task."""
    a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
    pick = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3
    return [str(a + b), str(max(a, b)), "no idea"][pick]


def write_config(tmp_path, tiny_lm_dir, base_url, manual_sum=("Add the two numbers.",)):
    config = {
        "run": {
            "task": {"n_validation": 4, "max_test": 10, "checks": {"min_test_rows": 5}},
            "whitebox": {"model": str(tiny_lm_dir), "max_new_tokens": 5},
            "blackbox": {"backend": "openai", "base_url": base_url, "model": "stub-model", "api_key_env": None,
                         "cache_path": str(tmp_path / "cache.sqlite")},
            "bo": {"n_init": 3, "n_rounds": 3, "q": 2, "num_restarts": 1, "raw_samples": 16},
            "evaluation": {"bootstrap_samples": 100},
            "selection": {"enabled": False, "candidates": 2, "calls": 6},  # on in instructzero_selection alone
        },
        "tasks": ["sum", "larger"],
        "methods": ["instructzero", "uniform", "ape", "matern", "manual", "instructzero_selection"],
        "seeds": [0],
        "validation_calls": 24,
        "manual_instructions": {"sum": list(manual_sum), "larger": ["Give the larger number.", "Echo."]},
        "output_dir": str(tmp_path / "results"),
    }  # fmt: skip
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_tiny_grid_runs_each_cell_once_and_reports_it(tmp_path, tiny_lm_dir, capsys):
    with FakeOpenAIServer(mixed_answer) as server:
        path = write_config(tmp_path, tiny_lm_dir, server.base_url)
        assert main(["benchmark", "--config", str(path)]) == 0
        paid = len(server.requests)
        bench = load_benchmark_config(path)
        ran = []
        run_benchmark(bench, progress=False, on_cell=ran.append)  # resumed: nothing left to do
        assert ran == [] and len(server.requests) == paid
        edited = load_benchmark_config(write_config(tmp_path, tiny_lm_dir, server.base_url, ("Sum them.", "Add.")))
        # Every cell of a task receives the user's own instructions (scored beside the winner, kept unless
        # beaten): editing them reruns that task's cells and no other task's.
        run_benchmark(edited, progress=False, on_cell=ran.append)
        assert sorted(ran) == sorted(f"sum/{m}/0" for m in bench.methods)

    out = tmp_path / "results"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted((r["task"], r["method"]) for r in rows) == sorted(
        (t, m) for t in ("sum", "larger")
        for m in ("instructzero", "uniform", "ape", "matern", "manual", "instructzero_selection"))  # fmt: skip
    for r in rows:
        assert 0 <= float(r["test_score"]) <= 1 and float(r["test_ci_low"]) <= float(r["test_score"])
        # The budget binds: never more calls than the cell's own limit: 24 validation calls (where the user's
        # instructions compete, their calls are part of them) and 10 test calls for the winner and each of the user's.
        n_user = len(edited.manual_instructions[r["task"]])
        limit = cell_config(edited, r["task"], r["method"], 0).blackbox.max_calls
        assert 24 + (1 + n_user) * 10 <= limit <= 24 + (1 + n_user) * 10 + n_user * 4
        assert 0 < int(r["calls"]) <= limit and int(r["distinct"]) <= int(r["instructions"])
    manual = next(r for r in rows if r["task"] == "larger" and r["method"] == "manual")
    assert manual["best_instruction"] in ("Give the larger number.", "Echo.")
    assert next(r for r in rows if r["task"] == "sum" and r["method"] == "manual")["best_instruction"] in ("Sum them.", "Add.")
    ape = [r for r in rows if r["method"] == "ape"]
    assert all(not r["best_instruction"].startswith("I gave a friend") for r in ape)

    report = (out / "report.md").read_text()
    assert "| sum |" in report and "| larger |" in report and "**mean over tasks**" in report
    for other in ("uniform", "ape", "matern", "manual", "instructzero_selection"):
        line = next(x for x in report.splitlines() if x.startswith(f"| {other} |") and "/" in x)
        win, tie, loss = map(int, line.split("|")[2].split("/"))
        assert win + tie + loss == 2  # two tasks, one seed
    assert "reach uniform's final best" in report
    curse = report.split("Winner's curse")[1]
    for method in ("instructzero", "uniform", "instructzero_selection"):  # the pick's score minus test, per method
        cells = [r for r in rows if r["method"] == method]
        gap = sum(float(r["pick_score"]) - float(r["test_score"]) for r in cells) / len(cells)
        assert f"| {method} | {gap:+.3f} |" in curse
    # Without a selection stage the pick was chosen on its validation score; with one, on its pooled evidence.
    assert all(r["pick_score"] == r["validation_score"] for r in rows if r["method"] != "instructzero_selection")
    assert all(0 <= float(r["pick_score"]) <= 1 for r in rows)
    from instructzero.data.load import read_task
    from instructzero.data.trivial import most_frequent_answer

    answer, score = most_frequent_answer(read_task(cell_config(bench, "larger", "uniform", 0).task, 0))
    assert f"| larger | {score:.3f} ({answer[:12]!r}) |" in report
    png = (out / "best_so_far.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "report:" in capsys.readouterr().out


def test_a_task_that_fails_its_checks_stops_the_benchmark_before_any_cell(tmp_path, tiny_lm_dir, capsys):
    """informal_to_formal has 8 validation examples: a subset of 15 fails before anything is spent;
    `task_overrides` sizes that task alone."""
    with FakeOpenAIServer(mixed_answer) as server:
        path = write_config(tmp_path, tiny_lm_dir, server.base_url)
        data = yaml.safe_load(path.read_text())
        data["run"]["task"] = {"n_validation": 15}
        data.update(tasks=["sum", "informal_to_formal"], methods=["uniform"])
        path.write_text(yaml.safe_dump(data))
        assert main(["benchmark", "--config", str(path)]) == 2
        assert server.requests == [] and not (tmp_path / "results" / "results.csv").read_text().strip().count("\n")
    err = capsys.readouterr().err
    assert "informal_to_formal" in err and err.strip().count("\n") == 0


    data["task_overrides"] = {"informal_to_formal": {"task": {"n_validation": 8}}}
    path.write_text(yaml.safe_dump(data))
    bench = load_benchmark_config(path)
    assert cell_config(bench, "informal_to_formal", "uniform", 0).task.n_validation == 8
    assert cell_config(bench, "sum", "uniform", 0).task.n_validation == 15


def word_answer(prompt: str) -> str:
    """The user's tasks: an instruction that says what to do is followed; any other gets a hash-picked answer."""
    instruction, rest = prompt.split("Input: ", 1)
    word = rest.split("\n")[0].strip()
    if "capital letters" in instruction:
        return word.upper()
    if "Repeat" in instruction:
        return word
    return [word.upper(), word, "no idea"][int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 3]


def write_user_tasks(folder: Path, shout_rows: list[dict] | None = None) -> None:
    """`data/shout.jsonl` (the word in capitals) and the instruction-induction folder `ii/` with `echo` (the word)."""
    rows = shout_rows if shout_rows is not None else [{"input": w, "output": w.upper()} for w in WORDS]
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "shout.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for split, words in (("induce", WORDS[:24]), ("execute", WORDS[24:])):
        (folder / "ii" / split).mkdir(parents=True, exist_ok=True)
        examples = {str(i): {"input": w, "output": w} for i, w in enumerate(words, start=1)}
        (folder / "ii" / split / "echo.json").write_text(json.dumps({"examples": examples}))


def user_task_config(tmp_path, tiny_lm_dir, base_url, tasks, methods) -> Path:
    """The tiny grid's config over other tasks, its paths relative to its own folder (not the working one)."""
    path = write_config(tmp_path, tiny_lm_dir, base_url)
    data = yaml.safe_load(path.read_text())
    data.update(tasks=tasks, methods=methods, manual_instructions={
        "shout": ["Write the word in capital letters.", "Say something."],
        "echo": ["Repeat the word.", "Say something."]})  # fmt: skip
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_grid_over_the_users_own_files_runs_and_reports_them(tmp_path, tiny_lm_dir):
    write_user_tasks(tmp_path)
    tasks = [{"name": "shout", "source": "file", "path": "data/shout.jsonl"}, {"name": "echo", "data_dir": "ii"}]
    with FakeOpenAIServer(word_answer) as server:
        path = user_task_config(tmp_path, tiny_lm_dir, server.base_url, tasks, ["instructzero", "manual"])
        assert main(["benchmark", "--config", str(path)]) == 0
        ran = []
        run_benchmark(load_benchmark_config(path), progress=False, on_cell=ran.append)  # resumed: nothing left to do
        assert ran == []

    out = tmp_path / "results"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted((r["task"], r["method"]) for r in rows) == sorted(
        (t, m) for t in ("shout", "echo") for m in ("instructzero", "manual"))  # fmt: skip
    manual = {r["task"]: r for r in rows if r["method"] == "manual"}
    # Scored on the files' own examples: the instruction that says what to do is right on every test example.
    assert manual["shout"]["best_instruction"] == "Write the word in capital letters."
    assert manual["echo"]["best_instruction"] == "Repeat the word."
    assert float(manual["shout"]["test_score"]) == float(manual["echo"]["test_score"]) == 1.0
    bench = load_benchmark_config(path)  # the winner's test and the user's two: 24 + 3 x 10 calls at most
    assert all(0 < int(r["calls"]) <= cell_config(bench, r["task"], "instructzero", 0).blackbox.max_calls == 54
               for r in rows if r["method"] == "instructzero")
    # The user's instruction that says what to do is kept: nothing the search found beats it.
    assert all(r["user_kept"] == "1" for r in rows if r["method"] == "instructzero")
    report = (out / "report.md").read_text()
    assert "| shout |" in report and "| echo |" in report
    assert (out / "curves" / "shout__instructzero__0.json").is_file()


@pytest.mark.parametrize(
    ("rows", "failed_check"),
    [
        ([{"input": w, "answer": w.upper()} for w in WORDS], "expect_column_to_exist(output)"),
        ([{"input": w, "output": w.upper()} for w in WORDS[:6]], "expect_table_row_count_to_be_between"),
    ],
    ids=["no-output-column", "too-few-rows"],
)
def test_a_bad_task_file_stops_the_grid_before_the_first_cell(tmp_path, tiny_lm_dir, capsys, rows, failed_check):
    write_user_tasks(tmp_path, shout_rows=rows)
    tasks = ["sum", {"name": "shout", "path": "data/shout.jsonl"}]  # the bad task second: nothing runs before it
    with FakeOpenAIServer(word_answer) as server:
        path = user_task_config(tmp_path, tiny_lm_dir, server.base_url, tasks, ["uniform"])
        assert main(["benchmark", "--config", str(path)]) == 2
        assert server.requests == []
    assert not (tmp_path / "results" / "results.csv").read_text().strip().count("\n")
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "benchmark task 'shout'" in err and str(tmp_path / "data" / "shout.jsonl") in err and failed_check in err


def test_task_entries_resolve_against_the_config_and_are_kept_by_their_content(tmp_path):
    write_user_tasks(tmp_path / "a")
    config = {"run": {"task": {"n_validation": 4}}, "validation_calls": 24, "methods": ["uniform"],
              "tasks": ["sum", {"name": "shout", "path": "data/shout.jsonl"}, {"name": "echo", "data_dir": "ii"}]}  # fmt: skip
    (tmp_path / "a" / "bench.yaml").write_text(yaml.safe_dump(config))
    bench = load_benchmark_config(tmp_path / "a" / "bench.yaml")
    assert bench.task_names == ["sum", "shout", "echo"]
    shout, echo = cell_config(bench, "shout", "uniform", 0).task, cell_config(bench, "echo", "uniform", 0).task
    assert (shout.source, shout.path, shout.n_validation) == ("file", str(tmp_path / "a" / "data" / "shout.jsonl"), 4)
    assert (echo.source, echo.name, echo.data_dir) == ("instruction_induction", "echo", str(tmp_path / "a" / "ii"))

    def keys(folder):
        bench = load_benchmark_config(folder / "bench.yaml")
        return [cell_key(cell_config(bench, t, "uniform", 0)) for t in bench.task_names]

    before = keys(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert keys(tmp_path / "b") == before  # moved: kept
    with (tmp_path / "b" / "data" / "shout.jsonl").open("a") as handle:
        handle.write(json.dumps({"input": "zuzu", "output": "ZUZU"}) + "\n")
    edited = keys(tmp_path / "b")
    assert (edited[0], edited[2]) == (before[0], before[2]) and edited[1] != before[1]  # edited: its cells rerun


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (["sum", "no_such_task"], "unknown task(s) ['no_such_task']"),
        ([{"name": "mine", "source": "file"}], "tasks.0: Value error, task.path is required for source 'file'"),
        ([{"name": "my task", "path": "my.jsonl"}], "tasks.0.name: String should match pattern"),
        (["sum", {"name": "sum", "path": "sum.jsonl"}], "task name(s) ['sum'] appear more than once"),
    ],
)
def test_a_bad_task_entry_fails_in_one_line(tmp_path, tasks, message):
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump({"tasks": tasks, "validation_calls": 10}))
    with pytest.raises(ConfigError) as error:
        load_benchmark_config(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_committed_grid_stays_finished_and_a_changed_setting_reruns_its_cells():
    """A finished cell is kept by its key: every committed cell of benchmark-qwen15.yaml (BENCHMARKS.md 8) is keyed
    as the current code keys it, so the grid resumes instead of rerunning; a setting that changes what a cell
    runs changes its key."""
    bench = load_benchmark_config(REPO / "configs" / "benchmark-qwen15.yaml")
    rows = list(csv.DictReader((REPO / "benchmarks" / "results" / "qwen15" / "results.csv").open()))
    assert rows and {r["method"] for r in rows} <= set(bench.methods)
    for r in rows:
        assert cell_key(cell_config(bench, r["task"], r["method"], int(r["seed"]))) == r["cell"], r
    changed = bench.model_copy(update={"variants": {**bench.variants, "instructzero": {"selection": {"min_gain": 0.1}}}})
    assert cell_key(cell_config(changed, "smallest", "instructzero", 0)) != \
        cell_key(cell_config(bench, "smallest", "instructzero", 0))  # fmt: skip
