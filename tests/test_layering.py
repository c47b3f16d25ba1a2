"""The package reads in stage order: no import cycles, and no stage imports a later one.

Every ``archspec/**/*.py`` is parsed with ``ast`` (nothing is imported). Every import counts:
module-level, inside functions (a lazy import is still a dependency, and often a cycle in
hiding) and under ``if TYPE_CHECKING:``; relative imports are resolved.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "archspec"

# Each top-level module or subpackage of archspec, earliest first. A stage may import itself and
# any earlier row, never a later row or another stage of its own row. ``devices`` and
# ``sources`` (torch devices; "what is this path") arrive with the CLI package.
STAGES: list[tuple[str, ...]] = [
    ("errors",),
    ("fileio", "devices"),
    ("ops",),
    ("plugins",),
    ("lang",),
    ("graph",),
    ("pipeline",),
    ("diagram", "compiler"),
    ("data",),
    ("training",),
    ("sources",),
]
# The public API, the command line, and the sweep and import commands built on them sit on top
# and may import any stage.
TOP = {"archspec", "archspec.__main__", "api", "cli", "sweep", "importer"}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted names an import statement reaches for (``from a import b``: ``a.b`` when that
    is a module, else ``a``); relative imports resolved against ``module``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join([*base, *([node.module] if node.module else [])])
    else:
        prefix = node.module or ""
    return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]


def _graph() -> dict[str, set[str]]:
    """Module -> the archspec modules it imports; an archspec import of nothing is an error."""
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in MODULES.items():
        graph[module] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            for target in _targets(module, is_package, node):
                if target.split(".")[0] != "archspec":
                    continue
                assert target in MODULES, (
                    f"{path.relative_to(ROOT)}:{node.lineno} imports {target}, which does not exist"
                )
                if target != module:
                    graph[module].add(target)
    return graph


GRAPH = _graph()


def _stage(module: str) -> str:
    parts = module.split(".")
    return "archspec" if len(parts) == 1 else parts[1] if parts[1] != "__main__" else module


def _rank(stage: str) -> int:
    for rank, row in enumerate(STAGES):
        if stage in row:
            return rank
    raise AssertionError(f"archspec.{stage} has no stage: add it to STAGES in {Path(__file__).name}")


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_package_has_no_import_cycles():
    assert [sorted(c) for c in _cycles(GRAPH)] == []


def test_no_stage_imports_a_later_stage_or_a_sibling():
    wrong = []
    for module, targets in sorted(GRAPH.items()):
        stage = _stage(module)
        if stage in TOP:
            continue
        for target in sorted(targets):
            other = _stage(target)
            if other != stage and (other in TOP or _rank(other) >= _rank(stage)):
                wrong.append(f"{module} ({stage}) imports {target} ({other})")
    assert wrong == []


def test_every_stage_is_in_the_order():
    stages = {_stage(m) for m in MODULES} - TOP
    assert all(_rank(stage) >= 0 for stage in stages)


def test_the_cycle_finder_finds_cycles_and_nothing_else():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e", "d"}, "f": {"g"}, "g": {"f"}}
    assert sorted(sorted(c) for c in _cycles(graph)) == [["a", "b", "c"], ["f", "g"]]


def test_relative_imports_resolve_against_the_importing_module():
    from_package = ast.parse("from .dag import Graph\nfrom .. import errors\nfrom ..lang import model")
    targets = [t for node in _imports(from_package) for t in _targets("archspec.graph", True, node)]
    assert targets == ["archspec.graph.dag", "archspec.errors", "archspec.lang.model"]
    from_module = ast.parse("from . import shapes\nfrom .dag import Graph")
    targets = [t for node in _imports(from_module) for t in _targets("archspec.graph.summary", False, node)]
    assert targets == ["archspec.graph.shapes", "archspec.graph.dag"]
