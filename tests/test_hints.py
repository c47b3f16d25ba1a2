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
