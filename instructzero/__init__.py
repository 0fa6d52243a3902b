"""InstructZero: instruction optimization for black-box LLMs through soft prompts and BO.

Core library; nothing here imports ZenML. Model loading is offline by default:
`HF_HUB_OFFLINE=1` unless the environment already sets it. The top-level names
are imported on first use, so that reading a config does not load torch.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from instructzero.version import __version__  # noqa: E402

__all__ = ["OptimizationResult", "RunConfig", "__version__", "load_config", "optimize"]


def __getattr__(name: str):
    if name in ("RunConfig", "load_config"):
        from instructzero import config

        return getattr(config, name)
    if name == "OptimizationResult":
        from instructzero.result import OptimizationResult

        return OptimizationResult
    if name == "optimize":
        from instructzero.loop import optimize

        return optimize
    raise AttributeError(f"module 'instructzero' has no attribute {name!r}")
