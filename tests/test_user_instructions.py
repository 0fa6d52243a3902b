"""The user's own instructions: the config's one key for them, the shipped defaults and the paper's preset, what
the white box reads, and how a run reports them kept or beaten."""

import numpy as np
import pytest

from instructzero.config import RunConfig
from instructzero.config.run import parse_config
from instructzero.data.task import Example
from instructzero.errors import ConfigError
from instructzero.result import BaselineScore, OptimizationResult, Selection, TestResult, UserComparison
from instructzero.search.generator import exemplar_prompt
from instructzero.search.history import History


def test_the_old_key_is_read_as_task_instructions_and_bad_lists_are_one_line():
    config = parse_config({"baseline_instructions": ["Add the two numbers."]})
    assert config.task.instructions == ["Add the two numbers."] and config.user_instructions == config.task.instructions
    with pytest.raises(ConfigError, match="old name of task.instructions"):
        parse_config({"baseline_instructions": ["a"], "task": {"instructions": ["b"]}})
    with pytest.raises(ConfigError, match="task.instructions: .*blank"):
        parse_config({"task": {"instructions": ["Add.", "  "]}})
    with pytest.raises(ConfigError, match="appears twice"):
        parse_config({"task": {"instructions": ["Add the numbers.", "Add  the numbers."]}})
    with pytest.raises(ConfigError, match="show_instructions needs task.instructions"):
        parse_config({"whitebox": {"show_instructions": True}})


def test_the_defaults_are_the_benchmarks_choice_and_the_paper_is_a_preset_under_the_files_keys():
    default = RunConfig()
    assert (default.projection.distribution, default.whitebox.instruction_form, default.whitebox.instruction_start) \
        == ("normal", "imperative", "output")  # fmt: skip
    assert default.selection.enabled and default.selection.user_instructions
    paper = parse_config({"preset": "paper", "task": {"instructions": ["Add."]}, "bo": {"q": 3}})
    assert (paper.projection.distribution, paper.whitebox.instruction_form, paper.whitebox.instruction_start) == \
        ("uniform", "description", "")  # fmt: skip
    assert not paper.selection.enabled and paper.user_instructions == [] and paper.bo.q == 3
    own = parse_config({"preset": "paper", "selection": {"enabled": True}})
    assert own.selection.enabled  # the file's keys win over the preset's
    assert parse_config(paper.model_dump(mode="json")) == paper  # a stored config reads back the same
    with pytest.raises(ConfigError, match="preset"):
        parse_config({"preset": "fast"})


def test_the_white_box_reads_the_users_instruction_between_the_exemplars_and_the_sentence_it_completes():
    exemplars = [Example(input="cat", answers=("t",))]
    plain = exemplar_prompt(exemplars, start="output")
    drafted = exemplar_prompt(exemplars, start="output", drafts=["Output the last letter."])
    assert plain.endswith("The instruction was to output") and drafted.endswith("The instruction was to output")
    assert "A first draft of the instruction was: Output the last letter." in drafted
    assert drafted.index("Output: t") < drafted.index("first draft") < drafted.index("The instruction was to")
    assert "draft" not in plain


def _test(instruction, scores):
    scores = np.asarray(scores, dtype=float)
    return TestResult(instruction, float(scores.mean()), 0.0, 1.0, 0.95, scores, ["a"] * len(scores))


@pytest.mark.parametrize("kept", [True, False])
def test_the_summary_and_the_registry_record_say_whether_the_users_instruction_was_kept(kept):
    from instructzero.registry.record import user_instruction_record

    mine = BaselineScore("Mine.", 0.5, np.ones(4) / 2, _test("Mine.", [1, 0, 1, 0, 1, 0]))
    winner = "Mine." if kept else "Theirs."
    selection = Selection(candidates=["Mine.", "Theirs."], validation_scores=[0.5, 0.75], validation_n=4,
                          winner=0 if kept else 1, n_user=1,
                          user_comparison=UserComparison(kept=kept, difference=-0.1 if kept else 0.25, ci_low=-0.3,
                                                         ci_high=0.4, n=4, challenger=1, user=0))  # fmt: skip
    test = mine.test if kept else _test("Theirs.", [1, 1, 1, 0, 1, 1])
    result = OptimizationResult(task="t", metric="exact_match", history=History(), test=test, seed=0,
                                projection_seed=0, stop_reason="done", wall_time_s=1.0, baselines=[mine],
                                selection=selection)  # fmt: skip
    line = next(v for v in result.summary().splitlines() if v.startswith("against yours:"))
    record = user_instruction_record(result)
    assert record["kept"] is kept and record["instruction"] == "Mine." and result.best_instruction == winner
    if kept:
        assert "kept: the best challenger 'Theirs.' scored -0.100" in line and "the winner is yours" in line
        assert record["validation"]["difference"] == 0 and record["test"]["difference"] == 0
    else:
        assert "beaten by +0.250" in line and "on test +0.333" in line
        assert record["validation"]["difference"] == 0.25 and record["test"]["difference"] == pytest.approx(1 / 3)
        assert record["test"]["n"] == 6
