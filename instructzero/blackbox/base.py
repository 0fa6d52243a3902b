"""Black-box LLM backends: the model whose zero-shot accuracy an instruction is judged by.

Backends (:mod:`instructzero.blackbox.local`, :mod:`instructzero.blackbox.openai_compatible`,
built by :func:`instructzero.blackbox.backends.make_blackbox`) answer a batch of prompts with :class:`Completion` objects and
expose an ``identity`` (endpoint, model, decoding settings) that keys the
response cache, so answers paid for once are reused by every later run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from instructzero.blackbox.accounting import Budget

#: Zero-shot query of the reference evaluation.
ZERO_SHOT_TEMPLATE = "Instruction: {instruction}\n\nInput: {input}\n\nOutput:"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Requests it took (1 + retries).
    attempts: int = 1


class BlackBox(Protocol):
    """Anything that answers prompts deterministically enough to be cached."""

    @property
    def identity(self) -> str: ...

    def complete(
        self,
        prompts: Sequence[str],
        progress: bool = False,
        on_result: Callable[[int, Completion], None] | None = None,
        budget: Budget | None = None,
    ) -> list[Completion | None]:
        """Answers in prompt order, each also handed to `on_result(index, completion)` as soon as it
        exists; None for prompts the `budget` refused (those are never sent)."""
        ...
