"""`instructzero reproduce`: a finished run rebuilt from its lineage and rerun; a replay matches it number for
number, an altered stored answer is named as the first difference, a fresh rerun reports drift."""

import dataclasses
import hashlib
import json
import sqlite3

import numpy as np
import pytest
from test_cli import write_tiny_config

from instructzero.blackbox.accounting import Spend
from instructzero.cli import main
from instructzero.data.task import Example, TaskData
from instructzero.reproduce import NOT_REPRODUCED, Reproduction, RunOutcome, drift, first_difference
from instructzero.result import OptimizationResult, TestResult
from instructzero.search.history import Candidates, History
from instructzero.search.projection import draw_projection

SEED, N_VALIDATION = 2, 4  # write_tiny_config's seed and validation subset


def finished_run(folder, tiny_lm_dir, capsys):
    """A finished local run: its config file and the pipeline run."""
    from zenml.client import Client

    config = write_tiny_config(folder, tiny_lm_dir)
    assert main(["run", "--config", str(config)]) == 0
    capsys.readouterr()
    (run,) = Client().list_pipeline_runs().items
    return config, Client().get_pipeline_run(run.id)


def result_of(run_id):
    from zenml.client import Client

    return Client().get_pipeline_run(run_id).steps["evaluate_on_test"].outputs["result"][0].load()


def answer_key(config_path, instruction: str, example: int) -> str:
    """The response-cache key of the local black box's answer to `instruction` on a validation example."""
    from instructzero.blackbox.backends import make_backend
    from instructzero.blackbox.base import ZERO_SHOT_TEMPLATE
    from instructzero.blackbox.cache import ResponseCache
    from instructzero.config import load_config
    from instructzero.data.load import read_task

    config = load_config(config_path)
    example = read_task(config.task, SEED).validation_subset(N_VALIDATION, SEED)[example]
    return ResponseCache.key(make_backend(config.blackbox).identity, ZERO_SHOT_TEMPLATE, instruction, example.input)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_replay_of_a_local_run_matches_number_for_number_and_a_fresh_rerun_reports_no_drift(
    zenml_store, tiny_lm_dir, tmp_path, capsys
):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    config, run = finished_run(tmp_path, tiny_lm_dir, capsys)
    answers = tmp_path / "cache.sqlite"
    before = digest(answers)

    assert main(["reproduce", str(run.id)]) == 0
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "DIFFERS" not in out and "first difference" not in out
    assert "code:              instructzero 0.1.0, the release that made the run" in out
    assert digest(answers) == before  # the replay read a copy: the original's answers are untouched

    runs = Client().list_pipeline_runs(sort_by="asc:created").items
    assert len(runs) == 2
    replay = Client().get_pipeline_run(runs[1].id)
    assert replay.name.startswith(f"reproduce-{run.name}")
    assert {s.status for s in replay.steps.values()} == {ExecutionStatus.COMPLETED}  # step cache off
    # Checked here without the comparison module: the same numbers, and not one answer asked again.
    old, new = result_of(run.id), result_of(replay.id)
    assert new.history.instructions == old.history.instructions
    np.testing.assert_array_equal(new.history.soft_prompts, old.history.soft_prompts)
    np.testing.assert_array_equal(new.history.scores, old.history.scores)
    assert [b.answers for b in new.history.batches] == [b.answers for b in old.history.batches]
    assert (new.best_instruction, new.test.score, new.test.answers) == (old.best_instruction, old.test.score,
                                                                        old.test.answers)  # fmt: skip
    assert old.blackbox_calls > 0 and new.blackbox_calls == 0 and new.spend.cache_hits > 0
    # The reproduction registered apart: the task's own model still has only the original's version.
    assert [v.number for v in Client().list_model_versions("instructzero-antonyms").items] == [1]
    assert len(Client().list_model_versions("instructzero-antonyms-reproductions").items) == 1

    # Fresh answers from the same deterministic local black box: asked again, nothing drifts.
    assert main(["reproduce", str(run.id), "--fresh"]) == 0
    out = capsys.readouterr().out
    assert "asked afresh" in out and "drift: 0 of" in out and "winner: unchanged" in out
    fresh = Client().list_pipeline_runs(sort_by="asc:created").items[2]
    assert result_of(fresh.id).blackbox_calls > 0

    # A stored answer gone: the replay has to ask for it (into its copy only), and so is not exact.
    key = answer_key(config, old.history.batches[0].instructions[0], example=0)
    with sqlite3.connect(answers) as db:
        assert db.execute("DELETE FROM responses WHERE key = ?", (key,)).rowcount == 1
    assert main(["reproduce", str(run.id)]) == NOT_REPRODUCED
    out = capsys.readouterr().out
    assert "first difference" not in out and "had to ask the black box for 1 answer the stored answers lack" in out
    with sqlite3.connect(answers) as db:
        assert db.execute("SELECT COUNT(*) FROM responses WHERE key = ?", (key,)).fetchone() == (0,)


def test_an_altered_stored_answer_is_the_first_difference_and_the_replay_exits_nonzero(
    zenml_store, tiny_lm_dir, tmp_path, capsys
):
    config, run = finished_run(tmp_path, tiny_lm_dir, capsys)
    original = result_of(run.id)
    key = answer_key(config, original.history.batches[0].instructions[0], example=1)
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        assert db.execute("UPDATE responses SET text = 'ALTERED' WHERE key = ?", (key,)).rowcount == 1
    assert original.history.batches[0].answers[0][1] != "ALTERED"

    # A registry version names the run as well as its id: `<task>:<version>` stands for instructzero-<task>.
    assert main(["reproduce", "antonyms:1"]) == NOT_REPRODUCED
    out = capsys.readouterr().out
    first = next(line for line in out.splitlines() if line.startswith("first difference:"))
    assert first.startswith("first difference:  round 0, item 1 ")
    assert first.endswith(f"validation example 2: answer: {original.history.batches[0].answers[0][1]!r} (original) "
                          "vs 'ALTERED' (rerun)")  # fmt: skip
    assert "NOT REPRODUCED" in out and "DIFFERS" in out

    assert main(["reproduce", "no-such-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no pipeline run or registry version 'no-such-run'" in err


def test_a_registry_version_from_a_fleet_run_replays_its_own_branch(zenml_store, tiny_lm_dir, tmp_path, capsys):
    from zenml.client import Client

    plain = json.loads(write_tiny_config(tmp_path, tiny_lm_dir).read_text())
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(json.dumps({**plain, "task": {k: v for k, v in plain["task"].items() if k != "name"},
                                 "tasks": {"antonyms": {}}}))  # fmt: skip
    assert main(["run", "--config", str(fleet)]) == 0
    capsys.readouterr()

    assert main(["reproduce", "instructzero-antonyms:1"]) == 0
    out = capsys.readouterr().out
    assert "REPRODUCED" in out and "DIFFERS" not in out
    runs = Client().list_pipeline_runs(sort_by="asc:created").items
    assert len(runs) == 2 and "antonyms.score_instructions_round_1" in Client().get_pipeline_run(runs[1].id).steps


# ---- the comparison alone, on made-up runs (no ZenML) ----


def outcome(**changes) -> RunOutcome:
    """A small made-up run; `changes` replaces parts of its round-1 batch or its test result."""
    rng = np.random.default_rng(0)
    examples = tuple(Example(input=f"{i} {i}", answers=(str(2 * i),)) for i in range(4))
    task = TaskData(name="sum", metric="exact_match", prompt_gen=examples, validation=examples, test=examples)
    batches = [Candidates(0, rng.uniform(-1, 1, (2, 3)), ["Add.", "Sum."], np.array([[1.0, 0.0], [1.0, 1.0]]),
                          [["0", "3"], ["0", "2"]], Spend(calls=4)),
               Candidates(1, rng.uniform(-1, 1, (2, 3)), ["Plus.", "Add them."], np.array([[0.0, 0.0], [1.0, 0.0]]),
                          [["1", "1"], ["0", "1"]], Spend(calls=4))]  # fmt: skip
    batches[1] = dataclasses.replace(batches[1], **{k: v for k, v in changes.items() if k != "test"})
    history = History(batches)
    test = changes.get("test", TestResult(history.best_instruction, 0.5, 0.0, 1.0, 0.95, np.array([1.0, 0.0]),
                                          ["0", "5"]))  # fmt: skip
    result = OptimizationResult(task="sum", metric="exact_match", history=history, test=test, seed=0,
                                projection_seed=1, stop_reason="all rounds done", wall_time_s=1.0)  # fmt: skip
    return RunOutcome(run_id="r", run_name="run", task=task, projection=draw_projection(3, 2, 4, seed=1), result=result)


def test_the_first_difference_is_the_earliest_in_pipeline_order_with_both_values():
    assert first_difference(outcome(), outcome()) is None
    base = outcome().result.history.batches[1]
    nudged = base.soft_prompts.copy()
    nudged[1, 2] += 1e-12  # one coordinate, far below any printed precision
    found = first_difference(outcome(), outcome(soft_prompts=nudged))
    assert found.where == "round 1, item 2: soft prompt, coordinate 3"
    assert found.original == repr(float(base.soft_prompts[1, 2])) != found.rerun
    # A score moved and, as a result, the winner: the score is named, it came first.
    scores = base.scores.copy()
    scores[0] = [1.0, 1.0]
    found = first_difference(outcome(), outcome(scores=scores))
    assert (found.where, found.original, found.rerun) == ("round 1, item 1 'Plus.': score, validation example 1",
                                                          "0.0", "1.0")  # fmt: skip
    reproduction = Reproduction(original=outcome(), rerun=outcome(scores=scores), fresh=False)
    assert reproduction.exit_code == NOT_REPRODUCED and "round 1, item 1" in reproduction.describe()
    assert Reproduction(original=outcome(), rerun=outcome(), fresh=False).exit_code == 0
    assert Reproduction(original=outcome(), rerun=outcome(), fresh=False, replay_calls=3).exit_code == NOT_REPRODUCED


def test_drift_compares_each_instruction_by_text_and_says_whether_the_winner_changed():
    base = outcome().result
    scores = base.history.batches[1].scores.copy()
    scores[0] = [1.0, 1.0]  # 'Plus.' now beats everything
    moved = outcome(scores=scores, instructions=["Plus.", "Add numbers."],
                    test=TestResult("Plus.", 0.75, 0.5, 1.0, 0.95, np.array([1.0, 1.0]), ["0", "2"]))  # fmt: skip
    found = drift(base, moved.result)
    assert found.shared == 3 and found.only_original == 1 and found.only_rerun == 1
    assert [(c.instruction, c.original, c.rerun) for c in found.changes] == [("Plus.", 0.0, 1.0)]
    assert found.winner_changed and found.test_examples_changed is None
    text = "\n".join(found.describe(base, moved.result))
    assert "1 of 3 instructions" in text and "winner: CHANGED" in text and "0.500 -> 0.750" in text
    assert Reproduction(original=outcome(), rerun=moved, fresh=True).exit_code == 0  # drift is reported, not failed
    same = drift(base, base)
    assert not same.changes and not same.winner_changed and same.test_examples_changed == 0


def test_reproduce_has_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "--help"])
    assert exit_.value.code == 0 and "--fresh" in capsys.readouterr().out


def test_a_replay_needs_no_api_key_and_lacking_answers_stop_it_until_paid_for(
    zenml_store, tiny_lm_dir, tmp_path, capsys, monkeypatch
):
    """All answers stored: the replay runs with the key variable unset and sends nothing. Some answers deleted:
    it stops in one line naming how many and their cost before anything is sent; `--pay-missing` asks for them."""
    import yaml
    from fake_openai import FakeOpenAIServer
    from test_pipeline import hashed_answer, tiny_config
    from zenml.client import Client

    monkeypatch.setenv("IZ_REPLAY_KEY", "sk-replay-key")
    with FakeOpenAIServer(hashed_answer, api_key="sk-replay-key") as server:
        config = tiny_config(tiny_lm_dir, server.base_url, tmp_path / "cache.sqlite")
        config = config.model_copy(update={"blackbox": config.blackbox.model_copy(update={
            "api_key_env": "IZ_REPLAY_KEY", "prices": {"stub-model": {"prompt_per_million": 1.0, "completion_per_million": 2.0}}})})
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        assert main(["run", "--config", str(path)]) == 0
        (run,) = Client().list_pipeline_runs().items
        paid = len(server.requests)
        monkeypatch.delenv("IZ_REPLAY_KEY")
        capsys.readouterr()
        assert main(["reproduce", str(run.id)]) == 0
        assert "REPRODUCED" in capsys.readouterr().out and len(server.requests) == paid  # nothing sent, no key

        with sqlite3.connect(tmp_path / "cache.sqlite") as db:  # the first three answers of the run are lost
            keys = [k for (k,) in db.execute("SELECT key FROM responses ORDER BY rowid LIMIT 3")]
            db.executemany("DELETE FROM responses WHERE key = ?", [(k,) for k in keys])
        assert main(["reproduce", str(run.id)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()  # the replay's progress bars, then the error
        err = lines[-1]
        assert err.startswith("error: ") and not any(x.startswith(("error", "Traceback")) for x in lines[:-1]), lines
        assert "the stored answers lack" in err and "nothing was sent" in err, err
        assert "--pay-missing" in err and "$" in err and len(server.requests) == paid

        monkeypatch.setenv("IZ_REPLAY_KEY", "sk-replay-key")
        code = main(["reproduce", str(run.id), "--pay-missing"])
        out = capsys.readouterr().out
    assert len(server.requests) == paid + 3  # exactly the lost answers, asked once each
    assert code == NOT_REPRODUCED and "ask the black box for 3 answers the stored answers lack" in out
