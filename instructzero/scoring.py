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

from instructzero.blackbox import ZERO_SHOT_TEMPLATE, BlackBox
from instructzero.data import Example
from instructzero.metrics import score_answer


class ResponseCache:
    """Black-box answers by request key, in SQLite (a file, or memory for `path=None`)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT,"
                " prompt_tokens INTEGER, completion_tokens INTEGER)"
            )

    @staticmethod
    def key(identity: str, template: str, instruction: str, input_: str) -> str:
        return hashlib.sha256(json.dumps([identity, template, instruction, input_]).encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, text FROM responses WHERE key IN ({marks})", chunk)
                found.update(rows.fetchall())
        return found

    def put_many(self, rows: Sequence[tuple[str, str, int, int]]) -> None:
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


@dataclass
class ScoreReport:
    """Scores of `n` instructions on `m` examples, and what producing them cost."""

    #: `n x m` per-example scores in [0, 1].
    scores: np.ndarray
    #: `n x m` raw black-box answers.
    answers: list[list[str]]
    calls: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int

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
) -> ScoreReport:
    """Per-example scores of each instruction; only requests not in `cache` reach the black box."""
    keys = [[cache.key(blackbox.identity, template, v, ex.input) for ex in examples] for v in instructions]
    flat_keys = [k for row in keys for k in row]
    known = cache.get_many(flat_keys)
    todo: dict[str, str] = {}
    for v, row in zip(instructions, keys):
        for ex, k in zip(examples, row):
            if k not in known and k not in todo:
                todo[k] = template.format(instruction=v, input=ex.input)
    prompt_tokens = completion_tokens = 0
    if todo:
        completions = blackbox.complete(list(todo.values()), progress=progress)
        rows = [(k, c.text, c.prompt_tokens, c.completion_tokens) for k, c in zip(todo, completions)]
        cache.put_many(rows)
        known.update((k, c.text) for k, c in zip(todo, completions))
        prompt_tokens = sum(c.prompt_tokens for c in completions)
        completion_tokens = sum(c.completion_tokens for c in completions)
    answers = [[known[k] for k in row] for row in keys]
    scores = np.array(
        [[score_answer(metric, a, ex.answers) for a, ex in zip(row, examples)] for row in answers],
        dtype=np.float64,
    ).reshape(len(instructions), len(examples))
    return ScoreReport(
        scores=scores,
        answers=answers,
        calls=len(todo),
        cache_hits=len(flat_keys) - len(todo),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )
