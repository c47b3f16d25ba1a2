"""The adapter from analysed specs to diagrams: every example, every format, checked on the SVG.

Geometry is read back from the SVG with the helpers of test_render.py, so what is asserted is
what a viewer draws.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from functools import cache

import pytest

from archspec.diagram import to_dot, to_html, to_mermaid, to_svg
from archspec.diagram.adapter import fmt_count, op_label, shape_text, to_rgraph
from archspec.pipeline import analyse, load, load_text
from tests.conftest import EXAMPLES, ROOT
from tests.test_render import EM, SVG, parse

NAMES = [p.stem for p in EXAMPLES]
DEPTHS = [None, 0, 1]


@cache
def _graph(name: str):
    return analyse(load(ROOT / "examples" / f"{name}.yaml"))


@cache
def _svg(name: str, depth: int | None) -> str:
    return to_svg(to_rgraph(_graph(name), depth=depth))


def _box_of(graph, nid: str, depth: int | None, boxes) -> str:
    """The box that shows op node ``nid``: its own, or the collapsed block instance's."""
    if nid in boxes:
        return nid
    holders = [s.id for s in graph.spec.nodes[nid].scopes] + [nid.rsplit(".", 2)[0]]
    found = [h for h in holders if h in boxes]
    assert found, f"op node {nid} has no box at depth {depth}"
    return found[0]


# --- every example, every format ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("fmt", ["svg", "dot", "mermaid", "html"])
def test_every_example_renders_in_every_text_format(name, fmt):
    g = to_rgraph(_graph(name))
    text = {"svg": to_svg, "dot": to_dot, "mermaid": to_mermaid, "html": to_html}[fmt](g)
    if fmt == "svg":
        assert ET.fromstring(text).tag == f"{SVG}svg"
    elif fmt == "dot":
        assert text.startswith("digraph") and all(f'"{n.id}" [' in text for n in g.nodes)
    elif fmt == "mermaid":
        boxes = [line for line in text.splitlines() if re.match(r"\s+n_\w+\[", line)]
        assert "\nflowchart TB\n" in text and len(boxes) == len(g.nodes)
    else:
        assert text.startswith("<!DOCTYPE html>") and "<svg" in text


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("depth", DEPTHS)
def test_every_op_node_has_a_box_or_its_collapsed_block_has_one(name, depth):
    graph = _graph(name)
    boxes = parse(_svg(name, depth)).boxes
    for nid in graph.op_nodes():
        _box_of(graph, nid, depth, boxes)
    assert set(graph.spec.inputs) <= set(boxes)
    assert {f"output:{o}" for o in graph.spec.outputs} <= set(boxes)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("depth", DEPTHS)
def test_boxes_do_not_overlap_and_edges_end_on_their_boxes(name, depth):
    p = parse(_svg(name, depth))
    boxes = sorted(p.boxes.items(), key=lambda kv: kv[1].x)
    for i, (a, ra) in enumerate(boxes):
        for b, rb in boxes[i + 1 :]:
            if rb.x >= ra.x + ra.w:
                break
            assert not ra.overlaps(rb), f"{a} overlaps {b}"
    assert p.edges
    for src, dst, pts in p.edges:
        assert p.boxes[src].on_border(*pts[0]), f"{src}->{dst} starts off its box"
        assert p.boxes[dst].on_border(*pts[-1]), f"{src}->{dst} ends off its box"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("depth", DEPTHS)
def test_text_fits_inside_its_box(name, depth):
    p = parse(_svg(name, depth))
    for nid, texts in p.texts.items():
        box = p.boxes[nid]
        for t in texts:
            size = float(t.get("font-size"))
            half = len(t.text) * size * EM / 2
            x, y = float(t.get("x")), float(t.get("y"))
            assert box.x <= x - half and x + half <= box.x + box.w, f"{nid}: {t.text!r} is wider than its box"
            assert box.y <= y - size * 0.8 and y + size * 0.25 <= box.y + box.h, (
                f"{nid}: {t.text!r} sticks out"
            )


def test_the_svg_is_byte_identical_twice():
    for name in ("unet", "resnet18", "two_branch"):
        assert to_svg(to_rgraph(analyse(load(ROOT / "examples" / f"{name}.yaml")))) == _svg(name, None)


# --- what the boxes say -----------------------------------------------------------------------


def test_op_labels_are_compact():
    assert op_label("conv2d", {"out_channels": 64, "kernel_size": 3, "stride": 2}) == "conv2d 3×3 s2 →64"
    assert op_label("conv1d", {"out_channels": 8, "kernel_size": 5}) == "conv1d k5 →8"
    assert op_label("maxpool2d", {"kernel_size": 2}) == "maxpool2d 2×2"
    assert op_label("linear", {"out_features": 10}) == "linear →10"
    assert op_label("dropout", {"p": 0.3}) == "dropout p=0.3"
    assert op_label("concat", {"dim": 1}) == "concat dim=1"
    assert [fmt_count(n) for n in (448, 36864, 11_689_512, 123_456)] == ["448", "36.9k", "11.7M", "123k"]
    assert shape_text((64, 56, 56)) == "64×56×56" and shape_text(()) == "scalar"


def test_op_boxes_show_op_shape_and_params_and_inputs_show_their_shape():
    g = to_rgraph(_graph("resnet18"))
    boxes = {n.id: n for n in g.nodes}
    assert boxes["conv1"].lines == ["conv2d 7×7 s2 →64", "64×112×112", "9.4k params"]
    assert boxes["layer1.0.conv1"].title == "conv1" and boxes["layer1.0.conv1"].family == "conv"
    assert boxes["image"].family == "input" and boxes["image"].lines == ["3×224×224"]
    assert boxes["output:logits"].family == "output" and boxes["output:logits"].lines == ["1000"]


def test_block_instances_are_nested_clusters_and_repeat_copies_are_grouped():
    g = to_rgraph(_graph("resnet18"))
    labels = {cid: c.label for cid, c in g.clusters.items()}
    assert labels["layer1"] == "layer1: basic ×2"
    assert labels["layer2"] == "layer2: stage" and labels["layer2.first"] == "layer2.first: down"
    node = next(n for n in g.nodes if n.id == "layer2.first.proj")
    assert node.cluster == ("layer2", "layer2.first")


def test_depth_collapses_block_instances_into_boxes():
    counts = {d: len(parse(_svg("resnet18", d)).boxes) for d in DEPTHS}
    assert counts[0] < counts[1] < counts[None]
    g = to_rgraph(_graph("resnet18"), depth=0)
    layer2 = next(n for n in g.nodes if n.id == "layer2")
    assert layer2.family == "block" and layer2.lines == ["stage · 16 ops", "128×28×28", "526k params"]
    assert not g.clusters
    g1 = to_rgraph(_graph("resnet18"), depth=1)
    assert {n.id for n in g1.nodes if n.family == "block"} >= {"layer1.0", "layer2.first", "layer4.second"}


def test_skip_connections_are_skip_edges():
    g = to_rgraph(_graph("unet"))
    kinds = {(e.src, e.dst): e.kind for e in g.edges}
    assert kinds[("enc2.a2", "cat2")] == "skip" and kinds[("enc1.a2", "cat1")] == "skip"
    assert kinds[("up2", "cat2")] == "data"
    g0 = to_rgraph(_graph("unet"), depth=0)
    assert {(e.src, e.dst) for e in g0.edges if e.kind == "skip"} == {("enc1", "cat1"), ("enc2", "cat2")}


def test_parts_are_drawn_as_clusters_around_whole_units():
    g = to_rgraph(_graph("unet"))
    assert g.clusters["part:encoder"].kind == "part"
    inside = {n.id for n in g.nodes if "part:encoder" in n.cluster}
    assert inside == set(_graph("unet").spec.parts["encoder"])
    two = to_rgraph(_graph("two_branch"))
    assert {c.id for c in two.clusters.values() if c.kind == "part"} == {
        "part:image_branch",
        "part:sound_branch",
    }
    auto = to_rgraph(_graph("autoencoder"))  # a part that is one block instance names its label
    assert auto.clusters["enc"].label == "enc: encoder (part)" and "part:encoder" not in auto.clusters


def test_part_draws_only_the_part_with_what_it_reads_as_inputs():
    graph = _graph("unet")
    g = to_rgraph(graph, part="encoder")
    ops = {n.id for n in g.nodes if n.family not in ("input", "output")}
    assert ops == set(graph.spec.parts["encoder"])
    assert [n.id for n in g.nodes if n.family == "input"] == ["image"]
    assert {n.id for n in g.nodes if n.family == "output"} == {
        "output:enc1.a2",
        "output:enc2.a2",
        "output:bottom.a2",
    }
    dec = to_rgraph(_graph("autoencoder"), part="decoder")
    assert [n.id for n in dec.nodes if n.op == "input"] == ["enc.code"]
    assert any(n.family == "loss" for n in dec.nodes)  # its output recon carries the loss
    assert set(parse(to_svg(dec)).boxes) == {n.id for n in dec.nodes}
    from archspec.errors import GraphError

    with pytest.raises(GraphError, match=r"parts: unknown part 'nope' \(hint: parts: encoder, decoder\)"):
        to_rgraph(_graph("autoencoder"), part="nope")


SEMI = """\
archspec: 1
name: semi
inputs: {image: {shape: [16]}}
parts: {encoder: [enc], classifier: [cls]}
nodes:
  enc: {op: linear, out_features: 8}
  act: {op: relu}
  cls: {op: linear, out_features: 3}
  dec: {op: linear, in: act, out_features: 16}
outputs: {logits: cls, recon: dec}
data:
  labelled: {dataset: digits, split: train}
  unlabelled: {dataset: digits, split: train}
losses:
  supervised: {fn: cross_entropy, stream: labelled, pred: logits, target: y, weight: 0.5}
  reconstruction: {fn: mse, stream: unlabelled, pred: recon, target: "input:image"}
  l2: {fn: l2, params: "encoder.*", weight: 1.0e-4}
"""


def test_losses_are_boxes_fed_by_outputs_targets_and_the_parts_they_penalise():
    g = to_rgraph(analyse(load_text(SEMI)))
    boxes = {n.id: n for n in g.nodes}
    assert boxes["loss:supervised"].family == "loss"
    assert boxes["loss:supervised"].lines == ["cross_entropy ×0.5 on labelled"]
    assert boxes["loss:l2"].lines == ["l2 ×0.0001 on encoder.*"]
    loss_edges = {(e.src, e.dst) for e in g.edges if e.kind == "loss"}
    assert loss_edges == {
        ("output:logits", "loss:supervised"),
        ("target:labelled.y", "loss:supervised"),
        ("output:recon", "loss:reconstruction"),
        ("image", "loss:reconstruction"),
        ("enc", "loss:l2"),
        ("loss:supervised", "objective:total"),
        ("loss:reconstruction", "objective:total"),
        ("loss:l2", "objective:total"),
    }
    assert not any(n.family == "loss" for n in to_rgraph(analyse(load_text(SEMI)), losses=False).nodes)
    for name in NAMES:
        has = bool(_graph(name).spec.losses)
        assert any(n.family == "loss" for n in to_rgraph(_graph(name)).nodes) == has, name


def test_shapes_false_draws_graphs_whose_shapes_do_not_check():
    bad = textwrap.dedent("""\
        archspec: 1
        inputs: {x: {shape: [3, 8, 8]}}
        nodes:
          fc: {op: linear, out_features: 4}
          fc2: {op: linear, in: x, out_features: 4}
          add: {op: add, in: [fc, fc2]}
          out: {op: linear, out_features: 2}
        outputs: {y: out}
    """)
    g = to_rgraph(analyse(load_text(bad), shapes=False), shapes=False)
    assert {n.id: n.lines for n in g.nodes if n.id in ("x", "fc")} == {"x": [], "fc": ["linear →4"]}
    assert parse(to_svg(g)).boxes


def test_importing_the_adapter_diff_and_preview_does_not_import_torch():
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from archspec.pipeline import analyse, load\n"
        "from archspec.diagram.adapter import to_rgraph\n"
        "from archspec.diagram import to_svg\n"
        "from archspec.diagram.diff import diff_specs\n"
        "from archspec.diagram.serve import Preview\n"
        "to_svg(to_rgraph(analyse(load('examples/unet.yaml'))))\n"
        "assert Preview(Path('examples/unet.yaml')).redraw().error is None\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
