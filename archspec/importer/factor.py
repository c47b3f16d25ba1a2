"""Import stage 3: lay the op nodes out as a spec, factoring repetition into blocks.

Sub-modules of the same class whose op nodes form isomorphic sub-graphs (the same local ids,
ops, argument names and wiring) become instances of one block; an argument whose value differs
between instances becomes a typed block parameter (``${out_channels}``, or ``${out_channels * 4}``
where one parameter is a multiple of another), the rest stay literals. Instances inside a
``Sequential``/``ModuleList`` from its child ``0`` on, each feeding the next, become one node
with ``repeat`` named after the container (even one instance), the block and arguments picked
by ``index`` where the copies differ, so the copies have the source's names (``layer2.0``); a
later run is split where the block or its arguments change. Containers are transparent; the outermost repeated class wins; a block's body is flat
(blocks inside blocks are not made).

Ids follow the module tree (``layer1.0.conv1`` inside a repeat, else ``layer1_0_conv1``: an id
has no dots), and :attr:`Layout.weights` maps every state_dict key of the compiled spec to the
source model's key.
"""

from __future__ import annotations

import math
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
_NO_LITERAL = object()  # a value an expression cannot write


@dataclass(frozen=True)
class Expr:
    """A ``${...}`` expression over block parameters."""

    text: str


@dataclass
class SpecNode:
    id: str
    op: str | None = None
    block: str | Expr | None = None  # an Expr: picked by index in a repeat
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
        self.used: set[str] = set()  # the blocks the nodes use

    def layout(self) -> Layout:
        self._place_instances()
        nodes = self._top_nodes()
        weights, reshapes = self._weights()
        shapes = {self.full[n.name]: n.shape for n in self.graph.nodes if n.shape is not None}
        outputs = {k: self.refs[v] for k, v in self.graph.mapped.outputs.items()}
        blocks = [b for b in self.blocks if b.name in self.used]
        return Layout(dict(self.graph.mapped.inputs), blocks, nodes, outputs, weights, shapes, reshapes)

    def _place_instances(self) -> None:
        """Instance nodes, merging chained runs of instances in a container into a repeat."""
        for run in self._runs():
            first = self.instances[run[0]]
            node_id = _unique(_container_id(run, self._names_follow(run)), self.taken)
            block, args = _by_index([self.uses[path] for path in run])
            repeat = len(run) if len(run) > 1 or self._names_follow(run) else 0
            node = SpecNode(node_id, block=block, args=args, repeat=repeat)
            node.comment = f"{', '.join(run) if len(run) <= 3 else run[0] + ' ... ' + run[-1]} ({first.cls})"
            self.used |= {self.uses[path][0].name for path in run}
            for k, path in enumerate(run):
                self.placed[path] = _Placed(node, k if repeat else None, k == len(run) - 1)
        for path, place in self.placed.items():
            region = self.instances[path]
            prefix = place.node.id if place.copy is None else f"{place.node.id}.{place.copy}"
            for n in region.nodes:
                lid = region.local[n.name]
                self.full[n.name] = f"{prefix}.{lid}"
                main = n.name == region.main
                self.refs[n.name] = (place.node.id if place.last else prefix) if main else f"{prefix}.{lid}"

    def _runs(self) -> list[list[str]]:
        """Instances in order of first node, grouped into chained runs inside one container.

        A run from a container's child ``0`` keeps its instances of different blocks together
        (one node, the block and arguments picked by ``index``), so its copies are named as the
        source's children are; any other run is split where the block or its arguments change.
        """
        order = sorted(self.instances, key=lambda p: self.graph.index[self.instances[p].nodes[0].name])
        chains: list[list[str]] = []
        for path in order:
            if chains and self._continues(chains[-1][-1], path):
                chains[-1].append(path)
            else:
                chains.append([path])
        runs: list[list[str]] = []
        for chain in chains:
            if chain[0].rpartition(".")[2] == "0" and _by_index([self.uses[p] for p in chain]) is not None:
                runs.append(chain)
                continue
            for path in chain:
                if runs and runs[-1][-1] in chain and self.uses[runs[-1][-1]] == self.uses[path]:
                    runs[-1].append(path)
                else:
                    runs.append([path])
        return runs

    def _continues(self, prev: str, path: str) -> bool:
        a, b = self.instances[prev], self.instances[path]
        parent_a, _, name_a = prev.rpartition(".")
        parent_b, _, name_b = path.rpartition(".")
        return (
            parent_a == parent_b
            and self._in_list(prev)
            and name_b.isdigit()
            and int(name_b) == int(name_a) + 1
            and set(self.uses[prev][1]) == set(self.uses[path][1])
            and len(b.inputs) == 1
            and b.inputs[0] == a.main
        )

    def _in_list(self, path: str) -> bool:
        """Whether ``path`` is a numbered child of a ``Sequential`` or ``ModuleList``."""
        parent, _, name = path.rpartition(".")
        container = self.graph.root.get_submodule(parent) if parent else self.graph.root
        return isinstance(container, (nn.Sequential, nn.ModuleList)) and name.isdigit()

    def _names_follow(self, run: list[str]) -> bool:
        """Whether ``run`` as ``repeat`` copies of its container's id has the source's names: it
        starts at child ``0`` of a top-level container (``layer2.0``; a node id has no dots)."""
        parent, _, first = run[0].rpartition(".")
        return first == "0" and bool(parent) and "." not in parent and self._in_list(run[0])

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


def _container_id(run: list[str], names_follow: bool) -> str:
    """A run's id: the container's path when the run starts at its child 0, else the first copy's."""
    parent, _, first = run[0].rpartition(".")
    if (len(run) > 1 or names_follow) and first == "0" and parent:
        return parent.replace(".", "_")
    text = run[0].replace(".", "_")
    return text if not text[:1].isdigit() else f"block_{text}"


def _by_index(uses: list[tuple[Block, dict[str, Any]]]) -> tuple[str | Expr, dict[str, Any]] | None:
    """The block and arguments of a ``repeat`` whose copies are ``uses``: a value the copies share
    as a literal, one that differs picked by ``index`` (None: a value no expression can write)."""
    block = _pick([b.name for b, _ in uses])
    args: dict[str, Any] = {}
    for key in uses[0][1]:
        args[key] = _pick([values[key] for _, values in uses])
    if block is _NO_LITERAL or any(v is _NO_LITERAL for v in args.values()):
        return None
    return block, args


def _pick(values: list[Any]) -> Any:
    """``values[index]``: the value where all are equal, else ``${A if index == 0 else B}`` (the
    first differs), else ``${[A, B, ...][index]}`` (_NO_LITERAL: a value without a literal)."""
    if all(v == values[0] and type(v) is type(values[0]) for v in values):
        return values[0]
    texts = _literals(values)
    if texts is None:
        return _NO_LITERAL
    if len(set(texts[1:])) == 1:
        return Expr(f"{texts[0]} if index == 0 else {texts[1]}")
    return Expr(f"[{', '.join(texts)}][index]")


def _literals(values: list[Any]) -> list[str] | None:
    """Each value as an expression literal (a string in single quotes: the YAML quotes the whole
    in double ones); None where one has no literal."""
    out = []
    for value in values:
        if (
            value is None
            or isinstance(value, (bool, int))
            or (isinstance(value, float) and math.isfinite(value))
        ):
            out.append(repr(value))
        elif isinstance(value, str) and re.fullmatch(r"[\w .,:+-]*", value):
            out.append(f"'{value}'")
        elif isinstance(value, list) and (items := _literals(value)) is not None:
            out.append(f"[{', '.join(items)}]")
        else:
            return None
    return out
