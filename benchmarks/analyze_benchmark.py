"""Why does (or doesn't) InstructZero beat random soft prompts here? Diagnostics from a benchmark's histories.

Reads `<output_dir>/histories/*.npz` (written by `instructzero benchmark`) and prints, per task and method:
- distinct instructions per scored instruction, and how many BO proposals regenerated an instruction
  already scored (free, but no new information on the black box);
- the spread of validation scores across distinct instructions against the noise of one score with
  m examples (binomial standard error): how much there is to find, and how well 20 examples see it;
- how well the GP predicts a held-out instruction's score (leave-one-out Spearman correlation over the
  first 20 distinct instructions) with the instruction-coupled kernel and with a plain Matérn kernel on soft prompts.
Only validation scores are used.

    .venv/bin/python benchmarks/analyze_benchmark.py [benchmark-results]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def loo_correlation(soft_prompts: np.ndarray, scores: np.ndarray, kernel: str, limit: int = 20) -> float:
    """Spearman correlation of leave-one-out GP predictions with the true validation scores."""
    import torch

    from instructzero.search.bo import fit_gp

    n = min(len(soft_prompts), limit)
    targets = scores.mean(axis=1)
    if n < 6 or np.ptp(targets[:n]) == 0:
        return float("nan")
    predictions = []
    for i in range(n):
        keep = [j for j in range(n) if j != i]
        with torch.random.fork_rng():
            torch.manual_seed(i)
            model = fit_gp(soft_prompts[keep], targets[keep], scores[keep], kernel)
        x = torch.as_tensor((soft_prompts[i : i + 1] + 1) / 2, dtype=torch.float64)
        predictions.append(float(model.posterior(x).mean.squeeze()))
    return float(stats.spearmanr(predictions, targets[:n]).statistic)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmark-results")
    rows = defaultdict(list)
    for path in sorted((out / "histories").glob("*.npz")):
        task, method, seed = path.stem.split("__")
        data = np.load(path)
        instructions = list(data["instructions"])
        scores, rounds, soft = data["scores"], data["rounds"], data["soft_prompts"]
        means = scores.mean(axis=1)
        first = {}
        for i, v in enumerate(instructions):
            first.setdefault(v, i)
        distinct = sorted(first.values())
        later = [i for i, r in enumerate(rounds) if r > 0]
        repeats = sum(first[instructions[i]] != i for i in later)
        p = means[distinct]
        noise = float(np.mean(np.sqrt(np.clip(p * (1 - p), 0, None) / scores.shape[1])))
        row = {
            "distinct": len(distinct) / len(instructions),
            "repeat_share_after_round_0": repeats / max(len(later), 1),
            "spread": float(np.std(p)),
            "noise": noise,
            "best": float(p.max()),
        }
        if method == "instructzero":
            row["loo_coupled"] = loo_correlation(soft[distinct], scores[distinct], "coupled")
            row["loo_matern"] = loo_correlation(soft[distinct], scores[distinct], "matern")
        rows[(task, method)].append(row)
    keys = ["distinct", "repeat_share_after_round_0", "spread", "noise", "best", "loo_coupled", "loo_matern"]
    print("| task | method | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for (task, method), found in sorted(rows.items()):
        cells = []
        for key in keys:
            values = [r[key] for r in found if key in r and not np.isnan(r[key])]
            cells.append(f"{np.mean(values):.2f}" if values else "–")
        print(f"| {task} | {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
