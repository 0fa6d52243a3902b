"""The one way black-box answers are obtained: the response cache first, the budget second, a backend last.

:class:`BlackBoxCaller` owns everything around a request that is not answering
it: the cache lookup (an answer paid for once is never paid for again),
de-duplication within a batch, admitting each request against the run's
:class:`~instructzero.blackbox.accounting.Budget` (reserve before sending,
settle on the answer, release what never got one), committing each answer to
the cache the moment it arrives, the progress bar and the
:class:`~instructzero.blackbox.accounting.Spend` of the batch. Scoring,
APE-style proposals, the test evaluation and the benchmark all go through it.

Example:
    >>> caller = BlackBoxCaller.for_config(config.blackbox, ResponseCache(path))
    >>> answers = caller.ask([Request.zero_shot("Add the numbers.", "3 4")], budget)
    >>> answers.texts[0], answers.spend.calls
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from instructzero.blackbox.accounting import Budget, Spend
from instructzero.blackbox.base import ZERO_SHOT_TEMPLATE, Backend, Completion
from instructzero.blackbox.cache import ResponseCache
from instructzero.config.blackbox import BlackBoxConfig, TokenPrice


@dataclass(frozen=True)
class Request:
    """One prompt and what identifies its answer in the cache (besides the backend's identity)."""

    #: The text sent to the black box.
    prompt: str
    template: str
    instruction: str = ""
    input: str = ""
    #: Set for a log-probability request: the text whose probability after `prompt` is asked for.
    continuation: str | None = None

    @classmethod
    def zero_shot(cls, instruction: str, input_: str, template: str = ZERO_SHOT_TEMPLATE) -> Request:
        """The reference evaluation's query: `template` filled with the instruction and the example's input."""
        return cls(template.format(instruction=instruction, input=input_), template, instruction, input_)

    @classmethod
    def gold_logprob(
        cls, instruction: str, input_: str, answer: str, template: str = ZERO_SHOT_TEMPLATE
    ) -> Request:
        """How likely the black box is to give `answer` to the zero-shot query (after one space)."""
        return cls(template.format(instruction=instruction, input=input_), template, instruction, input_,
                   continuation=f" {answer.strip()}")  # fmt: skip


@dataclass(frozen=True)
class Answers:
    """Answers in request order (None where the budget refused the request) and what they cost."""

    texts: list[str | None]
    spend: Spend
    #: True when the budget refused a request: the run should stop after this batch.
    budget_exhausted: bool = False


class BlackBoxCaller:
    """A backend behind the response cache and the run's budget.

    Args:
        backend: answers prompts (see :mod:`instructzero.blackbox.backends`).
        cache: answers already paid for, keyed by the backend's identity and the request.
        price: token price for requests asked without a budget (the uncapped test evaluation).
        progress: show a progress bar of paid calls.
    """

    def __init__(
        self, backend: Backend, cache: ResponseCache, *, price: TokenPrice | None = None, progress: bool = False
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.price = price or TokenPrice()
        self.progress = progress

    @classmethod
    def for_config(
        cls, config: BlackBoxConfig, cache: ResponseCache, *, backend: Backend | None = None, progress: bool = False
    ) -> BlackBoxCaller:
        """The configured black box (or `backend` standing in for it) behind `cache`, billed at its price."""
        from instructzero.blackbox.backends import make_backend

        return cls(backend or make_backend(config), cache, price=config.price, progress=progress)

    @property
    def identity(self) -> str:
        return self.backend.identity

    def ask(self, requests: Sequence[Request], budget: Budget | None = None) -> Answers:
        """Answers of `requests`; only those missing from the cache reach the backend, each at most once.

        `budget` caps what is sent (None: uncapped, billed at `price`). A fatal backend error
        propagates after every answer received so far has been cached and booked.
        """
        budget = budget if budget is not None else Budget(price=self.price)
        kinds = {r.continuation is None for r in requests}
        if len(kinds) > 1:
            raise ValueError("ask answers or log-probabilities in one batch, not both")
        keys = [self.cache.key(self.identity, r.template, r.instruction, r.input, r.continuation) for r in requests]
        known = self.cache.get_many(keys)
        todo: dict[str, Request] = {}
        for key, request in zip(keys, requests):
            if key not in known and key not in todo:
                todo[key] = request
        todo_keys, prompts = list(todo), list(todo.values())
        paid: list[tuple[Completion, float]] = []
        lock = threading.Lock()
        reserved = 0

        def admitted() -> Iterator[tuple]:
            nonlocal reserved
            for index, request in enumerate(prompts):
                if not budget.try_reserve():
                    return
                reserved += 1
                yield (index, request.prompt) if request.continuation is None else \
                    (index, request.prompt, request.continuation)  # fmt: skip

        bar = tqdm(total=len(prompts), desc="black box", unit="call", disable=not self.progress)

        def on_answer(index: int, completion: Completion) -> None:
            key = todo_keys[index]
            self.cache.put_many([(key, completion.text, completion.prompt_tokens, completion.completion_tokens)])
            cost = budget.settle(completion.prompt_tokens, completion.completion_tokens)
            with lock:
                known[key] = completion.text
                paid.append((completion, cost))
            bar.update()

        try:
            if prompts and prompts[0].continuation is None:
                self.backend.answer(admitted(), on_answer)
            elif prompts:
                self.backend.logprobs(admitted(), on_answer)
        finally:
            for _ in range(reserved - len(paid)):  # admitted but never answered (a fatal error)
                budget.release()
            bar.close()
        spend = Spend(
            calls=len(paid),
            cache_hits=len(requests) - len(todo),
            retries=sum(c.attempts - 1 for c, _ in paid),
            prompt_tokens=sum(c.prompt_tokens for c, _ in paid),
            completion_tokens=sum(c.completion_tokens for c, _ in paid),
            cost_usd=sum(cost for _, cost in paid),
        )
        return Answers([known.get(k) for k in keys], spend, budget_exhausted=budget.exhausted)
