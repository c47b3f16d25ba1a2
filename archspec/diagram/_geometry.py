"""What every arrangement shares: spacing, the result types, the cluster tree, small helpers.

The column layout (``layout.py``), the U (``_u.py``) and the fold (``_fold.py``) all produce a
:class:`Layout`; :func:`finish_layout` shifts a drawing to the margin and measures it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from .model import RGraph

NODE_GAP = 28.0  # between two boxes in a layer
DUMMY_GAP = 10.0  # between two long edges in a layer
MIXED_GAP = 18.0  # between a box and a long edge
CLUSTER_GAP = 14.0  # between a cluster border and anything outside it
CLUSTER_PAD = 10.0  # between a cluster border and what is inside it
LABEL_BAND = 16.0  # room for a cluster's label above its members
RANK_GAP = 40.0  # between two layers (edges curve in here)
MARGIN = 16.0


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle: top-left corner and size, in pixels."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def moved(self, dx: float, dy: float) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)


@dataclass
class EdgeRoute:
    """An edge as a polyline from the border of ``src`` to the border of ``dst``.

    A segment whose ends differ in both coordinates is drawn as an S-curve; the others are
    straight.
    """

    src: str
    dst: str
    kind: str
    label: str
    points: list[tuple[float, float]]


@dataclass
class Layout:
    """Where everything goes. ``nodes`` and ``clusters`` map ids to boxes.

    ``pieces`` holds, per cluster, every rectangle it is drawn as (a cluster that a U or a fold
    cuts is drawn as one rectangle per column); ``clusters`` holds the first, which carries the
    label. ``arrangement`` says which arrangement made it: ``column``, ``u`` or ``fold``.
    """

    direction: str
    width: float
    height: float
    nodes: dict[str, Box] = field(default_factory=dict)
    clusters: dict[str, Box] = field(default_factory=dict)
    edges: list[EdgeRoute] = field(default_factory=list)
    ranks: dict[str, int] = field(default_factory=dict)
    pieces: dict[str, list[Box]] = field(default_factory=dict)
    arrangement: str = "column"


class ClusterTree:
    """Parents, children and labels of the clusters the nodes name.

    A node's ``cluster`` tuple is normalised to the path of its innermost cluster in this tree
    (the first parent seen for a cluster wins), so all paths agree with each other;
    ``path_of`` holds that path per node id.
    """

    def __init__(self, g: RGraph) -> None:
        self.parent: dict[str, str | None] = {}
        for node in g.nodes:
            for depth, cid in enumerate(node.cluster):
                self.parent.setdefault(cid, node.cluster[depth - 1] if depth else None)
        self.ids = list(self.parent)
        self.ordinal = {cid: i for i, cid in enumerate(self.ids)}
        self.children: dict[str, list[str]] = defaultdict(list)
        for cid, par in self.parent.items():
            if par is not None:
                self.children[par].append(cid)
        self.labels = {cid: (g.clusters[cid].label if cid in g.clusters else cid) for cid in self.ids}
        self._paths: dict[str, tuple[str, ...]] = {}
        self.path_of = {node.id: self.node_path(node.cluster) for node in g.nodes}

    def path(self, cid: str) -> tuple[str, ...]:
        if cid not in self._paths:
            par = self.parent[cid]
            self._paths[cid] = (self.path(par) if par is not None else ()) + (cid,)
        return self._paths[cid]

    def node_path(self, cluster: tuple[str, ...]) -> tuple[str, ...]:
        return self.path(cluster[-1]) if cluster else ()


def common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def topological(n: int, succ: list[list[int]], pred: list[list[int]]) -> list[int]:
    indeg = [len(p) for p in pred]
    order = [i for i in range(n) if indeg[i] == 0]
    head = 0
    while head < len(order):
        u = order[head]
        head += 1
        for v in succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                order.append(v)
    return order


def connect(a: Box, b: Box) -> list[tuple[float, float]]:
    """A route from box ``a`` to box ``b``: straight where they face each other across a gap,
    else an S-curve from the side of ``a`` that faces ``b``."""
    lo, hi = max(a.x, b.x), min(a.right, b.right)
    if lo < hi and (a.bottom <= b.y or b.bottom <= a.y):
        x = (lo + hi) / 2
        return [(x, a.bottom), (x, b.y)] if a.bottom <= b.y else [(x, a.y), (x, b.bottom)]
    lo, hi = max(a.y, b.y), min(a.bottom, b.bottom)
    if lo < hi and (a.right <= b.x or b.right <= a.x):
        y = (lo + hi) / 2
        return [(a.right, y), (b.x, y)] if a.right <= b.x else [(a.x, y), (b.right, y)]
    ax, bx = a.x + a.w / 2, b.x + b.w / 2
    if a.bottom <= b.y:
        return [(ax, a.bottom), (bx, b.y)]
    if b.bottom <= a.y:
        return [(ax, a.y), (bx, b.bottom)]
    ay, by = a.y + a.h / 2, b.y + b.h / 2
    return [(a.right, ay), (b.x, by)] if a.right <= b.x else [(a.x, ay), (b.right, by)]


def finish_layout(
    direction: str,
    boxes: dict[str, Box],
    pieces: dict[str, list[Box]],
    routes: list[EdgeRoute],
    ranks: dict[str, int],
    arrangement: str,
) -> Layout:
    """Shift everything so the drawing starts at the margin, round, and measure it."""
    all_boxes = [*boxes.values(), *(b for ps in pieces.values() for b in ps)]
    xs = [b.x for b in all_boxes] + [p[0] for r in routes for p in r.points]
    ys = [b.y for b in all_boxes] + [p[1] for r in routes for p in r.points]
    dx = MARGIN - min(xs, default=0.0)
    dy = MARGIN - min(ys, default=0.0)

    def shift(b: Box) -> Box:
        return Box(r2(b.x + dx), r2(b.y + dy), r2(b.w), r2(b.h))

    out = Layout(direction=direction, width=0.0, height=0.0, ranks=dict(ranks), arrangement=arrangement)
    out.nodes = {k: shift(b) for k, b in boxes.items()}
    out.pieces = {k: [shift(b) for b in ps] for k, ps in pieces.items() if ps}
    out.clusters = {k: ps[0] for k, ps in out.pieces.items()}
    out.edges = [
        EdgeRoute(r.src, r.dst, r.kind, r.label, _dedupe([(r2(x + dx), r2(y + dy)) for x, y in r.points]))
        for r in routes
    ]
    right = [b.right for b in (*out.nodes.values(), *(b for ps in out.pieces.values() for b in ps))]
    bottom = [b.bottom for b in (*out.nodes.values(), *(b for ps in out.pieces.values() for b in ps))]
    right += [p[0] for r in out.edges for p in r.points]
    bottom += [p[1] for r in out.edges for p in r.points]
    out.width = r2(max(right, default=0.0) + MARGIN)
    out.height = r2(max(bottom, default=0.0) + MARGIN)
    return out


def _dedupe(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [p for k, p in enumerate(points) if k == 0 or p != points[k - 1]]


def r2(v: float) -> float:
    """Round to 1/100 px: stable text output, and no drift between runs."""
    return round(v, 2)
