"""From a checked archspec :class:`~archspec.graph.Graph` to the neutral :class:`RGraph`.

The one place where the render stage knows about specs: every box, cluster and edge of a
diagram is decided here, and the layout and the writers only read the result.

- **Boxes.** Spec inputs (family ``input``), op nodes (title: the node's name inside its drawn
  block; lines: the op with its key arguments, the output shape, the parameter count), spec
  outputs (``output``), loss terms (``loss``) and the stream fields their targets come from.
- **Clusters.** One per block instance (``enc1: double_conv``), nested as the scopes are.
  Copies made by ``repeat`` get a group around them (``layer1: basic ×2``). A part becomes a
  dashed cluster when it is made of whole top-level units (block instances and nodes);
  a part that is exactly one block instance is named in that block's label instead.
- **depth.** ``depth=N`` keeps ``N`` levels of clusters and draws each block instance below
  them as one box (its name, output shape and total parameters).
- **Skips.** An edge that jumps over more than one layer is drawn as a ``skip`` edge.

Nothing here imports torch.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from archspec.graph.dag import Graph
from archspec.lang.model import Ref
from archspec.ops import get_op

from .model import RCluster, REdge, RGraph, RNode

__all__ = ["OBJECTIVE", "fmt_count", "op_label", "shape_text", "to_rgraph"]

_REPEAT_ID = re.compile(r"^(.+)\.(\d+)$")
_PART_PREFIX = "part:"
_OUTPUT_PREFIX = "output:"
_LOSS_PREFIX = "loss:"
_TARGET_PREFIX = "target:"
OBJECTIVE = "objective:total"  #: the id of the box for the total objective
_SCHEDULE_VARS = ("step", "epoch", "total_steps")


def to_rgraph(
    graph: Graph,
    *,
    depth: int | None = None,
    part: str | None = None,
    direction: str = "TB",
    shapes: bool = True,
    losses: bool = True,
    arrangement: str = "column",
) -> RGraph:
    """The diagram of ``graph`` as boxes, clusters and edges (see the module docstring).

    ``part`` draws only that part's nodes, with what they read drawn as inputs. ``shapes=False``
    leaves out shapes and parameter counts (for graphs analysed without shapes).
    ``arrangement`` is passed on to the layout (``column``, ``u``, ``fold`` or ``auto``).
    Raises :class:`~archspec.errors.GraphError` for an unknown part and :class:`ValueError` for a
    negative depth.
    """
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be 0 or more, got {depth}")
    if part is not None:
        graph.part(part)  # an unknown part is the compiler's located GraphError
    builder = _Builder(graph, depth=depth, part=part, shapes=shapes)
    builder.add_inputs()
    builder.add_ops()
    builder.add_outputs()
    if losses:
        builder.add_losses()
    g = builder.finish(direction)
    g.arrangement = arrangement
    return g


# --- labels -----------------------------------------------------------------------------------


def fmt_count(n: int) -> str:
    """``448``, ``36.9k``, ``11.7M``, ``1.2B``: three significant digits, at most."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            value = n / div
            text = f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"
            return text.removesuffix(".0") + unit
    return str(n)


def shape_text(shape: Any) -> str:
    """A per-sample shape as ``64×56×56`` (named outputs as ``a: 8×4, b: 8×4``)."""
    if isinstance(shape, Mapping):
        return ", ".join(f"{k}: {shape_text(v)}" for k, v in shape.items())
    if shape is None:
        return ""
    dims = tuple(shape)
    return "×".join(str(d) for d in dims) if dims else "scalar"


def _kernel(value: Any, dims: int) -> str:
    if isinstance(value, list | tuple):
        return "×".join(str(v) for v in value)
    return "×".join([str(value)] * dims) if dims > 1 else f"k{value}"


def _spatial_dims(op: str) -> int:
    match = re.search(r"([123])d$", op)
    return int(match.group(1)) if match else 1


def op_label(op: str, args: Mapping[str, Any]) -> str:
    """The op with its key arguments, compactly: ``conv2d 3×3 s2 →64``, ``linear →10``."""
    opdef = get_op(op)
    keys = opdef.key_args if opdef is not None else ()
    parts, out = [op], []
    for key in keys:
        value = args.get(key)
        if value is None:
            continue
        if key in ("out_channels", "out_features", "hidden_size", "embedding_dim"):
            out.append(f"→{value}")
        elif key == "kernel_size":
            parts.append(_kernel(value, _spatial_dims(op)))
        elif key == "stride":
            if value not in (1, [1], args.get("kernel_size")):
                parts.append(f"s{_kernel(value, 1).removeprefix('k')}")
        elif key == "output_size":
            parts.append(f"→{_kernel(value, _spatial_dims(op)).removeprefix('k')}")
        elif key == "num_layers":
            if value != 1:
                parts.append(f"×{value}")
        else:
            parts.append(f"{key}={_short(value)}")
    return " ".join(parts + out)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_short(v) for v in value) + "]"
    return str(value)


# --- the builder ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """One level of nesting above an op node: a block instance or a group of repeat copies."""

    id: str
    label: str
    block: str


class _Builder:
    """Collects boxes, clusters and edges in drawing order; one method per kind of box."""

    def __init__(self, graph: Graph, *, depth: int | None, part: str | None, shapes: bool) -> None:
        self.graph = graph
        self.spec = graph.spec
        self.depth = depth
        self.part = part
        self.shapes = shapes
        members = set(self.spec.parts[part]) if part is not None else None
        self.ops = [n for n in graph.op_nodes() if members is None or n in members]
        self.visible = set(self.ops)
        self.chains = _unit_chains(graph)
        self.part_clusters = (
            {} if part is not None else _part_clusters(self.spec.parts, self.chains, self.ops)
        )
        self.part_labels = {} if part is not None else _part_labels(self.spec.parts, self.chains, self.ops)
        self.box: dict[str, str] = {}  # spec node or input -> id of the box that shows it
        self.nodes: list[RNode] = []
        self.by_id: dict[str, RNode] = {}
        self.edges: dict[tuple[str, str], REdge] = {}
        self.clusters: dict[str, RCluster] = {}
        self.members: dict[str, list[str]] = {}  # collapsed box -> the op nodes it stands for

    # -- boxes ------------------------------------------------------------------------------

    def _add(self, node: RNode) -> None:
        self.nodes.append(node)
        self.by_id[node.id] = node

    def _edge(self, src: str, dst: str, label: str = "", kind: str = "data") -> None:
        if src == dst:
            return
        old = self.edges.get((src, dst))
        if old is None:
            self.edges[(src, dst)] = REdge(src, dst, label, kind)
        elif label and label not in old.label.split(", "):
            old.label = f"{old.label}, {label}" if old.label else label

    def add_inputs(self) -> None:
        if self.part is not None:
            return  # the part's inputs are added where they are read (add_ops)
        for name, inp in self.spec.inputs.items():
            lines = [shape_text(inp.shape)] if self.shapes else []
            if inp.dtype not in ("float32", "float"):
                lines.append(inp.dtype)
            info = {"shape": f"{shape_text(inp.shape)} ({inp.dtype})", "at": _at(inp.loc)}
            self._add(RNode(id=name, title=name, op="input", family="input", lines=lines, info=info))
            self.box[name] = name

    def add_ops(self) -> None:
        for nid in self.ops:
            node = self.spec.nodes[nid]
            chain = self.chains[nid]
            cut = len(chain) if self.depth is None else min(self.depth, len(chain))
            clusters = self._cluster_path(nid, chain[:cut])
            if cut < len(chain):
                self.box[nid] = self._collapsed(chain[cut], clusters, nid)
            else:
                self.box[nid] = nid
                self._add(self._op_box(nid, clusters))
            for ref in node.inputs:
                self._read(ref, nid)

    def _read(self, ref: Ref, dst: str) -> None:
        if ref.node in self.box:
            self._edge(self.box[ref.node], self.box[dst], ref.output or "")
            return
        key = str(ref)  # only in part mode: a value the part reads from outside it
        if key not in self.by_id:
            shape = self._shape_of(ref.node, ref.output)
            self._add(RNode(id=key, title=key, op="input", family="input", lines=[shape] if shape else []))
        self._edge(key, self.box[dst])

    def _cluster_path(self, nid: str, units: Iterable[_Unit]) -> tuple[str, ...]:
        path = []
        top = self.chains[nid][0].id if self.chains[nid] else nid
        if top in self.part_clusters:
            cid = _PART_PREFIX + self.part_clusters[top]
            self.clusters.setdefault(cid, RCluster(cid, f"{self.part_clusters[top]} (part)", "part"))
            path.append(cid)
        for unit in units:
            label = unit.label
            if unit.id in self.part_labels:
                name = self.part_labels[unit.id]
                label += " (part)" if name == unit.block else f" · part {name}"
            self.clusters.setdefault(unit.id, RCluster(unit.id, label, "block"))
            path.append(unit.id)
        return tuple(path)

    def _op_box(self, nid: str, clusters: tuple[str, ...]) -> RNode:
        node = self.spec.nodes[nid]
        inner = next((c for c in reversed(clusters) if not c.startswith(_PART_PREFIX)), "")
        title = nid.removeprefix(inner + ".") if inner else nid
        label = op_label(node.op, node.args)
        lines = [label] if label != title else []  # a relu called relu says it once
        if node.share:
            lines.append(f"shares {node.share}")
        if self.shapes:
            lines += _meta_lines(node.meta)
        opdef = get_op(node.op)
        family = opdef.family if opdef is not None else "block"
        return RNode(
            id=nid, title=title, op=node.op, family=family, lines=lines, cluster=clusters, info=_op_info(node)
        )

    def _collapsed(self, unit: _Unit, clusters: tuple[str, ...], nid: str) -> str:
        if unit.id not in self.members:
            scope = self.spec.scopes.get(unit.id)
            info = {"block": unit.block, "at": _at(scope.loc) if scope is not None else ""}
            self._add(
                RNode(id=unit.id, title=unit.id, op=unit.block, family="block", cluster=clusters, info=info)
            )
            self.members[unit.id] = []
        self.members[unit.id].append(nid)
        return unit.id

    def add_outputs(self) -> None:
        for name, out in self.spec.outputs.items():
            if out.ref.node not in self.box or (self.part is not None and out.ref.node not in self.visible):
                continue
            oid = _OUTPUT_PREFIX + name
            shape = self._shape_of(out.ref.node, out.ref.output) if self.shapes else ""
            info = {"from": str(out.ref), "at": _at(self.spec.doc.loc(("outputs", name)))}
            lines = [shape] if shape else []
            self._add(RNode(id=oid, title=name, op="output", family="output", lines=lines, info=info))
            self._edge(self.box[out.ref.node], oid, out.ref.output or "")
        if self.part is not None:
            self._part_exits()

    def _part_exits(self) -> None:
        """In part mode, nodes read from outside the part end in an output box too."""
        drawn = {
            self.spec.outputs[o.removeprefix(_OUTPUT_PREFIX)].ref.node
            for o in self.by_id
            if o.startswith(_OUTPUT_PREFIX)
        }
        for nid in self.ops:
            readers = [v for v in self.graph.dag.successors(nid) if v not in self.visible]
            if not readers or nid in drawn:
                continue
            oid = _OUTPUT_PREFIX + nid
            lines = [f"to {readers[0]}" + (f" +{len(readers) - 1}" if len(readers) > 1 else "")]
            shape = self._shape_of(nid, None) if self.shapes else ""
            self._add(
                RNode(
                    id=oid, title=nid, op="output", family="output", lines=lines + ([shape] if shape else [])
                )
            )
            self._edge(self.box[nid], oid)

    def add_losses(self) -> None:
        drawn = []
        for name, term in self.spec.losses.items():
            if not isinstance(term, Mapping):
                continue
            if term.get("params") is not None and term.get("pred") is None:
                self._penalty(name, term)
            else:
                self._loss(name, term)
            if _LOSS_PREFIX + name in self.by_id:
                drawn.append((name, term))
        if drawn:
            self._objective(drawn)

    def _loss_box(self, name: str, term: Mapping[str, Any]) -> str:
        lid = _LOSS_PREFIX + name
        info = {k: _short(v) for k, v in term.items() if k != "weight"}
        if term.get("weight") is not None:
            info["weight"] = _short(term["weight"])
        info["at"] = _at(self.spec.doc.loc(("losses", name)))
        node = RNode(
            id=lid, title=name, op=str(term.get("fn")), family="loss", lines=[_loss_line(term)], info=info
        )
        self._add(node)
        return lid

    def _loss(self, name: str, term: Mapping[str, Any]) -> None:
        pred = term.get("pred")
        oid = _OUTPUT_PREFIX + str(pred)
        if pred is not None and oid not in self.by_id:
            return  # its output is not drawn (part mode)
        lid = self._loss_box(name, term)
        if pred is not None:
            self._edge(oid, lid, kind="loss")
        self._target(term, lid)

    def _target(self, term: Mapping[str, Any], lid: str) -> None:
        target = term.get("target")
        if target is None:
            return
        target = str(target)
        if target.startswith("input:") and target[6:] in self.by_id:
            self._edge(target[6:], lid, "target", kind="loss")
            return
        stream = term.get("stream")
        tid = f"{_TARGET_PREFIX}{stream}.{target}"
        if tid not in self.by_id:
            title = f"{stream}.{target}" if stream else target
            self._add(RNode(id=tid, title=title, op="target", family="input", lines=["target"]))
        self._edge(tid, lid, kind="loss")

    def _penalty(self, name: str, term: Mapping[str, Any]) -> None:
        """A penalty on parameters, fed from the last node whose weights it acts on; the edge
        is labelled with what it acts on (a part, a glob, or all parameters)."""
        patterns = term["params"] if isinstance(term["params"], list) else [term["params"]]
        hit = [n for n in self.ops if any(_param_match(self.spec.parts, n, str(p)) for p in patterns)]
        if not hit:
            return
        lid = self._loss_box(name, term)
        every = len(hit) == len(self.ops)
        label = "all params" if every else ", ".join(str(p) for p in patterns)
        self._edge(self.box[hit[-1]], lid, label, kind="loss")

    def _objective(self, terms: list[tuple[str, Mapping[str, Any]]]) -> None:
        """One box for what training minimises: the weighted sum of the loss boxes."""
        parts, full = [], []
        for name, term in terms:
            weight = term.get("weight", 1)
            factor = "" if weight == 1 else f"{_weight_text(weight)}·"
            parts.append(factor + name)
            full.append(("" if weight == 1 else f"{_short(weight)} · ") + name)
        info = {"objective": " + ".join(full), "at": _at(self.spec.doc.loc(("losses",), key=True))}
        lines = [" + ".join(parts)] if len(terms) > 1 or parts[0] != terms[0][0] else []
        self._add(RNode(id=OBJECTIVE, title="objective", op="sum", family="loss", lines=lines, info=info))
        for name, _ in terms:
            self._edge(_LOSS_PREFIX + name, OBJECTIVE, kind="loss")

    # -- finishing --------------------------------------------------------------------------

    def _shape_of(self, nid: str, output: str | None) -> str:
        if nid in self.spec.inputs:
            return shape_text(self.spec.inputs[nid].shape) if self.shapes else ""
        shape = self.spec.nodes[nid].meta.get("shape") if self.shapes else None
        if isinstance(shape, Mapping) and output is not None:
            shape = shape.get(output)
        return shape_text(shape)

    def finish(self, direction: str) -> RGraph:
        for box, members in self.members.items():
            self.by_id[box].lines = self._collapsed_lines(self.by_id[box], members)
        edges = _mark_skips([n.id for n in self.nodes], list(self.edges.values()))
        return RGraph(self.nodes, edges, dict(self.clusters), title=self._title(), direction=direction)

    def _collapsed_lines(self, node: RNode, members: list[str]) -> list[str]:
        ops = len(members)
        lines = [f"{node.op} · {ops} op{'s' if ops != 1 else ''}"]
        if not self.shapes:
            return lines
        inside = set(members)
        exits = [m for m in members if any(v not in inside for v in self.graph.dag.successors(m))]
        exits += [o.ref.node for o in self.spec.outputs.values() if o.ref.node in inside]
        last = exits[-1] if exits else members[-1]
        shape = shape_text(self.spec.nodes[last].meta.get("shape"))
        params = sum(self.spec.nodes[m].meta.get("params", 0) for m in members)
        return lines + ([shape] if shape else []) + ([f"{fmt_count(params)} params"] if params else [])

    def _title(self) -> str:
        title = self.spec.name
        if self.part is not None:
            title += f" — part {self.part}"
        if self.depth is not None:
            title += f" (depth {self.depth})"
        if self.shapes:
            total = sum(self.spec.nodes[n].meta.get("params", 0) for n in self.ops)
            if total:
                title += f" · {fmt_count(total)} params"
        return title


# --- helpers --------------------------------------------------------------------------------


def _meta_lines(meta: Mapping[str, Any]) -> list[str]:
    lines = []
    if meta.get("shape") is not None:
        lines.append(shape_text(meta["shape"]))
    if meta.get("params"):
        lines.append(f"{fmt_count(meta['params'])} params")
    return lines


def _unit_chains(graph: Graph) -> dict[str, list[_Unit]]:
    """Per op node, the units around it, outermost first: block instances, and a group for
    the copies of a repeated block instance (``layer1.0``, ``layer1.1`` -> group ``layer1``)."""
    spec = graph.spec
    groups = _repeat_groups(spec.scopes, spec.nodes)
    chains: dict[str, list[_Unit]] = {}
    for nid in graph.op_nodes():
        chain: list[_Unit] = []
        for scope in spec.nodes[nid].scopes:
            group = groups.get(scope.id)
            if group is not None:
                chain.append(group)
            chain.append(_Unit(scope.id, f"{scope.id}: {scope.block}", scope.block))
        chains[nid] = chain
    return chains


def _repeat_groups(scopes: Mapping[str, Any], nodes: Mapping[str, Any]) -> dict[str, _Unit]:
    """Scope id -> the group of repeat copies it belongs to (only for two copies or more)."""
    members: dict[str, list[str]] = {}
    for sid in scopes:
        match = _REPEAT_ID.match(sid)
        if match and match.group(1) not in scopes and match.group(1) not in nodes:
            members.setdefault(match.group(1), []).append(sid)
    out: dict[str, _Unit] = {}
    for gid, sids in members.items():
        blocks = {scopes[s].block for s in sids}
        if len(sids) < 2 or len(blocks) != 1:
            continue
        block = blocks.pop()
        unit = _Unit(gid, f"{gid}: {block} ×{len(sids)}", f"{block} ×{len(sids)}")
        for sid in sids:
            out[sid] = unit
    return out


def _top(nid: str, chains: Mapping[str, list[_Unit]]) -> str:
    return chains[nid][0].id if chains[nid] else nid


def _part_clusters(
    parts: Mapping[str, list[str]], chains: Mapping[str, list[_Unit]], ops: list[str]
) -> dict[str, str]:
    """Top-level unit id -> the part drawn around it.

    A part is drawn when it is made of whole top-level units, holds more than one of them (one
    alone is named in its block label instead) and overlaps no part drawn before it.
    """
    units: dict[str, set[str]] = {}
    for nid in ops:
        units.setdefault(_top(nid, chains), set()).add(nid)
    out: dict[str, str] = {}
    for name, members in parts.items():
        mine = {_top(n, chains) for n in members if n in chains}
        whole = all(units.get(u, set()) <= set(members) for u in mine)
        if whole and len(mine) > 1 and not (mine & set(out)) and len(mine) < len(units):
            out.update(dict.fromkeys(mine, name))
    return out


def _part_labels(
    parts: Mapping[str, list[str]], chains: Mapping[str, list[_Unit]], ops: list[str]
) -> dict[str, str]:
    """Unit id -> part name, for parts that are exactly one unit (any depth)."""
    by_unit: dict[str, set[str]] = {}
    for nid in ops:
        for unit in chains[nid]:
            by_unit.setdefault(unit.id, set()).add(nid)
    out: dict[str, str] = {}
    for name, members in parts.items():
        for uid, nodes in by_unit.items():
            if nodes == set(members) and uid not in out:
                out[uid] = name
                break
    return out


def _param_match(parts: Mapping[str, list[str]], nid: str, pattern: str) -> bool:
    """Whether a penalty's ``params`` pattern names ``nid``'s weights: by part (``encoder.*``)
    or by parameter name (``enc.fc1.weight``, ``enc.*``)."""
    head = re.split(r"[.*?\[]", pattern, maxsplit=1)[0]
    if head in parts:
        return nid in parts[head]
    return any(fnmatch.fnmatchcase(f"{nid}.{p}", pattern) for p in ("weight", "bias"))


def _loss_line(term: Mapping[str, Any]) -> str:
    text = str(term.get("fn", "?"))
    weight = term.get("weight")
    if weight is not None and weight != 1:
        text += f" ×{_weight_text(weight)}"
    if term.get("stream"):
        text += f" on {term['stream']}"
    elif term.get("params") is not None:
        params = term["params"]
        text += " on " + (", ".join(params) if isinstance(params, list) else str(params))
    return text


def _weight_text(weight: Any) -> str:
    """A number as itself; a ``${...}`` schedule as ``λ(step)`` (the variables it reads)."""
    if isinstance(weight, str) and weight.strip().startswith("${"):
        names = [v for v in _SCHEDULE_VARS if re.search(rf"\b{v}\b", weight)]
        return f"λ({', '.join(names)})"
    return _short(weight)


def _at(loc: Any) -> str:
    """``file:line`` of a location (just the file when the line is unknown)."""
    if loc is None or loc.file is None:
        return ""
    return f"{loc.file}:{loc.line}" if loc.line is not None else str(loc.file)


def _op_info(node: Any) -> dict[str, str]:
    """The tooltip of an op box: every argument, shapes, parameters, MACs, where in the spec."""
    meta = node.meta
    info = {"op": node.op}
    if node.args:
        info["args"] = ", ".join(f"{k}={_short(v)}" for k, v in node.args.items())
    if node.inputs:
        info["in"] = ", ".join(str(r) for r in node.inputs)
    if meta.get("in_shapes"):
        info["in shapes"] = "; ".join(shape_text(s) for s in meta["in_shapes"])
    if meta.get("shape") is not None:
        info["out shape"] = shape_text(meta["shape"])
    if "params" in meta:
        info["params"] = f"{meta['params']:,}"
    if meta.get("macs"):
        info["MACs"] = f"{meta['macs']:,}"
    if node.share:
        info["shares"] = node.share
    info["at"] = _at(node.loc)
    return info


def _mark_skips(order: list[str], edges: list[REdge]) -> list[REdge]:
    """Data edges that jump over more than one layer (longest-path ranks) become ``skip``."""
    rank = dict.fromkeys(order, 0)
    preds: dict[str, list[str]] = {n: [] for n in order}
    for e in edges:
        preds[e.dst].append(e.src)
    for n in _topo(order, edges):
        if preds[n]:
            rank[n] = max(rank[p] for p in preds[n]) + 1
    for e in edges:
        if e.kind == "data" and rank[e.dst] - rank[e.src] > 1:
            e.kind = "skip"
    return edges


def _topo(order: list[str], edges: list[REdge]) -> list[str]:
    indeg = dict.fromkeys(order, 0)
    succ: dict[str, list[str]] = {n: [] for n in order}
    for e in edges:
        indeg[e.dst] += 1
        succ[e.src].append(e.dst)
    queue = [n for n in order if indeg[n] == 0]
    for n in queue:
        for v in succ[n]:
            indeg[v] -= 1
            if indeg[v] == 0:
                queue.append(v)
    return queue
