"""The comparison behind `instructzero reproduce`: the first difference in pipeline order with both values,
and the drift of a fresh rerun."""

import dataclasses

import numpy as np

from instructzero.blackbox.accounting import Spend
from instructzero.data.task import Example, TaskData
from instructzero.reproduce import NOT_REPRODUCED, Reproduction, RunOutcome, drift, first_difference
from instructzero.result import OptimizationResult, TestResult
from instructzero.search.history import Candidates, History
from instructzero.search.projection import draw_projection


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
