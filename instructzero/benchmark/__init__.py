"""Does InstructZero find better instructions than its baselines at equal cost? Tasks × methods × seeds.

Every cell (task, method, seed) is one in-process run with the same white box and
black box and the same black-box budget for validation scoring
(`validation_calls`; the test split's calls come on top, as in any run). Methods:
`instructzero` (BO with the instruction-coupled kernel), `uniform` (random soft
prompts, same generator), `ape` (APE-style sampling, no soft prompts), `matern`
(BO with a plain Matérn kernel: the ablation) and `manual` (the user's own
instructions, best on validation), plus any `variants` the config defines as
run-config overrides. Each cell is billed as if it ran alone: it has its own
response cache (a repeated instruction within a run is free, as in production),
while the answers themselves are computed once for all cells
(:class:`SharedAnswers`), so methods that propose the same instructions do not
get each other's calls for free.

Results go to `output_dir`: `results.csv` (a row per cell, written as it
finishes, so an interrupted benchmark resumes where it stopped; a cell whose
config changed is run again), `curves/` (best-so-far validation score against
calls per cell), `report.md` (per-task means with intervals, win/tie/loss of
InstructZero against each method paired by task and seed, calls to reach
uniform's final score) and `best_so_far.png`. Methods are never chosen by test
scores: each run picks its instruction on validation, and the test split only
reports.
"""

from instructzero.benchmark.config import METHODS, BenchmarkConfig, load_benchmark_config
from instructzero.benchmark.grid import run_benchmark
from instructzero.benchmark.report import write_report

__all__ = ["METHODS", "BenchmarkConfig", "load_benchmark_config", "run_benchmark", "write_report"]
