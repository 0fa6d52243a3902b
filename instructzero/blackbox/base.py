"""What a black-box backend is: something that answers prompts, and nothing more.

A backend (one module in :mod:`instructzero.blackbox.backends`) answers the
prompts it pulls from an iterator and hands each answer to a callback the
moment it exists. It never sees the response cache, the budget or the
accounting: :class:`~instructzero.blackbox.caller.BlackBoxCaller` owns those, so
every backend gets them the same way. Its ``identity`` (endpoint, model,
decoding settings) keys the response cache: answers of one model are never
reused for another.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

from instructzero.errors import ConfigError

if TYPE_CHECKING:
    from instructzero.config.blackbox import BlackBoxConfig

#: Zero-shot query of the reference evaluation.
ZERO_SHOT_TEMPLATE = "Instruction: {instruction}\n\nInput: {input}\n\nOutput:"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Requests it took (1 + retries).
    attempts: int = 1


#: `on_answer(index, completion)`: called once per answered prompt, as soon as the answer exists.
OnAnswer = Callable[[int, Completion], None]


def logprob_text(value: float) -> str:
    """A continuation's mean token log-probability as the cached answer text (:func:`parse_logprob` reads it)."""
    return repr(float(value))


def parse_logprob(text: str) -> float:
    return float(text)


class Backend:
    """Base of every black-box backend; subclasses register with :func:`register_backend`.

    Class attributes describe the backend to the config checks without building it:
    `needs_base_url` (an endpoint must be named), `billed` (tokens cost money, so
    `blackbox.prices` applies), `supports_logprobs` (it can score a given continuation:
    `task.objective: logprob`).
    """

    #: The `blackbox.backend` name it is registered under.
    name: ClassVar[str] = ""
    needs_base_url: ClassVar[bool] = False
    billed: ClassVar[bool] = False
    supports_logprobs: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config: BlackBoxConfig) -> Backend:
        raise NotImplementedError

    @property
    def identity(self) -> str:
        """What decides an answer: endpoint or model, and decoding settings (the cache key's first part)."""
        raise NotImplementedError

    def check(self, probe: bool) -> None:
        """Fail in one line, before any spending, on what the user can fix (files, keys, endpoint).

        `probe` allows one cheap request to the endpoint.
        """

    def answer(self, requests: Iterable[tuple[int, str]], on_answer: OnAnswer) -> None:
        """Answer every `(index, prompt)` pulled from `requests`, handing each answer to `on_answer`.

        Pull lazily: the caller admits a request against the budget when it is pulled,
        and the iterator ends when the budget refuses one. A fatal error is raised after
        the answers already received have been handed over.
        """
        raise NotImplementedError

    def probe_logprobs(self) -> None:
        """Before any spending, fail in one line if the backend's log-probabilities cannot be trusted (an endpoint
        may lack them or misalign them); nothing to probe for an in-process model."""

    def logprobs(self, requests: Iterable[tuple[int, str, str]], on_answer: OnAnswer) -> None:
        """For every `(index, prompt, continuation)` pulled, the mean log-probability per token of `continuation`
        right after `prompt`, handed over as a :class:`Completion` whose text is :func:`logprob_text` of it.
        Pulled lazily, like :meth:`answer`."""
        raise NotImplementedError(f"black-box backend '{self.name}' cannot score continuations")


#: Where backends live: every module in this package is imported to find them.
BACKENDS_PACKAGE = "instructzero.blackbox.backends"
_REGISTRY: dict[str, type[Backend]] = {}
_B = TypeVar("_B", bound=type[Backend])


def register_backend(name: str):
    """Class decorator: make a backend available as `blackbox.backend: <name>`."""

    def register(cls: _B) -> _B:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return register


def _discover() -> None:
    """Import every module of the backends folder (each registers its backend)."""
    spec = importlib.util.find_spec(BACKENDS_PACKAGE)
    for module in pkgutil.iter_modules(spec.submodule_search_locations if spec else []):
        importlib.import_module(f"{BACKENDS_PACKAGE}.{module.name}")


def backend_names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def backend_class(name: str) -> type[Backend]:
    """The backend registered as `name`; a one-line error naming the choices otherwise."""
    if name not in _REGISTRY:
        _discover()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown black-box backend '{name}': use one of {backend_names()} (blackbox.backend).")
    return _REGISTRY[name]
