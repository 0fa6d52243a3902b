"""How fast does a white box write instructions from soft prompts on this machine, and in how much memory?

Each variant runs in its own process (so its peak memory is its own): it loads the model, draws the
embedding-scaled projection, and generates instructions for `--n` Sobol soft prompts on a task's exemplars
(greedy, the first sentence, `instruction_start: output`), in batches of `--batch`. Printed per variant: the
load time, seconds per instruction (after one warm-up batch), peak resident memory, and the instructions.

Variants (all keep soft-prompt input, `inputs_embeds`):
- `fp32`: transformers in float32, what `load_causal_lm` gives on a CPU (the default);
- `bf16`: the same weights in bfloat16;
- `int8`: torch's dynamic int8 quantization of every `nn.Linear` (weights int8, activations quantized on the fly).

    .venv/bin/python benchmarks/bench_whitebox_speed.py --model qwen2.5-coder-1.5b --variants fp32 bf16 int8
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_variant(model: str, variant: str, task_name: str, n: int, batch: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from instructzero.config.task import TaskConfig
    from instructzero.data.load import read_task
    from instructzero.models.loading import LoadedModel, load_causal_lm
    from instructzero.search.bo import sobol_design
    from instructzero.search.generator import InstructionGenerator, exemplar_prompt
    from instructzero.search.projection import draw_projection

    start = time.perf_counter()
    lm = load_causal_lm(model)
    if variant == "bf16":
        lm = LoadedModel(lm.name, lm.model.to(torch.bfloat16), lm.tokenizer, lm.device)
    elif variant == "int8":
        quantized = torch.ao.quantization.quantize_dynamic(lm.model, {torch.nn.Linear}, dtype=torch.qint8)
        lm = LoadedModel(lm.name, quantized, lm.tokenizer, lm.device)
    load_s = time.perf_counter() - start
    projection = draw_projection(10, 5, lm.hidden_size, seed=0, distribution="normal", embedding_std=lm.embedding_std())
    generator = InstructionGenerator(lm, projection, batch_size=batch, no_repeat_ngram_size=3)
    source = "builtin" if task_name in ("sum", "larger") else "instruction_induction"
    task = read_task(TaskConfig(source=source, name=task_name), seed=0)
    text = exemplar_prompt(task.exemplars(5, 0), start="output")
    soft = torch.as_tensor(sobol_design(n + batch, 10, 0))
    generator.generate(soft[:batch], text)  # warm-up
    start = time.perf_counter()
    instructions = generator.generate(soft[batch:], text)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"variant": variant, "load_s": round(load_s, 1), "s_per_instruction": round(seconds / n, 2),
            "peak_rss_mib": round(peak_mib), "instructions": instructions}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--variants", nargs="+", default=["fp32", "bf16", "int8"])
    parser.add_argument("--task", default="antonyms")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_variant(args.model, args.one, args.task, args.n, args.batch, args.threads)))
        return
    print(f"model {args.model}, task {args.task}, {args.n} instructions in batches of {args.batch}, "
          f"{args.threads} threads")  # fmt: skip
    print(f"{'variant':<8} {'load s':>7} {'s/instruction':>14} {'peak RSS MiB':>13}")
    for variant in args.variants:
        done = subprocess.run([sys.executable, __file__, "--one", variant, "--model", args.model, "--task", args.task,
                               "--n", str(args.n), "--batch", str(args.batch), "--threads", str(args.threads)],
                              capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            print(f"{variant:<8} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{variant:<8} {row['load_s']:>7} {row['s_per_instruction']:>14} {row['peak_rss_mib']:>13}")
        for instruction in row["instructions"][:4]:
            print(f"           {instruction}")


if __name__ == "__main__":
    main()
