"""The code's shape, checked: no import cycles, storage never reaches orchestration, a ZenML-free core."""

import ast
from pathlib import Path

from conftest import REPO

from steps.caching import FIRST_PARTY, direct_imports, import_closure

#: Orchestration: what runs the method (ZenML steps and pipelines, the in-process loop, BO rounds).
ORCHESTRATION = ("steps", "pipelines", "instructzero.loop", "instructzero.search.rounds", "instructzero.search.bo",
                 "instructzero.search.kernel", "instructzero.preflight")  # fmt: skip


def first_party_modules() -> list[str]:
    modules = []
    for package in FIRST_PARTY:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
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
        if module.startswith("materializers"):
            reached = import_closure(module)
            assert not [m for m in reached if m.startswith(ORCHESTRATION)], module


def test_the_core_library_imports_no_zenml():
    """Only the command line (`cli.py`) reaches the ZenML layer, and only through `pipelines`."""
    for path in sorted((REPO / "instructzero").rglob("*.py")):
        allowed = ("pipelines",) if path.name == "cli.py" else ()
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []  # fmt: skip
            banned = [n for n in names if n.split(".")[0] in ("zenml", "steps", "pipelines", "materializers")]
            assert not [n for n in banned if n.split(".")[0] not in allowed], f"{Path(path).relative_to(REPO)}: {names}"


def test_steps_never_import_pipelines():
    """Pipelines wire steps; a step that reached back into `pipelines` would tie its cache key and its pod to
    every pipeline."""
    for module in first_party_modules():
        if module.startswith("steps"):
            assert not [m for m in direct_imports(module) if m.startswith("pipelines")], module


def test_the_closure_follows_lazy_imports_and_submodules():
    # Backends are found at run time; the package says so, and its closure holds every backend module.
    assert "instructzero.blackbox.backends.openai_compatible" in import_closure("instructzero.blackbox.backends")
    assert "instructzero.blackbox.backends.local" in import_closure("steps.score_instructions")
    assert "instructzero.models.loading" in import_closure("instructzero.blackbox.backends.local")  # inside a function
    assert "instructzero.search.kernel" in import_closure("steps.update_gp")
    assert "instructzero.search.generator" not in import_closure("steps.update_gp")
    assert "instructzero.search.bo" not in import_closure("steps.generate_instructions")
