"""The benchmark's figure: best-so-far validation score against black-box calls."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from instructzero.benchmark.config import BenchmarkConfig


def read_curve(out: Path, task: str, method: str, seed: int) -> list[list[float]] | None:
    path = out / "curves" / f"{task}__{method}__{seed}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def plot_curves(bench: BenchmarkConfig, tasks: list[str], methods: list[str], path: Path) -> None:
    """Best-so-far validation score against black-box calls, a panel per task, a line per method (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(bench.output_dir)
    columns = min(3, max(len(tasks), 1))
    rows = math.ceil(max(len(tasks), 1) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.5 * columns, 3.4 * rows), squeeze=False)
    grid = np.linspace(0, bench.validation_calls, 101)
    for ax, task in zip(axes.flat, tasks):
        for method in methods:
            curves = [c for s in bench.seeds if (c := read_curve(out, task, method, s))]
            if not curves:
                continue
            steps = []
            for curve in curves:
                calls, best = np.array([c for c, _ in curve]), np.array([b for _, b in curve])
                idx = np.searchsorted(calls, grid, side="right") - 1
                steps.append(np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan))
            ax.plot(grid, np.nanmean(np.array(steps), axis=0), label=method, drawstyle="steps-post")
        ax.set_title(task)
        ax.set_xlabel("black-box calls (validation)")
        ax.set_ylabel("best validation score")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
