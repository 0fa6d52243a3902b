"""Bad input, every kind a user meets first: each stops in one line on stderr naming the fix (exit 2), before
anything is paid or after keeping what was."""

import json

import pytest
from fake_openai import FakeOpenAIServer, Fault
from test_pipeline import hashed_answer

from instructzero.blackbox.cache import ResponseCache
from instructzero.cli import main


def rows(n: int, start: int = 0) -> list[dict]:
    return [{"input": f"{i % 10} {i // 10 % 10}", "output": str(i % 10 + i // 10 % 10)} for i in range(start, start + n)]


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def config_file(folder, **sections) -> str:
    path = folder / "run.yaml"
    path.write_text(json.dumps({"seed": 0, **sections}))
    return str(path)


def one_line_error(capsys, argv) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    # Progress bars may come before it (they go to stderr too); the error itself is one line, the last.
    lines = captured.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:] and "Traceback" not in captured.err, captured.err[-2000:]
    assert all(not line.strip() or line.startswith(("white box:", "black box:")) for line in lines[:-1]), lines
    return errors[0]


def test_bad_task_files_and_configs_are_one_line_before_anything_runs(tmp_path, capsys, monkeypatch):
    file_task = {"source": "file", "n_validation": 5, "n_exemplars": 3, "checks": {"min_test_rows": 3}}

    empty_outputs = [{**r, "output": "" if i % 2 else r["output"]} for i, r in enumerate(rows(60))]
    path = write_jsonl(tmp_path / "empty.jsonl", empty_outputs)
    err = one_line_error(capsys, ["validate", "--config", config_file(tmp_path, task={**file_task, "path": path})])
    assert "failed data validation" in err and "(output) [blank values]" in err and "Fix the data" in err

    train = write_jsonl(tmp_path / "train.jsonl", rows(60))
    leaked = write_jsonl(tmp_path / "test.jsonl", rows(20))  # the validation split's inputs again
    task = {**file_task, "path": train, "test_path": leaked}
    err = one_line_error(capsys, ["validate", "--config", config_file(tmp_path, task=task)])
    assert "failed data validation" in err and "[inputs also in the test split]" in err

    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows(40)).encode() + b'{"input": "caf\xe9"}\n')
    err = one_line_error(capsys, ["validate", "--config", config_file(tmp_path, task={**file_task, "path": str(latin)})])
    assert "UTF-8" in err and "latin1.jsonl" in err

    big = tmp_path / "big.jsonl"
    with big.open("w") as out:
        line = json.dumps({"input": "x" * 1000, "output": "y"}) + "\n"
        out.write(line * (50 * 1024 * 1024 // len(line) + 1))
    err = one_line_error(capsys, ["validate", "--config", config_file(tmp_path, task={**file_task, "path": str(big)})])
    assert "big.jsonl is 52.4 MB, more than task.max_file_mb (20 MB)" in err  # 50 MiB

    err = one_line_error(capsys, ["validate", "--config", config_file(tmp_path, bo={"n_rounds": -1})])
    assert "bo.n_rounds" in err and "greater than or equal to 0" in err

    monkeypatch.setenv("INSTRUCTZERO_CACHE_DIR", str(tmp_path / "no-models-here"))
    err = one_line_error(capsys, ["validate", "--config", config_file(tmp_path, whitebox={"model": "qwen2.5-coder-1.5b"})])
    assert "not installed: run `instructzero models install qwen2.5-coder-1.5b`" in err
    err = one_line_error(capsys, ["validate", "--config", config_file(tmp_path, whitebox={"model": "no-such-model"})])
    assert "cannot read model 'no-such-model' from local files" in err


@pytest.mark.parametrize("fault", [Fault.html(), Fault.empty_choices()], ids=["html", "empty-choices"])
def test_an_endpoint_that_stops_answering_like_an_api_is_one_line_and_the_answers_paid_for_are_kept(
    tmp_path, capsys, tiny_lm_dir, fault
):
    cache = tmp_path / "answers.sqlite"
    with FakeOpenAIServer(hashed_answer) as server:
        server.fail_from(10, fault=fault)
        path = config_file(
            tmp_path,
            task={"source": "builtin", "name": "sum", "n_validation": 8, "max_test": 15},
            whitebox={"model": str(tiny_lm_dir), "max_new_tokens": 6},
            blackbox={"backend": "openai", "base_url": server.base_url, "model": "stub-model", "api_key_env": None,
                      "cache_path": str(cache), "max_retries": 1, "retry_base_s": 0.01, "max_concurrency": 1},
            bo={"n_init": 4, "n_rounds": 0, "q": 2, "num_restarts": 1, "raw_samples": 16},
        )  # fmt: skip
        err = one_line_error(capsys, ["run", "--config", path, "--in-process"])
    assert server.base_url in err
    assert ("HTML" in err) if fault.kind == "html" else ("no choices" in err)
    assert len(ResponseCache(cache)) == 10  # every answer that came before the fault is kept
