"""Is the gold answer's log-probability a better search signal than the metric? `task.objective: logprob`.

Takes every distinct instruction a finished grid scored on a task's fixed validation subset (the grid's histories
hold their per-example metric scores; the test split is never touched) and scores the same instructions on the
same examples by the black box's probability of the first gold answer, exp(mean token log-probability), with
the in-process backend (llama-cpp-python's server misaligns echoed log-probabilities; see the probe). Prints, per
task: how well the two objectives agree (Spearman rho over instructions), how repeatable each is (the correlation
between its means on the first and second half of the examples, over instructions: a noise measure), and the
metric score on one half of the examples of the instruction each objective ranks first on the other half.

    .venv/bin/python benchmarks/bench_logprob.py [--results benchmarks/results/qwen] [--seed 0]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
from scipy.stats import pearsonr, spearmanr  # noqa: E402

from instructzero.benchmark.config import cell_config, load_benchmark_config  # noqa: E402
from instructzero.blackbox.cache import ResponseCache  # noqa: E402
from instructzero.blackbox.caller import BlackBoxCaller  # noqa: E402
from instructzero.blackbox.scoring import score_zero_shot  # noqa: E402
from instructzero.config.blackbox import BlackBoxConfig  # noqa: E402
from instructzero.data.load import read_task  # noqa: E402
from instructzero.data.metrics import LOGPROB  # noqa: E402


def split_half(scores: np.ndarray) -> float:
    half = scores.shape[1] // 2
    first, second = scores[:, :half].mean(axis=1), scores[:, half:].mean(axis=1)
    return float(pearsonr(first, second)[0]) if first.std() > 0 and second.std() > 0 else float("nan")


def held_out_pick(by: np.ndarray, metric: np.ndarray) -> float:
    """The metric score, on one half of the examples, of the instruction that `by` ranks first on the other half
    (both ways round, averaged): how good a pick each objective makes, free of the winner's curse."""
    half = metric.shape[1] // 2
    halves = [(slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))]
    return float(np.mean([metric[np.argmax(by[:, a].mean(axis=1)), b].mean() for a, b in halves]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/benchmark-qwen.yaml")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bench = load_benchmark_config(args.config)
    blackbox = BlackBoxConfig(backend="local", model="qwen2.5-coder-0.5b", use_chat_template=True, batch_size=8,
                              cache_path=".cache/bench-logprob.sqlite")  # fmt: skip
    caller = BlackBoxCaller.for_config(blackbox, ResponseCache(blackbox.cache_path))
    print(f"{'task':<14} {'n':>3} {'rho(lp, metric)':>15} {'split-half metric':>17} {'split-half lp':>13} "
          f"{'held-out pick: metric':>21} {'lp':>5} {'s':>5}")  # fmt: skip
    for task_name in bench.task_names:
        rows: dict[str, np.ndarray] = {}
        for path in sorted(glob.glob(f"{bench.output_dir}/histories/{task_name}__*__{args.seed}.npz")):
            history = np.load(path, allow_pickle=True)
            for instruction, scores in zip(history["instructions"], history["scores"]):
                rows.setdefault(str(instruction), scores)
        config = cell_config(bench, task_name, bench.reference, args.seed)
        task = read_task(config.task, config.seed)
        examples = task.validation_subset(config.task.n_validation, config.seed)
        instructions = list(rows)
        metric = np.stack([rows[v] for v in instructions])
        if metric.shape[1] != len(examples):
            raise SystemExit(f"{task_name}: histories hold {metric.shape[1]} examples, the config {len(examples)}")
        start = time.perf_counter()
        lp = score_zero_shot(caller, instructions, examples, LOGPROB).scores
        rho = spearmanr(lp.mean(axis=1), metric.mean(axis=1))[0]
        top_metric, top_lp = held_out_pick(metric, metric), held_out_pick(lp, metric)
        print(f"{task_name:<14} {len(instructions):>3} {rho:>15.2f} {split_half(metric):>17.2f} {split_half(lp):>13.2f} "
              f"{top_metric:>21.2f} {top_lp:>5.2f} {time.perf_counter() - start:>5.0f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
