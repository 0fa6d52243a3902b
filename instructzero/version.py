"""The installed release of instructzero (from the package metadata, so `pyproject.toml` is its one source)."""

import importlib.metadata

try:
    __version__ = importlib.metadata.version("instructzero")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
