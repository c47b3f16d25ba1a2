"""SVG diagrams: rounded boxes coloured by family, clusters, routed edges and a legend.

The output is deterministic (the same graph gives the same bytes) and needs nothing to view.
Each node is ``<g class="node" id="node-<id>" data-id=...>`` holding its ``<rect class="box">``
and ``<text>`` lines; each edge is ``<path class="edge" data-src=... data-dst=...>``; each
cluster is ``<g class="cluster" data-id=...>``. The HTML page and the tests find them by that.
Cluster labels (``<g class="cluster-label">``) are drawn after the edges, on a rectangle of the
cluster's fill, so no edge strikes them through (a plain rectangle, not a ``paint-order`` halo,
so converters such as cairosvg draw them the same way).
All coordinates are absolute (no transforms), so a reader of the file sees what is drawn where.
"""

from __future__ import annotations

import json
import re

from . import _style
from .layout import Box, EdgeRoute, Layout, layout
from .model import EDGE_KINDS, FAMILIES, HIGHLIGHTS, RGraph, RNode

__all__ = ["highlight_swatch", "to_svg"]

TITLE_BAND = 36.0
LEGEND_GAP = 24.0
_LEGEND_ROW = 18.0
_CLUSTER_DASH = {"block": "", "part": "6 3"}
_DEAD_DASH = "4 3"  # removed boxes and the edges into them


def to_svg(
    g: RGraph,
    layout: Layout | None = None,
    *,
    theme: str = "light",
    greyscale: bool = False,
    legend: bool = True,
) -> str:
    """The diagram of ``g`` as an SVG document (computes the layout when none is given).

    ``theme`` is ``light`` or ``dark``; ``greyscale`` turns every colour into the grey of the
    same luminance, for print (edge kinds stay apart by their dashes); ``legend=False`` leaves
    the legend out (the HTML page draws its own, fixed on screen).
    """
    pal = _style.palette(theme, greyscale)
    lay = layout if layout is not None else _layout(g)
    dy = TITLE_BAND if g.title else 0.0
    key = _Legend(
        g if legend else RGraph([], []), x=lay.width + (LEGEND_GAP if legend and g.nodes else 0.0), y=dy + 8.0
    )
    title_w = 32 + _style.text_width(g.title, 16) if g.title else 0.0
    width = _f(max(key.right + (_style.BOX_PAD_X if legend else 0.0), title_w))
    height = _f(max(lay.height + dy, key.bottom + 8.0))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="archspec-diagram" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" font-family="{_style.FONT_FAMILY}" '
        f'role="img" aria-label={_attr(g.title or "architecture diagram")}>',
        _defs(pal),
        f'<rect class="background" x="0" y="0" width="{width}" height="{height}" fill="{pal.background}"/>',
    ]
    if g.title:
        out.append(
            f'<text class="diagram-title" x="{_f(16)}" y="{_f(24)}" font-size="16" font-weight="bold" '
            f'fill="{pal.text}">{_esc(g.title)}</text>'
        )
    boxes, labels = _clusters(g, lay, dy, pal)
    out += boxes
    dead = {n.id for n in g.nodes if n.highlight == "removed"}
    out += [_edge(route, dy, pal, dead=route.src in dead or route.dst in dead) for route in lay.edges]
    out += labels
    out += [_node(node, lay.nodes[node.id], dy, pal) for node in g.nodes]
    out += key.render(pal)
    out.append("</svg>")
    return "\n".join(out) + "\n"


_layout = layout  # the parameter of to_svg shadows the function's name


# --- pieces ------------------------------------------------------------------------------------


def _defs(pal: _style.Palette) -> str:
    markers = []
    for kind in EDGE_KINDS:
        colour, _ = pal.edge(kind)
        markers.append(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" '
            f'markerWidth="9" markerHeight="9" orient="auto"><path d="M0,1 L10,5 L0,9 z" fill="{colour}"/></marker>'
        )
    return "<defs>" + "".join(markers) + "</defs>"


def _cluster_depths(g: RGraph) -> dict[str, int]:
    depth: dict[str, int] = {}
    for node in g.nodes:
        for d, cid in enumerate(node.cluster):
            depth.setdefault(cid, d)
    return depth


def _clusters(g: RGraph, lay: Layout, dy: float, pal: _style.Palette) -> tuple[list[str], list[str]]:
    """Cluster rectangles (drawn under the edges; one per piece where a U or a fold cuts a
    cluster) and their labels (drawn over them, on a rectangle of the cluster's fill, so an edge
    entering a cluster does not strike its label through)."""
    depth = _cluster_depths(g)
    boxes, labels = [], []
    for cid in sorted(
        lay.clusters, key=lambda c: (depth.get(c, 0), list(depth).index(c) if c in depth else 0)
    ):
        box = lay.clusters[cid]
        info = g.clusters.get(cid)
        kind = info.kind if info is not None and info.kind in _CLUSTER_DASH else "block"
        label = info.label if info is not None else cid
        fill, stroke = pal.cluster(kind, depth.get(cid, 0))
        dash = _CLUSTER_DASH[kind]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        rects = "".join(
            f'<rect x="{_f(p.x)}" y="{_f(p.y + dy)}" width="{_f(p.w)}" height="{_f(p.h)}" rx="8" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1"{dash_attr}/>'
            for p in lay.pieces.get(cid, [box])
        )
        boxes.append(
            f'<g class="cluster cluster-{kind}" id={_attr("cluster-" + cid)} data-id={_attr(cid)} '
            f"data-label={_attr(label)}>{rects}</g>"
        )
        max_chars = max(1, int((box.w - 12) / (_style.CLUSTER_PX * _style.EM_ADVANCE)))
        text = _style.clip(label, max_chars)
        width = _style.text_width(text, _style.CLUSTER_PX)
        labels.append(
            f'<g class="cluster-label" data-id={_attr(cid)}>'
            f'<rect x="{_f(box.x + 5)}" y="{_f(box.y + dy + 3)}" width="{_f(width + 6)}" height="15" '
            f'fill="{fill}"/>'
            f'<text x="{_f(box.x + 8)}" y="{_f(box.y + dy + 15)}" font-size="{_f(_style.CLUSTER_PX)}" '
            f'font-weight="bold" fill="{pal.muted}">{_esc(text)}</text></g>'
        )
    return boxes, labels


def _edge(route: EdgeRoute, dy: float, pal: _style.Palette, *, dead: bool = False) -> str:
    """One edge; ``dead`` (to or from a node a diff removed): grey, dashed, class ``edge-removed``."""
    colour, dash = pal.edge(route.kind)
    kind = route.kind if route.kind in EDGE_KINDS else "data"
    classes = f"edge edge-{kind}"
    if dead:
        colour, dash, classes = pal.muted, _DEAD_DASH, classes + " edge-removed"
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    d = _path_data(route.points, dy, vertical=_is_vertical(route))
    out = (
        f'<path class="{classes}" data-src={_attr(route.src)} data-dst={_attr(route.dst)} '
        f'd="{d}" fill="none" stroke="{colour}" stroke-width="1.4"{dash_attr} marker-end="url(#arrow-{kind})"/>'
    )
    if route.label:
        x, y = route.points[len(route.points) // 2]
        text = _style.clip(route.label, 24)
        out += (
            f'\n<g class="edge-label"><rect x="{_f(x + 2)}" y="{_f(y + dy - 14)}" '
            f'width="{_f(_style.text_width(text, 10) + 4)}" height="13" fill="{pal.background}" fill-opacity="0.85"/>'
            f'<text x="{_f(x + 4)}" y="{_f(y + dy - 4)}" font-size="10" fill="{colour}">{_esc(text)}</text></g>'
        )
    return out


def _is_vertical(route: EdgeRoute) -> bool:
    """Whether the layout's rank axis is y (TB): its first segment runs along the rank axis."""
    (x0, y0), (x1, y1) = route.points[0], route.points[1]
    return abs(x1 - x0) <= abs(y1 - y0)


def _path_data(points: list[tuple[float, float]], dy: float, vertical: bool) -> str:
    """Straight runs along the rank axis; an S-curve wherever the route changes column."""
    pts = [(x, y + dy) for x, y in points]
    parts = [f"M{_f(pts[0][0])},{_f(pts[0][1])}"]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
        if (x0 == x1) if vertical else (y0 == y1):
            parts.append(f"L{_f(x1)},{_f(y1)}")
        elif vertical:
            ym = (y0 + y1) / 2
            parts.append(f"C{_f(x0)},{_f(ym)} {_f(x1)},{_f(ym)} {_f(x1)},{_f(y1)}")
        else:
            xm = (x0 + x1) / 2
            parts.append(f"C{_f(xm)},{_f(y0)} {_f(xm)},{_f(y1)} {_f(x1)},{_f(y1)}")
    return " ".join(parts)


def _node(node: RNode, box: Box, dy: float, pal: _style.Palette) -> str:
    """One box. Diff marks: ``added`` and ``changed`` get a coloured halo; ``removed`` is drawn
    dead (hollow, a dashed red outline, grey struck-through title, a red "removed" tag);
    ``unchanged`` only gets its class."""
    fill, stroke = pal.family(node.family)
    y = box.y + dy
    classes = f"node family-{_token(node.family)}"
    rx, stroke_w, extra = (12, 1.8, "") if node.family == "loss" else (6, 1.2, "")
    halo, dash, text, subtext, dead = "", "", pal.text, pal.subtext, ""
    if node.highlight in HIGHLIGHTS:
        classes += f" highlight-{node.highlight}"
    if node.highlight in ("added", "changed"):
        halo = (
            f'<rect class="halo" x="{_f(box.x - 3.5)}" y="{_f(y - 3.5)}" width="{_f(box.w + 7)}" '
            f'height="{_f(box.h + 7)}" rx="{rx + 3}" fill="none" stroke="{pal.highlight(node.highlight)}" '
            'stroke-width="3"/>'
        )
    elif node.highlight == "removed":
        fill, stroke, stroke_w = pal.background, pal.highlight("removed"), 1.6
        dash, text, subtext = f' stroke-dasharray="{_DEAD_DASH}"', pal.muted, pal.muted
        dead = _dead_marks(node, box, y, pal)
    cx = box.x + box.w / 2
    base = _style.baselines(len(node.lines))
    texts = [
        f'<text class="node-title" x="{_f(cx)}" y="{_f(y + base[0])}" font-size="{_f(_style.TITLE_PX)}" '
        f'font-weight="bold" text-anchor="middle" fill="{text}">{_esc(_style.clip(node.title))}</text>'
    ]
    for line, b in zip(node.lines, base[1:], strict=True):
        texts.append(
            f'<text class="node-line" x="{_f(cx)}" y="{_f(y + b)}" font-size="{_f(_style.LINE_PX)}" '
            f'text-anchor="middle" fill="{subtext}">{_esc(_style.clip(line))}</text>'
        )
    details = [f"{k}: {v}" for k, v in node.info.items() if v]
    diff = [f"diff: {node.highlight}"] if node.highlight in HIGHLIGHTS else []
    tooltip = "\n".join([node.title, f"{node.op} ({node.family})", *diff, *(details or node.lines)])
    return (
        f'<g class="{classes}" id={_attr("node-" + node.id)} data-id={_attr(node.id)} data-op={_attr(node.op)} '
        f"data-family={_attr(node.family)} data-title={_attr(node.title)} "
        f"data-lines={_attr(chr(10).join(node.lines))} data-highlight={_attr(node.highlight or '')} "
        f"data-info={_attr(json.dumps(node.info, ensure_ascii=False))} "
        f"data-clusters={_attr(chr(10).join(node.cluster))}{extra}>"
        f"<title>{_esc(tooltip)}</title>{halo}"
        f'<rect class="box" x="{_f(box.x)}" y="{_f(y)}" width="{_f(box.w)}" height="{_f(box.h)}" rx="{rx}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"{dash}/>' + "".join(texts) + dead + "</g>"
    )


def _dead_marks(node: RNode, box: Box, y: float, pal: _style.Palette) -> str:
    """A removed box's strike through its title and its red tag on the bottom edge."""
    cx, base = box.x + box.w / 2, y + _style.baselines(len(node.lines))[0]
    half = min(_style.text_width(_style.clip(node.title), _style.TITLE_PX), box.w - 8) / 2
    colour = pal.highlight("removed")
    tag_w = _style.text_width("removed", 9) + 8
    tag_x, bottom = box.x + box.w - tag_w - 6, y + box.h  # on the bottom edge: edges only enter a removed box
    return (
        f'<line class="strike" x1="{_f(cx - half)}" y1="{_f(base - 4)}" x2="{_f(cx + half)}" y2="{_f(base - 4)}" '
        f'stroke="{pal.muted}" stroke-width="1.2"/>'
        f'<g class="diff-tag"><rect x="{_f(tag_x)}" y="{_f(bottom - 7)}" width="{_f(tag_w)}" height="13" rx="3" '
        f'fill="{colour}"/><text x="{_f(tag_x + tag_w / 2)}" y="{_f(bottom + 3)}" font-size="9" font-weight="bold" '
        f'text-anchor="middle" fill="#ffffff">removed</text></g>'
    )


class _Legend:
    """Families, edge kinds and diff highlights that occur in the graph, in a column."""

    def __init__(self, g: RGraph, x: float, y: float) -> None:
        present = {n.family for n in g.nodes}
        self.families = [f for f in FAMILIES if f in present] + sorted(present - set(FAMILIES))
        kinds = {e.kind for e in g.edges}
        self.kinds = [k for k in EDGE_KINDS if k in kinds]
        marks = {n.highlight for n in g.nodes}
        self.highlights = [h for h in HIGHLIGHTS if h in marks]
        self.x, self.y = x, y
        names = [*self.families, *(f"{k} edge" for k in self.kinds), *self.highlights, "legend"]
        self.width = 44 + max(_style.text_width(s, 11) for s in names) if g.nodes else 0.0
        rows = len(self.families) + len(self.kinds) + len(self.highlights) + 1
        self.height = 12 + rows * _LEGEND_ROW if g.nodes else 0.0

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def render(self, pal: _style.Palette) -> list[str]:
        if not self.width:
            return []
        x, y = self.x, self.y
        out = [
            f'<g class="legend"><rect x="{_f(x)}" y="{_f(y)}" width="{_f(self.width)}" height="{_f(self.height)}" '
            f'rx="6" fill="{pal.background}" stroke="{pal.frame}"/>',
            f'<text x="{_f(x + 10)}" y="{_f(y + 18)}" font-size="11" font-weight="bold" fill="{pal.muted}">legend</text>',
        ]
        row = y + 18 + _LEGEND_ROW
        for fam in self.families:
            fill, stroke = pal.family(fam)
            out.append(
                f'<rect x="{_f(x + 10)}" y="{_f(row - 9)}" width="18" height="11" rx="3" fill="{fill}" stroke="{stroke}"/>'
                f'<text x="{_f(x + 36)}" y="{_f(row)}" font-size="11" fill="{pal.subtext}">{_esc(fam)}</text>'
            )
            row += _LEGEND_ROW
        for kind in self.kinds:
            colour, dash = pal.edge(kind)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(
                f'<path d="M{_f(x + 10)},{_f(row - 4)} L{_f(x + 28)},{_f(row - 4)}" stroke="{colour}" '
                f'stroke-width="1.6"{dash_attr}/>'
                f'<text x="{_f(x + 36)}" y="{_f(row)}" font-size="11" fill="{pal.subtext}">{kind} edge</text>'
            )
            row += _LEGEND_ROW
        for mark in self.highlights:
            out.append(
                f'<g class="legend-{mark}">{highlight_swatch(mark, pal, x + 10, row - 9)}'
                f'<text x="{_f(x + 36)}" y="{_f(row)}" font-size="11" fill="{pal.subtext}">{mark}</text></g>'
            )
            row += _LEGEND_ROW
        out.append("</g>")
        return out


def highlight_swatch(mark: str, pal: _style.Palette, x: float, y: float) -> str:
    """The legend's 18×11 sample of a diff mark, drawn as the boxes are (shared with the HTML legend)."""
    width, dash = {"added": (2.5, ""), "changed": (2.5, ""), "removed": (1.6, _DEAD_DASH)}.get(
        mark, (1.2, "")
    )
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<rect x="{_f(x)}" y="{_f(y)}" width="18" height="11" rx="3" fill="{pal.background}" '
        f'stroke="{pal.highlight(mark)}" stroke-width="{width}"{dash_attr}/>'
    )


# --- formatting -------------------------------------------------------------------------------


def _f(v: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _esc(text: str) -> str:
    """XML text: markup escaped, and control characters (which XML 1.0 cannot hold even as
    references, or which a terminal showing the file would obey) written out as ``\\x1b``."""
    text = _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")


def _attr(text: str) -> str:
    """A double-quoted XML attribute value (newlines survive as ``&#10;``)."""
    return '"' + _esc(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;") + '"'


def _token(text: str) -> str:
    """A CSS-class-safe word."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text) or "unknown"
