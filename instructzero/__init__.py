"""InstructZero: instruction optimization for black-box LLMs through soft prompts and BO.

Core library; nothing here imports ZenML. Model loading is offline by default:
`HF_HUB_OFFLINE=1` unless the environment already sets it.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from instructzero.config import RunConfig, load_config  # noqa: E402
from instructzero.loop import OptimizationResult, optimize  # noqa: E402

__all__ = ["OptimizationResult", "RunConfig", "load_config", "optimize"]
