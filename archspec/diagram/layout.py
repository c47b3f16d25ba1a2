"""A layered (Sugiyama-style) layout of an :class:`RGraph`, in plain Python.

The passes, one helper each:

1. ``_ranks``: longest path from the sources; a source then moves down next to its first
   consumer (so a loss target sits beside its loss, not at the top of the page).
2. ``_build_items``: the real nodes plus a *dummy* per layer crossed by a long edge and a
   *filler* per layer a cluster spans without a member, so every cluster owns a column in every
   layer it spans.
3. ``_order``: barycenter sweeps; each layer is sorted by a key that groups cluster members, and
   sibling clusters keep one left-to-right order in all layers (the best sweep by crossing count
   wins).
4. ``_place``: per layer, weighted isotonic regression pulls items towards their neighbours while
   keeping them apart (this straightens chains and long edges); then one legalisation against a
   constraint DAG with a left and right border per cluster, so a cluster's rectangle holds its
   members and no one else.

Coordinates are computed on an abstract (order, rank) plane and turned into (x, y) at the end:
``LR`` is ``TB`` transposed. Every pass is near-linear, so 1,000 nodes lay out in a fraction of
a second.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import pairwise

from . import _style
from ._fold import fold
from ._geometry import (
    CLUSTER_GAP,
    CLUSTER_PAD,
    DUMMY_GAP,
    LABEL_BAND,
    MARGIN,
    MIXED_GAP,
    NODE_GAP,
    RANK_GAP,
    Box,
    ClusterTree,
    EdgeRoute,
    Layout,
    common_prefix,
    r2,
    topological,
)
from ._u import u_layout, u_plan
from .model import RGraph

__all__ = ["ARRANGEMENTS", "Box", "EdgeRoute", "Layout", "layout"]

SWEEPS = 8
SMOOTHING = 16
SNAP = 8.0  # boxes closer than this to the box above them are lined up with it

_REAL, _DUMMY, _FILLER = 0, 1, 2


ARRANGEMENTS = ("auto", "column", "u", "fold")
FOLD_ABOVE = 1400.0  # auto: a column taller than this (px) is folded when folding helps


def layout(g: RGraph, arrangement: str | None = None) -> Layout:
    """Lay ``g`` out; ``arrangement`` (default ``g.arrangement``) is one of :data:`ARRANGEMENTS`.

    - ``column``: layers from top to bottom (``TB``) or left to right (``LR``).
    - ``u``: an encoder–decoder drawn as a U (see ``_u.py``); refused when ``g`` has no skip
      along its longest path, or is drawn ``LR``.
    - ``fold``: the column cut into side-by-side bands to fit a 16:9 page (see ``_fold.py``).
    - ``auto``: ``u`` when the skips pair a down path with an up path, else ``fold`` for a
      column taller than :data:`FOLD_ABOVE` pixels, else ``column``.
    """
    mode = arrangement if arrangement is not None else g.arrangement
    if mode not in ARRANGEMENTS:
        raise ValueError(f"arrangement must be one of {', '.join(ARRANGEMENTS)}, got {mode!r}")
    if g.direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR', got {g.direction!r}")
    index = _node_index(g)
    ranks = _ranks(g, index)  # refuses cycles, whatever the arrangement
    if mode in ("u", "auto"):
        plan = u_plan(g, strict=mode == "auto")
        if plan is not None:
            return u_layout(g, plan)
        if mode == "u":
            raise ValueError(
                "arrangement 'u' needs a top-to-bottom graph with a skip edge along its longest path "
                "(an encoder–decoder); use 'column' or 'fold'"
            )
    column = _column(g, index, ranks)
    if mode == "fold" or (mode == "auto" and column.direction == "TB" and column.height > FOLD_ABOVE):
        if column.direction != "TB":
            raise ValueError("arrangement 'fold' draws top to bottom; use direction TB")
        return fold(g, column)
    return column


def _column(g: RGraph, index: dict[str, int], ranks: list[int]) -> Layout:
    tree = ClusterTree(g)
    items = _build_items(g, index, ranks, tree)
    layers = _order(items, max(ranks, default=-1) + 1)
    xs, borders = _place(items, layers, tree, g.direction)
    return _assemble(g, items, layers, xs, borders, tree)


# --- input checks and the cluster tree ------------------------------------------------------


def _node_index(g: RGraph) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, node in enumerate(g.nodes):
        if node.id in index:
            raise ValueError(f"render input has two nodes with id {node.id!r}")
        index[node.id] = i
    for e in g.edges:
        for end in (e.src, e.dst):
            if end not in index:
                raise ValueError(f"render input edge {e.src!r} -> {e.dst!r} names unknown node {end!r}")
    return index


# --- 1. ranks --------------------------------------------------------------------------------


def _ranks(g: RGraph, index: dict[str, int]) -> list[int]:
    n = len(g.nodes)
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    for e in g.edges:
        succ[index[e.src]].append(index[e.dst])
        pred[index[e.dst]].append(index[e.src])
    order = topological(n, succ, pred)
    if len(order) < n:
        stuck = [g.nodes[i].id for i in range(n) if i not in set(order)][:5]
        raise ValueError(f"render input must be acyclic; these nodes are on or after a cycle: {stuck}")
    rank = [0] * n
    for u in order:
        for v in succ[u]:
            rank[v] = max(rank[v], rank[u] + 1)
    for u in order:
        if not pred[u] and succ[u]:
            rank[u] = min(rank[v] for v in succ[u]) - 1
    return rank


# --- 2. items: nodes, dummies, fillers -------------------------------------------------------


class _Items:
    """Parallel arrays over everything placed in a layer (index < n_real: a real node)."""

    def __init__(self) -> None:
        self.rank: list[int] = []
        self.so: list[float] = []  # extent along the order axis
        self.sr: list[float] = []  # extent along the rank axis
        self.path: list[tuple[str, ...]] = []
        self.kind: list[int] = []
        self.up: list[list[tuple[int, float]]] = []
        self.down: list[list[tuple[int, float]]] = []
        self.chains: list[list[int]] = []  # per input edge: src, dummies..., dst

    def add(self, rank: int, so: float, sr: float, path: tuple[str, ...], kind: int) -> int:
        self.rank.append(rank)
        self.so.append(so)
        self.sr.append(sr)
        self.path.append(path)
        self.kind.append(kind)
        self.up.append([])
        self.down.append([])
        return len(self.rank) - 1

    def link(self, a: int, b: int) -> None:
        dummies = (self.kind[a] == _DUMMY) + (self.kind[b] == _DUMMY)
        weight = (4.0, 0.05, 8.0)[dummies]  # long edges straightest, then columns of boxes
        self.down[a].append((b, weight))
        self.up[b].append((a, weight))

    def __len__(self) -> int:
        return len(self.rank)


def _build_items(g: RGraph, index: dict[str, int], ranks: list[int], tree: ClusterTree) -> _Items:
    items = _Items()
    for node, rank in zip(g.nodes, ranks, strict=True):
        w, h = _style.box_size(node.title, node.lines)
        so, sr = (w, h) if g.direction == "TB" else (h, w)
        items.add(rank, so, sr, tree.node_path(node.cluster), _REAL)
    for e in g.edges:
        u, v = index[e.src], index[e.dst]
        common = common_prefix(items.path[u], items.path[v])
        chain = [u]
        for r in range(ranks[u] + 1, ranks[v]):
            chain.append(items.add(r, 0.0, 0.0, common, _DUMMY))
        chain.append(v)
        for a, b in pairwise(chain):
            items.link(a, b)
        items.chains.append(chain)
    _add_fillers(items, tree)
    return items


def _add_fillers(items: _Items, tree: ClusterTree) -> None:
    present: dict[str, set[int]] = defaultdict(set)
    for i in range(len(items)):
        for cid in items.path[i]:
            present[cid].add(items.rank[i])
    for cid in tree.ids:
        ranks = present[cid]
        for r in range(min(ranks), max(ranks) + 1):
            if r not in ranks:
                items.add(r, 0.0, 0.0, tree.path(cid), _FILLER)
                for anc in tree.path(cid):
                    present[anc].add(r)


# --- 3. order within layers ------------------------------------------------------------------


def _order(items: _Items, n_layers: int) -> list[list[int]]:
    layers = _initial_order(items, n_layers)
    pos = [0] * len(items)
    for layer in layers:
        for p, i in enumerate(layer):
            pos[i] = p
    best: list[list[int]] | None = None
    best_crossings = -1
    for sweep in range(SWEEPS):
        _sweep(items, layers, pos, downward=sweep % 2 == 0)
        crossings = _count_crossings(items, layers, pos)
        if best is None or crossings < best_crossings:
            best, best_crossings = [list(layer) for layer in layers], crossings
        if crossings == 0:
            break
    return best if best is not None else layers


def _initial_order(items: _Items, n_layers: int) -> list[list[int]]:
    """Depth-first from the sources, so subtrees start out side by side."""
    layers: list[list[int]] = [[] for _ in range(n_layers)]
    seen = [False] * len(items)
    roots = [i for i in range(len(items)) if not items.up[i]] + list(range(len(items)))
    for root in roots:
        stack = [root]
        while stack:
            i = stack.pop()
            if seen[i]:
                continue
            seen[i] = True
            layers[items.rank[i]].append(i)
            stack.extend(j for j, _ in reversed(items.down[i]) if not seen[j])
    return layers


def _sweep(items: _Items, layers: list[list[int]], pos: list[int], downward: bool) -> None:
    """One barycenter sweep. Cluster keys are fixed for the sweep, so sibling clusters keep
    one order in every layer (their rectangles could not be disjoint otherwise)."""
    centre = [(len(layer) - 1) / 2 for layer in layers]
    ckey = _cluster_keys(items, pos, centre)
    n_clusters = len(ckey)
    ks = range(len(layers)) if downward else range(len(layers) - 1, -1, -1)
    for k in ks:
        ref = k - 1 if downward else k + 1
        nbrs = items.up if downward else items.down
        layer = layers[k]
        keys = {}
        for i in layer:
            ns = nbrs[i] if 0 <= ref < len(layers) else []
            bary = sum(pos[j] for j, _ in ns) / len(ns) - centre[ref] if ns else pos[i] - centre[k]
            keys[i] = tuple(ckey[c] for c in items.path[i]) + ((bary, n_clusters + pos[i]),)
        layer.sort(key=keys.__getitem__)
        for p, i in enumerate(layer):
            pos[i] = p
        centre[k] = (len(layer) - 1) / 2


def _cluster_keys(items: _Items, pos: list[int], centre: list[float]) -> dict[str, tuple[float, int]]:
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    order: dict[str, int] = {}
    for i in range(len(items)):
        if not items.path[i]:
            continue
        ns = items.up[i] + items.down[i]
        if ns:
            value = sum(pos[j] - centre[items.rank[j]] for j, _ in ns) / len(ns)
        else:
            value = pos[i] - centre[items.rank[i]]
        for cid in items.path[i]:
            total[cid] += value
            count[cid] += 1
            order.setdefault(cid, len(order))
    return {cid: (total[cid] / count[cid], order[cid]) for cid in total}


def _count_crossings(items: _Items, layers: list[list[int]], pos: list[int]) -> int:
    total = 0
    for k in range(len(layers) - 1):
        pairs = sorted((pos[u], pos[v]) for u in layers[k] for v, _ in items.down[u])
        size = len(layers[k + 1]) + 1
        tree = [0] * (size + 1)
        for seen, (_, b) in enumerate(pairs):
            j, not_greater = b + 1, 0
            while j > 0:
                not_greater += tree[j]
                j -= j & -j
            total += seen - not_greater
            j = b + 1
            while j <= size:
                tree[j] += 1
                j += j & -j
    return total


# --- 4. coordinates along the order axis -----------------------------------------------------


def _label_bands(direction: str) -> tuple[float, float]:
    """Room for cluster labels (along the order axis, along the rank axis)."""
    return (LABEL_BAND, 0.0) if direction == "LR" else (0.0, LABEL_BAND)


class _ClusterReach:
    """How far each cluster's rectangle reaches left and right of a member's centre, assuming
    its members share one column (true of chains; legalisation fixes the rest).

    Used for the gap between neighbours on either side of a cluster border, so that smoothing
    already keeps long edges outside the whole rectangle (its widest member, its label) and
    legalisation does not have to shove narrow members sideways.
    """

    def __init__(self, items: _Items, tree: ClusterTree, direction: str) -> None:
        self.items = items
        lab_o, _ = _label_bands(direction)
        self.left = dict.fromkeys(tree.ids, 0.0)
        self.right = dict.fromkeys(tree.ids, 0.0)
        for i in range(len(items)):
            if items.path[i]:
                cid = items.path[i][-1]
                self.left[cid] = max(self.left[cid], items.so[i] / 2 + CLUSTER_PAD + lab_o)
                self.right[cid] = max(self.right[cid], items.so[i] / 2 + CLUSTER_PAD)
        for cid in sorted(tree.ids, key=lambda c: -len(tree.path(c))):
            if direction == "TB":
                label = _style.text_width(tree.labels[cid], _style.CLUSTER_PX) + 2 * CLUSTER_PAD
                self.right[cid] = max(self.right[cid], label - self.left[cid])
            par = tree.parent[cid]
            if par is not None:
                self.left[par] = max(self.left[par], self.left[cid] + CLUSTER_PAD + lab_o)
                self.right[par] = max(self.right[par], self.right[cid] + CLUSTER_PAD)

    def separation(self, a: int, b: int) -> float:
        """The least distance between the centres of layer neighbours ``a`` (left) and ``b``."""
        items = self.items
        pa, pb = items.path[a], items.path[b]
        c = len(common_prefix(pa, pb))
        if len(pa) > c or len(pb) > c:
            left = self.right[pa[c]] if len(pa) > c else items.so[a] / 2
            right = self.left[pb[c]] if len(pb) > c else items.so[b] / 2
            return left + CLUSTER_GAP + right
        real = (items.kind[a] == _REAL) + (items.kind[b] == _REAL)
        return (items.so[a] + items.so[b]) / 2 + (DUMMY_GAP, MIXED_GAP, NODE_GAP)[real]


def _place(
    items: _Items, layers: list[list[int]], tree: ClusterTree, direction: str
) -> tuple[list[float], dict[str, tuple[float, float]]]:
    reach = _ClusterReach(items, tree, direction)
    seps = [[reach.separation(a, b) for a, b in pairwise(layer)] for layer in layers]
    xs = [0.0] * len(items)
    for layer, sep in zip(layers, seps, strict=True):
        offset = -sum(sep) / 2
        for i, s in zip(layer, [0.0, *sep], strict=True):
            offset += s
            xs[i] = offset
    _smooth(items, layers, seps, xs, SMOOTHING)
    return _legalise(items, layers, tree, xs, direction)


def _smooth(
    items: _Items, layers: list[list[int]], seps: list[list[float]], xs: list[float], rounds: int
) -> None:
    """Alternate downward and upward sweeps; the last two pull towards both sides at once."""
    for it in range(rounds):
        both = it >= rounds - 2
        downward = it % 2 == 0
        ks = range(len(layers)) if downward else range(len(layers) - 1, -1, -1)
        for k in ks:
            _smooth_layer(items, layers[k], seps[k], xs, downward, both)


def _smooth_layer(
    items: _Items, layer: list[int], sep: list[float], xs: list[float], downward: bool, both: bool
) -> None:
    targets, weights = [], []
    for i in layer:
        ns = items.up[i] + items.down[i] if both else (items.up[i] if downward else items.down[i])
        wsum = sum(w for _, w in ns)
        if wsum:
            targets.append(sum(xs[j] * w for j, w in ns) / wsum)
            weights.append(wsum)
        else:
            targets.append(xs[i])
            weights.append(0.05)
    for i, x in zip(layer, _isotonic(targets, weights, sep), strict=True):
        xs[i] = x


def _isotonic(targets: list[float], weights: list[float], sep: list[float]) -> list[float]:
    """Positions closest (weighted least squares) to ``targets`` that keep order and ``sep``.

    With ``y_i = x_i - offset_i`` (``offset`` the running sum of separations) the constraints
    become ``y`` non-decreasing: pool-adjacent-violators solves that exactly in linear time.
    """
    offsets = [0.0]
    for s in sep:
        offsets.append(offsets[-1] + s)
    blocks: list[list[float]] = []  # [weighted sum, weight, count]
    for t, w, off in zip(targets, weights, offsets, strict=True):
        blocks.append([(t - off) * w, w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, w2, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += w2
            blocks[-1][2] += c
    out: list[float] = []
    for s, w, c in blocks:
        out.extend([s / w] * int(c))
    return [y + off for y, off in zip(out, offsets, strict=True)]


def _legalise(
    items: _Items, layers: list[list[int]], tree: ClusterTree, xs: list[float], direction: str
) -> tuple[list[float], dict[str, tuple[float, float]]]:
    """Make every separation hold, cluster borders included, moving items as little as we can.

    Pushing everything right of its lower bounds gives one legal placement, pushing left of the
    upper bounds another; the constraints are linear, so their average is legal too and sits
    close to the smoothed positions. Cluster borders are then pulled in to their members.
    """
    n = len(items)
    border = {cid: n + 2 * k for k, cid in enumerate(tree.ids)}  # left border; right is +1
    cons = _constraints(items, layers, tree, border, direction)
    total = n + 2 * len(tree.ids)
    succ: list[list[tuple[int, float]]] = [[] for _ in range(total)]
    pred: list[list[tuple[int, float]]] = [[] for _ in range(total)]
    for (a, b), d in cons.items():
        succ[a].append((b, d))
        pred[b].append((a, d))
    order = topological(total, [[b for b, _ in s] for s in succ], pred)  # type: ignore[arg-type]
    if len(order) < total:
        raise AssertionError("cluster order constraints are cyclic; this is a bug in the layout")
    cur = xs + _initial_borders(items, tree, xs, direction)
    right, left = list(cur), list(cur)
    for v in order:
        for b, d in succ[v]:
            right[b] = max(right[b], right[v] + d)
    for v in reversed(order):
        for a, d in pred[v]:
            left[a] = min(left[a], left[v] - d)
    x = [(p + q) / 2 for p, q in zip(right, left, strict=True)]
    _tighten_borders(tree, border, succ, pred, x)
    _snap_columns(items, layers, succ, pred, x)
    _tighten_borders(tree, border, succ, pred, x)
    return x[:n], {cid: (x[border[cid]], x[border[cid] + 1]) for cid in tree.ids}


def _tighten_borders(
    tree: ClusterTree,
    border: dict[str, int],
    succ: list[list[tuple[int, float]]],
    pred: list[list[tuple[int, float]]],
    x: list[float],
) -> None:
    """Pull each cluster border in to its members (inner clusters first); still legal."""
    deepest_first = sorted(tree.ids, key=lambda c: -len(tree.path(c)))
    for cid in deepest_first:
        v = border[cid]
        x[v] = min(x[b] - d for b, d in succ[v])
    for cid in deepest_first:
        v = border[cid] + 1
        x[v] = max(x[a] + d for a, d in pred[v])


def _snap_columns(
    items: _Items,
    layers: list[list[int]],
    succ: list[list[tuple[int, float]]],
    pred: list[list[tuple[int, float]]],
    x: list[float],
) -> None:
    """Line a box up with the box above it when they are one link of a chain (long edges
    aside) and only a few pixels apart, within the room its neighbours and borders leave it."""
    for layer in layers:
        for v in layer:
            ups = [j for j, _ in items.up[v] if items.kind[j] == _REAL]
            if items.kind[v] != _REAL or len(ups) != 1:
                continue
            u = ups[0]
            downs = [j for j, _ in items.down[u] if items.kind[j] == _REAL]
            if len(downs) != 1 or abs(x[u] - x[v]) > SNAP:
                continue
            lo = max((x[a] + d for a, d in pred[v]), default=-math.inf)
            hi = min((x[b] - d for b, d in succ[v]), default=math.inf)
            x[v] = min(max(x[u], lo), hi)


def _constraints(
    items: _Items, layers: list[list[int]], tree: ClusterTree, border: dict[str, int], direction: str
) -> dict[tuple[int, int], float]:
    """``{(a, b): d}`` meaning ``x[b] >= x[a] + d``, over items and cluster borders."""
    lab_o, _ = _label_bands(direction)
    cons: dict[tuple[int, int], float] = {}

    def need(a: int, b: int, d: float) -> None:
        if cons.get((a, b), -1.0) < d:
            cons[(a, b)] = d

    for layer in layers:
        for a, b in pairwise(layer):
            pa, pb = items.path[a], items.path[b]
            c = len(common_prefix(pa, pb))
            if len(pa) == c and len(pb) == c:
                real = (items.kind[a] == _REAL) + (items.kind[b] == _REAL)
                need(a, b, (items.so[a] + items.so[b]) / 2 + (DUMMY_GAP, MIXED_GAP, NODE_GAP)[real])
                continue
            left, lext = (border[pa[c]] + 1, 0.0) if len(pa) > c else (a, items.so[a] / 2)
            right, rext = (border[pb[c]], 0.0) if len(pb) > c else (b, items.so[b] / 2)
            need(left, right, lext + rext + CLUSTER_GAP)
    for i in range(len(items)):
        if items.path[i]:
            lb = border[items.path[i][-1]]
            need(lb, i, items.so[i] / 2 + CLUSTER_PAD + lab_o)
            need(i, lb + 1, items.so[i] / 2 + CLUSTER_PAD)
    for cid in tree.ids:
        lb, par = border[cid], tree.parent[cid]
        if par is not None:
            need(border[par], lb, CLUSTER_PAD + lab_o)
            need(lb + 1, border[par] + 1, CLUSTER_PAD)
        if direction == "TB":
            need(lb, lb + 1, _style.text_width(tree.labels[cid], _style.CLUSTER_PX) + 2 * CLUSTER_PAD)
    return cons


def _initial_borders(items: _Items, tree: ClusterTree, xs: list[float], direction: str) -> list[float]:
    lo, hi = _cluster_extents(items, tree, xs, direction)
    out: list[float] = []
    for cid in tree.ids:
        out += [lo[cid], hi[cid]]
    return out


def _cluster_extents(
    items: _Items, tree: ClusterTree, xs: list[float], direction: str
) -> tuple[dict[str, float], dict[str, float]]:
    """Each cluster's left and right border implied by its members where they are now."""
    lab_o, _ = _label_bands(direction)
    lo = {cid: float("inf") for cid in tree.ids}
    hi = {cid: float("-inf") for cid in tree.ids}
    for i in range(len(items)):
        if items.path[i]:
            cid = items.path[i][-1]
            lo[cid] = min(lo[cid], xs[i] - items.so[i] / 2 - CLUSTER_PAD - lab_o)
            hi[cid] = max(hi[cid], xs[i] + items.so[i] / 2 + CLUSTER_PAD)
    for cid in sorted(tree.ids, key=lambda c: -len(tree.path(c))):
        if direction == "TB":
            label = _style.text_width(tree.labels[cid], _style.CLUSTER_PX) + 2 * CLUSTER_PAD
            hi[cid] = max(hi[cid], lo[cid] + label)
        par = tree.parent[cid]
        if par is not None:
            lo[par] = min(lo[par], lo[cid] - CLUSTER_PAD - lab_o)
            hi[par] = max(hi[par], hi[cid] + CLUSTER_PAD)
    return lo, hi


# --- 5. the rank axis, edge routes and the final (x, y) --------------------------------------


class _RankAxis:
    """Where each layer starts along the rank axis, leaving room for cluster borders."""

    def __init__(
        self, items: _Items, layers: list[list[int]], tree: ClusterTree, direction: str, xs: list[float]
    ) -> None:
        _, self.lab_r = _label_bands(direction)
        n = len(layers)
        self.thick = [max((items.sr[i] for i in layer), default=0.0) for layer in layers]
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        for i in range(len(items)):
            for cid in items.path[i]:
                self.first[cid] = min(self.first.get(cid, n), items.rank[i])
                self.last[cid] = max(self.last.get(cid, -1), items.rank[i])
        self.nest_top = {c: self._nest(tree, c, self.first) for c in tree.ids}
        self.nest_bottom = {c: self._nest(tree, c, self.last) for c in tree.ids}
        top_depth, bottom_depth = [0] * (n + 1), [0] * (n + 1)
        for cid in tree.ids:
            top_depth[self.first[cid]] = max(top_depth[self.first[cid]], self.nest_top[cid])
            bottom_depth[self.last[cid]] = max(bottom_depth[self.last[cid]], self.nest_bottom[cid])
        self.start = [0.0] * n
        for k in range(1, n):
            self.start[k] = (
                self.start[k - 1]
                + self.thick[k - 1]
                + self._gap(items, layers[k - 1], xs)
                + CLUSTER_PAD * bottom_depth[k - 1]
                + (CLUSTER_PAD + self.lab_r) * top_depth[k]
            )

    @staticmethod
    def _gap(items: _Items, layer: list[int], xs: list[float]) -> float:
        """The base gap below ``layer``, opened up where edges fan out far sideways (so their
        curves do not arrive flat)."""
        reach = max((abs(xs[j] - xs[i]) for i in layer for j, _ in items.down[i]), default=0.0)
        return RANK_GAP + min(RANK_GAP * 1.5, max(0.0, reach - 4 * RANK_GAP) * 0.1)

    @staticmethod
    def _nest(tree: ClusterTree, cid: str, edge_rank: dict[str, int]) -> int:
        """How many nested borders stack up at ``cid``'s first (or last) layer."""
        inner = [
            _RankAxis._nest(tree, ch, edge_rank)
            for ch in tree.children[cid]
            if edge_rank[ch] == edge_rank[cid]
        ]
        return 1 + max(inner, default=0)

    def end(self, k: int) -> float:
        return self.start[k] + self.thick[k]

    def cluster_span(self, cid: str) -> tuple[float, float]:
        top = self.start[self.first[cid]] - self.nest_top[cid] * (CLUSTER_PAD + self.lab_r)
        bottom = self.end(self.last[cid]) + self.nest_bottom[cid] * CLUSTER_PAD
        return top, bottom


def _assemble(
    g: RGraph,
    items: _Items,
    layers: list[list[int]],
    xs: list[float],
    borders: dict[str, tuple[float, float]],
    tree: ClusterTree,
) -> Layout:
    axis = _RankAxis(items, layers, tree, g.direction, xs)

    def rtop(i: int) -> float:
        k = items.rank[i]
        return axis.start[k] + (axis.thick[k] - items.sr[i]) / 2

    nodes = {
        node.id: (xs[i] - items.so[i] / 2, rtop(i), items.so[i], items.sr[i])
        for i, node in enumerate(g.nodes)
    }
    clusters = {}
    for cid, (lo, hi) in borders.items():
        top, bottom = axis.cluster_span(cid)
        clusters[cid] = (lo, top, hi - lo, bottom - top)
    routes = []
    for e, chain in zip(g.edges, items.chains, strict=True):
        u, v = chain[0], chain[-1]
        pts = [(xs[u], rtop(u) + items.sr[u]), (xs[u], axis.end(items.rank[u]))]
        for d in chain[1:-1]:
            pts += [(xs[d], axis.start[items.rank[d]]), (xs[d], axis.end(items.rank[d]))]
        pts += [(xs[v], axis.start[items.rank[v]]), (xs[v], rtop(v))]
        routes.append((e, [p for k, p in enumerate(pts) if k == 0 or p != pts[k - 1]]))
    return _to_xy(g, nodes, clusters, routes, items)


def _to_xy(g: RGraph, nodes: dict, clusters: dict, routes: list, items: _Items) -> Layout:
    """Turn (order, rank) into (x, y), shifted so the drawing starts at the margin."""
    lr = g.direction == "LR"

    def box(o: float, r: float, so: float, sr: float) -> tuple[float, float, float, float]:
        return (r, o, sr, so) if lr else (o, r, so, sr)

    boxes = {k: box(*v) for k, v in nodes.items()}
    cboxes = {k: box(*v) for k, v in clusters.items()}
    paths = [(e, [(r, o) if lr else (o, r) for o, r in pts]) for e, pts in routes]
    all_x = [b[0] for b in (*boxes.values(), *cboxes.values())] + [p[0] for _, pts in paths for p in pts]
    all_y = [b[1] for b in (*boxes.values(), *cboxes.values())] + [p[1] for _, pts in paths for p in pts]
    dx = MARGIN - min(all_x, default=0.0)
    dy = MARGIN - min(all_y, default=0.0)
    out = Layout(direction=g.direction, width=0.0, height=0.0)
    out.nodes = {k: Box(r2(x + dx), r2(y + dy), w, h) for k, (x, y, w, h) in boxes.items()}
    out.clusters = {k: Box(r2(x + dx), r2(y + dy), r2(w), r2(h)) for k, (x, y, w, h) in cboxes.items()}
    out.edges = [
        EdgeRoute(e.src, e.dst, e.kind, e.label, [(r2(x + dx), r2(y + dy)) for x, y in pts])
        for e, pts in paths
    ]
    out.ranks = {node.id: items.rank[i] for i, node in enumerate(g.nodes)}
    out.pieces = {k: [b] for k, b in out.clusters.items()}
    right = [b.right for b in (*out.nodes.values(), *out.clusters.values())]
    bottom = [b.bottom for b in (*out.nodes.values(), *out.clusters.values())]
    out.width = r2(max(right, default=0.0) + MARGIN)
    out.height = r2(max(bottom, default=0.0) + MARGIN)
    return out
