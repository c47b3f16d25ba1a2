"""Architecture diffs between two small specs: as data, as text and as a highlighted diagram."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from archspec.diagram import to_svg
from archspec.diagram.diff import diff_rgraph, diff_specs, diff_text
from archspec.pipeline import analyse, load_text
from tests.test_render import parse

OLD = """\
archspec: 1
name: small
inputs: {x: {shape: [3, 8, 8]}}
nodes:
  conv: {op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  act:  {op: relu}
  drop: {op: dropout, p: 0.2}
  flat: {op: flatten}
  fc:   {op: linear, out_features: 10}
outputs: {logits: fc}
"""

NEW = """\
archspec: 1
name: small-v2
inputs: {x: {shape: [3, 8, 8]}}
nodes:
  conv: {op: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
  bn:   {op: batchnorm2d}
  act:  {op: relu}
  flat: {op: flatten}
  fc:   {op: linear, out_features: 10}
outputs: {logits: fc}
"""


def _pair():
    return analyse(load_text(OLD)), analyse(load_text(NEW))


def test_diff_lists_added_removed_and_changed_nodes_with_the_parameter_delta():
    d = diff_specs(*_pair())
    assert [r["id"] for r in d["added"]] == ["bn"]
    assert [r["id"] for r in d["removed"]] == ["drop"]
    changed = {r["id"]: r["changes"] for r in d["changed"]}
    assert changed["conv"] == {
        "args": {"out_channels": [8, 16]},
        "shape": ["8×8×8", "16×8×8"],
        "params": [224, 448],
    }
    assert changed["act"]["inputs"] == [["conv"], ["bn"]]
    assert changed["fc"] == {"params": [5130, 10250]}
    assert d["params"] == {"old": 5354, "new": 10730, "delta": 5376}
    json.dumps(d)  # JSON-ready


def test_diff_of_a_spec_with_itself_is_empty():
    old, _ = _pair()
    d = diff_specs(old, analyse(load_text(OLD)))
    assert not (d["added"] or d["removed"] or d["changed"]) and d["params"]["delta"] == 0
    assert (
        diff_text(d).splitlines()[1] == "no differences in nodes, inputs, outputs, data, losses or training"
    )


def test_diff_text_reads_one_line_per_node():
    text = diff_text(diff_specs(*_pair()))
    assert text.splitlines() == [
        "small -> small-v2",
        "+ bn: batchnorm2d  [16×8×8]  32 params",
        "- drop: dropout p=0.2  [8×8×8]",
        "~ conv: out_channels: 8 -> 16; shape 8×8×8 -> 16×8×8; params 224 -> 448 (+224)",
        "~ act: in: conv -> bn; shape 8×8×8 -> 16×8×8",
        "~ flat: in: drop -> act; shape 512 -> 1024",
        "~ fc: params 5,130 -> 10,250 (+5,120)",
        "params: 5,354 -> 10,730 (+5,376, +100.4%)",
    ]


def test_diff_diagram_highlights_the_new_graph_and_fades_removed_nodes():
    g = diff_rgraph(*_pair())
    marks = {n.id: n.highlight for n in g.nodes if n.highlight}
    assert marks == {
        "x": "unchanged",
        "output:logits": "unchanged",
        "bn": "added",
        "conv": "changed",
        "act": "changed",
        "flat": "changed",
        "fc": "changed",
        "drop": "removed",
    }
    assert g.title == "small → small-v2: +1 ~4 −1 nodes, params +5.4k"
    svg = to_svg(g)
    p = parse(svg)
    assert set(p.boxes) == {n.id for n in g.nodes}
    assert 'class="node family-dropout highlight-removed"' in svg
    for src, dst, pts in p.edges:
        assert p.boxes[src].on_border(*pts[0]) and p.boxes[dst].on_border(*pts[-1])


def test_diff_diagram_marks_a_collapsed_block_changed_when_a_node_inside_changed():
    block = """\
archspec: 1
name: {name}
inputs: {{x: {{shape: [4]}}}}
blocks:
  mlp:
    nodes:
      fc: {{op: linear, out_features: {width}}}
      act: {{op: relu}}
nodes:
  body: {{block: mlp}}
  head: {{op: linear, out_features: 2}}
outputs: {{y: head}}
"""
    old = analyse(load_text(block.format(name="a", width=8)))
    new = analyse(load_text(block.format(name="b", width=16)))
    g = diff_rgraph(old, new, depth=0)
    assert {n.id: n.highlight for n in g.nodes if n.highlight != "unchanged"} == {
        "body": "changed",
        "head": "changed",
    }


TRAINED = """\
archspec: 1
name: trained
inputs: {x: {shape: [2]}}
nodes:
  fc: {op: linear, out_features: 2}
data:
  train: {dataset: moons, fields: {x: x, label: label}}
losses:
  ce: {fn: cross_entropy, stream: train, target: label}
training: {optimizer: {name: adam, lr: 0.01}, epochs: 5}
"""


def test_diff_reports_inputs_with_their_shapes_and_data_losses_and_training():
    new = (
        TRAINED.replace("shape: [2]", "shape: [3]")
        .replace("lr: 0.01", "lr: 0.003")
        .replace("target: label}", "target: label, weight: 0.5}")
        .replace("label: label}}", "label: label}, limit: 100}")
    )
    old_g = analyse(load_text(TRAINED, name="a.yaml"))
    new_g = analyse(load_text(new, name="b.yaml"))
    d = diff_specs(old_g, new_g)
    assert d["input_shapes"] == {"x": [[2], [3]]}
    assert d["settings"]["training"] == [{"path": "training.optimizer.lr", "old": 0.01, "new": 0.003}]
    assert diff_text(d).splitlines()[1:] == [
        "~ fc: params 6 -> 8 (+2)",
        "~ input x: [2] -> [3]",
        "+ data.train.limit: (unset) -> 100",
        "+ losses.ce.weight: (unset) -> 0.5",
        "~ training.optimizer.lr: 0.01 -> 0.003",
        "params: 6 -> 8 (+2, +33.3%)",
    ]


# -- the diff diagram: every box's state, as an SVG reader sees it ----------------------------------

BEFORE = """\
archspec: 1
name: before
inputs: {image: {shape: [1, 28, 28]}}
nodes:
  conv: {op: conv2d, out_channels: 8, kernel_size: 3}
  act:  {op: relu}
  drop: {op: dropout, p: 0.1}
  pool: {op: global_avgpool}
  fc:   {op: linear, out_features: 10}
outputs: {logits: fc}
"""
AFTER = """\
archspec: 1
name: after
inputs: {image: {shape: [3, 32, 32]}}
nodes:
  conv: {op: conv2d, out_channels: 8, kernel_size: 3}
  bn:   {op: batchnorm2d}
  act:  {op: relu}
  pool: {op: global_avgpool}
  fc:   {op: linear, out_features: 10}
outputs: {logits: fc}
"""
SVG = "{http://www.w3.org/2000/svg}"


def _diff_svg() -> ET.Element:
    g = diff_rgraph(analyse(load_text(BEFORE)), analyse(load_text(AFTER)))
    return ET.fromstring(to_svg(g))  # well-formed XML, or this raises


def _box(root: ET.Element, nid: str) -> ET.Element:
    (node,) = [g for g in root.iter(f"{SVG}g") if g.get("id") == f"node-{nid}"]
    return node


def _state(node: ET.Element) -> str:
    (mark,) = [c.removeprefix("highlight-") for c in node.get("class").split() if c.startswith("highlight-")]
    return mark


def test_every_box_of_a_diff_diagram_is_marked_added_removed_changed_or_unchanged():
    root = _diff_svg()
    states = {
        g.get("data-id"): _state(g) for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()
    }
    assert states == {
        "image": "changed",
        "conv": "changed",
        "bn": "added",
        "act": "changed",
        "pool": "changed",
        "fc": "unchanged",
        "output:logits": "unchanged",
        "drop": "removed",
    }


def test_the_diff_title_counts_changed_inputs_and_outputs_beside_the_nodes():
    before, after = analyse(load_text(BEFORE)), analyse(load_text(AFTER))
    assert diff_rgraph(before, after).title == "before → after: +1 ~3 −1 nodes, ~1 input, params +160"
    two_outputs = AFTER.replace("outputs: {logits: fc}", "outputs: {logits: fc, features: pool}")
    renamed = two_outputs.replace("logits: fc,", "scores: fc,")
    assert diff_rgraph(before, analyse(load_text(renamed))).title == (
        "before → after: +1 ~3 −1 nodes, ~1 input, +2 −1 outputs, params +160"
    )
    assert diff_rgraph(analyse(load_text(two_outputs)), analyse(load_text(renamed))).title == (
        "after → after: +0 ~0 −0 nodes, +1 −1 outputs, params ±0"
    )


def test_a_changed_input_is_highlighted_with_its_old_and_new_shape():
    image = _box(_diff_svg(), "image")
    assert [r.get("class") for r in image.findall(f"{SVG}rect")] == ["halo", "box"]
    assert image.find(f"{SVG}rect[@class='halo']").get("stroke") == "#f59e0b"  # as changed nodes
    assert [t.text for t in image.findall(f"{SVG}text")] == ["image", "1×28×28 → 3×32×32"]
    assert "changes: shape 1×28×28 → 3×32×32" in image.find(f"{SVG}title").text.splitlines()


def test_a_removed_node_is_drawn_dead_and_the_edges_into_it_dashed():
    root = _diff_svg()
    drop = _box(root, "drop")
    box = drop.find(f"{SVG}rect[@class='box']")
    background = root.find(f"{SVG}rect[@class='background']").get("fill")
    assert (box.get("fill"), box.get("stroke"), box.get("stroke-dasharray")) == (background, "#dc2626", "4 3")
    assert drop.find(f"{SVG}rect[@class='halo']") is None
    assert drop.find(f"{SVG}line[@class='strike']") is not None
    assert drop.find(f"{SVG}g[@class='diff-tag']/{SVG}text").text == "removed"
    assert drop.find(f"{SVG}text[@class='node-title']").get("fill") != _box(root, "fc").find(
        f"{SVG}text[@class='node-title']"
    ).get("fill")
    edges = {(p.get("data-src"), p.get("data-dst")): p for p in root.iter(f"{SVG}path") if p.get("data-src")}
    assert "edge-removed" in edges[("act", "drop")].get("class").split()
    assert edges[("act", "drop")].get("stroke-dasharray") == "4 3"
    live = [p for key, p in edges.items() if "drop" not in key]
    assert live and all(
        "edge-removed" not in p.get("class") and p.get("stroke-dasharray") is None for p in live
    )


def test_added_changed_and_unchanged_boxes_are_drawn_as_live_nodes():
    root = _diff_svg()
    halos = {nid: _box(root, nid).find(f"{SVG}rect[@class='halo']") for nid in ("bn", "conv", "fc")}
    assert halos["bn"].get("stroke") == "#16a34a" and halos["conv"].get("stroke") == "#f59e0b"
    assert halos["fc"] is None
    for nid in ("bn", "conv", "fc"):
        assert _box(root, nid).find(f"{SVG}rect[@class='box']").get("stroke-dasharray") is None
        assert _box(root, nid).find(f"{SVG}g[@class='diff-tag']") is None


def test_the_diff_legend_has_an_entry_for_each_state():
    root = _diff_svg()
    (legend,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "legend"]
    entries = [g.get("class") for g in legend.findall(f"{SVG}g")]
    assert entries == ["legend-added", "legend-changed", "legend-removed", "legend-unchanged"]
    assert [g.find(f"{SVG}text").text for g in legend.findall(f"{SVG}g")] == [
        "added",
        "changed",
        "removed",
        "unchanged",
    ]
    removed = legend.find(f"{SVG}g[@class='legend-removed']/{SVG}rect")
    assert removed.get("stroke-dasharray") == "4 3"


def test_the_html_diff_view_has_the_same_marks_and_legend():
    from archspec.diagram import to_html

    page = to_html(diff_rgraph(analyse(load_text(BEFORE)), analyse(load_text(AFTER))))
    for mark in ("added", "changed", "removed", "unchanged"):
        assert f'<div class="legend-{mark}">' in page
    assert 'class="node family-dropout highlight-removed"' in page
    assert 'class="edge edge-data edge-removed"' in page


def test_a_removed_input_is_drawn_dead_with_the_removed_nodes_that_read_it():
    before = BEFORE.replace("kernel_size: 3}", "kernel_size: 3, in: image}").replace(
        "inputs: {image: {shape: [1, 28, 28]}}", "inputs: {image: {shape: [1, 28, 28]}, extra: {shape: [4]}}"
    )
    before = before.replace(
        "outputs: {logits: fc}",
        "  side: {op: linear, in: extra, out_features: 2}\noutputs: {logits: fc, side: side}",
    )
    g = diff_rgraph(analyse(load_text(before)), analyse(load_text(AFTER)))
    root = ET.fromstring(to_svg(g))
    assert (_state(_box(root, "extra")), _state(_box(root, "side"))) == ("removed", "removed")
    edges = {(p.get("data-src"), p.get("data-dst")): p for p in root.iter(f"{SVG}path") if p.get("data-src")}
    assert "edge-removed" in edges[("extra", "side")].get("class").split()
