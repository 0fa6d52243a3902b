"""Black-box backends by name: each module in this folder defines one and registers it.

Adding a backend is adding one module here with a :class:`~instructzero.blackbox.base.Backend`
subclass decorated with ``@register_backend("name")``; configs then accept
``blackbox.backend: name``. Modules import their heavy dependencies (torch, an
HTTP client) inside methods, so that checking a config stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from instructzero.blackbox.base import Backend, backend_class, backend_names, register_backend
from instructzero.errors import MissingAnswersError

if TYPE_CHECKING:
    from instructzero.config.blackbox import BlackBoxConfig

#: Read by the pipeline's step cache keys (`steps/caching.py`): the backends are found at run time, so
#: whatever builds one may run any module in this folder.
DISCOVERS_SUBMODULES = True

__all__ = ["StoredOnly", "backend_class", "backend_names", "make_backend", "register_backend"]


def make_backend(config: BlackBoxConfig) -> Backend:
    """The backend a run config names (behind :class:`StoredOnly` with `blackbox.stored_only`)."""
    if config.stored_only:  # its key is never needed: nothing is sent
        return StoredOnly.from_config(config)
    return backend_class(config.backend).from_config(config)


class StoredOnly(Backend):
    """A backend that answers nothing: its requests must all be in the response cache (which the caller asks
    first). Its identity is the wrapped backend's, so the cache keys are those the run was made with."""

    supports_logprobs = True

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.billed = inner.billed

    @property
    def identity(self) -> str:
        return self.inner.identity

    @classmethod
    def from_config(cls, config: BlackBoxConfig) -> StoredOnly:
        return cls(backend_class(config.backend).from_config(config.model_copy(update={"api_key_env": None})))

    def check(self, probe: bool) -> None:
        """Nothing to reach: no endpoint, no key."""

    def probe_logprobs(self) -> None:
        """Stored log-probabilities were checked when they were paid for."""

    def answer(self, requests, on_answer) -> None:
        raise MissingAnswersError(sum(1 for _ in requests))

    def logprobs(self, requests, on_answer) -> None:
        raise MissingAnswersError(sum(1 for _ in requests))
