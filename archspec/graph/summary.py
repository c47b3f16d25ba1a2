"""``archspec summary``: a table of nodes, ops, output shapes, parameters and MACs (no torch)."""

from __future__ import annotations

from typing import Any

from archspec.errors import printable
from archspec.graph.dag import Graph
from archspec.graph.shapes import totals
from archspec.lang.model import param_matches
from archspec.ops.base import fmt_shape

__all__ = ["frozen_nodes", "summarise", "summary_table"]


def summarise(graph: Graph) -> dict[str, Any]:
    """The summary as data: per-node rows and totals (``total_params``, ``total_macs``)."""
    spec = graph.spec
    rows = [
        {"node": name, "op": "input", "shape": list(inp.shape), "params": 0, "macs": 0}
        for name, inp in spec.inputs.items()
    ]
    for name in graph.op_nodes():
        node = spec.nodes[name]
        shape = node.meta.get("shape")
        shown: Any = {k: list(v) for k, v in shape.items()} if isinstance(shape, dict) else list(shape or ())
        rows.append(
            {
                "node": name,
                "op": node.op + (f" (shares {node.share})" if node.share else ""),
                "shape": shown,
                "params": node.meta.get("params", 0),
                "macs": node.meta.get("macs", 0),
            }
        )
    sums = totals(graph)
    frozen = sum(spec.nodes[n].meta.get("params", 0) for n in frozen_nodes(graph))
    outputs = {k: str(o.ref) for k, o in spec.outputs.items()}
    return {
        "name": spec.name,
        "rows": rows,
        "outputs": outputs,
        "total_params": sums["params"],
        "trainable_params": sums["params"] - frozen,
        "frozen_params": frozen,
        "buffers": sums["buffers"],
        "total_macs": sums["macs"],
    }


def frozen_nodes(graph: Graph) -> list[str]:
    """Nodes whose parameters ``training.freeze`` holds fixed (a part, or a glob over names).

    A glob is matched against the node's ``weight`` and ``bias`` names, as the runner matches it
    against ``named_parameters()``.
    """
    spec = graph.spec
    patterns = spec.training.get("freeze") or []
    return [
        name
        for name, node in spec.nodes.items()
        if node.meta.get("params")
        and any(param_matches(f"{name}.{p}", pat, spec.parts) for pat in patterns for p in ("weight", "bias"))
    ]


def _shape_text(shape: Any) -> str:
    if isinstance(shape, dict):
        return ", ".join(f"{k}: {fmt_shape(v)}" for k, v in shape.items())
    return fmt_shape(shape)


def _total_line(summary: dict[str, Any]) -> str:
    params = f"total: {summary['total_params']:,} parameters"
    if summary["frozen_params"]:
        params += f" ({summary['trainable_params']:,} trainable, {summary['frozen_params']:,} frozen)"
    buffers = f", {summary['buffers']:,} buffer values" if summary["buffers"] else ""
    return f"{params}{buffers}, {summary['total_macs']:,} MACs per sample"


def summary_table(summary: dict[str, Any]) -> str:
    """The summary as an aligned text table."""
    header = ("node", "op", "output shape", "params", "MACs")
    body = [
        (r["node"], r["op"], _shape_text(r["shape"]), f"{r['params']:,}", f"{r['macs']:,}")
        for r in summary["rows"]
    ]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(5)]

    def line(row: tuple[str, ...]) -> str:
        left = "  ".join(str(row[i]).ljust(widths[i]) for i in range(3))
        right = "  ".join(str(row[i]).rjust(widths[i]) for i in range(3, 5))
        return f"{left}  {right}".rstrip()

    rule = "-" * len(line(header))
    lines = [printable(summary["name"]), rule, line(header), rule, *(line(r) for r in body), rule]
    lines.append(_total_line(summary))
    lines.append("outputs: " + ", ".join(f"{k} <- {v}" for k, v in summary["outputs"].items()))
    return "\n".join(lines)
