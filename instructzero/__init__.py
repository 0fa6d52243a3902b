"""InstructZero: instruction optimization for black-box LLMs through soft prompts and BO.

Core library; nothing here imports ZenML. Models load from local files only
(:func:`instructzero.environment.hub_offline`). The top-level names are imported
on first use, so that reading a config does not load torch.

Where things live: `config/` (the run config, one module per section), `data/`
(tasks, data checks, metrics), `search/` (projection, white-box generation,
kernel, BO, rounds, proposals), `blackbox/` (backends, the cached and budgeted
caller, scoring, accounting), `registry/` (promotion, comparison, re-check
rules), `benchmark/` (the equal-budget grid and its report), and at the top the
loop (`optimize`), the test evaluation, the result and the CLI.
"""

from instructzero.version import __version__

__all__ = ["OptimizationResult", "RunConfig", "__version__", "load_config", "optimize"]


def __getattr__(name: str):
    if name in ("RunConfig", "load_config"):
        from instructzero.config import run

        return getattr(run, name)
    if name == "OptimizationResult":
        from instructzero.result import OptimizationResult

        return OptimizationResult
    if name == "optimize":
        from instructzero.loop import optimize

        return optimize
    raise AttributeError(f"module 'instructzero' has no attribute {name!r}")
