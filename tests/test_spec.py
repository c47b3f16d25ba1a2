"""The spec language: validation, expansion, references and the graph, with exact messages."""

from __future__ import annotations

import pytest

from archspec.errors import SpecErrors
from archspec.lang.expand import expand
from archspec.lang.loader import loads
from archspec.lang.validate import validate, validate_op_args
from archspec.pipeline import load, load_text
from tests.conftest import EXAMPLES, analysed, spec_errors

HEAD = """\
archspec: 1
inputs:
  x: {shape: [16]}
"""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_validates_with_shapes(path):
    graph = analysed(path.read_text(), name=str(path))
    assert graph.order


def test_a_missing_version_is_reported_first():
    assert spec_errors("nodes: {a: {op: relu}}\n") == [
        "spec.yaml:1:1: missing format version (hint: add 'archspec: 1' as the first line)"
    ]


def test_an_unknown_version_is_rejected_clearly():
    assert spec_errors("archspec: 2\nnodes: {a: {op: relu}}\n") == [
        "spec.yaml:1:11: archspec: unsupported format version 2 (hint: this archspec reads 'archspec: 1')"
    ]


def test_unknown_top_level_key_gets_did_you_mean():
    errors = spec_errors(HEAD + "nodse: {}\nnodes: {a: {op: relu}}\n")
    assert errors == ["spec.yaml:4:1: nodse: unknown key 'nodse' (hint: did you mean 'nodes'?)"]


def test_unknown_op_gets_did_you_mean():
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linaer, out_features: 4}\n")
    assert errors == ["spec.yaml:5:11: nodes.a.op: unknown op 'linaer' (hint: did you mean 'linear'?)"]


def test_unknown_argument_gets_did_you_mean():
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linear, out_featurs: 4}\n")
    assert errors == [
        "spec.yaml:5:19: nodes.a.out_featurs: linear has no argument 'out_featurs' (hint: did you mean 'out_features'?)"
    ]


def test_missing_required_argument_names_the_op():
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linear}\n")
    assert errors == ["spec.yaml:5:3: nodes.a: linear missing required key 'out_features'"]


def test_wrong_argument_type_says_what_was_expected():
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linear, out_features: many}\n")
    assert len(errors) == 1
    assert errors[0].startswith("spec.yaml:5:33: nodes.a.out_features: expected an integer")
    assert "got 'many'" in errors[0]


def test_yaml11_booleans_get_a_hint():
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linear, out_features: 4, bias: yes}\n")
    assert errors == [
        "spec.yaml:5:42: nodes.a.bias: expected true or false, got 'yes' (hint: archspec reads YAML 1.2: write true or false)"
    ]


def test_unknown_reference_gets_did_you_mean():
    text = HEAD + "nodes:\n  enc1: {op: relu}\n  enc2: {op: relu}\n  dec1: {op: relu, in: enc3}\n"
    assert spec_errors(text) == [
        "spec.yaml:7:24: nodes.dec1.in: unknown node 'enc3' (hint: did you mean 'enc2'?)"
    ]


def test_a_node_s_bad_argument_does_not_hide_its_unknown_in():
    text = (
        HEAD
        + "nodes:\n  enc1: {op: relu}\n  enc2: {op: relu}\n  dec1: {op: linear, out_features: 0, in: enc3}\n"
    )
    assert spec_errors(text) == [
        "spec.yaml:7:36: nodes.dec1.out_features: expected at least 1, got 0",
        "spec.yaml:7:43: nodes.dec1.in: unknown node 'enc3' (hint: did you mean 'enc2'?)",
    ]


def test_a_node_s_unknown_argument_does_not_hide_its_unknown_in():
    text = (
        HEAD
        + "nodes:\n  enc1: {op: relu}\n  enc2: {op: relu}\n  dec1: {op: linear, out_featurs: 4, in: enc3}\n"
    )
    assert spec_errors(text) == [
        "spec.yaml:7:22: nodes.dec1.out_featurs: linear has no argument 'out_featurs' (hint: did you mean 'out_features'?)",
        "spec.yaml:7:42: nodes.dec1.in: unknown node 'enc3' (hint: did you mean 'enc2'?)",
    ]


def test_inside_a_block_both_errors_name_every_instance():
    text = HEAD + (
        "blocks:\n  dense:\n    nodes:\n      fc: {op: linear, out_features: 0, in: xx}\n"
        "nodes:\n  d1: {block: dense}\n  d2: {block: dense}\n"
    )
    bad_arg = "spec.yaml:7:38: blocks.dense.nodes.fc.out_features: expected at least 1, got 0"
    bad_in = "spec.yaml:7:45: blocks.dense.nodes.fc.in: unknown node 'xx' (hint: did you mean 'x'?)"
    d1, d2 = (
        "\n  in block instance nodes.d1 at spec.yaml:9:3",
        "\n  in block instance nodes.d2 at spec.yaml:10:3",
    )
    assert spec_errors(text) == [bad_arg + d1 + d2, bad_in + d1 + d2]  # each once, naming both


def test_op_arguments_are_checked_by_a_pass_after_expansion():
    doc = validate(loads(HEAD + "nodes:\n  a: {op: linear, out_features: 0}\n", name="spec.yaml"))
    spec = expand(doc)  # expansion evaluates arguments; it does not judge them
    assert spec.nodes["a"].args == {"out_features": 0}
    with pytest.raises(SpecErrors) as info:
        validate_op_args(spec)
    assert [str(e) for e in info.value.errors] == [
        "spec.yaml:5:33: nodes.a.out_features: expected at least 1, got 0"
    ]


def test_all_errors_are_reported_sorted_by_position():
    text = HEAD + "nodes:\n  a: {op: relu, in: nope}\n  b: {op: linaer}\n  c: {op: relu, in: zzz}\n"
    errors = spec_errors(text)
    assert [e.split(":")[1] for e in errors] == ["5", "6", "7"]


def test_in_defaults_to_the_previous_node_and_the_only_input():
    graph = analysed(HEAD + "nodes:\n  a: {op: relu}\n  b: {op: tanh}\n")
    assert [str(r) for r in graph.spec.nodes["a"].inputs] == ["x"]
    assert [str(r) for r in graph.spec.nodes["b"].inputs] == ["a"]
    assert list(graph.spec.outputs) == ["output"]


def test_first_node_needs_in_when_there_are_several_inputs():
    text = "archspec: 1\ninputs: {a: {shape: [2]}, b: {shape: [2]}}\nnodes:\n  n: {op: relu}\n"
    assert spec_errors(text) == [
        "spec.yaml:4:3: nodes.n: the first node needs 'in:' (inputs: a, b) (hint: name the input it reads, e.g. in: a)"
    ]


BLOCKS = (
    HEAD
    + """\
blocks:
  dense:
    params: {width: int, act: {type: str, default: relu}}
    nodes:
      fc: {op: linear, out_features: "${width * 2}"}
      act: {op: "${act}"}
"""
)


def test_blocks_expand_with_hierarchical_ids_and_parameters():
    graph = analysed(
        BLOCKS.replace('"${act}"', "relu")
        + "nodes:\n  d1: {block: dense, width: 4}\n  d2: {block: dense, width: 8}\n"
    )
    spec = graph.spec
    assert list(spec.nodes) == ["d1.fc", "d1.act", "d2.fc", "d2.act"]
    assert spec.nodes["d2.fc"].args == {"out_features": 16}
    assert spec.nodes["d2.fc"].meta["shape"] == (16,)
    assert [str(r) for r in spec.nodes["d2.fc"].inputs] == ["d1.act"]


def test_quoted_expressions_work_inside_flow_mappings():
    text = (
        HEAD
        + 'params: {ch: 3}\nnodes:\n  a: {op: linear, out_features: "${ch * 2}"}\n  b: {op: linear, out_features: "${max(ch, 5)}"}\n'
    )
    spec = analysed(text).spec
    assert spec.nodes["a"].args["out_features"] == 6
    assert spec.nodes["b"].args["out_features"] == 5


def test_an_error_inside_a_block_points_at_the_definition_and_the_instance():
    text = BLOCKS.replace('"${act}"', "relu") + "nodes:\n  d1: {block: dense, width: 0}\n"
    errors = spec_errors(text)
    assert errors == [
        "spec.yaml:8:38: blocks.dense.nodes.fc.out_features: expected at least 1, got 0\n"
        "  in block instance nodes.d1 at spec.yaml:11:3"
    ]


def test_unknown_block_parameter_gets_did_you_mean():
    text = BLOCKS.replace('"${act}"', "relu") + "nodes:\n  d1: {block: dense, widht: 4}\n"
    errors = spec_errors(text)
    assert errors == [
        "spec.yaml:11:3: nodes.d1: block 'dense' needs parameter 'width' (hint: add width: ... to the node)",
        "spec.yaml:11:22: nodes.d1.widht: block 'dense' has no parameter 'widht' (hint: did you mean 'width'?)",
    ]


def test_block_parameter_types_are_checked():
    text = BLOCKS.replace('"${act}"', "relu") + "nodes:\n  d1: {block: dense, width: wide}\n"
    assert spec_errors(text) == [
        "spec.yaml:11:29: nodes.d1.width: parameter 'width' of block 'dense' must be int, got 'wide'"
    ]


def test_repeat_chains_copies_with_indexed_ids():
    text = (
        HEAD
        + 'nodes:\n  layer: {op: linear, out_features: "${8 * (index + 1)}", repeat: 3}\n  out: {op: relu}\n'
    )
    spec = analysed(text).spec
    assert list(spec.nodes) == ["layer.0", "layer.1", "layer.2", "out"]
    assert [spec.nodes[f"layer.{i}"].args["out_features"] for i in range(3)] == [8, 16, 24]
    assert [str(r) for r in spec.nodes["layer.1"].inputs] == ["layer.0"]
    assert [str(r) for r in spec.nodes["out"].inputs] == ["layer.2"]


def test_repeated_blocks_and_named_block_outputs():
    text = (
        HEAD
        + """\
blocks:
  pair:
    nodes:
      a: {op: linear, out_features: 16}
      b: {op: relu}
    outputs: {main: b, pre: a}
nodes:
  p: {block: pair, repeat: 2}
  skip: {op: add, in: [p, p.1.pre]}
"""
    )
    spec = analysed(text).spec
    assert "p.1.a" in spec.nodes
    assert [str(r) for r in spec.nodes["skip"].inputs] == ["p.1.b", "p.1.a"]


def test_recursive_blocks_are_rejected():
    text = (
        HEAD
        + "blocks:\n  a:\n    nodes: {n: {block: b}}\n  b:\n    nodes: {n: {block: a}}\nnodes:\n  top: {block: a}\n"
    )
    errors = spec_errors(text)
    assert len(errors) == 1 and "block 'a' uses itself (a -> b -> a)" in errors[0]


def test_cycles_are_printed_with_lines():
    text = HEAD + "nodes:\n  a: {op: add, in: [x, b]}\n  b: {op: relu, in: a}\noutputs: {y: b}\n"
    errors = spec_errors(text)
    assert errors == [
        "spec.yaml:5:20: nodes.a.in: cycle: a (line 5) -> b (line 6) -> a (line 5) (hint: a network is a DAG: break the loop)"
    ]


def test_wrong_number_of_inputs_is_an_error():
    text = HEAD + "nodes:\n  a: {op: concat, dim: 1}\n"
    assert spec_errors(text) == [
        "spec.yaml:5:3: nodes.a: concat takes at least 2 input(s), got 1 (hint: list them with in: [a, b])"
    ]


def test_nodes_that_reach_no_output_are_warnings():
    graph = analysed(HEAD + "nodes:\n  a: {op: relu}\n  dead: {op: tanh, in: x}\noutputs: {y: a}\n")
    assert [str(w) for w in graph.warnings] == [
        "spec.yaml:6:3: nodes.dead: warning: node 'dead' does not reach any output (hint: use it, list it under outputs, or remove it)"
    ]


def test_topological_order_follows_declaration_order():
    text = HEAD + "nodes:\n  b: {op: relu, in: x}\n  a: {op: tanh, in: x}\n  c: {op: add, in: [a, b]}\n"
    assert analysed(text).order == ["x", "b", "a", "c"]


def test_node_names_that_shadow_module_methods_are_rejected():
    text = HEAD + "nodes:\n  train: {op: relu}\n"
    assert spec_errors(text) == [
        "spec.yaml:5:3: nodes.train: node name 'train' clashes with an attribute of the compiled torch module (hint: rename it, e.g. train_)"
    ]


def test_shape_mismatch_names_node_op_and_shapes():
    text = (
        "archspec: 1\ninputs: {a: {shape: [16, 32, 32]}, b: {shape: [16, 30, 30]}}\n"
        "nodes:\n  cat1: {op: concat, in: [a, b], dim: 1}\n"
    )
    errors = spec_errors(text)
    assert len(errors) == 1
    assert errors[0].startswith("spec.yaml:4:3: nodes.cat1: concat needs equal sizes except on dim 1")
    assert "[N, 16, 32, 32]" in errors[0] and "[N, 16, 30, 30]" in errors[0]


def test_only_the_first_shape_failure_of_a_chain_is_reported():
    text = (
        HEAD
        + "nodes:\n  a: {op: conv2d, out_channels: 4, kernel_size: 3}\n  b: {op: relu}\n  c: {op: relu}\n"
    )
    assert len(spec_errors(text)) == 1


def test_parts_accept_ids_block_instances_and_globs():
    text = BLOCKS.replace('"${act}"', "relu") + (
        "nodes:\n  d1: {block: dense, width: 4}\n  d2: {block: dense, width: 4}\n  head: {op: linear, out_features: 2}\n"
        "parts: {body: [d1, 'd2.*'], head: [head]}\n"
    )
    spec = analysed(text).spec
    assert spec.parts == {"body": ["d1.fc", "d1.act", "d2.fc", "d2.act"], "head": ["head"]}


def test_unknown_part_member_gets_did_you_mean():
    text = HEAD + "nodes:\n  enc: {op: relu}\nparts: {encoder: [enk]}\n"
    assert spec_errors(text) == [
        "spec.yaml:6:19: parts.encoder[0]: part 'encoder' names unknown node 'enk' (hint: did you mean 'enc'?)"
    ]


def test_shared_nodes_reuse_weights_and_count_them_once():
    text = (
        "archspec: 1\ninputs: {a: {shape: [8]}, b: {shape: [8]}}\n"
        "nodes:\n  fa: {op: linear, in: a, out_features: 4}\n  fb: {op: linear, in: b, share: fa}\n"
        "  d: {op: subtract, in: [fa, fb]}\n"
    )
    spec = analysed(text).spec
    assert spec.nodes["fb"].share == "fa"
    assert spec.nodes["fb"].args == {"out_features": 4}
    assert spec.nodes["fb"].meta["params"] == 0


def test_width_and_depth_multipliers_scale_the_network():
    text = (
        HEAD
        + 'scale: {width: 0.5, depth: 2}\nnodes:\n  l: {op: linear, out_features: "${width(64)}", repeat: "${depth(2)}"}\n'
    )
    spec = analysed(text).spec
    assert list(spec.nodes) == ["l.0", "l.1", "l.2", "l.3"]
    assert spec.nodes["l.0"].args["out_features"] == 32


def test_overrides_set_values_with_yaml_types(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        HEAD + "nodes:\n  a: {op: linear, out_features: 4}\ntraining: {optimizer: {name: sgd, lr: 0.1}}\n"
    )
    spec = load(path, overrides=["training.optimizer.lr=1e-3", "nodes.a.out_features=7"])
    assert spec.training["optimizer"]["lr"] == 0.001
    assert spec.nodes["a"].args["out_features"] == 7


def test_expressions_cannot_call_arbitrary_code():
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linear, out_features: '${__import__(\"os\")}'}\n")
    assert len(errors) == 1 and "unknown function '__import__'" in errors[0]
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linear, out_features: '${open(\"x\").read()}'}\n")
    assert len(errors) == 1 and "only plain calls like min(a, b) are allowed" in errors[0]
    errors = spec_errors(HEAD + "nodes:\n  a: {op: linear, out_features: '${(1).__class__}'}\n")
    assert len(errors) == 1 and "attribute is not allowed in expressions" in errors[0]


def test_expect_contracts_fail_with_located_errors():
    text = (
        HEAD
        + "nodes:\n  a: {op: linear, out_features: 4}\nexpect: {params: {max: 10}, outputs: {output: [5]}}\n"
    )
    assert spec_errors(text) == [
        "spec.yaml:6:24: expect.params.max: expected at most 10 params, the model has 68",
        "spec.yaml:6:47: expect.outputs.output: output 'output' should have shape [N, 5], got [N, 4]",
    ]


def test_data_losses_and_training_sections_are_schema_checked():
    text = (
        HEAD + "nodes:\n  a: {op: linear, out_features: 4}\ntraining: {optimizer: {name: adamm, lr: 0.1}}\n"
    )
    assert spec_errors(text) == [
        "spec.yaml:6:30: training.optimizer.name: unknown value 'adamm' (hint: did you mean 'adam'?)"
    ]


def test_load_text_round_trips_examples_deterministically():
    a = load_text(EXAMPLES[0].read_text(), name="a")
    b = load_text(EXAMPLES[0].read_text(), name="a")
    assert list(a.nodes) == list(b.nodes)


def test_the_schemas_dataset_list_matches_the_registry():
    from archspec.data import DATASETS
    from archspec.lang.schema import DATASETS as LISTED

    assert sorted(DATASETS) == LISTED


def test_unknown_loss_dataset_and_metric_names_fail_validation_without_torch():
    text = HEAD + (
        "nodes:\n  a: {op: linear, out_features: 4}\n"
        "data:\n  t: {dataset: digitz}\n"
        "losses:\n  l: {fn: cross_entropi, target: label}\n"
        "training: {metrics: [acuracy]}\n"
    )
    assert spec_errors(text) == [
        "spec.yaml:7:16: data.t.dataset: unknown value 'digitz' (hint: did you mean 'digits'?)",
        "spec.yaml:9:11: losses.l.fn: unknown value 'cross_entropi' (hint: did you mean 'cross_entropy'?)",
        "spec.yaml:10:22: training.metrics[0]: unknown metric 'acuracy' (hint: did you mean 'accuracy'?)",
    ]


def test_element_types_are_checked_before_torch_runs():
    text = (
        "archspec: 1\ninputs: {tok: {shape: [12], dtype: int64}, x: {shape: [8]}}\nnodes:\n"
        "  a: {op: linear, in: tok, out_features: 4}\n"
        "  e: {op: embedding, in: x, num_embeddings: 10, embedding_dim: 3}\n"
        "  ok: {op: embedding, in: tok, num_embeddings: 10, embedding_dim: 3}\n"
        "  f: {op: flatten}\n  g: {op: linear, out_features: 2}\noutputs: {a: a, e: e, g: g}\n"
    )
    assert spec_errors(text) == [
        "spec.yaml:4:3: nodes.a: linear needs floating-point values, got int64 from 'tok' (hint: embed integer indices with op: embedding, or declare the input with dtype: float32)",
        "spec.yaml:5:3: nodes.e: embedding needs integer indices, got float32 from 'x' (hint: declare the input with dtype: int64)",
    ]


def test_common_pytorch_names_suggest_ours():
    errors = spec_errors(HEAD + "nodes:\n  a: {op: cat, in: [x, x], dim: 1}\n")
    assert errors == ["spec.yaml:5:11: nodes.a.op: unknown op 'cat' (hint: did you mean 'concat'?)"]


def test_errors_in_overridden_values_point_at_the_set_option(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "nodes:\n  a: {op: linear, out_features: 4}\n")
    from archspec.errors import SpecErrors

    with pytest.raises(SpecErrors) as info:
        load(path, overrides=["nodes.a.out_features=0"])
    assert str(info.value) == "--set nodes.a.out_features=0: nodes.a.out_features: expected at least 1, got 0"


def test_init_on_a_sharing_node_is_refused():
    text = (
        "archspec: 1\ninputs: {a: {shape: [8]}, b: {shape: [8]}}\nnodes:\n"
        "  fa: {op: linear, in: a, out_features: 4}\n"
        "  fb: {op: linear, in: b, share: fa, init: {weight: zeros}}\n"
        "  d: {op: subtract, in: [fa, fb]}\n"
    )
    assert spec_errors(text) == [
        "spec.yaml:5:44: nodes.fb.init: a sharing node has no weights of its own to initialise; they belong to 'fa' (hint: move init: to 'fa')"
    ]
