"""SIGTERM (a pod's eviction, `kill`, a cancelled job) stops a command the way Ctrl-C does: at once, in one line.

Inside a ZenML step, ZenML's own handler (`zenml/orchestrators/signal_handler.py`) is installed over this one: it
stops the step with `RunInterruptedException` and then calls the handler it replaced, this one, which only records
the signal and silences the traceback ZenML would log for the step. Outside a step this handler raises
`KeyboardInterrupt`, the path Ctrl-C takes. Answers already paid for are in the response cache (each one is written
when it arrives), so the next run reuses them.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

#: The exit status of a process stopped by SIGTERM (128 + 15), as shells report it.
EXIT_TERMINATED = 143

_received = threading.Event()


def received() -> bool:
    """A SIGTERM arrived since `install()`."""
    return _received.is_set()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.set()
    logging.getLogger("zenml").setLevel(logging.CRITICAL)  # the interrupted step's traceback is not news
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:  # not inside a step: nobody else stops the work
        raise KeyboardInterrupt


def install() -> None:
    """Handle SIGTERM in this (main) thread; a no-op elsewhere, where Python cannot install handlers."""
    _received.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
