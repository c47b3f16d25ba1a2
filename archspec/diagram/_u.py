"""The encoder–decoder ("U") arrangement: the down path descends on the left, the up path
rises on the right, each skip runs horizontally across, the bottleneck lies along the bottom.

:func:`u_plan` finds the shape: the *spine* (the longest path through the graph) and a chain of
skip edges nested like parentheses along it (``enc1→cat1`` around ``enc2→cat2``). The spine up
to the innermost skip's source is the left column, the spine from the innermost skip's
destination on is the right column (drawn bottom to top), and what lies between is the bottom
row. Nodes off the spine (loss targets, penalties, side branches) sit in a lane beside the
strip of the spine node nearest to them.

:func:`u_layout` places it: each strip is a stack (cluster borders get their padding and label
band where they open and close), the columns are then slid against each other so both ends of
every nested skip share one y, and clusters are drawn as one rectangle per strip they cross.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from . import _style
from ._geometry import (
    CLUSTER_PAD,
    LABEL_BAND,
    NODE_GAP,
    RANK_GAP,
    Box,
    ClusterTree,
    EdgeRoute,
    Layout,
    common_prefix,
    connect,
    finish_layout,
    topological,
)
from .model import RGraph

__all__ = ["UPlan", "u_layout", "u_plan"]

SKIP_MIN = 80.0  # the shortest horizontal skip between the two columns
LANE_GAP = 36.0  # between a strip and the lane of nodes beside it
GUTTER_STEP = 10.0  # between two skips routed beside the same column
OFF_SPINE_SHARE = 0.34  # auto-detection: at most this share of the nodes may be off the spine


@dataclass
class UPlan:
    """Where the nodes go: ``left`` top to bottom, ``row`` left to right, ``right`` in spine
    order (bottom to top); ``anchors`` the nested skips, outermost first; ``lanes`` maps each
    node off the spine to the strip (``"left"``, ``"row"``, ``"right"``) and spine node it
    sits beside."""

    left: list[str]
    row: list[str]
    right: list[str]
    anchors: list[tuple[str, str]]
    lanes: dict[str, tuple[str, str]]


def u_plan(g: RGraph, *, strict: bool = True) -> UPlan | None:
    """The U of ``g``, or ``None`` when it has none.

    ``strict`` (auto-detection) asks for two nested skips or more, no other skip that crosses
    them, and at most a third of the nodes off the spine; otherwise one skip is enough.
    """
    if g.direction != "TB" or len(g.nodes) < 3:
        return None
    spine = _spine(g)
    pos = {nid: k for k, nid in enumerate(spine)}
    skips = sorted(
        {(pos[e.src], pos[e.dst]) for e in g.edges if e.kind == "skip" and e.src in pos and e.dst in pos}
    )
    anchors = _nested_chain(skips)
    if len(anchors) < (2 if strict else 1):
        return None
    if strict:
        crossing = any(a < i < b < j or i < a < j < b for i, j in skips for a, b in anchors)
        if crossing or len(g.nodes) - len(spine) > OFF_SPINE_SHARE * len(g.nodes):
            return None
    inner_src, inner_dst = anchors[-1]
    plan = UPlan(
        left=spine[: inner_src + 1],
        row=spine[inner_src + 1 : inner_dst],
        right=spine[inner_dst:],
        anchors=[(spine[a], spine[b]) for a, b in anchors],
        lanes={},
    )
    plan.lanes = _lanes(g, plan)
    return plan


def _spine(g: RGraph) -> list[str]:
    """The longest path (in nodes), ties broken by drawing order."""
    index = {n.id: i for i, n in enumerate(g.nodes)}
    succ: list[list[int]] = [[] for _ in g.nodes]
    pred: list[list[int]] = [[] for _ in g.nodes]
    for e in g.edges:
        succ[index[e.src]].append(index[e.dst])
        pred[index[e.dst]].append(index[e.src])
    order = topological(len(g.nodes), succ, pred)
    length = [1] * len(g.nodes)
    back = [-1] * len(g.nodes)
    for u in order:
        for v in succ[u]:
            if length[u] + 1 > length[v]:
                length[v], back[v] = length[u] + 1, u
    end = max(range(len(g.nodes)), key=lambda i: (length[i], -i))
    path = [end]
    while back[path[-1]] >= 0:
        path.append(back[path[-1]])
    return [g.nodes[i].id for i in reversed(path)]


def _nested_chain(skips: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of skips each strictly inside the one before, outermost first."""
    best: list[list[tuple[int, int]]] = []
    for k, (i, j) in enumerate(skips):
        chain = [(i, j)]
        for m in range(k):
            a, b = skips[m]
            if a < i and j < b and len(best[m]) + 1 > len(chain):
                chain = [*best[m], (i, j)]
        best.append(chain)
    return max(best, key=len, default=[])


def _lanes(g: RGraph, plan: UPlan) -> dict[str, tuple[str, str]]:
    """Each node off the spine -> (strip, spine node), the nearest spine node by edges."""
    strip = (
        dict.fromkeys(plan.left, "left") | dict.fromkeys(plan.row, "row") | dict.fromkeys(plan.right, "right")
    )
    nbrs: dict[str, list[str]] = {n.id: [] for n in g.nodes}
    for e in g.edges:
        nbrs[e.src].append(e.dst)
        nbrs[e.dst].append(e.src)
    near = {nid: nid for nid in strip}
    queue = deque(strip)
    while queue:
        u = queue.popleft()
        for v in nbrs[u]:
            if v not in near:
                near[v] = near[u]
                queue.append(v)
    first = plan.left[0]
    return {n.id: (strip[near.get(n.id, first)], near.get(n.id, first)) for n in g.nodes if n.id not in strip}


# --- placing ------------------------------------------------------------------------------------


class _Stack:
    """A strip: boxes one after another along an axis, with room where clusters open and close."""

    def __init__(
        self, ids: list[str], sizes: dict[str, tuple[float, float]], tree: ClusterTree, vertical: bool
    ) -> None:
        self.ids = ids
        self.pos: list[float] = []  # top (vertical) or left (row) of each box
        cur, prev = 0.0, ()
        for k, nid in enumerate(ids):
            path = tree.path_of[nid]
            c = len(common_prefix(prev, path))
            closes, opens = len(prev) - c, len(path) - c
            if k:
                cur += (RANK_GAP if vertical else NODE_GAP) + closes * CLUSTER_PAD
            cur += opens * (CLUSTER_PAD + (LABEL_BAND if vertical else 0.0))
            self.pos.append(cur)
            cur += sizes[nid][1] if vertical else sizes[nid][0]
            prev = path


def u_layout(g: RGraph, plan: UPlan) -> Layout:
    """Boxes, cluster rectangles and edge routes for ``plan`` (see the module docstring)."""
    tree = ClusterTree(g)
    sizes = {n.id: _style.box_size(n.title, n.lines) for n in g.nodes}
    depth = {nid: len(tree.path_of[nid]) for nid in sizes}
    right_top_down = list(reversed(plan.right))
    left = _Stack(plan.left, sizes, tree, True)
    right = _Stack(right_top_down, sizes, tree, True)
    _align(plan, left, right, sizes)
    half_l = _half_width(plan.left, sizes, depth, tree)
    half_r = _half_width(plan.right, sizes, depth, tree)
    gut_l, gut_r, gut_row = (_gutter_lanes(g, ids) for ids in (plan.left, plan.right, plan.row))
    boxes: dict[str, Box] = {}
    cx_l = 0.0
    for nid, top in zip(left.ids, left.pos, strict=True):
        boxes[nid] = _centred(cx_l, top, sizes[nid])
    row = _Stack(plan.row, sizes, tree, False)
    span = (row.pos[-1] + sizes[plan.row[-1]][0] / 2 - sizes[plan.row[0]][0] / 2) if plan.row else 0.0
    cx_r = cx_l + max(span, half_l + half_r + SKIP_MIN)
    for nid, top in zip(right.ids, right.pos, strict=True):
        boxes[nid] = _centred(cx_r, top, sizes[nid])
    if plan.row:
        _place_row(plan, row, sizes, depth, boxes, cx_l, cx_r, span)
    _place_lanes(
        g,
        plan,
        sizes,
        boxes,
        edges_left=cx_l - half_l - _gutter_width(gut_l) - LANE_GAP,
        edges_right=cx_r + half_r + _gutter_width(gut_r) + LANE_GAP,
        gut_row=gut_row,
    )
    strips = _strip_of(plan)
    pieces = _pieces(g, tree, boxes, strips)
    routes = _routes(g, plan, boxes, gut_l, gut_r, gut_row, half_l, half_r, cx_l, cx_r)
    return finish_layout("TB", boxes, pieces, routes, ranks={}, arrangement="u")


def _align(plan: UPlan, left: _Stack, right: _Stack, sizes: dict[str, tuple[float, float]]) -> None:
    """Slide the columns so both ends of every anchor skip share a centre line, spreading each
    shift over the gaps since the anchor before (so neither column bunches up)."""
    li = {nid: k for k, nid in enumerate(left.ids)}
    ri = {nid: k for k, nid in enumerate(right.ids)}
    prev_l = prev_r = None
    for src, dst in plan.anchors:
        a, b = li[src], ri[dst]
        d = (left.pos[a] + sizes[src][1] / 2) - (right.pos[b] + sizes[dst][1] / 2)
        if d > 0:
            _spread(right.pos, prev_r, b, d)
        elif d < 0:
            _spread(left.pos, prev_l, a, -d)
        prev_l, prev_r = a, b


def _spread(pos: list[float], start: int | None, end: int, d: float) -> None:
    """Move ``pos[end:]`` down by ``d``, and ``pos[start+1:end]`` by a growing share of it
    (above the first anchor, ``start`` is ``None``: the whole top of the column moves down)."""
    for k in range(0 if start is None else start + 1, len(pos)):
        pos[k] += d if start is None else d * min(1.0, (k - start) / max(1, end - start))


def _half_width(
    ids: list[str], sizes: dict[str, tuple[float, float]], depth: dict[str, int], tree: ClusterTree
) -> float:
    """Half the width of a column: its widest box with its cluster borders, or a label."""
    half = 0.0
    for nid in ids:
        half = max(half, sizes[nid][0] / 2 + depth[nid] * CLUSTER_PAD)
        for k, cid in enumerate(tree.path_of[nid]):
            label = _style.text_width(tree.labels[cid], _style.CLUSTER_PX) + 2 * CLUSTER_PAD
            half = max(half, label / 2 + k * CLUSTER_PAD)
    return half


def _centred(cx: float, top: float, size: tuple[float, float]) -> Box:
    return Box(cx - size[0] / 2, top, size[0], size[1])


def _place_row(
    plan: UPlan,
    row: _Stack,
    sizes: dict[str, tuple[float, float]],
    depth: dict[str, int],
    boxes: dict[str, Box],
    cx_l: float,
    cx_r: float,
    span: float,
) -> None:
    """The bottleneck along the bottom, from under the left column to under the right one."""
    above = max(b.bottom for b in boxes.values())
    reserve = max(depth[n] for n in plan.row) * (CLUSTER_PAD + LABEL_BAND)
    mid_h = max(sizes[n][1] for n in plan.row)
    cy = above + RANK_GAP + reserve + CLUSTER_PAD + mid_h / 2
    first_w = sizes[plan.row[0]][0]
    for nid, x in zip(plan.row, row.pos, strict=True):
        centre = x + sizes[nid][0] / 2 - first_w / 2
        if len(plan.row) == 1:
            cx = (cx_l + cx_r) / 2
        else:
            cx = cx_l + (cx_r - cx_l) * (centre / span if span else 0.0)
        boxes[nid] = Box(cx - sizes[nid][0] / 2, cy - sizes[nid][1] / 2, *sizes[nid])


def _strip_of(plan: UPlan) -> dict[str, str]:
    out = (
        dict.fromkeys(plan.left, "left") | dict.fromkeys(plan.row, "row") | dict.fromkeys(plan.right, "right")
    )
    return out | {nid: strip for nid, (strip, _) in plan.lanes.items()}


def _place_lanes(
    g: RGraph,
    plan: UPlan,
    sizes: dict[str, tuple[float, float]],
    boxes: dict[str, Box],
    edges_left: float,
    edges_right: float,
    gut_row: dict[tuple[str, str], int],
) -> None:
    """Nodes off the spine, beside the spine node they hang from, pushed apart in their lane."""
    order = {n.id: k for k, n in enumerate(g.nodes)}
    row_bottom = max((boxes[n].bottom for n in plan.row), default=0.0)
    lane_y_row = row_bottom + _gutter_width(gut_row) + LANE_GAP
    for strip in ("left", "right", "row"):
        members = [nid for nid, (s, _) in plan.lanes.items() if s == strip]
        if strip == "row":
            members.sort(key=lambda n: (boxes[plan.lanes[n][1]].x, order[n]))
            cur = -float("inf")
            for nid in members:
                w, h = sizes[nid]
                x = max(boxes[plan.lanes[nid][1]].x, cur)
                boxes[nid] = Box(x, lane_y_row, w, h)
                cur = x + w + NODE_GAP
            continue
        members.sort(key=lambda n: (boxes[plan.lanes[n][1]].y, order[n]))
        cur = -float("inf")
        for nid in members:
            w, h = sizes[nid]
            anchor = boxes[plan.lanes[nid][1]]
            y = max(anchor.y + anchor.h / 2 - h / 2, cur)
            x = edges_left - w if strip == "left" else edges_right
            boxes[nid] = Box(x, y, w, h)
            cur = y + h + NODE_GAP


def _pieces(
    g: RGraph, tree: ClusterTree, boxes: dict[str, Box], strips: dict[str, str]
) -> dict[str, list[Box]]:
    """One rectangle per cluster and strip it has members in; the first one carries the label.

    Inner clusters first, so each rectangle holds those of its children in the same strip."""
    members: dict[tuple[str, str], list[Box]] = {}
    for n in g.nodes:
        for cid in tree.path_of[n.id]:
            members.setdefault((cid, strips[n.id]), []).append(boxes[n.id])
    out: dict[tuple[str, str], Box] = {}
    for cid in sorted(tree.ids, key=lambda c: -len(tree.path(c))):
        for strip in ("left", "row", "right"):
            inside = list(members.get((cid, strip), []))
            inside += [out[(ch, strip)] for ch in tree.children[cid] if (ch, strip) in out]
            if not inside:
                continue
            x0 = min(b.x for b in inside) - CLUSTER_PAD
            x1 = max(b.right for b in inside) + CLUSTER_PAD
            y0 = min(b.y for b in inside) - CLUSTER_PAD - LABEL_BAND
            y1 = max(b.bottom for b in inside) + CLUSTER_PAD
            label = _style.text_width(tree.labels[cid], _style.CLUSTER_PX) + 2 * CLUSTER_PAD
            if x1 - x0 < label and strip != "row":
                grow = (label - (x1 - x0)) / 2
                x0, x1 = x0 - grow, x1 + grow
            out[(cid, strip)] = Box(x0, y0, x1 - x0, y1 - y0)
    pieces: dict[str, list[Box]] = {}
    for cid in tree.ids:
        pieces[cid] = [out[(cid, s)] for s in ("left", "row", "right") if (cid, s) in out]
    return pieces


# --- edges ---------------------------------------------------------------------------------------


def _gutter_lanes(g: RGraph, ids: list[str]) -> dict[tuple[str, str], int]:
    """Edges between two nodes of one strip that are not consecutive: a lane each beside it,
    shared by edges whose spans do not overlap."""
    pos = {nid: k for k, nid in enumerate(ids)}
    spans = sorted(
        (min(pos[e.src], pos[e.dst]), max(pos[e.src], pos[e.dst]), e.src, e.dst)
        for e in g.edges
        if e.src in pos and e.dst in pos and abs(pos[e.src] - pos[e.dst]) > 1
    )
    ends: list[int] = []  # per lane, the last position it is busy to
    out: dict[tuple[str, str], int] = {}
    for lo, hi, src, dst in spans:
        lane = next((k for k, end in enumerate(ends) if end <= lo), len(ends))
        if lane == len(ends):
            ends.append(hi)
        ends[lane] = hi
        out[(src, dst)] = lane
    return out


def _gutter_width(lanes: dict[tuple[str, str], int]) -> float:
    return (max(lanes.values()) + 2) * GUTTER_STEP if lanes else 0.0


def _routes(
    g: RGraph,
    plan: UPlan,
    boxes: dict[str, Box],
    gut_l: dict[tuple[str, str], int],
    gut_r: dict[tuple[str, str], int],
    gut_row: dict[tuple[str, str], int],
    half_l: float,
    half_r: float,
    cx_l: float,
    cx_r: float,
) -> list[EdgeRoute]:
    anchors = set(plan.anchors)
    routes = []
    for e in g.edges:
        a, b = boxes[e.src], boxes[e.dst]
        key = (e.src, e.dst)
        if key in anchors:
            y = a.y + a.h / 2
            pts = [(a.right, y), (b.x, y)]
        elif key in gut_l:
            gx = cx_l - half_l - (gut_l[key] + 1) * GUTTER_STEP
            pts = [(a.x, a.y + a.h / 2), (gx, a.y + a.h / 2), (gx, b.y + b.h / 2), (b.x, b.y + b.h / 2)]
        elif key in gut_r:
            gx = cx_r + half_r + (gut_r[key] + 1) * GUTTER_STEP
            pts = [
                (a.right, a.y + a.h / 2),
                (gx, a.y + a.h / 2),
                (gx, b.y + b.h / 2),
                (b.right, b.y + b.h / 2),
            ]
        elif key in gut_row:
            gy = max(a.bottom, b.bottom) + (gut_row[key] + 1) * GUTTER_STEP
            ax, bx = a.x + a.w / 2, b.x + b.w / 2
            pts = [(ax, a.bottom), (ax, gy), (bx, gy), (bx, b.bottom)]
        else:
            pts = connect(a, b)
        routes.append(EdgeRoute(e.src, e.dst, e.kind, e.label, pts))
    return routes
