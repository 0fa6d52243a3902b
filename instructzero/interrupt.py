"""SIGTERM (a pod's eviction, `kill`, a cancelled job) stops a command the way Ctrl-C does: at once, in one line.

Inside a ZenML step, ZenML's own handler (`zenml/orchestrators/signal_handler.py`) is installed over this one: it
stops the step with `RunInterruptedException` and then calls the handler it replaced, this one, which records
the signal and silences the traceback ZenML would log for the step. In a step pod that is all: the pod's step
fails and the pod ends. When every step runs in this process (the local orchestrator, `stop_whole_process()`),
this handler raises `KeyboardInterrupt` in the step too: the local orchestrator catches a failed step's
`Exception` and goes on with the other tasks' branches of a fleet, but not a `KeyboardInterrupt`, so nothing
starts after the signal. Outside a step this handler raises `KeyboardInterrupt`, the path Ctrl-C takes. Answers already paid for are in the response cache (each one is written
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
_whole_process = threading.Event()


def stop_whole_process(enabled: bool = True) -> None:
    """Steps run in this process (the local orchestrator): a SIGTERM inside a step stops the whole run."""
    if enabled:
        _whole_process.set()
    else:
        _whole_process.clear()


def received() -> bool:
    """A SIGTERM arrived since `install()`."""
    return _received.is_set()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _received.set()
    logging.getLogger("zenml").setLevel(logging.CRITICAL)  # the interrupted step's traceback is not news
    if signal.getsignal(signal.SIGTERM) is _on_sigterm or _whole_process.is_set():
        raise KeyboardInterrupt  # outside a step nobody else stops the work; inside a local one, nothing may follow


def install() -> None:
    """Handle SIGTERM in this (main) thread; a no-op elsewhere, where Python cannot install handlers."""
    _received.clear()
    _whole_process.clear()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
