"""The benchmark command on a tiny grid: every cell runs once at the same budget, and the report says so."""

import csv
import hashlib

import yaml
from fake_openai import FakeOpenAIServer

from instructzero.benchmark import load_benchmark_config, run_benchmark
from instructzero.cli import main


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
            "selection": {"candidates": 2, "calls": 6},
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
        run_benchmark(edited, progress=False, on_cell=ran.append)  # only the cell whose config changed reruns
        assert ran == ["sum/manual/0"]

    out = tmp_path / "results"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert sorted((r["task"], r["method"]) for r in rows) == sorted(
        (t, m) for t in ("sum", "larger")
        for m in ("instructzero", "uniform", "ape", "matern", "manual", "instructzero_selection"))  # fmt: skip
    for r in rows:
        assert 0 <= float(r["test_score"]) <= 1 and float(r["test_ci_low"]) <= float(r["test_score"])
        if r["method"] != "manual":  # the budget binds: never more validation calls than allowed (+ the test's 10)
            assert 0 < int(r["calls"]) <= 24 + 10 and int(r["distinct"]) <= int(r["instructions"])
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
    from instructzero.benchmark.config import cell_config
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

    from instructzero.benchmark.config import cell_config

    data["task_overrides"] = {"informal_to_formal": {"task": {"n_validation": 8}}}
    path.write_text(yaml.safe_dump(data))
    bench = load_benchmark_config(path)
    assert cell_config(bench, "informal_to_formal", "uniform", 0).task.n_validation == 8
    assert cell_config(bench, "sum", "uniform", 0).task.n_validation == 15
