"""Which tasks can the black box score, and where do instructions make a difference? A screen before the benchmark.

For every task, a few instructions are scored on the first examples of the fixed
validation subset (the test split is never touched): the user's own instructions
from the benchmark config (`manual_instructions`), a deliberately useless one
("Write a poem."), and instructions from the white box (half from soft prompts,
half APE-style). Printed per task: the constant-answer score (always giving the
most frequent answer, on the same validation examples), each group's best score,
the spread between instructions and one score's binomial noise at that spread.

A task is kept when instructions separate beyond noise (best minus worst above two
standard errors of a difference), the constant answer scores low (≤ 0.2) and the
user's own instruction leaves room to improve (≤ 0.9).

    .venv/bin/python benchmarks/screen_tasks.py [--config configs/benchmark-qwen.yaml] [--serve] \
        [--instructions 4] [--examples 20] [--tasks ...]

`--serve` starts llama.cpp's server on the config's `run.blackbox.base_url` port for the screen's duration.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from instructzero.benchmark.config import load_benchmark_config  # noqa: E402
from instructzero.blackbox.cache import ResponseCache  # noqa: E402
from instructzero.blackbox.caller import BlackBoxCaller  # noqa: E402
from instructzero.blackbox.scoring import score_zero_shot  # noqa: E402
from instructzero.config.run import deep_merge, parse_config  # noqa: E402
from instructzero.data.builtin import BUILTIN_TASKS  # noqa: E402
from instructzero.data.load import instruction_induction_tasks, read_task  # noqa: E402
from instructzero.data.trivial import most_frequent_answer  # noqa: E402
from instructzero.search.bo import sobol_design, uniform_design  # noqa: E402
from instructzero.search.projection import projection_for_model  # noqa: E402
from instructzero.search.proposals import propose_instructions  # noqa: E402

USELESS = "Write a poem."
MAX_CONSTANT = 0.2
MAX_MANUAL = 0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/benchmark.yaml", help="benchmark config: run section, manual")
    parser.add_argument("--tasks", nargs="+", default=[*BUILTIN_TASKS, *instruction_induction_tasks()])
    parser.add_argument("--instructions", type=int, default=4, help="white-box ones: half soft prompts, half APE")
    parser.add_argument("--examples", type=int, default=20, help="validation examples per instruction")
    parser.add_argument("--cache", default=".cache/screen-answers.sqlite")
    parser.add_argument("--serve", action="store_true", help="start llama.cpp's server on the black box's port")
    args = parser.parse_args()
    bench = load_benchmark_config(args.config)
    half = args.instructions // 2
    with contextlib.ExitStack() as stack:
        base_url = bench.run.get("blackbox", {}).get("base_url")
        if args.serve:
            from llama_server import llama_server

            stack.enter_context(llama_server(bench.run["blackbox"]["model"], port=urlparse(base_url).port))
        print(f"black box {bench.run.get('blackbox', {})}\nwhite box {bench.run.get('whitebox', {})}")
        print(f"{'task':<26} {'metric':<11} {'n':>3} {'const':>5} {'manual':>6} {'poem':>5} {'wb max':>6} "
              f"{'spread':>6} {'2se':>5}  keep  best instruction")  # fmt: skip
        kept = []
        start = time.perf_counter()
        for name in args.tasks:
            source = "builtin" if name in BUILTIN_TASKS else "instruction_induction"
            data = deep_merge(bench.run, {"task": {"source": source, "name": name},
                                          "blackbox": {"cache_path": args.cache, "max_calls": None}})  # fmt: skip
            config = parse_config(data, origin=f"screen {name}")
            task = read_task(config.task, seed=0)
            examples = task.validation_subset(min(args.examples, len(task.validation)), seed=0)
            wb = config.whitebox
            projection = projection_for_model(wb.model, wb.gguf_file, wb.n_soft_tokens, config.projection, seed=0)
            common = {"whitebox": wb, "ape": config.ape, "projection": projection, "task": task,
                      "n_exemplars": config.task.n_exemplars, "seed": 0}  # fmt: skip
            generated = [*propose_instructions("bo", sobol_design(half, 10, seed=0), **common).instructions,
                         *propose_instructions("ape", uniform_design(half, 10, seed=0), **common).instructions
                         ] if half else []  # fmt: skip
            manual = bench.manual_instructions.get(name, [])
            instructions = [*manual, USELESS, *generated]
            caller = BlackBoxCaller.for_config(config.blackbox, ResponseCache(args.cache))
            means = score_zero_shot(caller, instructions, examples, task.metric).means
            _, constant = most_frequent_answer(task, examples)
            n = len(examples)
            best, worst = float(means.max()), float(means.min())
            p = (best + worst) / 2
            two_se = 2 * math.sqrt(2 * p * (1 - p) / n)
            manual_best = float(means[: len(manual)].max()) if manual else float("nan")
            keep = best - worst > two_se and constant <= MAX_CONSTANT and not manual_best > MAX_MANUAL
            if keep:
                kept.append(name)
            print(f"{name:<26} {task.metric:<11} {n:>3} {constant:>5.2f} {manual_best:>6.2f} "
                  f"{means[len(manual)]:>5.2f} {max(means[len(manual) + 1:], default=float('nan')):>6.2f} {best - worst:>6.2f} "
                  f"{two_se:>5.2f}  {'yes' if keep else 'no':<4}  {instructions[int(np.argmax(means))][:70]!r}",
                  flush=True)  # fmt: skip
        print(f"\n{len(kept)} of {len(args.tasks)} tasks kept ({time.perf_counter() - start:.0f} s): {' '.join(kept)}")


if __name__ == "__main__":
    main()
