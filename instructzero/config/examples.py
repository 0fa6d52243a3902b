"""The example configs: the repository's `configs/` folder, shipped in the wheel as `instructzero/configs/`.

One source of truth: pyproject.toml maps that folder into the package (`instructzero.configs`), as it maps the
ZenML layer. A message that suggests a config names the command that prints it (`instructzero config show
local`), which works in a checkout and from an installed wheel alike, never a repository path.
"""

from __future__ import annotations

from pathlib import Path

from instructzero.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parents[1]
#: Installed wheel first (instructzero/configs/), then the checkout (configs/ beside instructzero/).
_PLACES = (_PACKAGE / "configs", _PACKAGE.parent / "configs")


def examples_dir() -> Path:
    """The folder of the example configs (installed or in the checkout)."""
    for folder in _PLACES:
        if (folder / "local.yaml").is_file():
            return folder
    raise ConfigError(f"the example configs are missing (looked in {', '.join(map(str, _PLACES))}): "
                      "reinstall instructzero")  # fmt: skip


def example_names() -> list[str]:
    return sorted(path.stem for path in examples_dir().glob("*.yaml"))


def example_path(name: str) -> Path:
    """The example config called `name` (`local`, `benchmark`, ...; a `.yaml` suffix is allowed)."""
    path = examples_dir() / f"{name.removesuffix('.yaml')}.yaml"
    if not path.is_file():
        raise ConfigError(f"no example config '{name}': one of {example_names()} (`instructzero config list`)")
    return path


def show_hint(name: str = "local") -> str:
    """The command that prints an example config, for messages."""
    return f"`instructzero config show {name}`"


def copy_hint(name: str = "local", to: str = "my.yaml") -> str:
    """The command that writes an example config to a file to edit, for messages."""
    return f"`instructzero config copy {name} {to}`"
