"""Hints point the right way: the same name in another case, another library's name for it,
a quoted number, a bare optimizer name."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, invoke, spec_errors

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
        "--set nodes.bdy.out_features=3: nodes.bdy: there is no nodes.bdy to set a key in "
        "(hint: did you mean nodes.body? To add nodes.bdy, set it whole: --set nodes.bdy={...})"
    )
    load_text(text, name="spec.yaml", overrides=["training.schedule.name=cosine"])  # a new key is fine


# -- --set mistakes are located at the option, at every stage ----------------------------------------

SET_CASES = {
    "schema: a word for an integer": (
        ["nodes.hidden.out_features=abc"],
        "--set nodes.hidden.out_features=abc: nodes.hidden.out_features: expected an integer, got 'abc'",
    ),
    "schema: a bound": (
        ["training.optimizer.lr=-1"],
        "--set training.optimizer.lr=-1: training.optimizer.lr: expected greater than 0, got -1",
    ),
    "op arguments: a misspelt argument": (
        ["nodes.hidden.out_featurs=3"],
        "--set nodes.hidden.out_featurs=3: nodes.hidden.out_featurs: linear has no argument 'out_featurs' "
        "(hint: did you mean 'out_features'?)",
    ),
    "expansion: an unknown name in an expression": (
        ["nodes.hidden.out_features=${width}"],
        "--set nodes.hidden.out_features=${width}: nodes.hidden.out_features: unknown name 'width'",
    ),
    "graph: an unknown input": (
        ["nodes.logits.in=hiden"],
        "--set nodes.logits.in=hiden: nodes.logits.in: unknown node 'hiden' (hint: did you mean 'hidden'?)",
    ),
    "shapes: an argument of a node in the file": (
        ["nodes.act.op=softmax", "nodes.act.dim=5"],
        "--set nodes.act.op=softmax --set nodes.act.dim=5: nodes.act: "
        "dim 5 is out of range for a tensor of rank 2; got [N, 128]",
    ),
    "a node the option created": (
        ["nodes.extra.out_features=3"],
        "--set nodes.extra.out_features=3: nodes.extra: "
        "a node needs 'op' (a layer or tensor operation) or 'block' (a block instance)",
    ),
    "a typo that would create a node": (
        ["nodes.hiden.out_features=3"],
        "--set nodes.hiden.out_features=3: nodes.hiden: there is no nodes.hiden to set a key in "
        "(hint: did you mean nodes.hidden? To add nodes.hiden, set it whole: --set nodes.hiden={...})",
    ),
    "a key inside a value that is not a mapping": (
        ["nodes.hidden.out_features.x=3"],
        "--set nodes.hidden.out_features.x=3: nodes.hidden.out_features: "
        "expected a mapping to set a key in, got 128 (hint: set it whole: --set nodes.hidden.out_features=...)",
    ),
    "a key inside a list item that is not a mapping": (
        ["training.metrics.0.x=1"],
        "--set training.metrics.0.x=1: training.metrics[0]: "
        "expected a mapping to set a key in, got 'accuracy' (hint: set it whole: --set training.metrics.0=...)",
    ),
    "a list item that is not there": (
        ["training.metrics.3=f1"],
        "--set training.metrics.3=f1: training.metrics[3]: no such list item (the list has 1)",
    ),
}


@pytest.fixture
def mlp(tmp_path):
    path = tmp_path / "mlp.yaml"
    path.write_text((ROOT / "examples" / "mlp.yaml").read_text().replace("../schemas", str(ROOT / "schemas")))
    return path


def _sets(items):
    return [arg for item in items for arg in ("--set", item)]


@pytest.mark.parametrize("case", SET_CASES)
def test_a_set_mistake_is_located_at_the_option_in_validate(mlp, case):
    items, message = SET_CASES[case]
    result = invoke("validate", mlp, *_sets(items))
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [message]  # validate reports on stdout, its tally on stderr


@pytest.mark.parametrize(
    "case", ["schema: a word for an integer", "shapes: an argument of a node in the file"]
)
def test_a_set_mistake_is_located_at_the_option_in_train_before_a_run_directory(mlp, tmp_path, case):
    items, message = SET_CASES[case]
    run = tmp_path / "run"
    result = invoke("train", mlp, "--run-dir", run, "--no-progress", *_sets(["training.epochs=1", *items]))
    assert (result.exit_code, result.stderr.strip()) == (2, message)
    assert not run.exists()


def test_a_node_a_set_created_is_warned_about_at_the_option(mlp):
    result = invoke("validate", mlp, "--set", "nodes.extra.op=relu")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == (
        "--set nodes.extra.op=relu: nodes.extra: warning: node 'extra' does not reach any output "
        "(hint: use it, list it under outputs, or remove it)"
    )


def test_a_mistake_in_the_file_keeps_its_line_next_to_a_set_in_the_same_section(mlp):
    mlp.write_text(mlp.read_text().replace("  epochs: 30", "  epochs: 30\n  epoch: 3"))
    result = invoke("validate", mlp, "--set", "training.epochs=2", "--set", "nodes.hidden.out_features=4")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{mlp}:24:3: training.epoch: unknown key 'epoch' (hint: did you mean 'epochs'?)"
    ]
