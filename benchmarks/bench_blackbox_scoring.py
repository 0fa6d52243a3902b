"""Concurrent scoring against an OpenAI-protocol server with simulated latency.

25 instructions x 20 validation examples (500 requests) against the loopback
server in `tests/fake_openai.py`, each request taking `--latency` seconds
server-side, as a remote API would. Prints sequential (concurrency 1) against
concurrent wall time and their ratio (target >= 8x at concurrency 16), then the
number of new requests a rerun with the same response cache makes (target 0).

    .venv/bin/python benchmarks/bench_blackbox_scoring.py [--latency 0.05] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fake_openai import FakeOpenAIServer  # noqa: E402

from instructzero.blackbox.backends.openai_compatible import OpenAICompatibleBackend  # noqa: E402
from instructzero.blackbox.cache import ResponseCache  # noqa: E402
from instructzero.blackbox.caller import BlackBoxCaller  # noqa: E402
from instructzero.blackbox.scoring import score_zero_shot  # noqa: E402
from instructzero.data.task import Example  # noqa: E402


def answer(prompt: str) -> str:
    a, b = map(int, prompt.split("Input: ")[1].split("\n")[0].split())
    return str(a + b) if "add" in prompt.lower() else str(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instructions", type=int, default=25)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request, server-side")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)

    instructions = [f"Instruction {i}: {'add' if i % 2 else 'copy'} the numbers." for i in range(args.instructions)]
    examples = [Example(input=f"{i % 10} {i // 10}", answers=(str(i % 10 + i // 10),)) for i in range(args.examples)]
    n = len(instructions) * len(examples)

    with FakeOpenAIServer(answer, latency_s=args.latency) as server, tempfile.TemporaryDirectory() as tmp:

        def run(concurrency: int, cache: ResponseCache) -> tuple[float, int, float]:
            """Wall time, new requests, mean score."""
            bb = OpenAICompatibleBackend(server.base_url, server.model, api_key_env=None, max_concurrency=concurrency)
            before = len(server.requests)
            start = time.perf_counter()
            report = score_zero_shot(BlackBoxCaller(bb, cache), instructions, examples, "exact_match")
            return time.perf_counter() - start, len(server.requests) - before, float(report.means.mean())

        seq, seq_requests, seq_mean = run(1, ResponseCache())
        server.max_in_flight = 0
        con, con_requests, con_mean = run(args.concurrency, ResponseCache(Path(tmp) / "responses.sqlite"))
        peak = server.max_in_flight
        rerun, rerun_requests, rerun_mean = run(args.concurrency, ResponseCache(Path(tmp) / "responses.sqlite"))
    assert seq_mean == con_mean == rerun_mean, "scores differ between runs"

    print(
        f"{args.instructions} instructions x {args.examples} examples = {n} requests, {args.latency * 1000:.0f} ms each"
    )
    print(f"sequential (concurrency 1):   {seq:6.2f} s  {seq_requests} requests  {n / seq:7.1f} req/s")
    print(f"concurrent (concurrency {args.concurrency}):  {con:6.2f} s  {con_requests} requests  "
          f"{n / con:7.1f} req/s  peak in flight {peak}")  # fmt: skip
    print(f"speed-up:                     {seq / con:6.1f}x  (target >= 8x)")
    print(f"rerun, same cache:            {rerun:6.2f} s  {rerun_requests} new requests (target 0)")


if __name__ == "__main__":
    main()
