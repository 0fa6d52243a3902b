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
TRUE = {"best": 0.8, "lucky": 0.5, "fair": 0.6, "poor": 0.3, "bad": 0.1, "worse": 0.05, "mine": 0.65, "strong": 0.95}


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
                           config=SelectionConfig(enabled=False))  # fmt: skip
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


def test_ranking_by_posterior_mean_prefers_a_consistently_good_region_to_a_lucky_draw():
    from instructzero.config import BOConfig
    from instructzero.selection import no_selection, ranking_values

    rng = np.random.default_rng(0)
    good, poor = np.array([0.5, 0.5]), np.array([-0.5, -0.5])
    x = np.concatenate([good + 0.05 * rng.standard_normal((6, 2)), poor + 0.05 * rng.standard_normal((6, 2))])
    correct = [7, 6, 8, 7, 7, 6, 3, 2, 3, 8, 4, 3]  # "lucky" (index 9) ties the good region's best, 8 of 10
    names = [f"good{i}" for i in range(6)] + ["poor0", "poor1", "poor2", "lucky", "poor3", "poor4"]
    scores = (np.arange(10) < np.array(correct)[:, None]).astype(float)
    batch = Candidates(round=0, soft_prompts=np.clip(x, -1, 1), instructions=names, scores=scores,
                       answers=[["a"] * 10] * 12, spend=Spend(calls=120))  # fmt: skip
    searched = History().append(batch)
    assert no_selection(searched).winner_instruction == "lucky"  # the paper's rule: ties go to the latest
    bo = BOConfig(kernel="matern", noise="binomial")
    assert ranking_values(searched, SelectionConfig(), bo, seed=0) is None  # rank_by: validation
    estimate = ranking_values(searched, SelectionConfig(rank_by="posterior_mean"), bo, seed=0)
    assert estimate[9] < 0.8 and estimate[9] > estimate[[6, 7, 8, 10, 11]].mean()  # shrunk toward its neighbours
    assert no_selection(searched, estimate).winner_instruction == "good2"


def test_posterior_mean_ranking_needs_the_gp_search():
    import pytest

    from instructzero.config import parse_config
    from instructzero.errors import ConfigError

    with pytest.raises(ConfigError, match="rank_by 'posterior_mean' needs bo.strategy 'bo'"):
        parse_config({"bo": {"strategy": "ape"}, "selection": {"rank_by": "posterior_mean"}})


def test_a_regenerated_instruction_earns_fresh_examples_whose_counts_are_pooled():
    from instructzero.blackbox.scoring import RepeatBlocks, score_candidates

    data, m = task(), 10
    subset = data.validation_subset(m, seed=0)
    reserved = data.selection_subset(m, 40, seed=0)
    blocks = [data.repeat_block(m, b, seed=0, reserved=40) for b in range(4)]
    assert blocks[0] == subset and all(len(b) == m for b in blocks)
    used = [ex for b in blocks for ex in b]
    assert len(set(used)) == 4 * m  # blocks never overlap
    assert not set(used) & set(reserved) and not set(used) & set(data.test)  # the stage's evidence stays fresh
    assert data.repeat_block(m, 20, seed=0, reserved=40) == ()  # 200 validation examples: the split runs out

    def search(repeats: str) -> tuple[History, Bernoulli]:
        backend = Bernoulli()
        caller, history = BlackBoxCaller(backend, ResponseCache()), History()
        for r, batch in enumerate([["best", "lucky"], ["lucky", "fair", "lucky"], ["lucky"]]):
            plan = RepeatBlocks.of(repeats, data, history, n_validation=m, seed=0, reserved=40)
            history = history.append(score_candidates(
                caller, round_index=r, soft_prompts=np.zeros((len(batch), 2)), instructions=batch, examples=subset,
                metric="exact_match", repeats=plan))  # fmt: skip
        return history, backend

    reused, paid = search("reuse")
    assert len(paid.prompts) == 3 * m  # repeats are free: three distinct instructions on the fixed subset
    assert list(reused.trials) == [m] * 6 and reused.blocks.tolist() == [0] * 6
    pooled, paid = search("pool")
    assert pooled.blocks.tolist() == [0, 0, 1, 0, 2, 3]  # lucky's 2nd, 3rd (same round) and 4th evaluations
    assert len(paid.prompts) == 6 * m  # each fresh block is paid once
    lucky = [i for i, v in enumerate(pooled.instructions) if v == "lucky"]
    rows = pooled.scores[lucky]
    assert np.allclose(pooled.means[lucky], rows.mean()) and list(pooled.trials[lucky]) == [4 * m] * 4
    # Pooled evidence pulls the lucky instruction toward its true accuracy (0.5) from its lucky subset score.
    assert abs(pooled.means[lucky[0]] - TRUE["lucky"]) <= abs(reused.means[1] - TRUE["lucky"])
    chosen = select_winner(BlackBoxCaller(Bernoulli(), ResponseCache()), pooled,
                           examples=data.selection_subset(m, 40, 0), metric="exact_match",
                           config=SelectionConfig(enabled=True, candidates=3, calls=60))  # fmt: skip
    assert chosen.validation_counts[chosen.candidates.index("lucky")] == 4 * m


def users(caller, data, *instructions):
    from instructzero.selection import score_user_instructions

    found, spend = score_user_instructions(caller, list(instructions), data.validation_subset(10, 0), "exact_match")
    assert spend.calls == 10 * len(instructions)  # scored on the search's own fixed subset
    return found


def test_the_users_instruction_is_in_every_rung_and_is_replaced_only_by_a_better_one():
    data = task()
    backend = Bernoulli()
    caller = BlackBoxCaller(backend, ResponseCache())
    config = SelectionConfig(enabled=True, candidates=6, calls=240, eta=2)
    chosen = select_winner(caller, history(data.validation_subset(10, 0)), examples=data.selection_subset(10, 100, 0),
                           metric="exact_match", config=config, users=users(caller, data, "mine"))  # fmt: skip
    assert chosen.n_user == 1 and chosen.candidates[0] == "mine"
    assert all(0 in rung for rung in chosen.rungs)  # never halved away: it meets every challenger's examples
    assert chosen.winner_instruction == "best" and not chosen.user_kept  # 0.8 against 0.65
    comparison = chosen.user_comparison
    assert comparison is not None and comparison.difference > 0 and not comparison.kept
    assert comparison.n == 10 + chosen.selection_n[comparison.challenger]  # the fixed subset and every rung, paired
    assert chosen.selection_n[0] == chosen.selection_n[comparison.challenger]
    assert "beaten by +" in chosen.describe_user()


def test_a_strong_users_instruction_is_kept_and_the_margin_is_reported():
    data = task()
    caller = BlackBoxCaller(Bernoulli(), ResponseCache())
    chosen = select_winner(caller, history(data.validation_subset(10, 0)), examples=data.selection_subset(10, 100, 0),
                           metric="exact_match", config=SelectionConfig(enabled=True, candidates=6, calls=240),
                           users=users(caller, data, "poor", "strong"))  # fmt: skip
    assert chosen.winner_instruction == "strong" and chosen.user_kept
    assert chosen.user_comparison.kept and chosen.user_comparison.difference <= 0
    assert chosen.describe_user().startswith("kept: the best challenger 'best' scored -")


def test_a_tie_keeps_the_users_instruction_and_min_gain_raises_the_bar():
    data = task()
    caller = BlackBoxCaller(Bernoulli(), ResponseCache())
    (mine,) = users(caller, data, "mine")
    same = History().append(Candidates(round=0, soft_prompts=np.zeros((1, 2)), instructions=["lucky"],
                                       scores=mine.scores[None, :], answers=[["a"] * 10]))  # fmt: skip
    off = SelectionConfig(enabled=False)
    tie = select_winner(caller, same, examples=[], metric="exact_match", config=off, users=[mine])
    assert tie.user_kept and tie.user_comparison.difference == 0 and tie.user_comparison.n == 10
    better = History().append(Candidates(round=0, soft_prompts=np.zeros((1, 2)), instructions=["lucky"],
                                         scores=np.maximum(mine.scores, 1.0)[None, :], answers=[["a"] * 10]))  # fmt: skip
    gain = 1.0 - mine.scores.mean()
    assert not select_winner(caller, better, examples=[], metric="exact_match", config=off, users=[mine]).user_kept
    strict = off.model_copy(update={"min_gain": gain})
    assert select_winner(caller, better, examples=[], metric="exact_match", config=strict, users=[mine]).user_kept


def test_with_nothing_searched_the_users_instruction_wins_without_a_comparison():
    data = task()
    caller = BlackBoxCaller(Bernoulli(), ResponseCache())
    chosen = select_winner(caller, History(), examples=data.selection_subset(10, 100, 0), metric="exact_match",
                           config=SelectionConfig(), users=users(caller, data, "mine"))  # fmt: skip
    assert chosen.winner_instruction == "mine" and chosen.user_comparison is None and not chosen.rungs
