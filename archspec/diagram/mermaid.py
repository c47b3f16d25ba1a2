"""Mermaid ``flowchart`` text, for Markdown renderers (GitHub, GitLab, mkdocs)."""

from __future__ import annotations

import re

from . import _style
from .model import RGraph, cluster_children

__all__ = ["to_mermaid"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_ARROWS = {"data": "-->", "skip": "-.->", "loss": "==>"}


def to_mermaid(g: RGraph) -> str:
    """``g`` as ``flowchart TB`` (or ``LR``) with subgraphs and one ``classDef`` per family."""
    ids = _Namespace()
    out = [f"flowchart {'LR' if g.direction == 'LR' else 'TB'}"]
    if g.title:
        out.insert(0, f"%% {_one_line(g.title)}")
    out += _body(g, ids, cluster_children(g), None, "  ")
    for e in g.edges:
        arrow = _ARROWS.get(e.kind, "-->")
        label = f"|{_label(e.label)}|" if e.label else ""
        out.append(f"  {ids.node(e.src)} {arrow}{label} {ids.node(e.dst)}")
    families = sorted({n.family for n in g.nodes})
    for fam in families:
        fill, stroke = _style.colours(fam)
        out.append(f"  classDef {ids.family(fam)} fill:{fill},stroke:{stroke},color:#0f172a")
        members = ",".join(ids.node(n.id) for n in g.nodes if n.family == fam)
        out.append(f"  class {members} {ids.family(fam)}")
    for mark, colour in _style.HIGHLIGHT_COLOURS.items():
        members = ",".join(ids.node(n.id) for n in g.nodes if n.highlight == mark)
        if members:
            out.append(f"  classDef hl_{mark} stroke:{colour},stroke-width:3px")
            out.append(f"  class {members} hl_{mark}")
    return "\n".join(out) + "\n"


def _body(g: RGraph, ids: _Namespace, tree: dict, cid: str | None, indent: str) -> list[str]:
    children, nodes = tree[cid]
    out = []
    for n in nodes:
        text = "<br/>".join([f"<b>{_text(n.title)}</b>", *(_text(s) for s in n.lines)])
        out.append(f'{indent}{ids.node(n.id)}["{text}"]')
    for child in children:
        info = g.clusters.get(child)
        out.append(f"{indent}subgraph {ids.cluster(child)}[{_label(info.label if info else child)}]")
        out += _body(g, ids, tree, child, indent + "  ")
        out.append(f"{indent}end")
    return out


class _Namespace:
    """Mermaid-safe, unique identifiers for node and cluster ids (``enc1.c1`` -> ``n_enc1_c1``).

    A prefix keeps ids away from keywords (``end``, ``graph``); clashes after sanitising get a
    numeric suffix.
    """

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], str] = {}
        self._used: set[str] = set()

    def _get(self, prefix: str, raw: str) -> str:
        key = (prefix, raw)
        if key not in self._names:
            base = prefix + _UNSAFE.sub("_", raw)
            name, k = base, 1
            while name in self._used:
                k += 1
                name = f"{base}_{k}"
            self._used.add(name)
            self._names[key] = name
        return self._names[key]

    def node(self, raw: str) -> str:
        return self._get("n_", raw)

    def cluster(self, raw: str) -> str:
        return self._get("c_", raw)

    def family(self, raw: str) -> str:
        return self._get("f_", raw)


def _text(text: str) -> str:
    """Text inside a quoted Mermaid label: quotes and markup as entity codes."""
    text = _one_line(text)
    for ch, code in (("#", "#35;"), ("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(ch, code)
    return text


def _label(text: str) -> str:
    return f'"{_text(text)}"'


def _one_line(text: str) -> str:
    return " ".join(text.split())
