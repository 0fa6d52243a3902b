"""The selection stage: successive halving on fresh examples, within its calls, winner on pooled evidence."""

import hashlib

import numpy as np

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import Backend, Completion
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller
from instructzero.config import SelectionConfig
from instructzero.data.task import Example, TaskData
from instructzero.search.history import Candidates, History
from instructzero.selection import select_winner

#: True accuracy of each instruction; the search saw them through 10 noisy examples.
TRUE = {"best": 0.8, "lucky": 0.5, "fair": 0.6, "poor": 0.3, "bad": 0.1, "worse": 0.05}


class Bernoulli(Backend):
    """Right with the instruction's true accuracy, decided by a hash of the prompt (deterministic)."""

    identity = "bernoulli"

    def __init__(self):
        self.prompts = []

    def answer(self, requests, on_answer):
        for index, prompt in requests:
            self.prompts.append(prompt)
            instruction = prompt.split("Instruction: ")[1].split("\n")[0]
            gold = prompt.split("Input: ")[1].split("\n")[0]
            right = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % 1000 < TRUE[instruction] * 1000
            on_answer(index, Completion(gold if right else "wrong"))


def task() -> TaskData:
    examples = [Example(input=f"x{i}", answers=(f"x{i}",)) for i in range(300)]
    return TaskData(name="t", metric="exact_match", prompt_gen=examples[:50], validation=examples[50:250],
                    test=examples[250:])  # fmt: skip


def history(validation) -> History:
    """A search whose validation scores put `lucky` first (0.9 on 10 examples) and `best` second."""
    observed = {"lucky": 9, "best": 8, "fair": 6, "poor": 4, "bad": 1, "worse": 0}
    rows = np.array([[1.0] * k + [0.0] * (len(validation) - k) for k in observed.values()])
    batch = Candidates(round=0, soft_prompts=np.zeros((len(observed), 2)), instructions=list(observed),
                       scores=rows, answers=[["a"] * len(validation)] * len(observed), spend=Spend(calls=60))  # fmt: skip
    return History().append(batch)


def test_successive_halving_finds_the_better_instruction_on_fresh_examples_within_its_calls():
    data = task()
    validation = data.validation_subset(10, seed=0)
    fresh = data.selection_subset(10, 100, seed=0)
    assert not set(fresh) & set(validation) and not set(fresh) & set(data.test)
    backend, config = Bernoulli(), SelectionConfig(enabled=True, candidates=6, calls=240, eta=2)
    chosen = select_winner(BlackBoxCaller(backend, ResponseCache()), history(validation), examples=fresh,
                           metric="exact_match", config=config)  # fmt: skip
    assert chosen.winner_instruction == "best"  # `lucky` led on the search's 10 examples
    assert chosen.cost.calls == len(backend.prompts) <= config.calls
    assert [len(r) for r in chosen.rungs] == [6, 3, 2]  # ceil(log2 6) = 3 rungs, halving
    seen = {p.split("Input: ")[1].split("\n")[0] for p in backend.prompts}
    assert seen <= {ex.input for ex in fresh}  # never the search subset, never the test split
    pooled = chosen.pooled_means
    assert pooled[chosen.winner] == max(pooled[i] for i in chosen.rungs[-1])


def test_disabled_the_best_validation_score_wins_at_no_cost():
    data = task()
    backend = Bernoulli()
    chosen = select_winner(BlackBoxCaller(backend, ResponseCache()), history(data.validation_subset(10, 0)),
                           examples=data.selection_subset(10, 100, 0), metric="exact_match",
                           config=SelectionConfig())  # fmt: skip
    assert chosen.winner_instruction == "lucky" and chosen.cost.calls == 0 and not backend.prompts


def test_a_budget_that_runs_out_ends_the_stage_with_a_winner_from_complete_evidence():
    data = task()
    backend, budget = Bernoulli(), Budget(max_calls=100)
    chosen = select_winner(BlackBoxCaller(backend, ResponseCache()), history(data.validation_subset(10, 0)),
                           examples=data.selection_subset(10, 100, 0), metric="exact_match",
                           config=SelectionConfig(enabled=True, candidates=6, calls=240), budget=budget)  # fmt: skip
    assert len(backend.prompts) <= 100 and budget.spent.calls <= 100
    assert len(chosen.rungs) == 1  # the second rung could not be finished
    assert chosen.winner in chosen.rungs[-1] and chosen.winner_instruction in TRUE
