"""Architecture diffs: what changed between two analysed specs, as data, text and a diagram.

Nodes are matched by id (ids are stable: they are the names written in the spec, prefixed by
their block instances). A node is *changed* when its op, arguments, inputs, output shape or
parameter count differ. Needs no torch.
"""

from __future__ import annotations

from typing import Any

from archspec.diagram.adapter import fmt_count, op_label, shape_text, to_rgraph
from archspec.diagram.model import REdge, RGraph, RNode
from archspec.graph.dag import Graph
from archspec.ops import get_op

__all__ = ["diff_rgraph", "diff_specs", "diff_text"]


def diff_specs(old: Graph, new: Graph) -> dict[str, Any]:
    """The differences from ``old`` to ``new``, as JSON-ready data.

    Keys: ``old`` and ``new`` (spec names), ``added`` and ``removed`` (node rows: ``id``,
    ``op``, ``label``, ``shape``, ``params``), ``changed`` (``id`` and ``changes``: field ->
    ``[old, new]``, arguments under ``args``), ``inputs`` and ``outputs`` (added, removed,
    changed names) and ``params`` (``old``, ``new``, ``delta``).
    """
    a, b = old.spec.nodes, new.spec.nodes
    changed = []
    for nid in b:
        if nid in a:
            changes = _node_changes(a[nid], b[nid])
            if changes:
                changed.append({"id": nid, "changes": changes})
    p_old, p_new = _total(old), _total(new)
    return {
        "old": old.spec.name,
        "new": new.spec.name,
        "added": [_row(b[n]) for n in b if n not in a],
        "removed": [_row(a[n]) for n in a if n not in b],
        "changed": changed,
        "inputs": _named_diff(
            {k: list(v.shape) for k, v in old.spec.inputs.items()},
            {k: list(v.shape) for k, v in new.spec.inputs.items()},
        ),
        "outputs": _named_diff(
            {k: str(v.ref) for k, v in old.spec.outputs.items()},
            {k: str(v.ref) for k, v in new.spec.outputs.items()},
        ),
        "params": {"old": p_old, "new": p_new, "delta": p_new - p_old},
        "input_shapes": {
            k: [list(old.spec.inputs[k].shape), list(v.shape)]
            for k, v in new.spec.inputs.items()
            if k in old.spec.inputs and list(old.spec.inputs[k].shape) != list(v.shape)
        },
        "settings": {
            section: _settings_diff(getattr(old.spec, section), getattr(new.spec, section), (section,))
            for section in ("data", "losses", "training")
        },
    }


def _settings_diff(a: Any, b: Any, path: tuple[str, ...]) -> list[dict[str, Any]]:
    """``{"path", "old", "new"}`` for each leaf of a settings section that differs (a value
    that is missing on one side is None there)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in [*a, *(k for k in b if k not in a)]:
            out += _settings_diff(a.get(key), b.get(key), (*path, str(key)))
        return out
    return [] if a == b else [{"path": ".".join(path), "old": a, "new": b}]


def diff_text(d: dict[str, Any]) -> str:
    """The diff for people: one line per node (``+`` added, ``-`` removed, ``~`` changed)."""
    lines = [f"{d['old']} -> {d['new']}"]
    for sign, key in (("+", "added"), ("-", "removed")):
        for row in d[key]:
            extra = "  ".join(
                s
                for s in (row["shape"] and f"[{row['shape']}]", row["params"] and f"{row['params']:,} params")
                if s
            )
            lines.append(f"{sign} {row['id']}: {row['label']}" + (f"  {extra}" if extra else ""))
    for row in d["changed"]:
        lines.append(f"~ {row['id']}: " + "; ".join(_change_text(k, v) for k, v in row["changes"].items()))
    for what in ("inputs", "outputs"):
        for sign, key in (("+", "added"), ("-", "removed"), ("~", "changed")):
            for name in d[what][key]:
                shapes = d.get("input_shapes", {}).get(name) if what == "inputs" else None
                detail = f": {shapes[0]} -> {shapes[1]}" if shapes else ""
                lines.append(f"{sign} {what[:-1]} {name}{detail}")
    for section in ("data", "losses", "training"):
        for row in d.get("settings", {}).get(section, []):
            sign = "+" if row["old"] is None else "-" if row["new"] is None else "~"
            lines.append(f"{sign} {row['path']}: {_value(row['old'])} -> {_value(row['new'])}")
    if len(lines) == 1:
        lines.append("no differences in nodes, inputs, outputs, data, losses or training")
    p = d["params"]
    pct = f", {p['delta'] / p['old']:+.1%}" if p["old"] else ""
    lines.append(f"params: {p['old']:,} -> {p['new']:,} ({p['delta']:+,}{pct})")
    return "\n".join(lines)


def diff_rgraph(
    old: Graph, new: Graph, *, depth: int | None = None, direction: str = "TB", shapes: bool = True
) -> RGraph:
    """The new graph's diagram, every box marked ``added``, ``changed``, ``removed`` or
    ``unchanged`` (``RNode.highlight``): inputs and outputs too, a changed input showing its old
    and new shape. Removed nodes and inputs are drawn beside the nodes they used to read, as dead
    boxes (see ``svg.py``); a tooltip's ``changes`` says what changed."""
    d = diff_specs(old, new)
    g = to_rgraph(new, depth=depth, direction=direction, shapes=shapes, losses=False)
    marks = {r["id"]: "added" for r in d["added"]} | {r["id"]: "changed" for r in d["changed"]}
    _highlight(g, new, marks)
    _describe_changes(g, d)
    _add_removed(g, old, d)
    for node in g.nodes:
        node.highlight = node.highlight or "unchanged"
    g.title = _title(d)
    return g


def _title(d: dict[str, Any]) -> str:
    """``a → b: +9 ~1 −2 nodes, ~1 input, params +42k``: inputs and outputs are counted only
    when some changed, so a diff that only reshapes an input still says so."""
    counts = [f"+{len(d['added'])} ~{len(d['changed'])} −{len(d['removed'])} nodes"]
    counts += [_named_counts(d[what], what[:-1]) for what in ("inputs", "outputs") if any(d[what].values())]
    return f"{d['old']} → {d['new']}: {', '.join(counts)}, params {_signed(d['params']['delta'])}"


def _named_counts(named: dict[str, list[str]], noun: str) -> str:
    """``~1 input``, ``+1 −1 outputs``: the counts that are not zero, then the noun."""
    signs = (("+", "added"), ("~", "changed"), ("−", "removed"))
    counts = " ".join(f"{sign}{len(named[key])}" for sign, key in signs if named[key])
    return f"{counts} {noun}" + ("" if sum(map(len, named.values())) == 1 else "s")


# --- helpers --------------------------------------------------------------------------------


def _total(graph: Graph) -> int:
    return sum(n.meta.get("params", 0) for n in graph.spec.nodes.values())


def _row(node: Any) -> dict[str, Any]:
    return {
        "id": node.id,
        "op": node.op,
        "label": op_label(node.op, node.args),
        "shape": shape_text(node.meta.get("shape")),
        "params": node.meta.get("params", 0),
    }


def _node_changes(a: Any, b: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if a.op != b.op:
        out["op"] = [a.op, b.op]
    args = {
        k: [a.args.get(k), b.args.get(k)]
        for k in sorted(set(a.args) | set(b.args))
        if a.args.get(k) != b.args.get(k)
    }
    if args:
        out["args"] = args
    ins_a, ins_b = [str(r) for r in a.inputs], [str(r) for r in b.inputs]
    if ins_a != ins_b:
        out["inputs"] = [ins_a, ins_b]
    for key in ("shape", "params"):
        va, vb = a.meta.get(key), b.meta.get(key)
        if va is not None and vb is not None and va != vb:
            out[key] = [shape_text(va), shape_text(vb)] if key == "shape" else [va, vb]
    return out


def _named_diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "added": [k for k in b if k not in a],
        "removed": [k for k in a if k not in b],
        "changed": [k for k in b if k in a and a[k] != b[k]],
    }


def _change_text(key: str, value: Any) -> str:
    if key == "args":
        return ", ".join(f"{k}: {_value(o)} -> {_value(n)}" for k, (o, n) in value.items())
    if key == "inputs":
        return f"in: {', '.join(value[0])} -> {', '.join(value[1])}"
    if key == "params":
        return f"params {value[0]:,} -> {value[1]:,} ({value[1] - value[0]:+,})"
    return f"{key} {value[0]} -> {value[1]}"


def _value(v: Any) -> str:
    return "(unset)" if v is None else repr(v)


def _signed(n: int) -> str:
    return ("+" if n > 0 else "−" if n < 0 else "±") + fmt_count(abs(n))


def _highlight(g: RGraph, new: Graph, marks: dict[str, str]) -> None:
    """Mark boxes; a collapsed block box is ``changed`` when any node inside it is marked."""
    boxes = {n.id: n for n in g.nodes}
    for nid, mark in marks.items():
        if nid in boxes:
            boxes[nid].highlight = mark
            continue
        for scope in new.spec.nodes[nid].scopes:
            if scope.id in boxes and boxes[scope.id].highlight is None:
                boxes[scope.id].highlight = "changed"


def _describe_changes(g: RGraph, d: dict[str, Any]) -> None:
    """Inputs and outputs marked like nodes; what changed, in each changed box's tooltip."""
    boxes = {n.id: n for n in g.nodes}
    for name in d["inputs"]["added"]:
        if name in boxes:
            boxes[name].highlight = "added"
    for name, (was, now) in d["input_shapes"].items():
        if name in boxes:
            box = boxes[name]
            box.highlight = "changed"
            box.lines = [f"{shape_text(was)} → {shape_text(now)}"]
            box.info["changes"] = f"shape {shape_text(was)} → {shape_text(now)}"
    for key in ("added", "changed"):
        for name in d["outputs"][key]:
            if f"output:{name}" in boxes:
                boxes[f"output:{name}"].highlight = key
    for row in d["changed"]:
        if row["id"] in boxes:
            boxes[row["id"]].info["changes"] = "; ".join(
                _change_text(k, v) for k, v in row["changes"].items()
            )


def _add_removed(g: RGraph, old: Graph, d: dict[str, Any]) -> None:
    """Removed inputs and nodes as dead boxes, with edges only *into* them (so no cycle can
    form); the SVG draws those edges dashed."""
    drawn = {n.id for n in g.nodes}
    removed = {r["id"] for r in d["removed"]}
    for name in d["inputs"]["removed"]:
        if name not in drawn:
            shape = shape_text(old.spec.inputs[name].shape)
            g.nodes.append(
                RNode(id=name, title=name, op="input", family="input", lines=[shape], highlight="removed")
            )
            removed.add(name)
    for row in d["removed"]:
        node = old.spec.nodes[row["id"]]
        lines = [row["label"]] + ([row["shape"]] if row["shape"] else [])
        opdef = get_op(node.op)
        family = opdef.family if opdef is not None else "block"
        info = {"in": ", ".join(str(r) for r in node.inputs)} if node.inputs else {}
        g.nodes.append(
            RNode(
                id=row["id"],
                title=row["id"],
                op=row["op"],
                family=family,
                lines=lines,
                highlight="removed",
                info=info,
            )
        )
        for ref in node.inputs:
            if ref.node in drawn or ref.node in removed:
                g.edges.append(REdge(ref.node, row["id"]))
