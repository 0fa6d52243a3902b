"""Loading Hugging Face causal LMs from local files, for the white box and the local black box.

De-quantizing a GGUF (such as the offline default `smollm2`, see
:mod:`instructzero.models.files`) takes ~15 s, so the first load writes a
safetensors copy to the cache directory and later loads take < 1 s.
Models are memoized per process: the white box and the local black box share
one instance when they name the same model.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from instructzero.environment import hub_offline
from instructzero.errors import ModelLoadError
from instructzero.models.files import converted_location, model_source


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass(frozen=True)
class LoadedModel:
    """A causal LM with its tokenizer (left padding, a pad token set)."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    device: torch.device

    @property
    def hidden_size(self) -> int:
        return self.model.get_input_embeddings().weight.shape[-1]

    def embedding_std(self) -> float:
        """Std of the token embedding matrix, the scale soft tokens should live at."""
        return float(self.model.get_input_embeddings().weight.detach().float().std())


@functools.lru_cache(maxsize=4)
def load_causal_lm(name: str, gguf_file: str | None = None, device: str = "auto") -> LoadedModel:
    """Load a causal LM by Hub name, local path, or `smollm2`; GGUFs go through the safetensors cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor bars drown the run's own progress
    source, gguf = model_source(name, gguf_file)
    target = resolve_device(device)
    try:
        if gguf:
            source, gguf = _converted_gguf(Path(source), gguf), None
        dtype = torch.bfloat16 if target.type == "cuda" else torch.float32
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=hub_offline())
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=hub_offline())
    except OSError as exc:
        raise ModelLoadError(
            f"cannot load model '{name}' from local files ({str(exc).splitlines()[0]}). "
            "Pass a local model folder, or download it first and keep HF_HUB_OFFLINE=1."
        ) from None
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(target).eval()
    return LoadedModel(name=name, model=model, tokenizer=tokenizer, device=target)


def _converted_gguf(folder: Path, gguf_file: str) -> Path:
    """A safetensors copy of a GGUF model, made once in the cache directory."""
    target = converted_location(folder, gguf_file)
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    # The GGUF quantizer marks the de-quantized model as unserializable; its
    # weights are plain float32 tensors by now, so detach it before saving.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".converting-"))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():  # not a lost race with another process
            raise
    return target
