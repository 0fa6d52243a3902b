"""The tier runner (`make test`, `make test-fast`): the shards of the fast tier and what each process runs."""

from __future__ import annotations

import itertools
import subprocess
import sys

import run_tiers
from conftest import REPO


def test_shards_take_every_file_once_and_balance_the_measured_seconds():
    seconds = {"a.py": 100.0, "b.py": 60.0, "c.py": 50.0, "d.py": 10.0}
    files = [*seconds, "new.py"]  # not measured yet: counts as the median (55 s)
    groups = run_tiers.shards(files, 2, seconds)
    assert sorted(f for g in groups for f in g) == sorted(files)
    cost = {**seconds, "new.py": 55.0}
    slowest = max(sum(cost[f] for f in g) for g in groups)
    best = min(max(sum(cost[f] for f in one), sum(cost.values()) - sum(cost[f] for f in one))
               for k in range(len(files) + 1) for one in itertools.combinations(files, k))  # fmt: skip
    assert slowest == best  # here the greedy split is the best two-way split there is (150 s against 125 s)
    assert run_tiers.shards(["x.py"], 4, {}) == [["x.py"]]  # no empty shard is started


def test_a_shard_given_its_files_runs_exactly_their_fast_tests():
    def collected(*args: str) -> set[str]:
        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                             cwd=REPO, capture_output=True, text=True, timeout=300)  # fmt: skip
        return {line for line in out.stdout.splitlines() if "::" in line}

    fast = collected("-m", "fast")
    files = run_tiers.fast_files([])
    assert {n.split("::")[0] for n in fast} == set(files) and "tests/test_run_tiers.py" in files
    first, *_ = run_tiers.shards(files, 2, {})  # the shards partition the files (above); each selects its own
    assert collected("-m", "fast", *first) == {n for n in fast if n.split("::")[0] in first}
