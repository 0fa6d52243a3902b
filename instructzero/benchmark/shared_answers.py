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

    def answer(self, requests: Iterable[tuple[int, str]], on_answer: OnAnswer) -> None:
        def unseen() -> Iterator[tuple[int, str]]:
            for index, prompt in requests:
                key = self.store.key(self.identity, "", prompt, "")
                if (row := self.store.rows([key]).get(key)) is not None:
                    on_answer(index, Completion(*row))
                else:
                    keys[index] = key
                    yield index, prompt

        def keep(index: int, completion: Completion) -> None:
            self.store.put_many([(keys[index], completion.text, completion.prompt_tokens, completion.completion_tokens)])
            on_answer(index, completion)

        keys: dict[int, str] = {}
        self.inner.answer(unseen(), keep)
