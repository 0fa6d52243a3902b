"""Step cache keys that follow the code a step runs, derived from the import graph.

ZenML keys a step's cache on the step function's own source. Everything else it
runs lives in the core library and the materializers, so each step's policy adds
the source of every first-party module it reaches through imports: the
transitive closure of the `import` statements (anywhere in a file, including
lazy ones inside functions) over the `instructzero` package, its ZenML layer included.
Editing a module reruns exactly the steps that can reach it; the lists cannot go
stale because nobody keeps them.

A parent package's `__init__` is followed only when it is imported by name
(`import materializers`, `from instructzero import optimize`), not for every
submodule import, so that a light package entry does not tie every step to
everything. A plugin folder that finds its modules at run time instead of
importing them (the black-box backends) says so with `DISCOVERS_SUBMODULES =
True` in its `__init__`; importing it then reaches every module in the folder.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import pkgutil
from pathlib import Path

from zenml.config.cache_policy import CachePolicy

#: The package whose code can change between runs of this project (third-party code is pinned). Its ZenML layer
#: (`instructzero.steps`, `.pipelines`, `.materializers`) lives in the repository's top-level folders.
FIRST_PARTY = ("instructzero",)


def _is_first_party(module: str) -> bool:
    return module.split(".")[0] in FIRST_PARTY


@functools.cache
def _source_file(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def direct_imports(module: str) -> frozenset[str]:
    """First-party modules `module`'s file imports, by AST (module-level and lazy imports alike, not those
    for type checkers only)."""
    path = _source_file(module)
    if path is None:
        return frozenset()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), filename=str(path))
    if path.name == "__init__.py" and _discovers_submodules(tree):
        found.update(f"{module}.{sub.name}" for sub in pkgutil.iter_modules([str(path.parent)]))
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:  # `from pkg import sub` names a submodule; `from mod import f` the module
                sub = f"{base}.{alias.name}"
                found.add(sub if _is_first_party(sub) and _is_module(sub) else base)
    return frozenset(m for m in found if _is_first_party(m) and _source_file(m) is not None)


def _runtime_nodes(tree: ast.AST):
    """Every node, except those under `if TYPE_CHECKING:` (imports for type checkers only never run)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from (n for other in child.orelse for n in [other, *_runtime_nodes(other)])
            continue
        yield child
        yield from _runtime_nodes(child)


def _discovers_submodules(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DISCOVERS_SUBMODULES" for t in node.targets)
               and getattr(node.value, "value", None) is True for node in tree.body)  # fmt: skip


@functools.cache
def import_closure(module: str) -> frozenset[str]:
    """`module` and every first-party module it reaches through imports."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(direct_imports(current) - seen)
    return frozenset(seen)


def closure_digest(module: str) -> str:
    """sha256 over the source files of `module`'s import closure: the code its results depend on."""
    digest = hashlib.sha256()
    for name in sorted(import_closure(module)):
        digest.update(name.encode())
        digest.update(_source_file(name).read_bytes())
    return digest.hexdigest()


#: Cache functions are looked up by name on this module: `code_version_of__steps__load_task`.
_CACHE_FUNC_PREFIX = "code_version_of__"


def follows_imports(step_module: str) -> CachePolicy:
    """A cache policy keyed also on the source of every first-party module `step_module` reaches.

    The key part is computed when the step runs (ZenML calls the policy's `cache_func`),
    from the files then on disk, e.g. those inside a Kubernetes step image.
    """
    return CachePolicy(cache_func=f"{__name__}.{_CACHE_FUNC_PREFIX}{step_module.replace('.', '__')}")


def __getattr__(name: str):
    if name.startswith(_CACHE_FUNC_PREFIX):
        module = name[len(_CACHE_FUNC_PREFIX) :].replace("__", ".")
        return functools.partial(closure_digest, module)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
