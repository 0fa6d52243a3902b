"""Zero-shot scoring of instructions on the fixed validation subset: the objective H(p).

Every answer the black box gives is stored in a :class:`ResponseCache` keyed by
(black-box identity, template, instruction, input) before it is scored, so an
identical instruction is never paid for twice: not within a batch, not across
rounds, and (with a file-backed cache) not across runs or after a crash.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instructzero.accounting import Budget
from instructzero.blackbox import ZERO_SHOT_TEMPLATE, BlackBox, Completion
from instructzero.data import Example
from instructzero.metrics import score_answer


class ResponseCache:
    """Black-box answers by request key, in SQLite (a file, or memory for `path=None`).

    Each answer is committed as it arrives (WAL journal: cheap commits, readers never
    blocked), so a crash or an exhausted retry loses none of what was paid for.
    `rows`/`merge` move answers between caches: that is how runs on different
    machines share them through the artifact store (see `steps/response_cache.py`).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path) if path is not None else None
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        #: Keys written through `put_many` by this object: what a step publishes for other machines.
        self.written: list[str] = []
        with self._lock, self._db:
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT,"
                " prompt_tokens INTEGER, completion_tokens INTEGER)"
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS merged_shards (name TEXT PRIMARY KEY)")

    @staticmethod
    def key(identity: str, template: str, instruction: str, input_: str) -> str:
        """sha256 of (endpoint, model, decoding settings) + template + instruction + input."""
        return hashlib.sha256(json.dumps([identity, template, instruction, input_]).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        return {k: row[0] for k, row in self.rows(keys).items()}

    def rows(self, keys: Sequence[str]) -> dict[str, tuple[str, int, int]]:
        """(text, prompt tokens, completion tokens) of the keys present."""
        found: dict[str, tuple[str, int, int]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                query = f"SELECT key, text, prompt_tokens, completion_tokens FROM responses WHERE key IN ({marks})"
                found.update((k, (t, p, c)) for k, t, p, c in self._db.execute(query, chunk))
        return found

    def put_many(self, rows: Sequence[tuple[str, str, int, int]]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)
            self.written += [row[0] for row in rows]

    def merge(self, rows: Sequence[tuple[str, str, int, int]], shard: str | None = None) -> int:
        """Add answers from elsewhere (existing keys win); remember `shard` as merged. Returns rows added."""
        with self._lock, self._db:
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?)", rows)
            added = self._db.total_changes - before
            if shard is not None:
                self._db.execute("INSERT OR IGNORE INTO merged_shards VALUES (?)", (shard,))
        return added

    def merged_shards(self) -> set[str]:
        with self._lock:
            return {name for (name,) in self._db.execute("SELECT name FROM merged_shards")}

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class ScoreReport:
    """Scores of the `n` instructions that were fully answered, on `m` examples, and what they cost."""

    #: Positions (in the input order) of the instructions scored; the others were cut by the budget.
    kept: list[int]
    #: `n x m` per-example scores in [0, 1].
    scores: np.ndarray
    #: `n x m` raw black-box answers.
    answers: list[list[str]]
    calls: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    retries: int = 0
    cost_usd: float = 0.0
    #: True when the budget refused a request: the run should stop after this batch.
    budget_exhausted: bool = False

    @property
    def means(self) -> np.ndarray:
        """`n` validation scores H(p)."""
        return self.scores.mean(axis=1)


def score_instructions(
    instructions: Sequence[str],
    examples: Sequence[Example],
    blackbox: BlackBox,
    metric: str,
    cache: ResponseCache,
    template: str = ZERO_SHOT_TEMPLATE,
    progress: bool = False,
    budget: Budget | None = None,
) -> ScoreReport:
    """Per-example scores of each instruction; only requests not in `cache` reach the black box.

    Answers are cached one by one as they arrive. When `budget` refuses a request,
    the instructions left without a full set of answers are dropped from the
    report (their answers so far stay cached for a later run with more budget).
    """
    keys = [[cache.key(blackbox.identity, template, v, ex.input) for ex in examples] for v in instructions]
    known = cache.get_many([k for row in keys for k in row])
    todo: dict[str, str] = {}
    for v, row in zip(instructions, keys):
        for ex, k in zip(examples, row):
            if k not in known and k not in todo:
                todo[k] = template.format(instruction=v, input=ex.input)
    todo_keys = list(todo)
    paid: list[Completion] = []

    def store(index: int, completion: Completion) -> None:
        cache.put_many([(todo_keys[index], completion.text, completion.prompt_tokens, completion.completion_tokens)])
        known[todo_keys[index]] = completion.text
        paid.append(completion)

    if todo:
        blackbox.complete(list(todo.values()), progress=progress, on_result=store, budget=budget)
    kept = [i for i, row in enumerate(keys) if all(k in known for k in row)]
    answers = [[known[k] for k in keys[i]] for i in kept]
    scores = np.array(
        [[score_answer(metric, a, ex.answers) for a, ex in zip(row, examples)] for row in answers],
        dtype=np.float64,
    ).reshape(len(kept), len(examples))
    prompt_tokens = sum(c.prompt_tokens for c in paid)
    completion_tokens = sum(c.completion_tokens for c in paid)
    price = budget.price if budget is not None else None
    return ScoreReport(
        kept=kept,
        scores=scores,
        answers=answers,
        calls=len(paid),
        cache_hits=sum(len(row) for row in keys) - len(todo),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        retries=sum(c.attempts - 1 for c in paid),
        cost_usd=price.cost(prompt_tokens, completion_tokens) if price else 0.0,
        budget_exhausted=budget is not None and budget.exhausted,
    )
