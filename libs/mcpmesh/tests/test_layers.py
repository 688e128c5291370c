"""The library's import contract: protocol ← server ← transport ← bus ← app ← tools on top.

Every import counts — module level, inside a function, under ``TYPE_CHECKING`` — so a
lazy import cannot hide an upward dependency or a cycle. A lazy import for import cost
(hvac, nats-py) is fine: it points at the same or a lower layer and closes no cycle.

A small AST walk rather than import-linter: it needs no dependency, sees exactly what the
source says (including ``TYPE_CHECKING`` blocks), and its failures name file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import mcpmesh

PACKAGE = Path(mcpmesh.__file__).parent

#: Lowest first. A unit is a top-level folder (or module) of the package; ``mcpmesh``
#: is the package's own ``__init__`` (it re-exports server and protocol names).
LAYERS: list[set[str]] = [
    {"config", "auth", "protocol", "obs", "guard", "secrets"},
    {"server", "mcpmesh"},
    {"transport"},
    {"bus"},
    {"app"},
    {"testing", "cli", "commands", "mesh", "embedded", "scaffold", "registry", "__main__"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path) -> str:
    parts = ["mcpmesh", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mcpmesh"


def imports_of(path: Path) -> list[tuple[str, int]]:
    """``(imported mcpmesh module, line)`` for every import statement in the file."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("mcpmesh")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("mcpmesh"):
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.append((candidate if candidate in MODULES else node.module, node.lineno))
    return [(name, line) for name, line in found if name in MODULES]


GRAPH = {module: imports_of(path) for module, path in MODULES.items()}


def test_every_unit_has_a_layer() -> None:
    assert {unit_of(m) for m in MODULES} <= set(RANK), "add the new folder to LAYERS"


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{MODULES[module].relative_to(PACKAGE)}:{line} imports {target}"
        for module, targets in GRAPH.items()
        for target, line in targets
        if RANK[unit_of(target)] > RANK[unit_of(module)]
    ]
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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


def test_no_import_cycle_between_modules() -> None:
    graph = {m: {t for t, _ in targets if t != m} for m, targets in GRAPH.items()}
    assert _cycles(graph) == []


def test_no_import_cycle_between_folders() -> None:
    graph: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        graph.setdefault(unit_of(module), set()).update(
            unit_of(t) for t, _ in targets if unit_of(t) != unit_of(module)
        )
    assert _cycles(graph) == []


def test_the_contract_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "lazy.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mcpmesh.app import create_app\n"
        "def f():\n    import mcpmesh.bus.wiring\n"
    )
    assert imports_of(source) == [("mcpmesh.app", 3), ("mcpmesh.bus.wiring", 5)]
