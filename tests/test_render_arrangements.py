"""The U and the fold: geometry read back from the SVG, as a viewer draws it.

The U: every skip of unet.yaml runs horizontally (both ends at one y), the encoder node sits
left of its decoder partner, the down path descends and the up path rises. The fold: long
chains come out near a 16:9 page (within a factor of 1.5). Both: no box overlaps another, every
edge starts and ends on its boxes, and every cluster's rectangles hold its members and no one
else.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from functools import cache

import pytest

from archspec.diagram import to_svg
from archspec.diagram.adapter import to_rgraph
from archspec.diagram.layout import layout
from archspec.diagram.model import RGraph
from archspec.pipeline import analyse, load
from tests.conftest import EXAMPLES, ROOT
from tests.test_render import SVG, Rect, chain, chain_with_skips, cluster_members, parse, segment_hits, unet

NAMES = [p.stem for p in EXAMPLES]
PAGE = 16 / 9


@cache
def _example(name: str, depth: int | None = None) -> RGraph:
    return to_rgraph(analyse(load(ROOT / "examples" / f"{name}.yaml")), depth=depth)


def _svg(g: RGraph, arrangement: str) -> str:
    g.arrangement = arrangement
    return to_svg(g)


def _pieces(svg: str) -> dict[str, list[Rect]]:
    """Every rectangle each cluster is drawn as."""
    out = {}
    for el in ET.fromstring(svg).iter(f"{SVG}g"):
        if "cluster" in el.get("class", "").split():
            out[el.get("data-id")] = [
                Rect(*(float(r.get(k)) for k in ("x", "y", "width", "height")))
                for r in el.findall(f"{SVG}rect")
            ]
    return out


def _aspect(svg: str) -> float:
    root = ET.fromstring(svg)
    return float(root.get("width")) / float(root.get("height"))


# --- the U ------------------------------------------------------------------------------------


def test_unet_yaml_is_drawn_as_a_u_by_default_of_auto():
    assert layout(_example("unet"), "auto").arrangement == "u"


def test_every_skip_of_unet_yaml_is_horizontal_and_the_encoder_sits_left_of_its_partner():
    g = _example("unet")
    p = parse(_svg(g, "u"))
    skips = [
        (s, d, pts)
        for s, d, pts in p.edges
        if (s, d) in {(e.src, e.dst) for e in g.edges if e.kind == "skip"}
    ]
    assert {(s, d) for s, d, _ in skips} == {("enc1.a2", "cat1"), ("enc2.a2", "cat2")}
    for src, dst, pts in skips:
        assert len({y for _, y in pts}) == 1, f"{src}->{dst} is not horizontal: {pts}"
        a, b = p.boxes[src], p.boxes[dst]
        assert a.y + a.h / 2 == pytest.approx(b.y + b.h / 2)
        assert a.x + a.w <= b.x, f"{src} is not left of {dst}"


def test_the_down_path_descends_on_the_left_and_the_up_path_rises_on_the_right():
    p = parse(_svg(_example("unet"), "u"))
    down = ["image", "enc1.c1", "enc1.a2", "down1", "enc2.c1", "enc2.a2"]
    up = ["cat2", "dec2.c1", "dec2.a2", "up1", "cat1", "dec1.a2", "head", "output:mask"]
    ys_down = [p.boxes[n].y for n in down]
    ys_up = [p.boxes[n].y for n in up]
    assert ys_down == sorted(ys_down) and ys_up == sorted(ys_up, reverse=True)
    assert max(p.boxes[n].x + p.boxes[n].w for n in down) < min(p.boxes[n].x for n in up)
    bottom = [n for n in p.boxes if n.startswith("bottom.")]
    lowest = max(p.boxes[n].y + p.boxes[n].h for n in down + up)
    assert all(p.boxes[n].y > lowest for n in bottom), "the bottleneck is not at the bottom"


def test_the_u_of_collapsed_blocks_keeps_its_skips_horizontal():
    g = _example("unet", depth=0)
    p = parse(_svg(g, "auto"))
    for e in g.edges:
        if e.kind == "skip":
            pts = next(pts for s, d, pts in p.edges if (s, d) == (e.src, e.dst))
            assert len({y for _, y in pts}) == 1


def test_u_edges_do_not_pass_through_unrelated_boxes():
    for g in (_example("unet"), unet()):
        p = parse(_svg(g, "u"))
        for src, dst, pts in p.edges:
            for nid, rect in p.boxes.items():
                if nid not in (src, dst):
                    assert not any(segment_hits(rect, a, b) for a, b in zip(pts, pts[1:])), (
                        f"{src}->{dst} crosses {nid}"
                    )


def test_u_is_refused_without_a_skip_and_auto_picks_it_only_for_nested_skips():
    with pytest.raises(ValueError, match="arrangement 'u' needs a top-to-bottom graph with a skip edge"):
        layout(chain(10), "u")
    resnet = _example("resnet18")  # residual skips follow each other: no U unless asked for
    assert layout(resnet, "auto").arrangement == "fold"
    assert layout(resnet, "u").arrangement == "u"
    lr = _example("two_branch")
    assert layout(lr, "auto").arrangement == "column"


# --- the fold ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [60, 300, 1000])
def test_folded_chains_fit_a_16_9_page_within_a_factor_of_1_5(n):
    g = chain(n) if n < 1000 else chain_with_skips(n)
    ratio = _aspect(_svg(g, "fold")) / PAGE
    assert 1 / 1.5 <= ratio <= 1.5, f"{n}-node chain folds to {ratio:.2f}× of 16:9"


@pytest.mark.parametrize("name", ["resnet18", "deep_cnn", "deep_mlp"])
def test_tall_examples_fold_to_a_page_and_auto_folds_them(name):
    g = _example(name)
    column = layout(g, "column")
    folded = layout(g, "auto")
    assert column.height > 1400 and folded.arrangement == "fold"
    ratio = folded.width / folded.height / PAGE
    assert abs(math.log(ratio)) < abs(math.log(column.width / column.height / PAGE))
    assert 1 / 1.5 <= ratio <= 1.5 or name == "deep_mlp"


def test_a_fold_keeps_the_order_of_the_chain_column_by_column():
    g = chain(200)
    lay = layout(g, "fold")
    cols: list[list[str]] = []
    for n in g.nodes:
        box = lay.nodes[n.id]
        if not cols or box.x > lay.nodes[cols[-1][-1]].x + lay.nodes[cols[-1][-1]].w:
            cols.append([])
        cols[-1].append(n.id)
        assert len(cols) == 1 or box.y >= lay.nodes[cols[-1][0]].y
    assert len(cols) > 2


# --- both: every example ----------------------------------------------------------------------


def _arrangements(g: RGraph) -> list[str]:
    """auto and fold, and u where there is a skip along the spine to draw it around."""
    try:
        layout(g, "u")
    except ValueError:
        return ["auto", "fold"]
    return ["auto", "fold", "u"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("depth", [None, 0])
def test_boxes_do_not_overlap_and_edges_end_on_their_boxes(name, depth):
    g = _example(name, depth)
    for arrangement in _arrangements(g):
        p = parse(_svg(g, arrangement))
        boxes = list(p.boxes.items())
        for i, (a, ra) in enumerate(boxes):
            for b, rb in boxes[i + 1 :]:
                assert not ra.overlaps(rb), f"{arrangement}: {a} overlaps {b}"
        for src, dst, pts in p.edges:
            assert p.boxes[src].on_border(*pts[0]), f"{arrangement}: {src}->{dst} starts off its box"
            assert p.boxes[dst].on_border(*pts[-1]), f"{arrangement}: {src}->{dst} ends off its box"


@pytest.mark.parametrize("name", NAMES)
def test_cluster_pieces_hold_their_members_and_no_one_else(name):
    """For what auto picks, and fold. (A U forced on a graph with side branches puts them in a
    lane beside the strip, where a cluster's rectangle may reach a neighbour: not checked.)"""
    g = _example(name)
    members = cluster_members(g)
    for arrangement in ("auto", "fold"):
        svg = _svg(g, arrangement)
        p, pieces = parse(svg), _pieces(svg)
        assert set(pieces) == set(members)
        for cid, rects in pieces.items():
            for nid, box in p.boxes.items():
                if nid in members[cid]:
                    assert any(r.contains(box) for r in rects), f"{arrangement}: {cid} does not hold {nid}"
                else:
                    assert not any(r.overlaps(box) for r in rects), f"{arrangement}: {cid} overlaps {nid}"


# --- through the API ----------------------------------------------------------------------------


def test_the_api_draws_a_u_by_default_and_refuses_unknown_or_impossible_layouts(tmp_path):
    from archspec.api import ApiError, render

    unet_yaml = ROOT / "examples" / "unet.yaml"
    u = parse(render(unet_yaml))
    column = parse(render(unet_yaml, layout="column"))
    assert u.boxes["cat1"].y + u.boxes["cat1"].h / 2 == pytest.approx(
        u.boxes["enc1.a2"].y + u.boxes["enc1.a2"].h / 2
    )
    assert column.boxes["cat1"].y > column.boxes["enc1.a2"].y + 200
    with pytest.raises(ApiError, match="unknown layout 'zigzag'; layouts: auto, column, u, fold"):
        render(unet_yaml, layout="zigzag")
    with pytest.raises(ApiError, match="arrangement 'u' needs"):
        render(ROOT / "examples" / "mlp.yaml", tmp_path / "mlp.html", layout="u")
