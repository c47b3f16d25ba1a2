"""Architecture diffs between two small specs: as data, as text and as a highlighted diagram."""

from __future__ import annotations

import json

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
    assert {n.id: n.highlight for n in g.nodes if n.highlight} == {"body": "changed", "head": "changed"}


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
