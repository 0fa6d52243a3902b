"""What black-box calls cost, and the run's spending caps.

A :class:`Budget` is asked before every request (``try_reserve``) and told about
every answer (``settle``). It counts requests in flight, so concurrent scoring
never overshoots a call cap, and estimates their cost from the answers so far,
so a cost cap is overshot by at most the in-flight requests' estimate error.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from instructzero.config.blackbox import BlackBoxConfig, TokenPrice
from instructzero.data.task import TaskData


@dataclass(frozen=True)
class Spend:
    """What black-box work cost: the one accounting record of scores, batches, tests and runs.

    `calls` are requests paid for (each answered once, however many attempts it
    took); `cache_hits` are answers reused for free (from the cache, or a request
    repeated within one batch, which is sent once); `retries` are the extra
    attempts the paid calls needed. Spends add up with `+`.
    """

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def as_metadata(self) -> dict[str, int | float]:
        """The fields by name, for step and artifact metadata and JSON records."""
        return dataclasses.asdict(self)


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
            self.spent = self.spent + Spend(calls=1, prompt_tokens=prompt_tokens,
                                            completion_tokens=completion_tokens, cost_usd=cost)  # fmt: skip
        return cost

    def release(self) -> None:
        """A reserved request that failed without being answered (nothing to book)."""
        with self._lock:
            self.in_flight -= 1

    def describe(self) -> str:
        return describe_caps(self.max_calls, self.max_cost_usd)

    @classmethod
    def for_run(cls, config: BlackBoxConfig, spent: Spend = Spend(), reserve_calls: int = 0) -> Budget:
        """The run's caps from its black-box config, minus what it `spent`, holding back `reserve_calls`."""
        return cls(config.max_calls, config.max_cost_usd, config.price, spent=spent, reserve_calls=reserve_calls)


def describe_caps(max_calls: int | None, max_cost_usd: float | None) -> str:
    """The run's spending caps in words, e.g. `200 calls / $5`."""
    caps = [f"{max_calls} calls" if max_calls is not None else "",
            f"${max_cost_usd:g}" if max_cost_usd is not None else ""]  # fmt: skip
    return " / ".join(c for c in caps if c) or "no cap"


def held_back_calls(
    task: TaskData, *, n_validation: int, seed: int, n_baselines: int, selection_calls: int = 0
) -> int:
    """Black-box calls held back from the search: the selection stage's, the winner's test score and each
    baseline's validation and test scores."""
    n_test, m = len(task.test), len(task.validation_subset(n_validation, seed))
    return selection_calls + n_test + n_baselines * (m + n_test)


def search_budget(
    blackbox: BlackBoxConfig,
    task: TaskData,
    *,
    n_validation: int,
    seed: int,
    n_baselines: int,
    spent: Spend,
    selection_calls: int = 0,
) -> Budget:
    """The budget of the search's next black-box work: the run's caps, minus what it `spent`, minus the calls
    held back for the selection stage and the test evaluation."""
    reserve = held_back_calls(task, n_validation=n_validation, seed=seed, n_baselines=n_baselines,
                              selection_calls=selection_calls)  # fmt: skip
    return Budget.for_run(blackbox, spent, reserve)
