"""Does starting every instruction with a given word help? `whitebox.instruction_start`, measured on validation.

For each task, the same Sobol soft prompts go through the configured white box and projection (a benchmark
config's `run` section) twice: with the reference's open sentence ("The instruction was to ...") and with each
given start ("The instruction was to output ..."). Every instruction is handed to the black box in the configured
form and scored on the task's first validation examples (the test split is never touched). The black box and the
answer cache come from the config; start its server first (`benchmarks/llama_server.py --port 8089`).

    .venv/bin/python benchmarks/bench_instruction_start.py [--config configs/benchmark-qwen.yaml] \\
        [--tasks antonyms larger_animal negation] [--n 8] [--starts "" output]
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
import torch  # noqa: E402

from instructzero.benchmark.config import load_benchmark_config  # noqa: E402
from instructzero.blackbox.cache import ResponseCache  # noqa: E402
from instructzero.blackbox.caller import BlackBoxCaller  # noqa: E402
from instructzero.blackbox.scoring import score_zero_shot  # noqa: E402
from instructzero.config.run import deep_merge, parse_config  # noqa: E402
from instructzero.data.load import read_task  # noqa: E402
from instructzero.search.bo import sobol_design  # noqa: E402
from instructzero.search.generator import exemplar_prompt, in_form, instructions_from_soft_prompts  # noqa: E402
from instructzero.search.projection import projection_for_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/benchmark-qwen.yaml")
    parser.add_argument("--tasks", nargs="+", default=["antonyms", "larger_animal", "negation"])
    parser.add_argument("--n", type=int, default=8, help="soft prompts per task")
    parser.add_argument("--examples", type=int, default=12, help="validation examples per instruction")
    parser.add_argument("--starts", nargs="+", default=["", "output"])
    parser.add_argument("--show", action="store_true", help="print every instruction with its score")
    args = parser.parse_args()
    bench = load_benchmark_config(args.config)
    run = deep_merge(bench.run, bench.variants.get(bench.reference, {}))
    soft_prompts = torch.as_tensor(sobol_design(args.n, 10, seed=0))
    totals: dict[str, list[float]] = {s: [] for s in args.starts}
    for name in args.tasks:
        config = parse_config(deep_merge(run, {"task": {"source": "instruction_induction", "name": name}}))
        wb = config.whitebox
        task = read_task(config.task, seed=0)
        examples = task.validation_subset(args.examples, seed=0)
        caller = BlackBoxCaller.for_config(config.blackbox, ResponseCache(config.blackbox.cache_path))
        projection = projection_for_model(wb.model, wb.gguf_file, wb.n_soft_tokens, config.projection, seed=0)
        for start in args.starts:
            text = exemplar_prompt(task.exemplars(config.task.n_exemplars, 0), wb.template, start)
            began = time.perf_counter()
            generated = instructions_from_soft_prompts(wb, projection, soft_prompts, text)
            instructions = [in_form(v, wb.instruction_form) for v in generated]
            means = score_zero_shot(caller, instructions, examples, task.metric).means
            totals[start].extend(means.tolist())
            print(f"{name:<14} start {start or '(none)':<10} mean {means.mean():.3f}  best {means.max():.2f}  "
                  f"distinct {len(set(instructions))}/{len(instructions)}  {time.perf_counter() - began:.0f} s",
                  flush=True)  # fmt: skip
            if args.show:
                for v, m in zip(instructions, means):
                    print(f"{'':<16}{m:.2f}  {v[:120]}")
    print(f"over {len(args.tasks)} tasks x {args.n} soft prompts, {args.examples} validation examples each:")
    for start, values in totals.items():
        print(f"  start {start or '(none)':<10} mean {np.mean(values):.3f}")


if __name__ == "__main__":
    main()
