"""Client-side rate limits (requests or tokens per minute) for concurrent asyncio requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """A bucket refilled at `per_minute / 60` units a second, holding at most one second's worth.

    A small bucket spreads requests evenly instead of bursting a whole minute's
    quota at once, which is what providers' sub-minute enforcement punishes.
    An acquisition larger than the bucket waits for a full bucket and leaves it
    in debt, so the long-run rate still holds. `adjust` books the difference
    between an estimate and the real amount (tokens reported after the answer).
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()
        self._lock: asyncio.Lock | None = None

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self, amount: float = 1.0) -> None:
        if self._lock is None:  # created lazily: one bucket serves one event loop at a time
            self._lock = asyncio.Lock()
        async with self._lock:  # first come, first served
            need = min(amount, self.capacity)
            self._refill()
            while self._level < need:
                await asyncio.sleep((need - self._level) / self.rate)
                self._refill()
            self._level -= amount

    def adjust(self, delta: float) -> None:
        """Take `delta` more units (or give back, if negative)."""
        self._refill()
        self._level = min(self.capacity, self._level - delta)

    def reset_loop(self) -> None:
        """Forget the lock of a finished event loop (each `asyncio.run` has its own)."""
        self._lock = None
