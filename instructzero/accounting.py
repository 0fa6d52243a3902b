"""What black-box calls cost, and the run's spending caps.

A :class:`Budget` is asked before every request (``try_reserve``) and told about
every answer (``settle``). It counts requests in flight, so concurrent scoring
never overshoots a call cap, and estimates their cost from the answers so far,
so a cost cap is overshot by at most the in-flight requests' estimate error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from instructzero.config import TokenPrice


@dataclass(frozen=True)
class Spend:
    """Calls paid for and their tokens and cost (cache hits are free and not counted)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
        )


class Budget:
    """Caps on calls and cost, shared by every request of a run.

    Args:
        max_calls: cap on paid calls for the whole run, or None.
        max_cost_usd: cap on estimated cost in USD for the whole run, or None.
        price: the black box's token price.
        spent: what earlier steps of the run already paid.
        reserve_calls: calls held back for later work (the test evaluation), so
            that validation scoring stops early enough for the run to finish.
    """

    def __init__(
        self,
        max_calls: int | None = None,
        max_cost_usd: float | None = None,
        price: TokenPrice | None = None,
        spent: Spend = Spend(),
        reserve_calls: int = 0,
    ) -> None:
        self.max_calls = max_calls
        self.max_cost_usd = max_cost_usd
        self.price = price or TokenPrice()
        self.spent = spent
        self.reserve_calls = reserve_calls
        self.in_flight = 0
        self.exhausted = False
        self._lock = threading.Lock()

    @property
    def _mean_call_cost(self) -> float:
        return self.spent.cost_usd / self.spent.calls if self.spent.calls else 0.0

    def try_reserve(self) -> bool:
        """True (and one call counted in flight) if one more request fits under the caps."""
        with self._lock:
            committed = self.spent.calls + self.in_flight + 1 + self.reserve_calls
            if self.max_calls is not None and committed > self.max_calls:
                self.exhausted = True
                return False
            if self.max_cost_usd is not None and committed * self._mean_call_cost >= self.max_cost_usd - 1e-12:
                # `committed * mean` = spent + in flight + this + the reserve, each at the mean cost so far.
                self.exhausted = True
                return False
            self.in_flight += 1
            return True

    def settle(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Book one answered request; returns its cost."""
        cost = self.price.cost(prompt_tokens, completion_tokens)
        with self._lock:
            self.in_flight -= 1
            self.spent = self.spent + Spend(1, prompt_tokens, completion_tokens, cost)
        return cost

    def release(self) -> None:
        """A reserved request that failed without being answered (nothing to book)."""
        with self._lock:
            self.in_flight -= 1

    def describe(self) -> str:
        caps = [f"{self.max_calls} calls" if self.max_calls is not None else "",
                f"${self.max_cost_usd:g}" if self.max_cost_usd is not None else ""]  # fmt: skip
        return " / ".join(c for c in caps if c) or "no cap"
