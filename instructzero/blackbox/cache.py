"""Black-box answers already paid for, keyed by request.

Every answer is stored before it is scored, keyed by (black-box identity,
template, instruction, input), so an identical request is never paid for twice:
not within a batch, not across rounds, and (with a file-backed cache) not across
runs or after a crash.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path


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
    def key(identity: str, template: str, instruction: str, input_: str, continuation: str | None = None) -> str:
        """sha256 of (endpoint, model, decoding settings) + template + instruction + input, and for a
        log-probability request the continuation scored (answers and log-probabilities never share a key)."""
        parts = [identity, template, instruction, input_] + ([] if continuation is None else ["logprob", continuation])
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

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
