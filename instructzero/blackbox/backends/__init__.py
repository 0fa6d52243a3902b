"""Black-box backends by name: each module in this folder defines one and registers it.

Adding a backend is adding one module here with a :class:`~instructzero.blackbox.base.Backend`
subclass decorated with ``@register_backend("name")``; configs then accept
``blackbox.backend: name``. Modules import their heavy dependencies (torch, an
HTTP client) inside methods, so that checking a config stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from instructzero.blackbox.base import Backend, backend_class, backend_names, register_backend

if TYPE_CHECKING:
    from instructzero.config.blackbox import BlackBoxConfig

#: Read by the pipeline's step cache keys (`steps/caching.py`): the backends are found at run time, so
#: whatever builds one may run any module in this folder.
DISCOVERS_SUBMODULES = True

__all__ = ["backend_class", "backend_names", "make_backend", "register_backend"]


def make_backend(config: BlackBoxConfig) -> Backend:
    """The backend a run config names."""
    return backend_class(config.backend).from_config(config)
