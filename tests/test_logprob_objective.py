"""`task.objective: logprob`: the search scores instructions by the black box's probability of the gold answer."""

import math

import numpy as np
import pytest
import torch

from instructzero.blackbox.accounting import Spend
from instructzero.blackbox.backends.local import LocalBackend
from instructzero.blackbox.base import Backend, parse_logprob, register_backend
from instructzero.blackbox.cache import ResponseCache
from instructzero.blackbox.caller import BlackBoxCaller, Request
from instructzero.blackbox.scoring import score_zero_shot
from instructzero.config import SelectionConfig, parse_config
from instructzero.data.metrics import LOGPROB, search_metric
from instructzero.data.task import Example
from instructzero.errors import ConfigError
from instructzero.preflight import preflight
from instructzero.selection import select_winner

EXAMPLES = [Example(input="1 2", answers=("3",)), Example(input="10 20", answers=("30", "thirty"))]


def logprobs_of(backend: Backend, items: list[tuple[str, str]]) -> list[float]:
    got: dict[int, float] = {}
    backend.logprobs([(i, p, c) for i, (p, c) in enumerate(items)], lambda i, c: got.__setitem__(i, parse_logprob(c.text)))
    return [got[i] for i in range(len(items))]


def test_local_log_probabilities_match_a_forward_pass_per_row_whatever_the_batch(tiny_lm_dir):
    backend = LocalBackend(str(tiny_lm_dir), batch_size=3)
    items = [("Instruction: add\n\nInput: 1 2\n\nOutput:", " 3"),
             ("Q:", " a much longer continuation of several tokens"),
             ("Instruction: add the two numbers please\n\nInput: 10 20\n\nOutput:", " 30")]  # fmt: skip
    batched = logprobs_of(backend, items)
    tokenizer, model = backend.lm.tokenizer, backend.lm.model
    for (prompt, continuation), value in zip(items, batched):
        ids = tokenizer(prompt + continuation, return_tensors="pt").input_ids
        n_prompt = len(tokenizer(prompt).input_ids)
        with torch.inference_mode():
            logp = torch.log_softmax(model(ids).logits.float()[0, :-1], dim=-1)
        expected = logp[torch.arange(n_prompt - 1, ids.shape[1] - 1), ids[0, n_prompt:]].mean().item()
        assert value == pytest.approx(expected, abs=1e-4)  # left padding changes nothing
    assert logprobs_of(LocalBackend(str(tiny_lm_dir), batch_size=1), items) == pytest.approx(batched, abs=1e-4)


@pytest.mark.slow
def test_a_real_model_finds_the_predictable_continuation_likelier():
    backend = LocalBackend("smollm2")
    likely, unlikely = logprobs_of(backend, [("1, 2, 3, 4, 5, 6, 7,", " 8"), ("1, 2, 3, 4, 5, 6, 7,", " banana")])
    assert likely > math.log(0.3) > unlikely


def test_log_probabilities_are_cached_apart_from_answers_and_paid_once(tiny_lm_dir, tmp_path):
    caller = BlackBoxCaller(LocalBackend(str(tiny_lm_dir), max_tokens=2), ResponseCache(tmp_path / "c.sqlite"))
    report = score_zero_shot(caller, ["Add.", "Sum."], EXAMPLES, LOGPROB)
    assert report.scores.shape == (2, 2) and report.spend.calls == 4
    assert np.all((report.scores > 0) & (report.scores <= 1))
    # A score is exp(mean token log-probability) of the first gold answer; the answer text holds the log-probability.
    assert report.scores == pytest.approx(np.exp([[float(a) for a in row] for row in report.answers]))
    again = score_zero_shot(caller, ["Add.", "Sum."], EXAMPLES, LOGPROB)
    assert again.spend.calls == 0 and again.spend.cache_hits == 4 and again.answers == report.answers
    answered = score_zero_shot(caller, ["Add.", "Sum."], EXAMPLES, "exact_match")  # same prompts, other question
    assert answered.spend.calls == 4 and set(np.unique(answered.scores)) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="not both"):
        caller.ask([Request.zero_shot("Add.", "1 2"), Request.gold_logprob("Add.", "1 2", "3")])


def test_the_search_metric_follows_the_objective():
    assert search_metric("logprob", "exact_match") == LOGPROB
    assert search_metric("metric", "f1") == "f1"


def run_config(**overrides):
    base = {"task": {"source": "builtin", "name": "sum", "n_validation": 4, "max_test": 10, "objective": "logprob"},
            "selection": {"enabled": True, "candidates": 2, "calls": 8}}  # fmt: skip
    return parse_config({**base, **overrides})


def test_logprob_objective_needs_the_selection_stage_in_one_line():
    with pytest.raises(ConfigError) as error:
        run_config(selection={"enabled": False})
    assert "task.objective 'logprob' needs selection.enabled: true" in str(error.value)
    assert "\n" not in str(error.value).strip()


@register_backend("test-answers-only")
class AnswersOnly(Backend):
    """A backend that answers prompts and nothing else (the base class's `supports_logprobs`)."""

    identity = "answers-only"

    @classmethod
    def from_config(cls, config):
        return cls()


def test_a_backend_without_log_probabilities_fails_the_config_check_in_one_line():
    with pytest.raises(ConfigError) as error:
        preflight(run_config(blackbox={"backend": "test-answers-only"}), probe=False)
    message = str(error.value)
    assert "cannot give log-probabilities" in message and "task.objective: metric" in message and "\n" not in message
    preflight(run_config(), probe=False)  # the local backend can


class Fixed(Backend):
    """Right on every example for the instructions in `right`, wrong otherwise."""

    identity = "fixed"

    def __init__(self, right):
        self.right = right

    def answer(self, requests, on_answer):
        from instructzero.blackbox.base import Completion

        for index, prompt in requests:
            instruction = prompt.split("Instruction: ")[1].split("\n")[0]
            gold = prompt.split("Input: ")[1].split("\n")[0]
            on_answer(index, Completion(gold if instruction in self.right else "wrong"))


def test_scores_of_another_objective_choose_candidates_but_never_the_winner():
    from instructzero.search.history import Candidates, History

    fresh = [Example(input=f"s{i}", answers=(f"s{i}",)) for i in range(20)]
    # The search's log-probability scores rank `likely` far above `right`; only `right` answers correctly.
    rows = np.array([[0.9] * 4, [0.2] * 4, [0.1] * 4])
    history = History().append(Candidates(round=0, soft_prompts=np.zeros((3, 2)), instructions=["likely", "right", "other"],
                                          scores=rows, answers=[["-0.1"] * 4] * 3, spend=Spend(calls=12)))  # fmt: skip
    config = SelectionConfig(enabled=True, candidates=2, calls=8, eta=2)
    caller = BlackBoxCaller(Fixed({"right"}), ResponseCache())
    chosen = select_winner(caller, history, examples=fresh, metric="exact_match", config=config, search_on_metric=False)
    assert chosen.candidates == ["likely", "right"]  # the search's scores chose the candidates
    assert chosen.winner_instruction == "right"
    assert chosen.validation_counts == [0, 0]
    assert chosen.pooled_means.tolist() == [0.0, 1.0]  # the selection examples alone


def test_the_benchmark_shares_log_probabilities_across_cells_and_still_books_them(tiny_lm_dir, tmp_path):
    from instructzero.benchmark.shared_answers import SharedAnswers

    store = ResponseCache(tmp_path / "shared.sqlite")
    first = score_zero_shot(BlackBoxCaller(SharedAnswers(LocalBackend(str(tiny_lm_dir)), store), ResponseCache()),
                            ["Add."], EXAMPLES, LOGPROB)  # fmt: skip
    # A second cell with its own empty cache pays for the same requests, answered from the store, never the model.

    class Refusing(LocalBackend):
        def logprobs(self, requests, on_answer):
            for request in requests:
                raise RuntimeError(f"the model was asked {request}")

    shared = SharedAnswers(Refusing(str(tiny_lm_dir)), store)
    second = score_zero_shot(BlackBoxCaller(shared, ResponseCache()), ["Add."], EXAMPLES, LOGPROB)
    assert second.spend.calls == first.spend.calls == 2 and second.answers == first.answers
    assert shared.supports_logprobs
    with pytest.raises(RuntimeError, match="the model was asked"):  # a request the store lacks does reach it
        score_zero_shot(BlackBoxCaller(shared, ResponseCache()), ["Sum."], EXAMPLES, LOGPROB)
