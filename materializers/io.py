"""Small helpers to read and write files through a ZenML artifact store."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np
from zenml.artifact_stores import BaseArtifactStore


def write_json(store: BaseArtifactStore, path: str, data: Any) -> None:
    with store.open(path, "w") as handle:
        handle.write(json.dumps(data, indent=1))


def read_json(store: BaseArtifactStore, path: str) -> Any:
    with store.open(path, "r") as handle:
        return json.loads(handle.read())


def write_npz(store: BaseArtifactStore, path: str, **arrays: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with store.open(path, "wb") as handle:
        handle.write(buffer.getvalue())


def read_npz(store: BaseArtifactStore, path: str) -> dict[str, np.ndarray]:
    with store.open(path, "rb") as handle:
        with np.load(io.BytesIO(handle.read())) as data:
            return {k: data[k] for k in data.files}


def write_text(store: BaseArtifactStore, path: str, text: str) -> None:
    with store.open(path, "w") as handle:
        handle.write(text)


def content_hash(*parts: Any) -> str:
    """sha256 over JSON-able parts and arrays, so equal content keys equal caches downstream."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(str((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True).encode())
    return digest.hexdigest()
