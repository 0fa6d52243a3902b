"""Process-wide defaults for the libraries the project drives, set by entry points, never on import.

Importing `instructzero` changes nothing in the caller's environment. The
`instructzero` command (and the step entry points of a pipeline image) call
:func:`apply_defaults` first; library users get offline model loading anyway,
since every model load passes `local_files_only` (:func:`hub_offline`).
"""

from __future__ import annotations

import os
from pathlib import Path

#: Offline and quiet by default: no model hub, no analytics; tokenizers do not fork thread pools.
DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "ZENML_ANALYTICS_OPT_IN": "false",
    "GX_ANALYTICS_ENABLED": "False",
}


def apply_defaults() -> None:
    """Set each default the environment does not already set."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def cache_dir() -> Path:
    """Where converted models live: `$INSTRUCTZERO_CACHE_DIR`, else `~/.cache/instructzero`."""
    return Path(os.environ.get("INSTRUCTZERO_CACHE_DIR", Path.home() / ".cache" / "instructzero"))


def hub_offline() -> bool:
    """Models load from local files only, unless the user set `HF_HUB_OFFLINE=0`."""
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() not in ("0", "false", "no", "off")
