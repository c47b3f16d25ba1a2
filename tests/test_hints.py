"""Hints point the right way: the same name in another case, another library's name for it,
a quoted number, a bare optimizer name."""

from __future__ import annotations

import pytest

from tests.conftest import spec_errors

HEAD = """\
archspec: 1
inputs: {x: {shape: [4]}}
nodes:
  fc: {op: linear, out_features: 2}
data:
  train: {dataset: moons, fields: {x: x, label: label}}
losses:
  ce: {fn: cross_entropy, stream: train, target: label}
"""
CASES = {
    "case": (
        HEAD + "training: {optimizer: {name: AdamW, lr: 0.01}}\n",
        "spec.yaml:9:30: training.optimizer.name: unknown value 'AdamW' (hint: did you mean 'adamw'?)",
    ),
    "keras loss": (
        HEAD.replace("fn: cross_entropy", "fn: categorical_crossentropy"),
        "spec.yaml:8:12: losses.ce.fn: unknown value 'categorical_crossentropy' (hint: did you mean 'cross_entropy'?)",
    ),
    "keras argument": (
        HEAD.replace("out_features: 2", "units: 2"),
        "spec.yaml:4:20: nodes.fc.units: linear has no argument 'units' (hint: did you mean 'out_features'?)",
    ),
    "keras layer": (
        HEAD.replace("op: linear", "op: Dense"),
        "spec.yaml:4:12: nodes.fc.op: unknown op 'Dense' (hint: did you mean 'linear'?)",
    ),
    "quoted number": (
        HEAD + 'training: {optimizer: {name: adam, lr: "0.001"}}\n',
        "spec.yaml:9:40: training.optimizer.lr: expected a number, got '0.001' "
        "(hint: remove the quotes: 0.001 is a number, '0.001' a string)",
    ),
    "bare optimizer": (
        HEAD + "training: {optimizer: adam}\n",
        "spec.yaml:9:23: training.optimizer: expected a mapping, got 'adam' (hint: write optimizer: {name: adam})",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_hints_point_the_right_way(case):
    text, message = CASES[case]
    assert spec_errors(text, shapes=False) == [message]


def test_an_error_inside_a_block_used_twice_is_printed_once_with_both_instances():
    text = """\
archspec: 1
inputs: {x: {shape: [4]}}
blocks:
  mlp:
    params: {h: int}
    nodes:
      fc: {op: linear, out_featres: "${h}"}
nodes:
  a: {block: mlp, h: 3}
  b: {block: mlp, h: 4}
"""
    assert spec_errors(text) == [
        "spec.yaml:7:24: blocks.mlp.nodes.fc.out_featres: linear has no argument 'out_featres' "
        "(hint: did you mean 'out_features'?)\n"
        "  in block instance nodes.a at spec.yaml:9:3\n"
        "  in block instance nodes.b at spec.yaml:10:3"
    ]


def test_concat_of_different_ranks_says_flatten_first():
    text = """\
archspec: 1
inputs: {a: {shape: [3, 8, 8]}, b: {shape: [5]}}
nodes:
  f: {op: linear, in: b, out_features: 4}
  c: {op: concat, in: [a, f], dim: 1}
"""
    assert spec_errors(text) == [
        "spec.yaml:5:3: nodes.c: concat needs inputs of equal rank, got [N, 3, 8, 8] and [N, 4] "
        "(hint: flatten first: put {op: flatten} after the input of higher rank, so both are [N, features])"
    ]


def test_a_set_typo_that_would_create_a_node_suggests_the_existing_one():
    from archspec.errors import LoadError
    from archspec.pipeline import load_text

    text = HEAD.replace("  fc: {op: linear", "  body: {op: linear")
    with pytest.raises(LoadError) as info:
        load_text(text, name="spec.yaml", overrides=["nodes.bdy.out_features=3"])
    assert str(info.value) == (
        "--set: override 'nodes.bdy.out_features=3': there is no nodes.bdy to set a key in "
        "(did you mean nodes.body?) (hint: to add nodes.bdy, set it whole: --set nodes.bdy={...})"
    )
    load_text(text, name="spec.yaml", overrides=["training.schedule.name=cosine"])  # a new key is fine
