"""Performance profile on this machine, side by side in one run.

1. White-box generation: batched (whitebox.batch_size) against one soft prompt at a time (instructions/s).
2. GP fit + proposal time against the number of observations (q = 25, d = 10, m = 20, one torch thread):
   coupled and Matérn kernels, joint q-batch against sequential greedy optimization, and the noise-aware GP.
3. Pipeline against in-process wall time on one small config (both from empty caches).
4. Peak memory (max RSS) of each stage, each in a fresh process.

    .venv/bin/python benchmarks/bench_profile.py [--sizes 25 50 100 200 300] [--skip-pipeline]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("ZENML_LOGGING_VERBOSITY", "WARNING")

#: A small config for the pipeline comparison: SmolLM2 on both sides, 3 rounds.
SMALL_RUN = {
    "task": {"source": "builtin", "name": "sum", "n_validation": 10, "max_test": 20},
    "bo": {"n_init": 8, "n_rounds": 2, "q": 4},
}


def generation_speed(n: int = 16) -> None:
    import torch

    from instructzero.config.task import TaskConfig
    from instructzero.config.whitebox import ProjectionConfig, WhiteBoxConfig
    from instructzero.data.load import read_task
    from instructzero.search.bo import sobol_design
    from instructzero.search.generator import InstructionGenerator, exemplar_prompt
    from instructzero.search.projection import projection_for_model

    wb = WhiteBoxConfig()
    task = read_task(TaskConfig(), seed=0)
    text = exemplar_prompt(task.exemplars(5, seed=0))
    projection = projection_for_model(wb.model, None, wb.n_soft_tokens, ProjectionConfig(), seed=0)
    soft = torch.as_tensor(sobol_design(n, 10, seed=0))
    print(f"1. white-box generation ({wb.model}, {n} soft prompts, max_new_tokens {wb.max_new_tokens}):")
    for batch_size in (1, wb.batch_size, 16):
        generator = InstructionGenerator.from_config(wb.model_copy(update={"batch_size": batch_size}), projection)
        generator.generate(soft[:1], text)  # warm up
        start = time.perf_counter()
        generator.generate(soft, text)
        seconds = time.perf_counter() - start
        print(f"   batch {batch_size:>2}: {n / seconds:5.2f} instructions/s ({seconds:.1f} s)")


def gp_timing(sizes: list[int], q: int = 25, d: int = 10, m: int = 20, only: list[str] | None = None) -> None:
    import numpy as np
    import torch

    from instructzero.search.bo import next_soft_prompts

    torch.set_num_threads(1)
    columns = {"coupled joint": {"kernel": "coupled"}, "coupled seq": {"kernel": "coupled", "sequential": True},
               "matern joint": {"kernel": "matern"}, "matern seq": {"kernel": "matern", "sequential": True},
               "coupled binomial": {"kernel": "coupled", "noise": "binomial"},
               "binomial thompson": {"kernel": "coupled", "noise": "binomial", "acquisition": "thompson"}}  # fmt: skip
    columns = {name: options for name, options in columns.items() if not only or name in only}
    print(f"2. GP fit + proposal (q={q}, d={d}, m={m}, one torch thread), seconds; `binomial`: the noise-aware GP "
          "(per-observation variance from the counts) with qLogNEI, or with Thompson sampling over 1,024 candidates:")  # fmt: skip
    print("   " + f"{'n':>5} " + " ".join(f"{name:>16}" for name in columns))
    for n in sizes:
        rng = np.random.default_rng(n)
        x = rng.uniform(-1, 1, (n, d))
        scores = (rng.random((n, m)) < rng.uniform(0.1, 0.6, (n, 1))).astype(float)
        times = []
        for options in columns.values():
            start = time.perf_counter()
            next_soft_prompts(x, scores, q=q, seed=0, **options)
            times.append(time.perf_counter() - start)
        print("   " + f"{n:>5} " + " ".join(f"{t:>16.2f}" for t in times))


def pipeline_overhead() -> None:
    from bench_pipeline_overhead import time_pipeline_against_inprocess

    from instructzero.config.run import parse_config

    with tempfile.TemporaryDirectory() as tmp:

        def config(name: str):
            return parse_config({**SMALL_RUN, "blackbox": {"cache_path": str(Path(tmp) / name)}})

        t = time_pipeline_against_inprocess(config, Path(tmp) / "zenml")
    print(f"3. pipeline against in-process ({t['instructions']} instructions, "
          f"{t['calls']} black-box calls, identical results: {t['same']}):")  # fmt: skip
    print(f"   in-process {t['inprocess']:.1f} s, pipeline {t['pipeline']:.1f} s, "
          f"overhead {(t['pipeline'] / t['inprocess'] - 1) * 100:+.1f} %")  # fmt: skip


STAGES = {
    "config + task checks": "from instructzero.config import parse_config; from instructzero.preflight import "
    "preflight; preflight(parse_config({}), probe=False)",
    "projection (no weights)": "from instructzero.config import ProjectionConfig; from instructzero.search.projection "
    "import projection_for_model; projection_for_model('smollm2', None, 5, ProjectionConfig(), 0)",
    "white box: 8 instructions": "import torch; from instructzero.config import *; from instructzero.search.projection "
    "import projection_for_model; from instructzero.search.generator import instructions_from_soft_prompts; "
    "p = projection_for_model('smollm2', None, 5, ProjectionConfig(), 0); "
    "instructions_from_soft_prompts(WhiteBoxConfig(), p, torch.rand(8, 10) * 2 - 1, 'Input: 1 2\\nOutput: 3\\n\\nThe instruction was to')",
    "black box: 16 answers": "from instructzero.blackbox.backends import make_backend; from instructzero.config import "
    "BlackBoxConfig; make_backend(BlackBoxConfig()).answer(enumerate(['Instruction: Add.\\n\\nInput: 1 2\\n\\nOutput:'] * 16), "
    "lambda i, c: None)",
    "GP fit + proposal, n=200": "import numpy as np; from instructzero.search.bo import next_soft_prompts; "
    "r = np.random.default_rng(0); next_soft_prompts(r.uniform(-1, 1, (200, 10)), "
    "(r.random((200, 20)) < 0.3).astype(float), q=25, seed=0)",
}


def peak_memory() -> None:
    print("4. peak memory (VmHWM, the peak resident set) per stage, each in a fresh process:")
    for name, code in STAGES.items():
        # Not getrusage's ru_maxrss: Linux carries the parent's peak across fork + exec into the child's.
        script = f"import re, sys; sys.path.insert(0, {str(REPO)!r}); {code}; " \
                 "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"  # fmt: skip
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
        rss = done.stdout.strip().splitlines()[-1] if done.returncode == 0 else f"failed: {done.stderr[-300:]}"
        print(f"   {name:<28} {int(rss) / 1024:8.0f} MiB" if rss.isdigit() else f"   {name:<28} {rss}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 300])
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--only-gp", action="store_true", help="just the GP timing (section 2)")
    parser.add_argument("--columns", nargs="+", default=None, help="GP timing columns to run (default: all)")
    args = parser.parse_args()
    import platform

    import torch

    from instructzero.version import __version__

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; python "
          f"{platform.python_version()}, torch {torch.__version__}, instructzero {__version__}")  # fmt: skip
    if args.only_gp:
        gp_timing(args.sizes, only=args.columns)
        return
    generation_speed()
    gp_timing(args.sizes, only=args.columns)
    if not args.skip_pipeline:
        pipeline_overhead()
    peak_memory()
    print(json.dumps({"maxrss_this_process_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
