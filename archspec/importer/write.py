"""Import stage 4: the spec text a person would keep.

One line per node, as a flow mapping, with a comment naming the source module it came from;
``in:`` only where it is not the previous node; arguments only where they differ from the op's
default; ``expect:`` with the source's parameter count and output shapes, so ``archspec
validate`` guards the import. Expressions are quoted (``"${out_channels}"``), floats carry a dot
and a signed exponent (``1.0e-05``), so the text reads the same under YAML 1.1 (``yaml.safe_load``)
and YAML 1.2 (archspec's loader).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from archspec.importer.factor import Block, Expr, Layout, SpecNode
from archspec.ops import Shape

__all__ = ["write_spec"]

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def write_spec(
    layout: Layout,
    *,
    name: str,
    source: str,
    params: int,
    output_shapes: Mapping[str, Shape],
    plugins: Sequence[str] = (),
) -> str:
    lines = [f"# Imported from {source} by `archspec import`; each comment names the source module."]
    for plugin in plugins:
        lines += [
            f"# Some ops come from the plugin {plugin} ({plugin}.py beside this file), which runs the model's",
            f"# code: enable it only if you trust that code: PYTHONPATH=. archspec --plugin {plugin} validate ...",
        ]
    lines += ["archspec: 1", f"name: {_scalar(name)}"]
    if plugins:
        lines.append(f"requires: {{plugins: [{', '.join(plugins)}]}}")
    lines += [
        "inputs:",
        *(f"  {k}: {{shape: {_value(list(s))}}}" for k, s in layout.inputs.items()),
    ]
    if layout.blocks:
        lines.append("blocks:")
        for block in layout.blocks:
            lines += _block(block)
    lines.append("nodes:")
    only = next(iter(layout.inputs)) if len(layout.inputs) == 1 else None
    lines += _nodes(layout.nodes, "  ", only)
    lines.append(f"outputs: {{{', '.join(f'{k}: {v}' for k, v in layout.outputs.items())}}}")
    outs = ", ".join(f"{k}: {_value(list(s))}" for k, s in output_shapes.items())
    lines += ["expect:", f"  params: {{equals: {params}}}", f"  outputs: {{{outs}}}"]
    return "\n".join(lines) + "\n"


def _block(block: Block) -> list[str]:
    lines = [f"  {block.name}:  # {block.comment}"]
    if block.params:
        lines.append(f"    params: {{{', '.join(f'{k}: {t}' for k, t in block.params.items())}}}")
    if block.inputs != ["x"]:
        lines.append(f"    inputs: {_value(block.inputs)}")
    lines.append("    nodes:")
    only = block.inputs[0] if len(block.inputs) == 1 else None
    return lines + _nodes(block.nodes, "      ", only)


def _nodes(nodes: list[SpecNode], indent: str, only_input: str | None) -> list[str]:
    out = []
    previous = only_input
    for node in nodes:
        fields = [f"op: {node.op}" if node.op else f"block: {_value(node.block)}"]
        if node.inputs != [previous] or previous is None:
            refs = node.inputs
            fields.append(f"in: {refs[0] if len(refs) == 1 else '[' + ', '.join(refs) + ']'}")
        fields += [f"{k}: {_value(v)}" for k, v in node.args.items()]
        if node.repeat:
            fields.append(f"repeat: {node.repeat}")
        line = f"{indent}{node.id}: {{{', '.join(fields)}}}"
        out.append(f"{line}  # {node.comment}" if node.comment else line)
        previous = node.id
    return out


def _value(v: Any) -> str:
    if isinstance(v, Expr):
        return f'"${{{v.text}}}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _float(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return _scalar(str(v))


def _scalar(text: str) -> str:
    """A string: quoted unless it is a plain name YAML cannot read as anything else."""
    special = text.lower() in {"true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"}
    return text if _PLAIN.match(text) and not special else json.dumps(text)


def _float(v: float) -> str:
    if math.isinf(v):
        return ".inf" if v > 0 else "-.inf"
    if math.isnan(v):
        return ".nan"
    text = repr(v)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[0] not in "+-":
        exponent = "+" + exponent
    return f"{mantissa}e{exponent}"
