"""Does the form of an instruction change the black box's score? `description` against `imperative`.

The same generated instructions, handed to the black box as the reference's completed sentence ("The instruction
was to find the opposite of a given word.") and as an imperative ("Find the opposite of a given word."), scored on
the first validation examples of the task (the test split is never touched). The black box and the answer cache
come from a benchmark config's `run` section; start its server first (`benchmarks/llama_server.py --port 8089`).

    .venv/bin/python benchmarks/bench_instruction_form.py [--config configs/benchmark-qwen.yaml] [--task antonyms]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from instructzero.benchmark.config import load_benchmark_config  # noqa: E402
from instructzero.blackbox.cache import ResponseCache  # noqa: E402
from instructzero.blackbox.caller import BlackBoxCaller  # noqa: E402
from instructzero.blackbox.scoring import score_zero_shot  # noqa: E402
from instructzero.config.run import deep_merge, parse_config  # noqa: E402
from instructzero.data.load import read_task  # noqa: E402
from instructzero.search.generator import in_form  # noqa: E402

#: Instructions Qwen2.5-Coder-0.5B wrote from embedding-scaled soft prompts for antonyms (a first grid cell).
GENERATED = [
    "The instruction was to find the opposite of a given word.",
    "The instruction was to determine the opposite of a given word.",
    "The instruction was to change the input string to the opposite of the output string.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/benchmark-qwen.yaml")
    parser.add_argument("--task", default="antonyms")
    parser.add_argument("--examples", type=int, default=15)
    parser.add_argument("--instructions", nargs="+", default=GENERATED)
    args = parser.parse_args()
    bench = load_benchmark_config(args.config)
    config = parse_config(deep_merge(bench.run, {"task": {"source": "instruction_induction", "name": args.task}}))
    task = read_task(config.task, seed=0)
    examples = task.validation_subset(args.examples, seed=0)
    caller = BlackBoxCaller.for_config(config.blackbox, ResponseCache(config.blackbox.cache_path))
    forms = {f: [in_form(v, f) for v in args.instructions] for f in ("description", "imperative")}
    means = {f: score_zero_shot(caller, vs, examples, task.metric).means for f, vs in forms.items()}
    print(f"{args.task}, {len(examples)} validation examples, black box {config.blackbox.model}")
    print(f"{'description':>11} {'imperative':>10}  instruction")
    for i, v in enumerate(forms["imperative"]):
        print(f"{means['description'][i]:>11.2f} {means['imperative'][i]:>10.2f}  {v}")
    better = int((means["imperative"] > means["description"]).sum())
    print(f"imperative higher on {better} of {len(args.instructions)}; means {means['description'].mean():.3f} "
          f"(description) against {means['imperative'].mean():.3f} (imperative)")  # fmt: skip


if __name__ == "__main__":
    main()
