"""The code's shape, checked: no import cycles, storage never reaches orchestration, a ZenML-free core."""

import ast
from pathlib import Path

from conftest import REPO

from instructzero.steps.caching import direct_imports, import_closure

#: Where each first-party package's files live: the ZenML layer keeps its own top-level folders.
FOLDERS = {"instructzero": "instructzero", "steps": "instructzero.steps", "pipelines": "instructzero.pipelines",
           "materializers": "instructzero.materializers"}  # fmt: skip
LAYER = ("instructzero.steps", "instructzero.pipelines", "instructzero.materializers")

#: Orchestration: what runs the method (ZenML steps and pipelines, the in-process loop, BO rounds).
ORCHESTRATION = ("instructzero.steps", "instructzero.pipelines", "instructzero.loop", "instructzero.search.rounds", "instructzero.search.bo",
                 "instructzero.search.kernel", "instructzero.preflight")  # fmt: skip


def first_party_modules() -> list[str]:
    modules = []
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = path.relative_to(REPO / folder).with_suffix("").parts
            modules.append(".".join([package, *(parts[:-1] if parts[-1] == "__init__" else parts)]))
    return modules


def test_the_first_party_import_graph_has_no_cycle():
    graph = {m: direct_imports(m) for m in first_party_modules()}
    assert sum(len(v) for v in graph.values()) > 50  # the graph was really read
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            assert state.get(target) != 1, f"import cycle: {' -> '.join([*path, module, target])}"
            if target not in state:
                visit(target, [*path, module])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_materializers_reach_no_orchestration_code():
    for module in first_party_modules():
        if module.startswith("instructzero.materializers"):
            reached = import_closure(module)
            assert not [m for m in reached if m.startswith(ORCHESTRATION)], module


def test_the_core_library_imports_no_zenml():
    """Only the command line (`cli.py`) reaches the ZenML layer, and only through `pipelines`."""
    for path in sorted((REPO / "instructzero").rglob("*.py")):
        allowed = ("instructzero.pipelines",) if path.name == "cli.py" else ()
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []  # fmt: skip
            banned = [n for n in names if n.split(".")[0] in ("zenml", "steps", "pipelines", "materializers")
                      or n.startswith(LAYER)]  # fmt: skip
            assert not [n for n in banned if not n.startswith(allowed)], f"{Path(path).relative_to(REPO)}: {names}"


def test_no_module_imports_the_layer_by_a_bare_top_level_name():
    """The wheel installs `instructzero` only: `import steps` would work in the checkout and nowhere else."""
    for module in first_party_modules():
        bare = [m for m in _all_imports(module) if m.split(".")[0] in ("steps", "pipelines", "materializers")]
        assert not bare, f"{module}: {bare}"


def _all_imports(module: str) -> set[str]:
    from instructzero.steps.caching import _source_file

    tree = ast.parse(_source_file(module).read_text())
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | \
        {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level}  # fmt: skip


def test_steps_never_import_pipelines():
    """Pipelines wire steps; a step that reached back into `pipelines` would tie its cache key and its pod to
    every pipeline."""
    for module in first_party_modules():
        if module.startswith("instructzero.steps"):
            assert not [m for m in direct_imports(module) if m.startswith("instructzero.pipelines")], module


def test_the_closure_follows_lazy_imports_and_submodules():
    # Backends are found at run time; the package says so, and its closure holds every backend module.
    assert "instructzero.blackbox.backends.openai_compatible" in import_closure("instructzero.blackbox.backends")
    assert "instructzero.blackbox.backends.local" in import_closure("instructzero.steps.score_instructions")
    assert "instructzero.models.loading" in import_closure("instructzero.blackbox.backends.local")  # inside a function
    assert "instructzero.search.kernel" in import_closure("instructzero.steps.update_gp")
    assert "instructzero.search.generator" not in import_closure("instructzero.steps.update_gp")
    assert "instructzero.search.bo" not in import_closure("instructzero.steps.generate_instructions")
