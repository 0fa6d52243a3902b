"""Seconds per black-box call of Qwen2.5-Coder-0.5B: in-process (transformers, fp32) against llama.cpp's
OpenAI-compatible server running the quantized GGUF directly (the production shape of a black box).

Both answer the same zero-shot prompts (an instruction, a task's validation inputs) greedily with the same
`max_tokens`, from empty response caches, and the script prints the answers' agreement and each one's score.

    make setup-qwen setup-llama-server
    .venv/bin/python benchmarks/bench_qwen_blackbox.py [--task antonyms] [--examples 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from llama_server import MODEL, llama_server  # noqa: E402

from instructzero.blackbox.backends.local import LocalBackend  # noqa: E402
from instructzero.blackbox.backends.openai_compatible import OpenAICompatibleBackend  # noqa: E402
from instructzero.blackbox.cache import ResponseCache  # noqa: E402
from instructzero.blackbox.caller import BlackBoxCaller  # noqa: E402
from instructzero.blackbox.scoring import score_zero_shot  # noqa: E402
from instructzero.config.task import TaskConfig  # noqa: E402
from instructzero.data.load import read_task  # noqa: E402
from instructzero.models.catalog import CATALOG  # noqa: E402

INSTRUCTION = {"antonyms": "Write the antonym of the word. Reply with only the answer.",
               "larger_animal": "Write the larger of the two animals. Reply with only the answer."}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="antonyms", choices=sorted(INSTRUCTION))
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    task = read_task(TaskConfig(source="instruction_induction", name=args.task), seed=0)
    examples = task.validation_subset(args.examples, seed=0)
    instruction = INSTRUCTION[args.task]

    def timed(backend, label: str):
        start = time.perf_counter()
        report = score_zero_shot(BlackBoxCaller(backend, ResponseCache()), [instruction], examples, task.metric)
        seconds = time.perf_counter() - start
        print(f"{label:<34} {seconds / len(examples):6.2f} s/call  ({seconds:.1f} s for {len(examples)} calls), "
              f"score {report.means[0]:.3f}")  # fmt: skip
        return report.answers[0]

    print(f"{CATALOG[MODEL].upstream}; task {args.task}; {len(examples)} validation examples; {args.threads} threads")
    with llama_server(MODEL, threads=args.threads) as base_url:
        served = timed(OpenAICompatibleBackend(base_url, MODEL, api_key_env=None, max_tokens=args.max_tokens,
                                               max_concurrency=1), "llama.cpp server (Q4_K_M GGUF)")  # fmt: skip
    local = LocalBackend(MODEL, max_tokens=args.max_tokens, batch_size=8, use_chat_template=True)
    local.lm  # the model load (GGUF -> safetensors once, then fp32) is not what is timed
    in_process = timed(local, "in-process transformers (fp32)")
    agree = sum(a.strip() == b.strip() for a, b in zip(served, in_process))
    print(f"identical answers: {agree} of {len(examples)}")


if __name__ == "__main__":
    main()
