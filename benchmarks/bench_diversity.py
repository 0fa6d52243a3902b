"""Does the soft prompt steer the white box? Instruction diversity against projection scale and distribution.

For each task and setting, 25 Sobol soft prompts (seed 0) are projected and fed
with the task's exemplars to the white box; the script prints how many distinct
instructions come out, how many are degenerate (a repeated phrase, or cut at the
token limit without ending a sentence), the mean norm of a soft token against a
real token embedding, how many instructions are about code rather than the task, and the most common
instruction. No black-box call is made.

    .venv/bin/python benchmarks/bench_diversity.py [--tasks sum antonyms] [--n 25]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from instructzero.config.task import TaskConfig  # noqa: E402
from instructzero.config.whitebox import WhiteBoxConfig  # noqa: E402
from instructzero.data.load import read_task  # noqa: E402
from instructzero.models.loading import load_causal_lm  # noqa: E402
from instructzero.search.bo import sobol_design  # noqa: E402
from instructzero.search.generator import InstructionGenerator, exemplar_prompt, is_degenerate  # noqa: E402
from instructzero.search.projection import draw_projection  # noqa: E402

#: (label, distribution, multiplier of the matrix A): the reference uniform draw, smaller copies of it,
#: the embedding-scaled normal draw and larger copies of it, and no soft prompt at all.
SETTINGS = [
    ("none (p = 0)", "uniform", 0.0),
    ("uniform x1 (reference)", "uniform", 1.0),
    ("uniform x0.3", "uniform", 0.3),
    ("uniform x0.1", "uniform", 0.1),
    ("normal x1", "normal", 1.0),
    ("normal x3", "normal", 3.0),
    ("normal x10", "normal", 10.0),
]


#: An instruction about programming rather than the task: "create a function that takes a string and returns ...".
CODE_WORDS = re.compile(r"\b(function|code|program|python|script|method|class|variable)\b", re.I)


def task_for(name: str):
    source = "builtin" if name in ("sum", "larger") else "instruction_induction"
    return read_task(TaskConfig(source=source, name=name), seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["sum", "antonyms", "larger_animal", "sentiment"])
    parser.add_argument("--n", type=int, default=25)
    parser.add_argument("--template", default=None, help="whitebox.template (default: the config default)")
    parser.add_argument("--no-repeat-ngram-size", type=int, default=None)
    parser.add_argument("--model", default=None, help="whitebox.model (default: the config default, smollm2)")
    parser.add_argument("--chat-template", action="store_true", help="whitebox.use_chat_template: true")
    parser.add_argument("--show", type=int, default=0, help="print this many distinct instructions per setting")
    parser.add_argument("--settings", nargs="+", default=None, help="labels of SETTINGS to run (default: all)")
    args = parser.parse_args()
    overrides = {k: v for k, v in {"template": args.template, "no_repeat_ngram_size": args.no_repeat_ngram_size,
                                   "model": args.model, "use_chat_template": args.chat_template or None}
                 .items() if v is not None}  # fmt: skip
    wb = WhiteBoxConfig(**overrides)
    lm = load_causal_lm(wb.model, wb.gguf_file)
    settings = [s for s in SETTINGS if args.settings is None or s[0] in args.settings]
    real_norm = float(lm.model.get_input_embeddings().weight.detach().float().norm(dim=-1).mean())
    soft_prompts = torch.as_tensor(sobol_design(args.n, 10, seed=0))
    print(f"white box {wb.model}, chat template {wb.use_chat_template}, template {wb.template!r}, no_repeat_ngram_size {wb.no_repeat_ngram_size}, "
          f"max_new_tokens {wb.max_new_tokens}; mean real-token embedding norm {real_norm:.2f}")  # fmt: skip
    print(f"{'task':<14} {'setting':<24} {'soft norm':>9} {'distinct':>8} {'degenerate':>10} {'code':>4} {'s':>5}"
          "  most common")  # fmt: skip
    for name in args.tasks:
        task = task_for(name)
        text = exemplar_prompt(task.exemplars(5, seed=0), wb.template)
        for label, distribution, multiplier in settings:
            std = float(lm.model.get_input_embeddings().weight.detach().float().std())
            projection = draw_projection(10, wb.n_soft_tokens, lm.hidden_size, seed=1, distribution=distribution,
                                         embedding_std=std)  # fmt: skip
            projection = type(projection)(**{**projection.__dict__, "matrix": projection.matrix * multiplier})
            generator = InstructionGenerator(lm, projection, wb.max_new_tokens, wb.batch_size, wb.use_chat_template,
                                             wb.no_repeat_ngram_size)  # fmt: skip
            start = time.perf_counter()
            instructions = generator.generate(soft_prompts, text)
            seconds = time.perf_counter() - start
            norm = float(projection.project(soft_prompts).norm(dim=-1).mean())
            counts = collections.Counter(instructions)
            common, times = counts.most_common(1)[0]
            degenerate = sum(is_degenerate(v) for v in instructions)
            code = sum(bool(CODE_WORDS.search(v)) for v in instructions)
            print(f"{name:<14} {label:<24} {norm:>9.2f} {len(counts):>5}/{args.n:<2} {degenerate:>10} {code:>4} "
                  f"{seconds:>5.0f}  {times}x {common[:90]}", flush=True)  # fmt: skip
            if args.show:
                for v in list(counts)[: args.show]:
                    print(f"{'':<40}- {v[:140]}")


if __name__ == "__main__":
    main()
