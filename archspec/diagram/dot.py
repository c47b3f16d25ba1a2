"""Graphviz DOT text, and (when Graphviz is installed) PNG/PDF files made from it.

Writing DOT needs nothing; only :func:`dot_to_file` runs the ``dot`` binary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from archspec.errors import RunError

from . import _style
from .model import RGraph, RNode, cluster_children

__all__ = ["dot_to_file", "to_dot"]

DOT_MISSING = (
    "cairosvg is not installed and Graphviz 'dot' was not found: pip install 'archspec[diagrams]' "
    "(cairosvg), or install Graphviz (Debian/Ubuntu: apt-get install graphviz, macOS: brew install "
    "graphviz), or render to .svg/.html, which need neither"
)
_FORMAT = re.compile(r"[a-z][a-z0-9]*(:[a-z0-9]+)*")
DOT_TIMEOUT_S = 300


def to_dot(g: RGraph) -> str:
    """``g`` as a ``digraph`` with one nested ``subgraph cluster_…`` per cluster."""
    rankdir = "LR" if g.direction == "LR" else "TB"
    out = [
        f"digraph {_q(g.title or 'archspec')} {{",
        f'  graph [rankdir={rankdir}, fontname="monospace", fontsize=12, labelloc=t, '
        f"label={_q(g.title)}, nodesep=0.3, ranksep=0.4];",
        '  node [shape=box, style="rounded,filled", fontname="monospace", fontsize=10, margin="0.12,0.06"];',
        '  edge [color="#4b5563", arrowsize=0.7];',
    ]
    out += _cluster_body(g, cluster_children(g), None, "  ")
    for e in g.edges:
        colour, dash = _style.edge_style(e.kind)
        attrs = [f"color={_q(colour)}"]
        if dash:
            attrs.append("style=dashed" if e.kind == "skip" else "style=dotted")
        if e.label:
            attrs.append(f"label={_q(e.label)}")
        out.append(f"  {_q(e.src)} -> {_q(e.dst)} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _cluster_body(g: RGraph, tree: dict, cid: str | None, indent: str) -> list[str]:
    children, nodes = tree[cid]
    out = [f"{indent}{_q(n.id)} [{_node_attrs(n)}];" for n in nodes]
    for child in children:
        info = g.clusters.get(child)
        label = info.label if info is not None else child
        style = (
            'style="rounded,dashed", color="#d9b95c"'
            if info and info.kind == "part"
            else 'style=rounded, color="#94a3b8"'
        )
        out.append(f"{indent}subgraph {_q('cluster_' + child)} {{")
        out.append(f"{indent}  label={_q(label)}; {style}; fontsize=10;")
        out += _cluster_body(g, tree, child, indent + "  ")
        out.append(f"{indent}}}")
    return out


def _node_attrs(node: RNode) -> str:
    fill, stroke = _style.colours(node.family)
    rows = [f"<B>{_html(node.title)}</B>"] + [f'<FONT POINT-SIZE="9">{_html(s)}</FONT>' for s in node.lines]
    attrs = [f"label=<{'<BR/>'.join(rows)}>", f"fillcolor={_q(fill)}", f"color={_q(stroke)}"]
    if node.highlight in _style.HIGHLIGHT_COLOURS:
        attrs += [f"color={_q(_style.HIGHLIGHT_COLOURS[node.highlight])}", "penwidth=3"]
        attrs.remove(f"color={_q(stroke)}")
    return ", ".join(attrs)


def _q(text: str) -> str:
    """A DOT double-quoted ID: any text, backslashes and quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def dot_to_file(dot_text: str, out_path: str | Path, fmt: str) -> Path:
    """Run Graphviz ``dot -T<fmt>`` on ``dot_text`` and write ``out_path``.

    Raises :class:`RunError` when ``dot`` is not installed, ``fmt`` is not a format name, or
    ``dot`` fails (its message is included).
    """
    exe = shutil.which("dot")
    if exe is None:
        raise RunError(DOT_MISSING)
    if not _FORMAT.fullmatch(fmt):
        raise RunError(f"Graphviz output format must be a name like 'png', 'pdf' or 'svg', got {fmt!r}")
    out = Path(out_path)
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}", "-o", str(out)],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise RunError(f"Graphviz 'dot' took longer than {DOT_TIMEOUT_S} s writing {str(out)!r}") from e
    except OSError as e:
        raise RunError(f"Graphviz 'dot' could not be run: {e}") from e
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or "no message"
        raise RunError(f"Graphviz 'dot' failed (exit {proc.returncode}) writing {str(out)!r}: {message}")
    return out
