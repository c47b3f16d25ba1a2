"""Import stage 3: lay the op nodes out as a spec, factoring repetition into blocks.

Sub-modules of the same class whose op nodes form isomorphic sub-graphs (the same local ids,
ops, argument names and wiring) become instances of one block; an argument whose value differs
between instances becomes a typed block parameter (``${out_channels}``, or ``${out_channels * 4}``
where one parameter is a multiple of another), the rest stay literals. Consecutive instances
with equal parameters that feed each other inside a ``Sequential``/``ModuleList`` become one
node with ``repeat``. Containers are transparent; the outermost repeated class wins; a block's
body is flat (blocks inside blocks are not made).

Ids follow the module tree (``layer1.0.conv1`` -> ``layer1_0_conv1``, or ``layer1.0.conv1``
inside a repeat), and :attr:`Layout.weights` maps every state_dict key of the compiled spec to
the source model's key.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archspec.errors import ImportModelError
from archspec.importer.mapping import Mapped, OpNode
from archspec.ops import Shape

__all__ = ["Block", "Expr", "Layout", "SpecNode", "factor"]

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass(frozen=True)
class Expr:
    """A ``${...}`` expression over block parameters."""

    text: str


@dataclass
class SpecNode:
    id: str
    op: str | None = None
    block: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    repeat: int = 0
    comment: str = ""


@dataclass
class Block:
    name: str
    params: dict[str, str]  # name -> type
    inputs: list[str]
    nodes: list[SpecNode]
    comment: str = ""


@dataclass
class Layout:
    inputs: dict[str, Shape]
    blocks: list[Block]
    nodes: list[SpecNode]
    outputs: dict[str, str]  # output name -> reference
    weights: dict[str, str]  # our state_dict key -> the source model's key
    shapes: dict[str, Shape]  # expanded node id -> traced per-sample shape
    reshapes: dict[str, Shape] = field(default_factory=dict)  # our key -> our shape, where it differs


def factor(mapped: Mapped, *, blocks: bool = True) -> Layout:
    """The spec layout of ``mapped``: blocks (when ``blocks``), top-level nodes, outputs, weights."""
    _check_sharing(mapped)
    graph = _Graph(mapped)
    instances = _choose(graph) if blocks else []
    return _Builder(graph, instances).layout()


# -- the op graph and regions --------------------------------------------------------------------


class _Graph:
    def __init__(self, mapped: Mapped) -> None:
        self.mapped = mapped
        self.root = mapped.root
        self.nodes = mapped.nodes
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        self.users: dict[str, list[str]] = defaultdict(list)
        for n in self.nodes:
            for v in n.inputs:
                self.users[v].append(n.name)
        self.outputs = set(mapped.outputs.values())

    def region(self, path: str) -> list[OpNode]:
        return [n for n in self.nodes if path in n.scope]

    def descendants(self, names: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        stack = [u for n in names for u in self.users[n]]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(self.users[n])
        return seen


def _check_sharing(mapped: Mapped) -> None:
    """A module with weights called twice shares them: not imported yet (``share:`` could)."""
    seen: set[str] = set()
    for n in mapped.nodes:
        if n.module is None:
            continue
        if n.module in seen and n.state:
            raise ImportModelError(
                f"{n.source} is called more than once (shared weights)",
                module=n.module,
                construct="shared module",
                hint="call a separate module each time; shared weights are not imported yet",
            )
        seen.add(n.module)


@dataclass
class _Region:
    """One sub-module's op nodes seen from inside: local ids, inputs, signature, arguments."""

    path: str
    cls: str
    nodes: list[OpNode]
    local: dict[str, str]  # fx name -> local id
    inputs: list[str]  # external value names, in order of first use
    signature: tuple[Any, ...]

    @property
    def main(self) -> str:
        return self.nodes[-1].name

    def values(self) -> dict[tuple[str, str], Any]:
        return {(self.local[n.name], k): v for n in self.nodes for k, v in n.args.items()}


def _region(graph: _Graph, path: str) -> _Region | None:
    nodes = graph.region(path)
    if not nodes:
        return None
    names = {n.name for n in nodes}
    local = _local_ids(nodes, path)
    inputs: list[str] = []
    wiring = []
    for n in nodes:
        refs = []
        for v in n.inputs:
            if v in names:
                refs.append(local[v])
            else:
                if v not in inputs:
                    inputs.append(v)
                refs.append(inputs.index(v))
        wiring.append((local[n.name], n.op, tuple(refs), tuple(sorted(n.args))))
    if graph.descendants(names) & set(inputs):
        return None  # an outside value both reads this module and feeds it: not one block
    cls = type(graph.root.get_submodule(path)).__name__
    return _Region(path, cls, nodes, local, inputs, (cls, len(inputs), tuple(wiring)))


def _local_ids(nodes: list[OpNode], base: str) -> dict[str, str]:
    taken: dict[str, int] = {}
    out = {}
    for n in nodes:
        out[n.name] = _unique(_stem(n, base), taken)
    return out


def _stem(n: OpNode, base: str) -> str:
    if n.module is not None:
        rel = _relative(n.module, base)
        text = rel.replace(".", "_")
    else:
        rel = _relative(n.scope[-1], base) if n.scope else ""
        text = "_".join(p for p in (rel.replace(".", "_"), n.stem or n.op) if p)
    if text[:1].isdigit():
        text = f"{n.stem or n.op}_{text}"
    return text


def _relative(path: str, base: str) -> str:
    if not base:
        return path
    return path[len(base) + 1 :] if path.startswith(base + ".") else ("" if path == base else path)


def _unique(stem: str, taken: dict[str, int]) -> str:
    if hasattr(nn.Module, stem):
        stem += "_"
    count = taken.get(stem, 0)
    taken[stem] = count + 1
    return stem if count == 0 else f"{stem}_{count}"


# -- choosing the instances ----------------------------------------------------------------------


def _choose(graph: _Graph) -> list[_Region]:
    """Top-down: a sub-module is a block instance when another of its class has the same sub-graph."""
    leaves = {n.module for n in graph.nodes if n.module is not None}
    regions: dict[str, _Region] = {}
    for path, module in graph.root.named_modules():
        if path and path not in leaves and not isinstance(module, _CONTAINERS):
            region = _region(graph, path)
            if region is not None:
                regions[path] = region
    count: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in regions.values():
        count[r.signature] += 1
    excluded: set[str] = set()
    while True:  # a class repeated only inside chosen instances leaves a lone copy outside: unchoose it
        chosen = _walk(graph.root, regions, count, excluded)
        among: dict[tuple[Any, ...], int] = defaultdict(int)
        for r in chosen:
            among[r.signature] += 1
        lone = {r.path for r in chosen if among[r.signature] < 2}
        if not lone:
            return chosen
        excluded |= lone


def _walk(
    root: nn.Module, regions: dict[str, _Region], count: dict[tuple[Any, ...], int], excluded: set[str]
) -> list[_Region]:
    chosen: list[_Region] = []

    def walk(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            region = regions.get(path)
            if region is not None and path not in excluded and count[region.signature] >= 2:
                chosen.append(region)
            else:
                walk(child, path)

    walk(root, "")
    return chosen


# -- blocks and parameters -----------------------------------------------------------------------


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _make_blocks(instances: list[_Region]) -> tuple[list[Block], dict[str, tuple[Block, dict[str, Any]]]]:
    """One block per signature; returns the blocks and, per instance path, (block, param values)."""
    groups: dict[tuple[Any, ...], list[_Region]] = defaultdict(list)
    for r in instances:
        groups[r.signature].append(r)
    names: dict[str, int] = defaultdict(int)
    first_children: dict[str, set[str]] = {}
    taken: set[str] = set()
    blocks: list[Block] = []
    uses: dict[str, tuple[Block, dict[str, Any]]] = {}
    for members in groups.values():
        head = members[0]
        children = {lid.split("_")[0] for lid in head.local.values()}
        base = _snake(head.cls)
        name = base
        if base in first_children:
            extra = sorted(children - first_children[base])
            name = f"{base}_{'_'.join(extra)}" if extra else f"{base}_{names[base] + 1}"
        else:
            first_children[base] = children
        names[base] += 1
        while name in taken:  # another class's name may read the same
            name += "_"
        taken.add(name)
        block, values = _block(name, members)
        blocks.append(block)
        for r, v in zip(members, values, strict=True):
            uses[r.path] = (block, v)
    return blocks, uses


def _block(name: str, members: list[_Region]) -> tuple[Block, list[dict[str, Any]]]:
    head = members[0]
    vectors: dict[tuple[str, str], tuple[Any, ...]] = {}
    all_values = [m.values() for m in members]
    for key in all_values[0]:
        vectors[key] = tuple(v[key] for v in all_values)
    params: dict[str, tuple[Any, ...]] = {}  # name -> values per member
    exprs: dict[tuple[str, str], Any] = {}
    for key, vec in vectors.items():
        if all(v == vec[0] and type(v) is type(vec[0]) for v in vec):
            exprs[key] = vec[0]
            continue
        exprs[key] = _param_for(key, vec, params)
    inputs = ["x"] if len(head.inputs) == 1 else [f"x{i}" if i else "x" for i in range(len(head.inputs))]
    nodes = []
    for n in head.nodes:
        lid = head.local[n.name]
        refs = [head.local[v] if v in head.local else inputs[head.inputs.index(v)] for v in n.inputs]
        args = {k: exprs[(lid, k)] for k in n.args}
        nodes.append(SpecNode(lid, op=n.op, args=args, inputs=refs, comment=_comment(n, head.path)))
    types = {p: _type(vec) for p, vec in params.items()}
    paths = [m.path for m in members]
    shown = ", ".join(paths[:4]) + (f", ... ({len(paths)} in all)" if len(paths) > 4 else "")
    block = Block(name, types, inputs, nodes, comment=f"{head.cls}: {shown}")
    return block, [{p: vec[i] for p, vec in params.items()} for i in range(len(members))]


def _param_for(key: tuple[str, str], vec: tuple[Any, ...], params: dict[str, tuple[Any, ...]]) -> Any:
    """The parameter (or an expression over one) whose values across instances are ``vec``."""
    for name, known in params.items():
        if known == vec:
            return Expr(name)
    for name, known in params.items():
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (*known, *vec)):
            expr = _multiple(name, known, vec)
            if expr is not None:
                return expr
    lid, arg = key
    name = arg if arg not in params else f"{lid}_{arg}"
    params[name] = vec
    return Expr(name)


def _multiple(name: str, known: tuple[int, ...], vec: tuple[int, ...]) -> Expr | None:
    if all(k and v % k == 0 for k, v in zip(known, vec, strict=True)):
        ratios = {v // k for k, v in zip(known, vec, strict=True)}
        if len(ratios) == 1 and (r := ratios.pop()) > 1:
            return Expr(f"{name} * {r}")
    if all(v and k % v == 0 for k, v in zip(known, vec, strict=True)):
        ratios = {k // v for k, v in zip(known, vec, strict=True)}
        if len(ratios) == 1 and (r := ratios.pop()) > 1:
            return Expr(f"{name} // {r}")
    return None


def _type(values: tuple[Any, ...]) -> str:
    kinds = {type(v) for v in values}
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int"
    if kinds <= {int, float}:
        return "float"
    if kinds == {str}:
        return "str"
    if kinds <= {list}:
        return "list"
    return "any"


def _comment(n: OpNode, base: str = "") -> str:
    if n.module is not None:
        return f"{n.module} ({n.source})" if not base else f"{_relative(n.module, base)} ({n.source})"
    return n.source


# -- laying out the top level --------------------------------------------------------------------


@dataclass
class _Placed:
    """Where an instance lives in the spec: its node id, and the copy index inside a repeat."""

    node: SpecNode
    copy: int | None = None
    last: bool = True


class _Builder:
    def __init__(self, graph: _Graph, instances: list[_Region]) -> None:
        self.graph = graph
        self.instances = {r.path: r for r in instances}
        self.blocks, self.uses = _make_blocks(instances)
        self.owner = {n.name: r for r in instances for n in r.nodes}  # fx name -> its instance
        self.placed: dict[str, _Placed] = {}
        self.refs: dict[str, str] = {name: name for name in graph.mapped.inputs}
        self.full: dict[str, str] = {}  # fx name -> expanded node id
        self.top_ids: dict[str, str] = {}
        self.taken: dict[str, int] = {name: 1 for name in graph.mapped.inputs}

    def layout(self) -> Layout:
        self._place_instances()
        nodes = self._top_nodes()
        weights, reshapes = self._weights()
        shapes = {self.full[n.name]: n.shape for n in self.graph.nodes if n.shape is not None}
        outputs = {k: self.refs[v] for k, v in self.graph.mapped.outputs.items()}
        used = {node.block for node in nodes if node.block}
        blocks = [b for b in self.blocks if b.name in used]
        return Layout(dict(self.graph.mapped.inputs), blocks, nodes, outputs, weights, shapes, reshapes)

    def _place_instances(self) -> None:
        """Instance nodes, merging chained runs of equal instances in a container into a repeat."""
        runs = self._runs()
        for run in runs:
            first = self.instances[run[0]]
            block, values = self.uses[first.path]
            node_id = _unique(_container_id(run), self.taken)
            node = SpecNode(
                node_id, block=block.name, args=dict(values), repeat=len(run) if len(run) > 1 else 0
            )
            node.comment = f"{', '.join(run) if len(run) <= 3 else run[0] + ' ... ' + run[-1]} ({first.cls})"
            for k, path in enumerate(run):
                self.placed[path] = _Placed(node, k if len(run) > 1 else None, k == len(run) - 1)
        for path, place in self.placed.items():
            region = self.instances[path]
            prefix = place.node.id if place.copy is None else f"{place.node.id}.{place.copy}"
            for n in region.nodes:
                lid = region.local[n.name]
                self.full[n.name] = f"{prefix}.{lid}"
                main = n.name == region.main
                self.refs[n.name] = (place.node.id if place.last else prefix) if main else f"{prefix}.{lid}"

    def _runs(self) -> list[list[str]]:
        """Instances in order of first node, grouped into chained runs inside one container."""
        order = sorted(self.instances, key=lambda p: self.graph.index[self.instances[p].nodes[0].name])
        runs: list[list[str]] = []
        for path in order:
            if runs and self._continues(runs[-1][-1], path):
                runs[-1].append(path)
            else:
                runs.append([path])
        return runs

    def _continues(self, prev: str, path: str) -> bool:
        a, b = self.instances[prev], self.instances[path]
        parent_a, _, name_a = prev.rpartition(".")
        parent_b, _, name_b = path.rpartition(".")
        container = self.graph.root.get_submodule(parent_a) if parent_a else self.graph.root
        return (
            parent_a == parent_b
            and isinstance(container, (nn.Sequential, nn.ModuleList))
            and name_a.isdigit()
            and name_b.isdigit()
            and int(name_b) == int(name_a) + 1
            and self.uses[prev] == self.uses[path]
            and len(b.inputs) == 1
            and b.inputs[0] == a.main
        )

    def _top_nodes(self) -> list[SpecNode]:
        out: list[SpecNode] = []
        emitted: set[int] = set()
        for n in self.graph.nodes:
            region = self.owner.get(n.name)
            if region is None:
                node_id = _unique(_stem(n, ""), self.taken)
                self.full[n.name] = self.refs[n.name] = node_id
                out.append(
                    SpecNode(
                        node_id,
                        op=n.op,
                        args=dict(n.args),
                        inputs=[self.refs[v] for v in n.inputs],
                        comment=_comment(n),
                    )
                )
                continue
            place = self.placed[region.path]
            if id(place.node) not in emitted:
                emitted.add(id(place.node))
                place.node.inputs = [self.refs[v] for v in region.inputs]
                out.append(place.node)
        return out

    def _weights(self) -> tuple[dict[str, str], dict[str, Shape]]:
        """Our state_dict keys -> the source's (a free tensor's key is its own path), and our
        shapes where they differ from the source's (a layer scale [C] that is our [1, 1, C])."""
        weights, reshapes = {}, {}
        for n in self.graph.nodes:
            if n.module is None:
                continue
            for ours, theirs in n.state.items():
                key = f"{self.full[n.name]}.{ours}"
                weights[key] = f"{n.module}.{theirs}" if theirs else n.module
                if ours in n.reshape:
                    reshapes[key] = n.reshape[ours]
        return weights, reshapes


def _container_id(run: list[str]) -> str:
    """A run's id: the container's path when the run is all of it from 0, else the first copy's."""
    parent, _, first = run[0].rpartition(".")
    if len(run) > 1 and first == "0" and parent:
        return parent.replace(".", "_")
    text = run[0].replace(".", "_")
    return text if not text[:1].isdigit() else f"block_{text}"
