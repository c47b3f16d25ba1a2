"""Folding a tall column into side-by-side columns, like a newspaper, to fit a page.

The column layout is cut between two layers into *bands*; the bands are set side by side,
left to right, each starting at the top. A cut is placed near an even share of the height,
preferring gaps that few edges and clusters cross. An edge that crosses a cut leaves its band
at the bottom, runs up the gap to the right of it, over the top and down into the next band; a
cluster that a cut crosses is drawn as one rectangle per band (only the first is labelled).

The number of bands is the one whose drawing comes closest to ``ASPECT`` (16:9).
"""

from __future__ import annotations

import bisect
import math

from ._geometry import CLUSTER_PAD, Box, ClusterTree, EdgeRoute, Layout, finish_layout
from .model import RGraph

__all__ = ["ASPECT", "best_bands", "fold"]

ASPECT = 16 / 9
BAND_GAP = 48.0  # between two bands
LANE_STEP = 8.0  # between two edges that cross the same cut
OUTER_GAP = 14.0  # between a band and the edges routed below or above it
_EPS = 0.01


class _Cuts:
    """Per gap between layer ``k`` and ``k+1``: where the band above ends and the one below
    starts, and how much a cut there costs (edges and clusters crossing it)."""

    def __init__(self, g: RGraph, lay: Layout, tree: ClusterTree) -> None:
        n = max(lay.ranks.values(), default=-1) + 1
        self.n_layers = n
        top = [math.inf] * n
        bottom = [-math.inf] * n
        self.left = [math.inf] * n  # per layer, how far its boxes reach sideways
        self.right = [-math.inf] * n
        for nid, box in lay.nodes.items():
            k = lay.ranks[nid]
            top[k], bottom[k] = min(top[k], box.y), max(bottom[k], box.bottom)
            self.left[k], self.right[k] = min(self.left[k], box.x), max(self.right[k], box.right)
        self.span: dict[str, tuple[int, int]] = {}
        for nid, path in tree.path_of.items():
            for cid in path:
                lo, hi = self.span.get(cid, (n, -1))
                self.span[cid] = (min(lo, lay.ranks[nid]), max(hi, lay.ranks[nid]))
        self.depth = {cid: len(tree.path(cid)) for cid in tree.ids}
        self.lower = list(bottom)  # band above a cut after layer k ends here
        self.upper = [math.inf] * n  # band below a cut after layer k starts here (index k)
        for k in range(n - 1):
            self.upper[k] = top[k + 1]
        for cid, (first, last) in self.span.items():
            box = lay.clusters[cid]
            self.lower[last] = max(self.lower[last], box.bottom)
            if first > 0:
                self.upper[first - 1] = min(self.upper[first - 1], box.y)
        self.cost = [0.0] * n
        for e in lay.edges:
            for k in range(lay.ranks[e.src], lay.ranks[e.dst]):
                self.cost[k] += 1.0
        for first, last in self.span.values():
            for k in range(first, last):
                self.cost[k] += 4.0
        self.top = min(top, default=0.0)
        self.bottom = max(bottom, default=0.0)

    def choose(self, bands: int) -> list[int]:
        """Layers after which to cut, for ``bands`` bands of about equal height."""
        height = self.bottom - self.top
        share = height / bands
        cuts: list[int] = []
        for c in range(1, bands):
            target = self.top + c * share
            after = cuts[-1] + 1 if cuts else 0
            best, best_score = None, math.inf
            for k in range(after, self.n_layers - 1):
                mid = (self.lower[k] + self.upper[k]) / 2
                off = abs(mid - target) / share
                if off > 0.35 and best is not None and mid > target:
                    break
                score = self.cost[k] + 6.0 * off
                if score < best_score:
                    best, best_score = k, score
            if best is None:
                break
            cuts.append(best)
        return cuts


def best_bands(g: RGraph, lay: Layout, tree: ClusterTree | None = None) -> int:
    """How many bands bring ``lay`` closest to the page aspect ratio (1: leave it alone)."""
    return _best_bands(lay, _Cuts(g, lay, tree or ClusterTree(g)))


def _best_bands(lay: Layout, cuts: _Cuts) -> int:
    if cuts.n_layers < 4 or lay.height <= lay.width * ASPECT:
        return 1
    guess = max(1, round(math.sqrt(ASPECT * lay.height / max(lay.width, 1.0))))
    scores = []
    for bands in range(max(1, guess - 2), guess + 3):
        w, h = _measure(lay, cuts, cuts.choose(bands))
        scores.append((abs(math.log((w / h) / ASPECT)), bands))
    return min(scores)[1]


def _measure(lay: Layout, cuts: _Cuts, chosen: list[int]) -> tuple[float, float]:
    """Width and height of the folded drawing, from the boxes alone (edges add a little)."""
    width, height = 0.0, 0.0
    for lo_k, hi_k in _band_ranges(chosen, cuts.n_layers):
        left, right = _box_extent(lay, cuts, lo_k, hi_k)
        width += right - left + BAND_GAP
        y0 = cuts.upper[lo_k - 1] if lo_k else cuts.top
        height = max(height, cuts.lower[hi_k] - y0 + 2 * OUTER_GAP)
    return width, height


def _box_extent(lay: Layout, cuts: _Cuts, lo_k: int, hi_k: int) -> tuple[float, float]:
    """How far the boxes and cluster rectangles of layers ``lo_k..hi_k`` reach sideways."""
    left = min(cuts.left[lo_k : hi_k + 1])
    right = max(cuts.right[lo_k : hi_k + 1])
    for cid, box in lay.clusters.items():
        if _overlaps(cuts.span[cid], lo_k, hi_k):
            left, right = min(left, box.x), max(right, box.right)
    return left, right


def _band_ranges(chosen: list[int], n_layers: int) -> list[tuple[int, int]]:
    edges = [-1, *chosen, n_layers - 1]
    return [(edges[i] + 1, edges[i + 1]) for i in range(len(edges) - 1)]


def _overlaps(span: tuple[int, int], lo: int, hi: int) -> bool:
    return span[0] <= hi and span[1] >= lo


def fold(g: RGraph, lay: Layout, bands: int | None = None) -> Layout:
    """``lay`` (a top-to-bottom column layout of ``g``) cut into ``bands`` side-by-side bands
    (by default as many as :func:`best_bands` says)."""
    cuts = _Cuts(g, lay, ClusterTree(g))
    bands = bands if bands is not None else _best_bands(lay, cuts)
    chosen = cuts.choose(bands) if bands > 1 else []
    if not chosen:
        lay.arrangement = "fold"
        return lay
    ranges = _band_ranges(chosen, cuts.n_layers)
    band_of = {
        nid: next(i for i, (lo, hi) in enumerate(ranges) if lo <= k <= hi) for nid, k in lay.ranks.items()
    }
    lanes = _lanes(lay, band_of)
    top_room = OUTER_GAP + LANE_STEP * max((v for _, v in lanes.values()), default=0)
    shifts, extents = _band_shifts(lay, cuts, ranges, lanes, top_room)
    boxes = {nid: b.moved(*shifts[band_of[nid]]) for nid, b in lay.nodes.items()}
    pieces = _pieces(lay, cuts, ranges, shifts)
    routes = [_route(i, e, band_of, ranges, cuts, shifts, extents, lanes) for i, e in enumerate(lay.edges)]
    return finish_layout(lay.direction, boxes, pieces, routes, lay.ranks, "fold")


def _lanes(lay: Layout, band_of: dict[str, int]) -> dict[int, tuple[int, int]]:
    """Per edge (by index) that leaves its band: (its lane in the gap after its band, its lane
    over the top)."""
    gap_count: dict[int, int] = {}
    top_count = 0
    out = {}
    for i, e in enumerate(lay.edges):
        a = band_of[e.src]
        if band_of[e.dst] == a:
            continue
        gap_count[a] = gap_count.get(a, 0) + 1
        top_count += 1
        out[i] = (gap_count[a], top_count)
    return out


def _band_shifts(
    lay: Layout,
    cuts: _Cuts,
    ranges: list[tuple[int, int]],
    lanes: dict[int, tuple[int, int]],
    top_room: float,
) -> tuple[list[tuple[float, float]], list[tuple[float, float, float]]]:
    """Per band, the (dx, dy) that moves it into place, and its new (left, right, bottom)."""
    gap_lanes: dict[int, int] = {}
    ranks = lay.ranks
    for i, (g_lane, _) in lanes.items():
        a = _band_index(ranges, ranks[lay.edges[i].src])
        gap_lanes[a] = max(gap_lanes.get(a, 0), g_lane)
    starts = [cuts.upper[lo_k - 1] if lo_k else cuts.top for lo_k, _ in ranges]
    reach = [list(_box_extent(lay, cuts, lo_k, hi_k)) for lo_k, hi_k in ranges]
    for e in lay.edges:  # long edges run beside the boxes: they widen a band too
        for x, y in e.points:
            b = max(0, bisect.bisect_right(starts, y + _EPS) - 1)
            reach[b][0], reach[b][1] = min(reach[b][0], x), max(reach[b][1], x)
    shifts, extents = [], []
    cursor = 0.0
    for b, (_, hi_k) in enumerate(ranges):
        y0, y1 = starts[b], cuts.lower[hi_k]
        left, right = reach[b]
        dx, dy = cursor - left, top_room + CLUSTER_PAD * 3 - y0
        shifts.append((dx, dy))
        extents.append((cursor, cursor + right - left, y1 + dy))
        cursor += right - left + BAND_GAP + LANE_STEP * gap_lanes.get(b, 0)
    return shifts, extents


def _band_index(ranges: list[tuple[int, int]], rank: int) -> int:
    return next(i for i, (lo, hi) in enumerate(ranges) if lo <= rank <= hi)


def _pieces(
    lay: Layout, cuts: _Cuts, ranges: list[tuple[int, int]], shifts: list[tuple[float, float]]
) -> dict[str, list[Box]]:
    """Each cluster clipped to every band it reaches; a cut border sits a padding outside
    the cut for each level of nesting, so nested pieces stay apart."""
    out: dict[str, list[Box]] = {}
    for cid, box in lay.clusters.items():
        first, last = cuts.span[cid]
        slack = CLUSTER_PAD * (4 - min(3, cuts.depth[cid]))
        pieces = []
        for b, (lo_k, hi_k) in enumerate(ranges):
            if not _overlaps((first, last), lo_k, hi_k):
                continue
            y0 = box.y if first >= lo_k else cuts.upper[lo_k - 1] - slack
            y1 = box.bottom if last <= hi_k else cuts.lower[hi_k] + slack
            pieces.append(Box(box.x, y0, box.w, y1 - y0).moved(*shifts[b]))
        out[cid] = pieces
    return out


def _route(
    i: int,
    e: EdgeRoute,
    band_of: dict[str, int],
    ranges: list[tuple[int, int]],
    cuts: _Cuts,
    shifts: list[tuple[float, float]],
    extents: list[tuple[float, float, float]],
    lanes: dict[int, tuple[int, int]],
) -> EdgeRoute:
    a, b = band_of[e.src], band_of[e.dst]
    da, db = shifts[a], shifts[b]
    if a == b:
        return EdgeRoute(e.src, e.dst, e.kind, e.label, [(x + da[0], y + da[1]) for x, y in e.points])
    cut_a = cuts.lower[ranges[a][1]]
    cut_b = cuts.upper[ranges[b][0] - 1]
    head = [(x + da[0], y + da[1]) for x, y in e.points if y <= cut_a + _EPS]
    tail = [(x + db[0], y + db[1]) for x, y in e.points if y >= cut_b - _EPS]
    gap_lane, top_lane = lanes[i]
    below = extents[a][2] + OUTER_GAP + LANE_STEP * gap_lane
    gap_x = extents[a][1] + BAND_GAP / 2 + LANE_STEP * (gap_lane - 1)
    over = OUTER_GAP + LANE_STEP * (top_lane - 1)
    x_out, x_in = head[-1][0], tail[0][0]
    pts = [*head, (x_out, below), (gap_x, below), (gap_x, over), (x_in, over), *tail]
    return EdgeRoute(e.src, e.dst, e.kind, e.label, pts)
