"""The package's shape, checked from its source: import layering, no cycles, module size, folder size.

Read statically (``ast``), so nothing is imported: lazy imports inside functions count like any other,
since they form the same cycle at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "durable_chaos"

# Floors, top to bottom: a package may import its own floor and any floor below, never one above.
# Top-level modules not named here (events, jsonl, atomic, scrub, extras, patching, processes, cache)
# are the ground floor: standard library only, importable by everyone.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("__main__", "cli", "pytest_plugin"),
    ("report",),
    ("explore", "python_api", "strategies", "scaffold"),
    ("run",),
    ("judge",),
    ("scenario",),
    ("infra",),
    ("faults",),
    ("providers",),
)

# Modules over the size limit, each with its one job.
ONE_JOB_OVER_LIMIT = {
    "judge/checkers.py": "the property checkers: pure functions of the evidence, one per property",
}
MODULE_LINE_LIMIT = 600
FOLDER_MODULE_LIMIT = 12
# An engine package holds one module per concern, named alike in every engine (spec, options, rules,
# private_apis, server, targets, adapter, observe, client, ...): its length is its engine's concerns.
ENGINE_PACKAGE_MODULE_LIMIT = 16


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("durable_chaos"):
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    imported.add(candidate if candidate in modules else node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names if a.name.startswith("durable_chaos"))
        graph[name] = {other for other in imported if other in modules and other != name}
    return graph


def floor_of(module: str) -> int | None:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for index, names in enumerate(FLOORS):
        if top in names:
            return index
    return None  # ground floor


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_the_packages_modules() -> None:
    assert cycles(import_graph()) == []


def test_imports_point_down_the_floors() -> None:
    upward = []
    for module, imported in sorted(import_graph().items()):
        floor = floor_of(module)
        for other in sorted(imported):
            other_floor = floor_of(other)
            if other_floor is None:
                continue
            if floor is None or other_floor < floor:
                upward.append(f"{module} -> {other}")
    assert upward == []


def test_no_module_is_over_the_limit_unless_it_has_one_job() -> None:
    over = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative not in ONE_JOB_OVER_LIMIT and len(path.read_text().splitlines()) > MODULE_LINE_LIMIT:
            over.append(relative)
    assert over == []


def test_no_folder_is_a_flat_list_of_many_modules() -> None:
    crowded = {}
    for folder in [SRC, *(p for p in SRC.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        in_engines = folder.parent == SRC / "infra" / "engines"
        limit = ENGINE_PACKAGE_MODULE_LIMIT if in_engines else FOLDER_MODULE_LIMIT
        if folder != SRC and len(modules) > limit:
            crowded[folder.relative_to(SRC).as_posix()] = len(modules)
    assert crowded == {}
