"""The render stage: layout geometry, SVG/DOT/Mermaid/HTML text, and no torch import.

Geometry is checked on the SVG itself (parsed with xml.etree), so what is asserted is what a
viewer draws. Text widths are re-estimated here from the font size with a monospace advance,
independently of the renderer's own measurement.
"""

from __future__ import annotations

import ast
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from archspec.diagram import (
    RCluster,
    REdge,
    RGraph,
    RNode,
    dot_to_file,
    to_dot,
    to_html,
    to_mermaid,
    to_svg,
)
from archspec.diagram.dot import DOT_MISSING
from archspec.diagram.layout import layout
from archspec.errors import RunError

SVG = "{http://www.w3.org/2000/svg}"
EM = 0.62  # the advance of one monospace character, in em (DejaVu Sans Mono is 0.602)

# --- graphs ---------------------------------------------------------------------------------


def node(
    nid: str, family: str = "conv", cluster: tuple[str, ...] = (), lines: list[str] | None = None
) -> RNode:
    return RNode(
        id=nid,
        title=nid,
        op={"conv": "conv2d", "activation": "relu", "norm": "batchnorm2d"}.get(family, family),
        family=family,
        lines=lines if lines is not None else ["conv2d 3×3 s1 →16", "16×32×32", "448 params"],
        cluster=cluster,
    )


def chain(n: int = 20) -> RGraph:
    fams = ["conv", "norm", "activation", "dropout", "dense"]
    nodes = [node("x", "input", lines=["3×32×32"])]
    nodes += [
        node(f"n{i}", fams[i % len(fams)], lines=["x" * (4 + 3 * (i % 7)), f"{i}×8"]) for i in range(1, n)
    ]
    edges = [REdge(nodes[i].id, nodes[i + 1].id) for i in range(n - 1)]
    return RGraph(nodes, edges, title="chain")


def _double_conv(prefix: str, ch: int, outer: tuple[str, ...]) -> list[RNode]:
    cl = (*outer, prefix)
    return [
        node(f"{prefix}.c1", "conv", cl, [f"conv2d 3×3 →{ch}", f"{ch}×32×32"]),
        node(f"{prefix}.n1", "norm", cl, [f"batchnorm2d {ch}"]),
        node(f"{prefix}.a1", "activation", cl, ["relu"]),
    ]


def unet() -> RGraph:
    """Two encoder levels, a bottleneck, two decoder levels; skips enc1->cat1, enc2->cat2.

    Clusters nest three deep: part ``encoder`` > block ``enc1`` > block ``enc1.inner``.
    """
    nodes = [node("image", "input", lines=["1×64×64"])]
    nodes += _double_conv("enc1", 16, ("encoder",))
    nodes.append(node("enc1.inner.c2", "conv", ("encoder", "enc1", "enc1.inner"), ["conv2d 3×3 →16"]))
    nodes.append(node("down1", "pool", ("encoder",), ["maxpool2d 2"]))
    nodes += _double_conv("enc2", 32, ("encoder",))
    nodes.append(node("down2", "pool", ("encoder",), ["maxpool2d 2"]))
    nodes += _double_conv("mid", 64, ())
    nodes.append(node("up2", "conv", ("decoder",), ["conv_transpose2d 2×2 →32"]))
    nodes.append(node("cat2", "merge", ("decoder",), ["concat dim=1", "64×16×16"]))
    nodes += _double_conv("dec2", 32, ("decoder",))
    nodes.append(node("up1", "conv", ("decoder",), ["conv_transpose2d 2×2 →16"]))
    nodes.append(node("cat1", "merge", ("decoder",), ["concat dim=1"]))
    nodes += _double_conv("dec1", 16, ("decoder",))
    nodes.append(node("head", "conv", (), ["conv2d 1×1 →2"]))
    nodes.append(node("mask", "output", (), ["2×64×64"]))
    order = [n.id for n in nodes]
    edges = [
        REdge(a, b)
        for a, b in zip(order, order[1:], strict=False)
        if not (a == "enc1.a1" and b == "enc1.inner.c2")
    ]
    edges.append(REdge("enc1.a1", "enc1.inner.c2"))
    edges += [
        REdge("enc1.inner.c2", "cat1", kind="skip", label="skip"),
        REdge("enc2.a1", "cat2", kind="skip"),
    ]
    clusters = {
        "encoder": RCluster("encoder", "encoder", "part"),
        "decoder": RCluster("decoder", "decoder", "part"),
        "enc1": RCluster("enc1", "enc1: double_conv(ch=16)", "block"),
        "enc1.inner": RCluster("enc1.inner", "inner", "block"),
        "enc2": RCluster("enc2", "enc2: double_conv(ch=32)", "block"),
        "mid": RCluster("mid", "mid: double_conv(ch=64)", "block"),
        "dec2": RCluster("dec2", "dec2: double_conv(ch=32)", "block"),
        "dec1": RCluster("dec1", "dec1: double_conv(ch=16)", "block"),
    }
    return RGraph(nodes, edges, clusters, title="unet-small")


def two_branch() -> RGraph:
    nodes = [node("x", "input", lines=["3×32×32"])]
    nodes += [node(f"a{i}", "conv", ("left",)) for i in range(3)]
    nodes += [node(f"b{i}", "dense", ("right",), ["linear →64"]) for i in range(5)]
    nodes += [node("cat", "merge", lines=["concat"]), node("out", "output", lines=["10"])]
    edges = [REdge("x", "a0"), REdge("a0", "a1"), REdge("a1", "a2"), REdge("a2", "cat")]
    edges += [REdge("x", "b0")] + [REdge(f"b{i}", f"b{i + 1}") for i in range(4)] + [REdge("b4", "cat")]
    edges.append(REdge("cat", "out"))
    clusters = {"left": RCluster("left", "left branch"), "right": RCluster("right", "right branch")}
    return RGraph(nodes, edges, clusters, title="two branches")


def fan(width: int = 12) -> RGraph:
    nodes = [node("src", "input", lines=["3×32×32"])]
    nodes += [node(f"h{i}", "attention", lines=[f"head {i}", "64×64"]) for i in range(width)]
    nodes += [node("sum", "merge", lines=["add"]), node("loss", "loss", lines=["cross_entropy"])]
    nodes.append(node("target", "input", lines=["label"]))
    edges = [REdge("src", f"h{i}") for i in range(width)] + [REdge(f"h{i}", "sum") for i in range(width)]
    edges += [REdge("sum", "loss", kind="loss"), REdge("target", "loss", kind="loss")]
    return RGraph(nodes, edges, title="fan-out / fan-in")


def random_dag(n: int = 200, seed: int = 7) -> RGraph:
    rng = random.Random(seed)
    fams = ["conv", "dense", "norm", "activation", "merge", "pool"]
    nodes = [
        node(f"v{i}", rng.choice(fams), lines=["x" * rng.randint(3, 20)] * rng.randint(0, 3))
        for i in range(n)
    ]
    edges = []
    for j in range(1, n):
        for i in rng.sample(range(max(0, j - 12), j), k=min(j, rng.choice([1, 1, 1, 2]))):
            edges.append(REdge(f"v{i}", f"v{j}", kind="skip" if j - i > 3 else "data"))
    return RGraph(nodes, edges, title="random")


def chain_with_skips(n: int = 1000) -> RGraph:
    nodes = [
        node(f"n{i}", ["conv", "norm", "activation", "merge"][i % 4], lines=["conv2d 3×3 →64", "64×32×32"])
        for i in range(n)
    ]
    edges = [REdge(f"n{i}", f"n{i + 1}") for i in range(n - 1)]
    edges += [REdge(f"n{i}", f"n{i + 8}", kind="skip") for i in range(0, n - 8, 8)]
    return RGraph(nodes, edges, title="chain with skips")


def diff_graph() -> RGraph:
    g = chain(6)
    g.nodes[2].highlight = "added"
    g.nodes[3].highlight = "changed"
    g.nodes[4].highlight = "removed"
    return g


STRUCTURED = {"chain": chain, "unet": unet, "two_branch": two_branch, "fan": fan}
ALL = {**STRUCTURED, "random": random_dag}


# --- reading the SVG back -------------------------------------------------------------------


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float

    def inside(self, px: float, py: float, shrink: float = 0.0) -> bool:
        return (
            self.x + shrink < px < self.x + self.w - shrink
            and self.y + shrink < py < self.y + self.h - shrink
        )

    def overlaps(self, o: Rect) -> bool:
        return self.x < o.x + o.w and o.x < self.x + self.w and self.y < o.y + o.h and o.y < self.y + self.h

    def contains(self, o: Rect) -> bool:
        return (
            self.x <= o.x and self.y <= o.y and o.x + o.w <= self.x + self.w and o.y + o.h <= self.y + self.h
        )

    def on_border(self, px: float, py: float, tol: float = 2.0) -> bool:
        near_x = self.x - tol <= px <= self.x + self.w + tol
        near_y = self.y - tol <= py <= self.y + self.h + tol
        return (near_x and near_y) and (
            min(abs(px - self.x), abs(px - self.x - self.w)) <= tol
            or min(abs(py - self.y), abs(py - self.y - self.h)) <= tol
        )


def _rect(el: ET.Element) -> Rect:
    return Rect(*(float(el.get(k)) for k in ("x", "y", "width", "height")))


@dataclass
class Parsed:
    boxes: dict[str, Rect]
    texts: dict[str, list[ET.Element]]
    clusters: dict[str, Rect]
    edges: list[tuple[str, str, list[tuple[float, float]]]]


def parse(svg: str) -> Parsed:
    root = ET.fromstring(svg)
    boxes, texts, clusters, edges = {}, {}, {}, []
    for g in root.iter(f"{SVG}g"):
        classes = g.get("class", "").split()
        if "node" in classes:
            nid = g.get("data-id")
            assert g.get("id") == f"node-{nid}"
            box = g.find(f"{SVG}rect[@class='box']")
            assert box is not None, f"node {nid} has no box"
            boxes[nid] = _rect(box)
            texts[nid] = g.findall(f"{SVG}text")
        elif "cluster" in classes:
            clusters[g.get("data-id")] = _rect(g.find(f"{SVG}rect"))
    for p in root.iter(f"{SVG}path"):
        if "edge" in p.get("class", "").split():
            edges.append((p.get("data-src"), p.get("data-dst"), sample_path(p.get("d"))))
    return Parsed(boxes, texts, clusters, edges)


def sample_path(d: str, steps: int = 16) -> list[tuple[float, float]]:
    """The points of an absolute M/L/C path, with each cubic curve sampled."""
    tokens = re.findall(r"[MLC]|-?\d+(?:\.\d+)?", d)
    pts: list[tuple[float, float]] = []
    i = 0
    while i < len(tokens):
        cmd = tokens[i]
        nums = []
        i += 1
        while i < len(tokens) and tokens[i] not in "MLC":
            nums.append(float(tokens[i]))
            i += 1
        if cmd in "ML":
            pts.append((nums[0], nums[1]))
        else:
            (x0, y0), (x1, y1, x2, y2, x3, y3) = pts[-1], nums
            for s in range(1, steps + 1):
                t = s / steps
                a, b, c, e = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
                pts.append((a * x0 + b * x1 + c * x2 + e * x3, a * y0 + b * y1 + c * y2 + e * y3))
    return pts


def segment_hits(rect: Rect, p: tuple[float, float], q: tuple[float, float], shrink: float = 1.0) -> bool:
    """Whether segment p-q passes through the inside of ``rect`` (sampled finely)."""
    n = max(2, int(max(abs(q[0] - p[0]), abs(q[1] - p[1])) / 2))
    return any(
        rect.inside(p[0] + (q[0] - p[0]) * k / n, p[1] + (q[1] - p[1]) * k / n, shrink) for k in range(n + 1)
    )


def cluster_members(g: RGraph) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    for n in g.nodes:
        for cid in n.cluster:
            members.setdefault(cid, set()).add(n.id)
    return members


# --- geometry -------------------------------------------------------------------------------


@pytest.fixture(params=sorted(ALL))
def graph(request: pytest.FixtureRequest) -> tuple[str, RGraph]:
    return request.param, ALL[request.param]()


@pytest.fixture(params=["TB", "LR"])
def direction(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_node_is_drawn_as_one_box(graph, direction):
    _, g = graph
    g.direction = direction
    p = parse(to_svg(g))
    assert set(p.boxes) == {n.id for n in g.nodes}


def test_no_two_node_boxes_overlap(graph, direction):
    _, g = graph
    g.direction = direction
    boxes = sorted(parse(to_svg(g)).boxes.items(), key=lambda kv: kv[1].x)
    for i, (a, ra) in enumerate(boxes):  # sweep along x: only boxes that start before ra ends
        for b, rb in boxes[i + 1 :]:
            if rb.x >= ra.x + ra.w:
                break
            assert not ra.overlaps(rb), f"{a} overlaps {b}"


def test_edges_start_on_their_source_box_and_end_on_their_destination_box(graph, direction):
    _, g = graph
    g.direction = direction
    p = parse(to_svg(g))
    assert len(p.edges) == len(g.edges)
    for src, dst, pts in p.edges:
        assert p.boxes[src].on_border(*pts[0]), f"{src}->{dst} starts at {pts[0]}, off {p.boxes[src]}"
        assert p.boxes[dst].on_border(*pts[-1]), f"{src}->{dst} ends at {pts[-1]}, off {p.boxes[dst]}"


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_edges_do_not_pass_through_unrelated_boxes(name, direction):
    g = STRUCTURED[name]()
    g.direction = direction
    p = parse(to_svg(g))
    for src, dst, pts in p.edges:
        for nid, rect in p.boxes.items():
            if nid in (src, dst):
                continue
            for a, b in zip(pts, pts[1:], strict=False):
                assert not segment_hits(rect, a, b), f"edge {src}->{dst} crosses box {nid}"


def test_random_dag_edges_touch_few_unrelated_boxes():
    """A looser check for a dense random DAG: long edges are routed between boxes, so at most
    a few segments may clip a box corner."""
    p = parse(to_svg(random_dag()))
    hits = 0
    boxes = list(p.boxes.items())
    for src, dst, pts in p.edges:
        xs, ys = [q[0] for q in pts], [q[1] for q in pts]
        near = [
            (n, r)
            for n, r in boxes
            if n not in (src, dst)
            and r.x < max(xs)
            and min(xs) < r.x + r.w
            and r.y < max(ys)
            and min(ys) < r.y + r.h
        ]
        hits += any(
            segment_hits(r, a, b, shrink=2) for _, r in near for a, b in zip(pts, pts[1:], strict=False)
        )
    assert hits <= len(p.edges) // 50, f"{hits} of {len(p.edges)} edges pass through boxes"


def test_text_fits_inside_its_box(graph, direction):
    _, g = graph
    g.direction = direction
    p = parse(to_svg(g))
    for nid, texts in p.texts.items():
        box = p.boxes[nid]
        assert texts, nid
        for t in texts:
            size = float(t.get("font-size"))
            width = len(t.text) * size * EM
            x, y = float(t.get("x")), float(t.get("y"))
            assert t.get("text-anchor") == "middle"
            assert box.x <= x - width / 2 and x + width / 2 <= box.x + box.w, (
                f"{nid}: {t.text!r} is wider than its box"
            )
            assert box.y <= y - size * 0.8 and y + size * 0.25 <= box.y + box.h, (
                f"{nid}: {t.text!r} sticks out"
            )


@pytest.mark.parametrize("name", ["unet", "two_branch"])
def test_cluster_rectangles_hold_their_members_and_no_one_else(name, direction):
    g = STRUCTURED[name]()
    g.direction = direction
    p = parse(to_svg(g))
    members = cluster_members(g)
    assert set(p.clusters) == set(members)
    for cid, rect in p.clusters.items():
        for nid, box in p.boxes.items():
            if nid in members[cid]:
                assert rect.contains(box), f"cluster {cid} does not hold its member {nid}"
            else:
                assert not rect.overlaps(box), f"cluster {cid} overlaps non-member {nid}"


def test_nested_clusters_sit_inside_their_parents():
    p = parse(to_svg(unet()))
    assert p.clusters["encoder"].contains(p.clusters["enc1"])
    assert p.clusters["enc1"].contains(p.clusters["enc1.inner"])
    assert not p.clusters["encoder"].overlaps(p.clusters["decoder"])


def test_a_chain_is_drawn_as_one_straight_column():
    lay = layout(chain(20))
    centres = {round(b.x + b.w / 2, 1) for b in lay.nodes.values()}
    assert len(centres) == 1
    assert all(len({x for x, _ in e.points}) == 1 for e in lay.edges)


def test_skip_edges_run_beside_the_main_column():
    g = unet()
    p = parse(to_svg(g))
    column = p.boxes["mid.c1"]
    skip = next(pts for s, d, pts in p.edges if (s, d) == ("enc1.inner.c2", "cat1"))
    xs_mid = [x for x, y in skip if column.y <= y <= column.y + column.h]
    assert xs_mid and all(not (column.x <= x <= column.x + column.w) for x in xs_mid)


def test_lr_direction_lays_ranks_left_to_right():
    g = chain(5)
    g.direction = "LR"
    lay = layout(g)
    xs = [lay.nodes[n.id].x for n in g.nodes]
    assert xs == sorted(xs) and len({b.y + b.h / 2 for b in lay.nodes.values()}) == 1


def test_a_source_is_placed_next_to_its_first_consumer():
    lay = layout(fan())
    assert lay.ranks["target"] == lay.ranks["loss"] - 1


def test_cyclic_or_dangling_input_is_refused():
    g = chain(3)
    g.edges.append(REdge("n2", "x"))
    with pytest.raises(ValueError, match="acyclic"):
        layout(g)
    g = chain(3)
    g.edges.append(REdge("n2", "nope"))
    with pytest.raises(ValueError, match="unknown node 'nope'"):
        layout(g)


def test_empty_and_single_node_graphs_render():
    for g in (RGraph([], []), RGraph([node("only")], [])):
        root = ET.fromstring(to_svg(g))
        assert root.tag == f"{SVG}svg"


# --- SVG details ----------------------------------------------------------------------------


def test_svg_is_byte_identical_for_the_same_input(graph):
    name, g = graph
    assert to_svg(g) == to_svg(ALL[name]())
    assert to_html(g) == to_html(ALL[name]())
    assert to_dot(g) == to_dot(ALL[name]()) and to_mermaid(g) == to_mermaid(ALL[name]())


def test_svg_marks_diff_highlights_and_lists_them_in_the_legend():
    svg = to_svg(diff_graph())
    root = ET.fromstring(svg)
    marked = {
        g.get("data-id"): g.get("data-highlight")
        for g in root.iter(f"{SVG}g")
        if "node" in g.get("class", "")
    }
    assert marked["n2"] == "added" and marked["n3"] == "changed" and marked["n4"] == "removed"
    legend = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "added" in legend and "removed" in legend


def test_skip_and_loss_edges_are_styled_apart_from_data_edges():
    root = ET.fromstring(to_svg(fan()) + "")
    kinds = {p.get("class") for p in root.iter(f"{SVG}path") if "edge" in (p.get("class") or "")}
    assert {"edge edge-data", "edge edge-loss"} <= kinds
    dashes = {p.get("class"): p.get("stroke-dasharray") for p in root.iter(f"{SVG}path") if p.get("class")}
    assert dashes["edge edge-loss"] and not dashes["edge edge-data"]


def test_node_details_are_kept_in_data_attributes_and_escaped():
    g = RGraph([RNode('a<&>"b', 'a<&>"b', "conv2d", "conv", ["3×3 <k>", 'q"q'])], [])
    root = ET.fromstring(to_svg(g))
    n = next(g for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("node"))
    assert n.get("data-id") == 'a<&>"b'
    assert n.get("data-lines") == '3×3 <k>\nq"q'


def test_overlong_lines_are_cut_and_still_fit():
    long = "conv2d " + "x" * 200
    p = parse(to_svg(RGraph([node("a", lines=[long])], [])))
    (t_title, t_line) = p.texts["a"]
    assert t_line.text.endswith("…") and len(t_line.text) < 60


# --- DOT, Mermaid, HTML ---------------------------------------------------------------------


def test_dot_names_every_node_and_nests_clusters():
    g = unet()
    dot = to_dot(g)
    for n in g.nodes:
        assert f'"{n.id}" [' in dot
    assert 'subgraph "cluster_encoder" {' in dot and 'subgraph "cluster_enc1.inner" {' in dot
    assert (
        dot.index('subgraph "cluster_encoder"')
        < dot.index('subgraph "cluster_enc1"')
        < dot.index('subgraph "cluster_enc1.inner"')
    )
    assert '"enc1.inner.c2" -> "cat1" [color="#4f7bd9", style=dashed, label="skip"];' in dot
    assert dot.count("{") == dot.count("}")


def test_dot_quotes_awkward_ids():
    g = RGraph([RNode('we"ird\\id', "t", "relu", "activation", ["<b>"])], [])
    dot = to_dot(g)
    assert '"we\\"ird\\\\id" [label=<<B>t</B><BR/><FONT POINT-SIZE="9">&lt;b&gt;</FONT>>' in dot


def test_dot_to_file_without_graphviz_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr("archspec.diagram.dot.shutil.which", lambda name: None)
    with pytest.raises(RunError) as info:
        dot_to_file("digraph {}", tmp_path / "a.png", "png")
    assert str(info.value) == (
        "cairosvg is not installed and Graphviz 'dot' was not found: pip install 'archspec[diagrams]' "
        "(cairosvg), or install Graphviz (Debian/Ubuntu: apt-get install graphviz, macOS: brew install "
        "graphviz), or render to .svg/.html, which need neither"
    )
    assert str(info.value) == DOT_MISSING


def _fake_dot(tmp_path: Path, body: str) -> str:
    exe = tmp_path / "dot"
    exe.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    exe.chmod(0o755)
    return str(exe)


def test_dot_to_file_runs_dot_with_the_format_and_output(monkeypatch, tmp_path):
    exe = _fake_dot(
        tmp_path,
        "args = sys.argv[1:]\nopen(args[2], 'w').write(args[0] + '|' + sys.stdin.read())",
    )
    monkeypatch.setattr("archspec.diagram.dot.shutil.which", lambda name: exe)
    out = dot_to_file("digraph { a -> b }", tmp_path / "g.pdf", "pdf")
    assert out.read_text() == "-Tpdf|digraph { a -> b }"


def test_dot_to_file_reports_what_dot_said(monkeypatch, tmp_path):
    exe = _fake_dot(tmp_path, "sys.stderr.write('Error: syntax error in line 1\\n'); sys.exit(1)")
    monkeypatch.setattr("archspec.diagram.dot.shutil.which", lambda name: exe)
    with pytest.raises(
        RunError, match=r"Graphviz 'dot' failed \(exit 1\) writing .*: Error: syntax error in line 1$"
    ):
        dot_to_file("digraph {", tmp_path / "g.png", "png")
    with pytest.raises(RunError, match="format must be a name"):
        dot_to_file("digraph {}", tmp_path / "g.png", "png -o /etc/x")


def test_mermaid_has_safe_ids_subgraphs_and_every_node():
    g = unet()
    text = to_mermaid(g)
    assert text.splitlines()[:2] == [f"%% {g.title}", "flowchart TB"]
    for n in g.nodes:
        assert f"<b>{n.title}</b>" in text
    assert "n_enc1_inner_c2" in text and "subgraph c_encoder[" in text
    ids = [m.group(1) for line in text.splitlines() if (m := re.match(r"\s*(n_\S+)\[", line))]
    assert len(ids) == len(g.nodes)  # one declaration per node, each a safe identifier
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", i) for i in ids), ids
    assert text.count("subgraph ") == len(g.clusters)
    assert 'n_enc1_inner_c2 -.->|"skip"| n_cat1' in text
    assert "classDef f_conv fill:" in text


def test_mermaid_keeps_clashing_ids_apart_and_escapes_quotes():
    g = RGraph(
        [
            RNode("a.b", 'say "hi"', "relu", "activation"),
            RNode("a_b", "t", "relu", "activation"),
            RNode("end", "end", "relu", "activation"),
        ],
        [],
    )
    text = to_mermaid(g)
    assert "n_a_b[" in text and "n_a_b_2[" in text and "n_end[" in text
    assert "say #quot;hi#quot;" in text


def test_html_is_self_contained():
    g = unet()
    page = to_html(g)
    assert "<svg" in page and 'id="node-cat1"' in page and "<script>" in page
    urls = re.findall(r"https?://[^\s\"'<>]+", page)
    assert set(urls) == {"http://www.w3.org/2000/svg"}
    assert "<link" not in page and " src=" not in page


# --- no torch, and speed --------------------------------------------------------------------


def test_importing_render_does_not_import_torch():
    code = (
        "import sys, archspec.diagram as r\n"
        "from archspec.diagram import to_svg, RGraph, RNode\n"
        "to_svg(RGraph([RNode('a', 'a', 'relu', 'activation')], []))\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "[]"


def test_render_modules_import_only_the_standard_library():
    import archspec.diagram

    package = Path(archspec.diagram.__file__).parent
    for source in sorted(package.glob("*.py")):
        if source.name in ("adapter.py", "diff.py", "serve.py"):
            continue  # the bridges from specs to RGraph; test_render_adapter.py checks they import no torch
        if source.name == "raster.py":
            continue  # imports cairosvg only when writing PNG/PDF; test_render_output.py checks that
        for stmt in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(stmt, ast.Import):
                names = [a.name for a in stmt.names]
            elif isinstance(stmt, ast.ImportFrom):
                if stmt.level == 1:
                    continue
                names = [stmt.module or ""]
                if names[0] == "archspec.errors":
                    continue
            else:
                continue
            for name in names:
                assert name.split(".")[0] in sys.stdlib_module_names, f"{source.name} imports {name}"


def test_a_thousand_node_chain_with_skips_renders_every_node():
    # how long it takes: benchmarks/render_1000.py
    g = chain_with_skips(1000)
    svg = to_svg(g, layout(g))
    assert len(parse(svg).boxes) == 1000
