"""The neutral input of the render stage: a graph of boxes, edges and clusters.

Nothing here knows about specs, ops or torch. An adapter turns the archspec graph into an
:class:`RGraph`; every renderer (:func:`~archspec.diagram.layout.layout`, SVG, DOT, Mermaid,
HTML) reads only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EDGE_KINDS", "FAMILIES", "HIGHLIGHTS", "RCluster", "REdge", "RGraph", "RNode", "cluster_children"]

#: Node families, in the order the legend lists them. Unknown families render in grey.
FAMILIES: tuple[str, ...] = (
    "input",
    "dense",
    "conv",
    "pool",
    "norm",
    "activation",
    "dropout",
    "merge",
    "shape",
    "recurrent",
    "attention",
    "feature",
    "embedding",
    "block",
    "output",
    "loss",
)
EDGE_KINDS: tuple[str, ...] = ("data", "skip", "loss")
HIGHLIGHTS: tuple[str, ...] = ("added", "changed", "removed", "unchanged")


@dataclass
class RNode:
    """One box: a bold ``title`` line over smaller detail ``lines``.

    ``cluster`` lists the ids of the clusters the node sits in, outermost first.
    ``highlight`` marks architecture diffs: ``"added"``, ``"changed"``, ``"removed"`` or
    ``"unchanged"`` (None outside a diff).
    ``info`` holds what a tooltip shows beyond the box (all arguments, input and output
    shapes, parameters, MACs, ``at``: the ``file:line`` of the node in the spec), in order.
    """

    id: str
    title: str
    op: str
    family: str
    lines: list[str] = field(default_factory=list)
    cluster: tuple[str, ...] = ()
    highlight: str | None = None
    info: dict[str, str] = field(default_factory=dict)


@dataclass
class RCluster:
    """A labelled group drawn as a rectangle: a block instance (``"block"``) or a part."""

    id: str
    label: str
    kind: str = "block"


@dataclass
class REdge:
    """A directed edge; ``kind`` is ``"data"``, ``"skip"`` or ``"loss"``."""

    src: str
    dst: str
    label: str = ""
    kind: str = "data"


@dataclass
class RGraph:
    """What every renderer draws. ``edges`` must form a DAG; ``direction`` is TB or LR;
    ``arrangement`` is how the layout places it: ``column``, ``u``, ``fold`` or ``auto``."""

    nodes: list[RNode]
    edges: list[REdge]
    clusters: dict[str, RCluster] = field(default_factory=dict)
    title: str = ""
    direction: str = "TB"
    arrangement: str = "column"


def cluster_children(g: RGraph) -> dict[str | None, tuple[list[str], list[RNode]]]:
    """For each cluster id (``None``: the top level), its child clusters and its own nodes,
    in first-seen order. A cluster's parent is the one before it in the first node naming it."""
    tree: dict[str | None, tuple[list[str], list[RNode]]] = {None: ([], [])}
    for node in g.nodes:
        parent: str | None = None
        for cid in node.cluster:
            if cid not in tree:
                tree[cid] = ([], [])
                tree[parent][0].append(cid)
            parent = cid
        tree[parent][1].append(node)
    return tree
