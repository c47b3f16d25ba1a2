"""The training package reads bottom-up: no import cycles among its modules, the loop's helpers
never import the loop, and no module reads another's private names.

Imports are read from the source with ``ast`` (every ``import`` statement, at module level, in a
function or under ``if TYPE_CHECKING``), so a cycle hidden in a function body counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

TRAIN = Path(__file__).resolve().parent.parent / "archspec" / "training"
PACKAGE = "archspec.training"


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in sorted(TRAIN.glob("*.py"))}


def _imported(tree: ast.Module, modules: set[str]) -> set[str]:
    """The train modules ``tree`` imports, wherever the import statement stands."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["archspec", "training"] and len(parts) > 2:
                    found.add(parts[2])
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if base in (PACKAGE, "."):  # from archspec.training import runner
                found |= {a.name for a in node.names if a.name in modules}
            elif base.startswith(PACKAGE + "."):
                found.add(base.split(".")[2])
            elif node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
    return found & modules


def import_graph() -> dict[str, set[str]]:
    trees = _modules()
    return {name: _imported(tree, set(trees)) - {name} for name, tree in trees.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None (depth-first search, colours)."""
    colour = dict.fromkeys(graph, 0)  # 0 unseen, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if colour[nxt] == 0 and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return None

    for start in sorted(graph):
        if colour[start] == 0 and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_reports_a_cycle_as_a_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_reader_sees_imports_inside_functions_and_type_checking_blocks():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from archspec.training.runner import Trainer\n"
        "def f():\n    from archspec.training import session\n    import archspec.training.resume\n"
    )
    assert _imported(tree, {"runner", "session", "resume", "plots"}) == {"runner", "session", "resume"}


def test_the_train_modules_import_each_other_without_a_cycle():
    graph = import_graph()
    assert {"runner", "session", "resume", "transfer", "closed_form"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in archspec/train: " + " -> ".join(cycle or [])


def test_only_session_imports_the_runner_and_nothing_imports_session():
    """session (run directories) sits on the runner (the loop), which sits on everything else."""
    graph = import_graph()
    for name, imports in graph.items():
        if name != "session":
            assert "runner" not in imports, f"{name} imports runner"
        assert "session" not in imports, f"{name} imports session"


def test_no_train_module_imports_the_top_level_archspec_package():
    """``from archspec import data`` runs the package's public API to reach a stage; import the
    stage (``archspec.data``, ``archspec.pipeline``) itself."""
    offenders = []
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            top = (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "archspec") or (
                isinstance(node, ast.Import) and any(a.name == "archspec" for a in node.names)
            )
            if top:
                offenders.append(f"{name}.py:{node.lineno}")
    assert offenders == []


def test_no_train_module_reads_another_objects_private_names():
    """``trainer._save()`` from another module, or ``from .runner import _helper``: the owner's
    public methods are the interface. Private names of imported libraries (``torch._foreach_norm``)
    and of ``self``/``cls`` are not counted."""
    offenders = []
    for name, tree in _modules().items():
        imported_names = {
            (a.asname or a.name).split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, (ast.Import, ast.ImportFrom))
            for a in n.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id not in {"self", "cls", *imported_names}:
                    offenders.append(f"{name}.py:{node.lineno}: {owner.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PACKAGE):
                offenders += [f"{name}.py:{node.lineno}: {a.name}" for a in node.names if _private(a.name)]
    assert offenders == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")
