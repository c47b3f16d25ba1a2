"""Stage 4: the spec as a DAG, checked for the mistakes a graph can have.

Graph nodes are the spec's inputs and op nodes. An edge ``u -> v`` carries the input slots of
``v`` that read ``u`` (``ports``: list of (slot, output name)).

Checks: cycles (printed with positions), wrong input counts, shared weights across different
ops, outputs that depend on no input. Nodes that reach no output are warnings. The topological
order is deterministic: ties are broken by declaration order.

The checks run on plain dicts: importing networkx costs more than validating a spec, so
:attr:`Graph.dag`, the same graph as a ``networkx.DiGraph``, is built on first use.
"""

from __future__ import annotations

import heapq
import keyword
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from archspec.errors import GraphError, SpecError, SpecErrors, SpecWarning
from archspec.lang.keys import GRAPH_MODULE_ATTRS, MODULE_ATTRS
from archspec.lang.model import Node, Spec
from archspec.ops import get_op

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Graph", "build_graph"]

Ports = list[tuple[int, str]]
Adjacency = dict[str, dict[str, Ports]]


@dataclass
class Graph:
    """A checked DAG over a spec, with its deterministic topological order.

    ``succ[u][v]`` holds the ports of the edge ``u -> v`` (successors in the order the spec
    reads them); ``pred`` is the same edges seen from their heads.
    """

    spec: Spec
    order: list[str]
    succ: Adjacency
    pred: Adjacency
    warnings: list[SpecWarning] = field(default_factory=list)

    def op_nodes(self) -> list[str]:
        return [n for n in self.order if n in self.spec.nodes]

    def successors(self, name: str) -> list[str]:
        return list(self.succ[name])

    @cached_property
    def dag(self) -> nx.DiGraph:
        """The graph as a ``networkx.DiGraph``: inputs have ``kind="input"``, op nodes
        ``kind="op"`` and their :class:`~archspec.lang.model.Node` under ``"node"``; every node
        has its declaration ``index``, every edge its ``ports``."""
        import networkx as nx

        dag = nx.DiGraph()
        for name, index in _indices(self.spec).items():
            node = self.spec.nodes.get(name)
            if node is None:
                dag.add_node(name, kind="input", index=index)
            else:
                dag.add_node(name, kind="op", node=node, index=index)
        for u, heads in self.succ.items():
            for v, ports in heads.items():
                dag.add_edge(u, v, ports=ports)
        return dag

    def part(self, name: str) -> list[str]:
        """The node ids of the spec's part ``name``; an unknown part is a located :class:`GraphError`
        (the one wording the compiler, export and render share)."""
        parts = self.spec.parts
        if name not in parts:
            from archspec.errors import did_you_mean

            hint = did_you_mean(name, parts) or (
                f"parts: {', '.join(parts)}" if parts else "declare parts: in the spec"
            )
            raise GraphError(f"unknown part {name!r}", loc=self.spec.doc.loc(("parts",)), hint=hint)
        return list(parts[name])


def build_graph(spec: Spec) -> Graph:
    """Build and check the DAG of ``spec`` (raises :class:`SpecErrors`)."""
    index = _indices(spec)
    succ: Adjacency = {name: {} for name in index}
    pred: Adjacency = {name: {} for name in index}
    for node in spec.nodes.values():
        for slot, ref in enumerate(node.inputs):
            if ref.node not in succ:
                continue  # reported by expand
            ports = succ[ref.node].setdefault(node.id, [])
            pred[node.id][ref.node] = ports
            ports.append((slot, ref.output))
    order = _topological_order(succ, pred, index)
    if len(order) < len(index):
        raise SpecErrors([_cycle_error(spec, _find_cycle(succ, index))])
    errors: list[SpecError] = []
    errors += _check_names(spec)
    errors += _check_arity(spec)
    errors += _check_shares(spec)
    errors += _check_outputs(spec, pred)
    if errors:
        raise SpecErrors(errors)
    return Graph(spec=spec, order=order, succ=succ, pred=pred, warnings=_unused(spec, pred))


def _indices(spec: Spec) -> dict[str, int]:
    """Every graph node's sort key: inputs first (negative), then op nodes by declaration."""
    index = {name: i - len(spec.inputs) for i, name in enumerate(spec.inputs)}
    index.update((node.id, node.index) for node in spec.nodes.values())
    return index


def _topological_order(succ: Adjacency, pred: Adjacency, index: Mapping[str, int]) -> list[str]:
    """Kahn's algorithm, taking the lowest ``index`` among the ready nodes (as networkx's
    ``lexicographical_topological_sort``); shorter than ``index`` when there is a cycle."""
    position = {name: i for i, name in enumerate(index)}
    waiting = {name: len(pred[name]) for name in index}
    ready = [(index[name], position[name], name) for name, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)[2]
        order.append(name)
        for head in succ[name]:
            waiting[head] -= 1
            if waiting[head] == 0:
                heapq.heappush(ready, (index[head], position[head], head))
    return order


def _find_cycle(succ: Adjacency, nodes: Iterable[str]) -> list[str]:
    """The first cycle a depth-first search meets, starting from ``nodes`` in order and
    following edges in order (the cycle networkx's ``find_cycle`` reports), as its nodes."""
    done: set[str] = set()
    for start in nodes:
        if start in done:
            continue
        path, on_path, stack = [start], {start}, [iter(succ[start])]
        while stack:
            for head in stack[-1]:
                if head in on_path:
                    return path[path.index(head) :]
                if head not in done:
                    path.append(head)
                    on_path.add(head)
                    stack.append(iter(succ[head]))
                    break
            else:
                on_path.remove(path[-1])
                done.add(path.pop())
                stack.pop()
    raise AssertionError("no cycle found in a graph without a topological order")


def _cycle_error(spec: Spec, cycle: list[str]) -> SpecError:
    steps = " -> ".join(f"{n} (line {spec.nodes[n].loc.line})" for n in [*cycle, cycle[0]])
    first = spec.nodes[cycle[0]]
    return GraphError(
        f"cycle: {steps}", loc=first.where("in"), via=first.via, hint="a network is a DAG: break the loop"
    )


def _ancestors(pred: Adjacency, name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for parent in pred[todo.pop()]:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def _check_names(spec: Spec) -> list[SpecError]:
    """Node ids become attribute paths of the compiled module (``model.enc1.c1``, weights
    ``enc1.c1.weight``): they must not shadow its methods, and must not be Python keywords,
    which no code can write as an attribute (``self.class(x)`` is a syntax error in the
    generated ``forward``, in ``--emit-python`` and in a user's own code)."""
    errors: list[SpecError] = []
    for node in spec.nodes.values():
        parts = node.id.split(".")
        for i, part in enumerate(parts):
            if keyword.iskeyword(part):
                errors.append(
                    GraphError(
                        f"node name {part!r} is a Python keyword, which cannot name an attribute of the compiled torch module",
                        loc=node.loc,
                        via=node.via,
                        hint=f"rename it, e.g. {part}_",
                    )
                )
                break
            clash = part in MODULE_ATTRS or (i == 0 and part in GRAPH_MODULE_ATTRS) or part.startswith("_")
            if clash:
                errors.append(
                    GraphError(
                        f"node name {part!r} clashes with an attribute of the compiled torch module",
                        loc=node.loc,
                        via=node.via,
                        hint=f"rename it, e.g. {part.strip('_')}_{i}"
                        if part.startswith("_")
                        else f"rename it, e.g. {part}_",
                    )
                )
                break
    return errors


def _check_arity(spec: Spec) -> list[SpecError]:
    errors: list[SpecError] = []
    for node in spec.nodes.values():
        op = get_op(node.op)
        if op is None:
            continue
        lo, hi = op.input_range()
        n = len(node.inputs)
        if n < lo or (hi is not None and n > hi):
            want = str(lo) if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            errors.append(
                GraphError(
                    f"{node.op} takes {want} input(s), got {n}",
                    loc=node.where("in"),
                    via=node.via,
                    hint="list them with in: [a, b]" if lo > 1 else None,
                )
            )
    return errors


def _check_shares(spec: Spec) -> list[SpecError]:
    """Point every sharing node at the node that owns the weights, and check they agree."""
    errors: list[SpecError] = []
    roots = {node.id: _share_root(spec, node) for node in spec.nodes.values() if node.share is not None}
    reported: set[str] = set()
    for node_id, root in roots.items():
        node = spec.nodes[node_id]
        if isinstance(root, list):
            if not reported & set(root):
                reported |= set(root)
                steps = " -> ".join([*root, root[0]])
                errors.append(
                    GraphError(
                        f"shared weights go round in a circle: {steps}",
                        loc=node.where("share"),
                        via=node.via,
                        hint="one node in the chain must own the weights (no share:)",
                    )
                )
            continue
        node.share = root
        errors += _check_share_pair(node, spec.nodes[root])
    return errors


def _share_root(spec: Spec, node: Node) -> str | list[str]:
    """The owner at the end of a ``share:`` chain, or the chain's cycle (a list of ids)."""
    chain = [node.id]
    current = node.share
    while current is not None:
        if current in chain:
            return chain[chain.index(current) :]
        chain.append(current)
        current = spec.nodes[current].share
    return chain[-1]


def _check_share_pair(node: Node, target: Node) -> list[SpecError]:
    if target.op != node.op:
        return [
            GraphError(
                f"shares weights with {target.id!r}, which is a {target.op}, not a {node.op}",
                loc=node.where("share"),
                via=node.via,
            )
        ]
    if node.args and node.args != target.args:
        by_block = "shared_instance" in node.meta
        hint = (
            "give both block instances the same parameters"
            if by_block
            else "drop the arguments from the sharing node"
        )
        return [
            GraphError(
                f"shared node takes its arguments from {target.id!r}; they differ",
                loc=node.loc,
                via=node.via,
                hint=hint,
            )
        ]
    if node.init and "shared_instance" not in node.meta:
        return [
            GraphError(
                f"a sharing node has no weights of its own to initialise; they belong to {target.id!r}",
                loc=node.where("init"),
                via=node.via,
                hint=f"move init: to {target.id!r}",
            )
        ]
    node.args = dict(target.args)
    return []


def _check_outputs(spec: Spec, pred: Adjacency) -> list[SpecError]:
    errors: list[SpecError] = []
    inputs = set(spec.inputs)
    if not spec.outputs:
        errors.append(
            GraphError(
                "the spec has no outputs", loc=spec.doc.loc(("outputs",)), hint="add outputs: {name: node}"
            )
        )
    for out in spec.outputs.values():
        if out.ref.node in inputs:
            continue
        if out.ref.node not in pred or not (_ancestors(pred, out.ref.node) & inputs):
            errors.append(
                GraphError(
                    f"output {out.name!r} does not depend on any input",
                    loc=out.loc,
                    hint="connect its nodes with in:",
                )
            )
    return errors


def _unused(spec: Spec, pred: Adjacency) -> list[SpecWarning]:
    used: set[str] = set()
    for out in spec.outputs.values():
        if out.ref.node in pred:
            used |= _ancestors(pred, out.ref.node) | {out.ref.node}
    return [
        SpecWarning(
            f"node {n!r} does not reach any output",
            loc=node.loc,
            hint="use it, list it under outputs, or remove it",
        )
        for n, node in spec.nodes.items()
        if n not in used
    ]
