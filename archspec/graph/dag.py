"""Stage 4: the spec as a networkx DAG, checked for the mistakes a graph can have.

Graph nodes are the spec's inputs (``kind="input"``) and op nodes (``kind="op"``, with the
:class:`~archspec.lang.model.Node` under ``"node"``). An edge ``u -> v`` carries the input
slots of ``v`` that read ``u`` (``ports``: list of (slot, output name)).

Checks: cycles (printed with positions), wrong input counts, shared weights across different
ops, outputs that depend on no input. Nodes that reach no output are warnings. The topological
order is deterministic: ties are broken by declaration order.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

import networkx as nx

from archspec.errors import GraphError, SpecError, SpecErrors, SpecWarning
from archspec.lang.keys import GRAPH_MODULE_ATTRS, MODULE_ATTRS
from archspec.lang.model import Node, Spec
from archspec.ops import get_op

__all__ = ["Graph", "build_graph"]


@dataclass
class Graph:
    """A checked DAG over a spec, with its deterministic topological order."""

    spec: Spec
    dag: nx.DiGraph
    order: list[str]
    warnings: list[SpecWarning] = field(default_factory=list)

    def op_nodes(self) -> list[str]:
        return [n for n in self.order if self.dag.nodes[n]["kind"] == "op"]

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
    dag = nx.DiGraph()
    for i, name in enumerate(spec.inputs):
        dag.add_node(name, kind="input", index=-len(spec.inputs) + i)
    for node in spec.nodes.values():
        dag.add_node(node.id, kind="op", node=node, index=node.index)
    for node in spec.nodes.values():
        for slot, ref in enumerate(node.inputs):
            if ref.node not in dag:
                continue  # reported by expand
            data = dag.get_edge_data(ref.node, node.id)
            if data is None:
                dag.add_edge(ref.node, node.id, ports=[(slot, ref.output)])
            else:
                data["ports"].append((slot, ref.output))
    errors: list[SpecError] = []
    errors += _check_cycles(spec, dag)
    if errors:
        raise SpecErrors(errors)
    errors += _check_names(spec)
    errors += _check_arity(spec)
    errors += _check_shares(spec)
    errors += _check_outputs(spec, dag)
    if errors:
        raise SpecErrors(errors)
    order = list(nx.lexicographical_topological_sort(dag, key=lambda n: dag.nodes[n]["index"]))
    return Graph(spec=spec, dag=dag, order=order, warnings=_unused(spec, dag))


def _check_cycles(spec: Spec, dag: nx.DiGraph) -> list[SpecError]:
    if nx.is_directed_acyclic_graph(dag):
        return []
    cycle = [u for u, _ in nx.find_cycle(dag)]
    cycle.append(cycle[0])
    steps = " -> ".join(f"{n} (line {spec.nodes[n].loc.line})" for n in cycle)
    first = spec.nodes[cycle[0]]
    return [
        GraphError(
            f"cycle: {steps}", loc=first.where("in"), via=first.via, hint="a network is a DAG: break the loop"
        )
    ]


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


def _check_outputs(spec: Spec, dag: nx.DiGraph) -> list[SpecError]:
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
        if out.ref.node not in dag or not (nx.ancestors(dag, out.ref.node) & inputs):
            errors.append(
                GraphError(
                    f"output {out.name!r} does not depend on any input",
                    loc=out.loc,
                    hint="connect its nodes with in:",
                )
            )
    return errors


def _unused(spec: Spec, dag: nx.DiGraph) -> list[SpecWarning]:
    used: set[str] = set()
    for out in spec.outputs.values():
        if out.ref.node in dag:
            used |= nx.ancestors(dag, out.ref.node) | {out.ref.node}
    return [
        SpecWarning(
            f"node {n!r} does not reach any output",
            loc=node.loc,
            hint="use it, list it under outputs, or remove it",
        )
        for n, node in spec.nodes.items()
        if n not in used
    ]
