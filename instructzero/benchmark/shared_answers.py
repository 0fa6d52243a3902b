"""Answers computed once for every cell of a benchmark, while each cell still pays for its own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from instructzero.blackbox.base import Backend, Completion, OnAnswer
from instructzero.blackbox.cache import ResponseCache


class SharedAnswers(Backend):
    """A backend whose answers are kept across cells, while every request is still booked.

    A cell's own :class:`~instructzero.blackbox.caller.BlackBoxCaller` and response cache
    decide what the cell pays for (each request it pulls is admitted against the cell's
    budget); a request another cell asked before is answered from this store, with the
    same tokens and so the same cost, instead of by the model.
    """

    def __init__(self, inner: Backend, store: ResponseCache) -> None:
        self.inner, self.store = inner, store

    @property
    def identity(self) -> str:
        return self.inner.identity

    def check(self, probe: bool) -> None:
        self.inner.check(probe)

    @property
    def supports_logprobs(self) -> bool:  # type: ignore[override]
        return self.inner.supports_logprobs

    def answer(self, requests: Iterable[tuple[int, str]], on_answer: OnAnswer) -> None:
        self._through(requests, on_answer, lambda r: self.store.key(self.identity, "", r[1], ""), self.inner.answer)

    def logprobs(self, requests: Iterable[tuple[int, str, str]], on_answer: OnAnswer) -> None:
        self._through(requests, on_answer, lambda r: self.store.key(self.identity, "", r[1], "", r[2]),
                      self.inner.logprobs)  # fmt: skip

    def _through(self, requests: Iterable[tuple], on_answer: OnAnswer, key_of, send) -> None:
        """Answer from the store what it holds; `send` the rest to the inner backend and keep its answers."""

        def unseen() -> Iterator[tuple]:
            for request in requests:
                key = key_of(request)
                if (row := self.store.rows([key]).get(key)) is not None:
                    on_answer(request[0], Completion(*row))
                else:
                    keys[request[0]] = key
                    yield request

        def keep(index: int, completion: Completion) -> None:
            self.store.put_many([(keys[index], completion.text, completion.prompt_tokens, completion.completion_tokens)])
            on_answer(index, completion)

        keys: dict[int, str] = {}
        send(unseen(), keep)
