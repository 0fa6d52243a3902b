"""Which tasks can the black box score at all? A cheap screen before the benchmark.

For every task: a few instructions from the white box (soft prompts, the default
generator) and a few APE-style samples, each scored on the first examples of the
fixed validation subset. A task "varies" when the instructions' validation
scores are not all equal: only there can any search (or baseline) win or lose.
The test split is never touched.

    .venv/bin/python benchmarks/screen_tasks.py [--instructions 8] [--examples 10] [--tasks ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from instructzero.blackbox.cache import ResponseCache  # noqa: E402
from instructzero.blackbox.caller import BlackBoxCaller  # noqa: E402
from instructzero.blackbox.scoring import score_zero_shot  # noqa: E402
from instructzero.config.run import parse_config  # noqa: E402
from instructzero.data.builtin import BUILTIN_TASKS  # noqa: E402
from instructzero.data.load import instruction_induction_tasks, read_task  # noqa: E402
from instructzero.search.bo import sobol_design, uniform_design  # noqa: E402
from instructzero.search.projection import projection_for_model  # noqa: E402
from instructzero.search.proposals import propose_instructions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=[*BUILTIN_TASKS, *instruction_induction_tasks()])
    parser.add_argument("--instructions", type=int, default=8, help="half from soft prompts, half APE-style")
    parser.add_argument("--examples", type=int, default=10, help="validation examples per instruction")
    parser.add_argument("--cache", default=".cache/responses.sqlite")
    args = parser.parse_args()
    half = args.instructions // 2
    print(f"{'task':<26} {'metric':<11} {'distinct':>8} {'min':>5} {'mean':>5} {'max':>5}  varies  best instruction")
    varies = []
    start = time.perf_counter()
    for name in args.tasks:
        source = "builtin" if name in BUILTIN_TASKS else "instruction_induction"
        config = parse_config({"task": {"source": source, "name": name}, "blackbox": {"cache_path": args.cache}})
        task = read_task(config.task, seed=0)
        wb = config.whitebox
        projection = projection_for_model(wb.model, None, wb.n_soft_tokens, config.projection, seed=0)
        common = {"whitebox": wb, "ape": config.ape, "projection": projection, "task": task, "n_exemplars": 5, "seed": 0}
        soft = propose_instructions("bo", sobol_design(half, 10, seed=0), **common).instructions
        ape = propose_instructions("ape", uniform_design(half, 10, seed=0), **common).instructions
        instructions = soft + ape
        examples = task.validation_subset(args.examples, seed=0)
        caller = BlackBoxCaller.for_config(config.blackbox, ResponseCache(args.cache))
        report = score_zero_shot(caller, instructions, examples, task.metric)
        means = report.means
        spread = bool(means.max() > means.min())
        if spread:
            varies.append(name)
        print(f"{name:<26} {task.metric:<11} {len(set(instructions)):>8} {means.min():>5.2f} {means.mean():>5.2f} "
              f"{means.max():>5.2f}  {'yes' if spread else 'no':<6}  {instructions[int(np.argmax(means))][:70]}",
              flush=True)  # fmt: skip
    print(f"\n{len(varies)} of {len(args.tasks)} tasks vary ({time.perf_counter() - start:.0f} s): {' '.join(varies)}")


if __name__ == "__main__":
    main()
