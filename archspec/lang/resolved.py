"""``archspec expand``: the resolved spec — blocks, ``repeat``, ``if``, ``params``, ``scale``,
shape expressions and ``--set`` overrides applied — as a spec that compiles to the same model.

Node ids must stay exactly as they were, since they are the module paths and ``state_dict``
keys (``layer1.0.conv1.weight``). A flat spec cannot say ``layer1.0.conv1`` (a node id has no
dots), so the hierarchy is kept: every block instance becomes an instance of a block with no
parameters whose body is that instance's resolved nodes (identical bodies share one block),
and every ``repeat`` stays a ``repeat`` whose copies use literal values. Every ``in:`` is
written out, so no default input or ``if:`` is left to decide anything. Only where the copies
of one ``repeat`` differ (``${[256, 128, 64][index]}``) is a value — or, for a block, the body —
picked per copy from a literal list by ``${[...][index]}``: the one expression that may remain,
because only ``repeat`` can give ids ``hidden.0``, ``hidden.1``.

Torch-free: it reads the checked :class:`~archspec.graph.dag.Graph` of the shape stage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from archspec.errors import ExpandError
from archspec.lang.model import Node, Spec

__all__ = ["resolved", "resolved_text"]

# top-level keys the resolved spec writes itself, or that expansion has applied
_APPLIED = (
    "archspec",
    "name",
    "inputs",
    "init",
    "seed",
    "blocks",
    "nodes",
    "outputs",
    "params",
    "scale",
    "include",
)


@dataclass
class _Tree:
    """One block instance (or the spec itself): its op nodes and instances, in YAML order."""

    id: str
    block: str
    items: list[Any] = field(default_factory=list)  # Node | _Tree

    @property
    def prefix(self) -> str:
        return f"{self.id}." if self.id else ""


def _tree(spec: Spec) -> _Tree:
    root = _Tree("", "")
    trees: dict[str, _Tree] = {}
    for node in spec.nodes.values():
        parent = root
        for scope in node.scopes:
            tree = trees.get(scope.id)
            if tree is None:
                tree = trees[scope.id] = _Tree(scope.id, scope.block)
                parent.items.append(tree)
            parent = tree
        parent.items.append(node)
    return root


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _literal(value: Any) -> str:
    """``value`` as an expression literal (numbers, strings, booleans, lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return json.dumps(value)


class _Writer:
    def __init__(self) -> None:
        self.blocks: dict[str, dict[str, Any]] = {}
        self._by_body: dict[str, str] = {}

    def block_name(self, base: str, body: dict[str, Any]) -> str:
        key = json.dumps(body, sort_keys=True)
        name = self._by_body.get(key)
        if name is None:
            name, n = base, 1
            while name in self.blocks:
                n += 1
                name = f"{base}_{n}"
            self.blocks[name] = body
            self._by_body[key] = name
        return name

    def body(self, tree: _Tree, external: list[str], shared: bool = False) -> dict[str, Any]:
        """The ``nodes:`` of ``tree``; references outside it are appended to ``external``
        (``shared``: the instance shares as a whole, so its nodes name no ``share:``)."""
        prefix = tree.prefix

        def local(ref: str) -> str:
            if ref.startswith(prefix):
                return ref[len(prefix) :]
            if ref not in external:
                external.append(ref)
            return f"in_{external.index(ref)}"

        _check_copies(tree)
        entries: list[tuple[str, dict[str, Any]]] = []  # (local id, entry), repeat copies included
        for item in tree.items:
            if isinstance(item, Node):
                entries.append((item.id[len(prefix) :], self._op(item, local, shared)))
            else:
                entries.append((item.id[len(prefix) :], self._instance(item, local, shared)))
        return _group_repeats(entries, self)

    def _op(self, node: Node, local: Any, shared: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {"op": node.op, **_plain(node.args)}
        ins = [local(str(ref)) for ref in node.inputs]
        entry["in"] = ins[0] if len(ins) == 1 else ins  # in: [] for a learned tensor or buffer
        if node.init is not None:
            entry["init"] = _plain(node.init)
        owner = node.share if node.share is not None else node.meta.get("tie")  # tying across op kinds
        if owner is not None and not shared:
            entry["share"] = local(owner)
        if node.doc is not None:
            entry["doc"] = node.doc
        return entry

    def _instance(self, tree: _Tree, local: Any, shared: bool) -> dict[str, Any]:
        external: list[str] = []
        other = None if shared else _shared_with(tree)
        nodes = self.body(tree, external, shared or other is not None)
        # a repeat copy's chained input must be the block's first; _group_repeats reorders
        inst = {"__tree": tree, "__nodes": nodes, "__external": external, "__local": local}
        if other is not None:
            inst["__share"] = other
        return inst


def _check_copies(tree: _Tree) -> None:
    """Refuse a repeat with a copy that created nothing (``if:`` left out its every node): a
    repeat cannot skip a copy, so no spec gives the same ids."""
    copies: dict[str, list[int]] = {}
    first: dict[str, Node] = {}
    for item in tree.items:
        local = item.id[len(tree.prefix) :]
        if "." in local:
            base, index = local.split(".", 1)
            copies.setdefault(base, []).append(int(index))
            first.setdefault(base, item if isinstance(item, Node) else _ops(item)[0])
    for base, indices in copies.items():
        if indices != list(range(len(indices))):
            missing = sorted(set(range(max(indices) + 1)) - set(indices))
            node = first[base]
            loc = next((s.loc for s in node.scopes if s.id.startswith(tree.prefix + base + ".")), node.loc)
            raise ExpandError(
                f"cannot write the resolved spec: copy {', '.join(map(str, missing))} of repeat "
                f"{tree.prefix + base!r} creates no nodes, and a repeat cannot skip a copy",
                loc=loc,
                via=tuple(v for v in node.via if v != loc),
            )


def _ops(tree: _Tree) -> list[Node]:
    return [n for item in tree.items for n in ([item] if isinstance(item, Node) else _ops(item))]


def _shared_with(tree: _Tree) -> str | None:
    """The instance ``tree`` shares with as a whole (``share:`` on an instance), if any."""
    nodes = _ops(tree)
    first = nodes[0].share if nodes else None
    suffix = nodes[0].id[len(tree.prefix) - 1 :] if nodes else ""
    if first is None or not first.endswith(suffix):
        return None
    other = first[: -len(suffix)]
    ok = all(n.share == other + n.id[len(tree.prefix) - 1 :] for n in nodes)
    return other if ok and not other.startswith(tree.prefix) else None


def _instance_entry(
    writer: _Writer, inst: dict[str, Any], order: list[int], outputs: str | None
) -> dict[str, Any]:
    """A block instance entry: its body as a parameterless block, its inputs in ``order``."""
    tree: _Tree = inst["__tree"]
    external: list[str] = inst["__external"]
    rename = {f"in_{old}": f"in_{new}" for new, old in enumerate(order)}
    nodes = _rename_inputs(inst["__nodes"], rename)
    body: dict[str, Any] = {}
    if external:
        body["inputs"] = [f"in_{i}" for i in range(len(order))]
    body["nodes"] = nodes
    if outputs is not None:
        body["outputs"] = outputs
    name = writer.block_name(tree.block, body)
    entry: dict[str, Any] = {"block": name}
    ins = [inst["__local"](external[i]) for i in order]
    if ins:
        entry["in"] = ins[0] if len(ins) == 1 else ins
    if "__share" in inst:
        entry["share"] = inst["__local"](inst["__share"])
    return entry


def _rename_inputs(nodes: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    def ref(value: Any) -> Any:
        if isinstance(value, list):
            return [rename.get(v, v) for v in value]
        return rename.get(value, value)

    out = {}
    for name, entry in nodes.items():
        entry = dict(entry)
        for key in ("in", "share"):
            if key in entry:
                entry[key] = ref(entry[key])
        out[name] = entry
    return out


def _group_repeats(entries: list[tuple[str, dict[str, Any]]], writer: _Writer) -> dict[str, Any]:
    """Collect the copies ``x.0`` … ``x.n-1`` of a repeat back into one ``x: {..., repeat: n}``."""
    nodes: dict[str, Any] = {}
    i = 0
    while i < len(entries):
        name, entry = entries[i]
        if "." not in name:
            nodes[name] = (
                _instance_entry(writer, entry, list(range(len(entry["__external"]))), None)
                if "__tree" in entry
                else entry
            )
            i += 1
            continue
        base = name.split(".", 1)[0]
        copies = []
        while i < len(entries) and entries[i][0].split(".", 1)[0] == base and "." in entries[i][0]:
            copies.append(entries[i][1])
            i += 1
        nodes[base] = _repeat(base, copies, writer)
    return nodes


def _repeat(base: str, copies: list[dict[str, Any]], writer: _Writer) -> dict[str, Any]:
    first = copies[0]
    if "__tree" not in first:  # repeated op node: every copy but the first reads the previous
        entry = {k: v for k, v in first.items() if k != "in"}
        for key in entry:
            values = [c.get(key) for c in copies]
            if any(v != values[0] for v in values):
                entry[key] = "${" + _literal(values) + "[index]}"
        if "in" in first:
            entry["in"] = first["in"]
        entry["repeat"] = len(copies)
        return entry
    # repeated block: find the input that copy 1 chains to copy 0, and make it the first
    order = list(range(len(first["__external"])))
    outputs = None
    if len(copies) > 1:
        prev = first["__tree"].id + "."
        chained = [j for j, ref in enumerate(copies[1]["__external"]) if ref.startswith(prev)]
        if chained:
            j = chained[0]
            order = [j, *(k for k in order if k != j)]
            outputs = copies[1]["__external"][j][len(prev) :]
    last_ids = list(first["__nodes"])
    if outputs is not None and last_ids and outputs == last_ids[-1]:
        outputs = None
    bodies = [_instance_entry(writer, c, order, outputs) for c in copies]
    entry = dict(bodies[0])
    names = [b["block"] for b in bodies]
    if any(n != names[0] for n in names):
        entry["block"] = "${" + _literal(names) + "[index]}"
    entry["repeat"] = len(copies)
    return entry


def resolved(spec: Spec) -> dict[str, Any]:
    """The resolved spec of an analysed ``spec`` (shape expressions already evaluated), as data."""
    writer = _Writer()
    nodes = writer.body(_tree(spec), [])
    data = spec.doc.data
    out: dict[str, Any] = {"archspec": data.get("archspec", 1), "name": spec.name}
    out["inputs"] = {n: {"shape": list(i.shape), "dtype": i.dtype} for n, i in spec.inputs.items()}
    if spec.init is not None:
        out["init"] = _plain(spec.init)
    if "seed" in data:
        out["seed"] = spec.seed
    rest = {k: _plain(v) for k, v in data.items() if k not in _APPLIED}
    if "${" in json.dumps(rest):  # a section that still reads params or scale keeps them
        out.update({k: _plain(data[k]) for k in ("params", "scale") if k in data})
    if writer.blocks:
        out["blocks"] = writer.blocks
    out["nodes"] = nodes
    out["outputs"] = {name: str(o.ref) for name, o in spec.outputs.items()}
    out.update(rest)
    return out


def resolved_text(spec: Spec, fmt: str = "yaml") -> str:
    """:func:`resolved` as YAML (plain block style, every expression quoted) or JSON."""
    data = resolved(spec)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    import yaml

    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
