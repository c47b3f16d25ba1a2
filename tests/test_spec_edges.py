"""Edge cases of the spec language, each checked end to end: load, analyse, build and run.

Every spec here is one docs/spec.md promises to accept, or a mistake it promises to report as
a located error (never a torch crash at build or forward time).
"""

from __future__ import annotations

import dataclasses
import textwrap

import pytest
import torch

import archspec
from archspec.compiler.compile import example_inputs
from archspec.errors import SpecError, SpecErrors
from archspec.pipeline import analyse, load_text
from tests.conftest import analysed, spec_errors


def _graph(text: str):
    return analyse(load_text(textwrap.dedent(text), name="spec.yaml"))


def _run(text: str, part: str | None = None):
    """Compile and run a spec on example inputs; the output shapes (per output name)."""
    graph = _graph(text)
    model = archspec.build(graph, part=part)
    out = model(*example_inputs(graph, part=part).values())
    return {k: tuple(v.shape) for k, v in out.items()} if isinstance(out, dict) else tuple(out.shape)


def _build_errors(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        archspec.build(_graph(text))
    err = info.value
    return [str(e) for e in err.errors] if isinstance(err, SpecErrors) else [str(err)]


# -- references -------------------------------------------------------------------------------

UNET = """\
archspec: 1
inputs: {x: {shape: [3, 8, 8]}}
blocks:
  enc:
    params: {ch: int}
    nodes:
      c1: {op: conv2d, out_channels: "${ch}", kernel_size: 3, padding: 1}
      r: {op: relu}
      p: {op: maxpool2d, kernel_size: 2}
    outputs: {down: p, skip: r}
nodes:
  enc1: {block: enc, ch: 4}
  enc2: {block: enc, ch: 8}
  up: {op: upsample, scale_factor: 4}
  cat: {op: concat, in: [up, enc1.skip], dim: 1}
  inner: {op: relu, in: enc1.c1}
outputs: {cat: cat, inner: inner, down: enc2.down}
"""


def test_block_named_outputs_and_inner_nodes_can_be_read():
    assert _run(UNET) == {"cat": (2, 12, 8, 8), "inner": (2, 4, 8, 8), "down": (2, 8, 2, 2)}


def test_repeat_copies_and_the_group_name_can_be_read():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    nodes:
      layer: {op: linear, out_features: "${8 * (index + 1)}", repeat: 3}
      a: {op: relu, in: layer.1}
    outputs: {a: a, last: layer, first: layer.0}
    """
    assert _run(text) == {"a": (2, 16), "last": (2, 24), "first": (2, 8)}


def test_a_repeated_block_s_name_reaches_the_last_copy_s_outputs_and_nodes():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    blocks:
      P:
        nodes:
          l: {op: linear, out_features: 8}
          r: {op: relu}
        outputs: {act: r, pre: l}
    nodes:
      p: {block: P, repeat: 2}
      q: {op: relu, in: p.l}
    outputs: {q: q, pre: p.pre}
    """
    graph = _graph(text)
    assert graph.spec.nodes["q"].inputs[0].node == "p.1.l"
    assert graph.spec.outputs["pre"].ref.node == "p.1.l"


def test_split_outputs_feed_a_multi_input_block_by_mapping_and_by_list():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    blocks:
      two:
        inputs: [a, b]
        nodes:
          s: {op: add, in: [a, b]}
          m: {op: multiply, in: [a, b]}
        outputs: {sum: s, prod: m}
    nodes:
      halves: {op: split, sizes: [4, 4], names: [left, right]}
      t: {block: two, in: {b: halves.right, a: halves.left}}
      t2: {block: two, in: [halves.right, t.prod]}
    outputs: {s: t.sum, p: t2.prod, l: halves.left}
    """
    graph = _graph(text)
    assert [str(r) for r in graph.spec.nodes["t.s"].inputs] == ["halves.left", "halves.right"]
    assert _run(text) == {"s": (2, 4), "p": (2, 4), "l": (2, 4)}


def test_a_split_read_by_its_name_gives_its_first_output():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    nodes:
      s: {op: split, sizes: [3, 5], names: [l, r]}
    outputs: {p: s.r, q: s}
    """
    assert _run(text) == {"p": (2, 5), "q": (2, 3)}


def test_nested_blocks_with_repeats_and_index_get_hierarchical_ids():
    text = """\
    archspec: 1
    inputs: {x: {shape: [4]}}
    blocks:
      inner:
        params: {w: int}
        nodes:
          l: {op: linear, out_features: "${w}"}
          a: {op: relu}
      outer:
        params: {base: int}
        nodes:
          st: {block: inner, w: "${base * (index + 1)}", repeat: 2}
          fin: {op: linear, out_features: "${[16, 32][1]}"}
    nodes:
      o: {block: outer, base: 4, repeat: 3}
      ref: {op: relu, in: o.1.st.0.l}
    outputs: {o: o, r: ref}
    """
    graph = _graph(text)
    assert graph.spec.nodes["o.2.st.1.l"].args["out_features"] == 8
    assert _run(text) == {"o": (2, 32), "r": (2, 4)}


def test_expressions_work_inside_lists_and_inside_strings():
    text = """\
    archspec: 1
    params: {k: 3}
    inputs: {x: {shape: [3, 8, 8]}}
    nodes:
      c: {op: conv2d, out_channels: 4, kernel_size: ["${k}", "${k}"], padding: ["${k // 2}", 1]}
      s: {op: split, sizes: [2, 2], names: ["a${k}", "b${k + 1}"]}
    outputs: {a: s.a3, b: s.b4}
    """
    assert _graph(text).spec.nodes["c"].args["kernel_size"] == [3, 3]
    assert _run(text) == {"a": (2, 2, 8, 8), "b": (2, 2, 8, 8)}


def test_index_outside_a_repeat_says_where_index_exists():
    text = 'archspec: 1\ninputs: {x: {shape: [8]}}\nnodes:\n  l: {op: linear, out_features: "${index}"}\n'
    assert spec_errors(text) == [
        "spec.yaml:4:33: nodes.l.out_features: unknown name 'index' (hint: index is defined only in a node with repeat:)"
    ]


# -- blocks -------------------------------------------------------------------------------------


def test_an_error_inside_a_block_points_at_every_instance_once():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    blocks:
      B:
        nodes:
          m: {op: mul}
    nodes:
      b1: {block: B}
      b2: {block: B, repeat: 2}
    """
    errors = spec_errors(text)
    assert errors == [
        "spec.yaml:6:15: blocks.B.nodes.m.op: unknown op 'mul' (hint: did you mean 'multiply'?)\n"
        "  in block instance nodes.b1 at spec.yaml:8:3\n"
        "  in block instance nodes.b2 at spec.yaml:9:3",
    ]


def test_an_unknown_reference_inside_a_block_points_at_the_instance():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    blocks:
      B:
        nodes:
          r: {op: relu, in: y}
    nodes:
      b1: {block: B}
    """
    assert spec_errors(text) == [
        "spec.yaml:6:25: blocks.B.nodes.r.in: unknown node 'y' (hint: known here: r, x)\n  in block instance nodes.b1 at spec.yaml:8:3"
    ]


def test_a_block_param_shadows_a_global_param_and_globals_reach_inside_blocks():
    text = """\
    archspec: 1
    params: {ch: 5, classes: 3}
    inputs: {x: {shape: [8]}}
    blocks:
      B:
        params: {ch: int}
        nodes:
          l: {op: linear, out_features: "${ch}"}
          h: {op: linear, out_features: "${classes}"}
    nodes:
      g: {op: linear, out_features: "${ch}"}
      b: {block: B, ch: 7}
    outputs: {g: g, b: b, inner: b.l}
    """
    assert _run(text) == {"g": (2, 5), "b": (2, 3), "inner": (2, 7)}


def test_a_param_default_may_be_an_expression_over_params():
    text = """\
    archspec: 1
    params: {ch: 5}
    inputs: {x: {shape: [8]}}
    blocks:
      B:
        params: {n: {type: int, default: 2}, w: {type: int, default: "${ch * n}"}}
        nodes:
          l: {op: linear, out_features: "${w}"}
    nodes:
      a: {block: B}
      b: {block: B, n: 3}
    outputs: {a: a, b: b}
    """
    assert _run(text) == {"a": (2, 10), "b": (2, 15)}


def test_a_param_default_of_the_wrong_type_is_reported_at_the_default():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    blocks:
      B:
        params: {w: {type: int, default: 2.5}}
        nodes:
          l: {op: linear, out_features: "${w}"}
    nodes:
      b: {block: B}
    """
    assert spec_errors(text) == [
        "spec.yaml:5:38: blocks.B.params.w.default: parameter 'w' of block 'B' must be int, got 2.5"
    ]


def test_a_multi_input_block_given_too_few_inputs_says_how_to_name_them():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    blocks:
      T:
        inputs: [a, b]
        nodes:
          s: {op: add, in: [a, b]}
    nodes:
      t: {block: T, in: [x]}
    """
    assert spec_errors(text) == [
        "spec.yaml:9:21: nodes.t.in: block 'T' takes 2 input(s) (a, b), got 1 (hint: name them with in: {a: ..., b: ...})"
    ]


def test_repeating_a_multi_input_block_chains_its_first_input_and_passes_the_others_to_every_copy():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}, y: {shape: [8]}}
    blocks:
      T:
        inputs: [a, b]
        nodes:
          s: {op: add, in: [a, b]}
    nodes:
      t: {block: T, in: {a: x, b: y}, repeat: 3}
    """
    nodes = analysed(text).spec.nodes
    assert [[str(r) for r in nodes[f"t.{i}.s"].inputs] for i in range(3)] == [
        ["x", "y"],
        ["t.0.s", "y"],
        ["t.1.s", "y"],
    ]


def test_scale_depth_sets_repeat_counts_inside_blocks():
    text = """\
    archspec: 1
    scale: {width: 0.5, depth: 2}
    inputs: {x: {shape: [8]}}
    blocks:
      B:
        params: {n: int}
        nodes:
          l: {op: linear, out_features: "${width(16)}", repeat: "${depth(n)}"}
    nodes:
      l: {op: linear, out_features: "${width(64)}", repeat: "${depth(2)}"}
      b: {block: B, n: 3}
    """
    graph = _graph(text)
    assert [n for n in graph.spec.nodes if n.startswith("b.")] == [f"b.l.{i}" for i in range(6)]
    assert graph.spec.nodes["l.3"].args["out_features"] == 32


def test_unused_nodes_inside_block_instances_are_warned_about_by_id():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    blocks:
      B:
        nodes:
          l: {op: linear, out_features: 4}
          dead: {op: relu}
        outputs: l
    nodes:
      b: {block: B}
    outputs: {b: b}
    """
    assert [str(w) for w in _graph(text).warnings] == [
        "spec.yaml:7:7: blocks.B.nodes.dead: warning: node 'b.dead' does not reach any output"
        " (hint: use it, list it under outputs, or remove it)"
    ]


# -- share --------------------------------------------------------------------------------------

SIAMESE = """\
archspec: 1
inputs: {x: {shape: [3, 8, 8]}, y: {shape: [3, 8, 8]}}
blocks:
  inner:
    nodes:
      c: {op: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      b: {op: batchnorm2d}
  tower:
    nodes:
      i1: {block: inner}
      l: {op: conv2d, out_channels: 5, kernel_size: 1}
nodes:
  t1: {block: tower, in: x}
  t2: {block: tower, in: y, share: t1}
  s: {op: add, in: [t1, t2]}
"""


def test_share_on_a_block_instance_covers_its_nested_blocks():
    graph = _graph(SIAMESE)
    assert {n.id: n.share for n in graph.spec.nodes.values() if n.share} == {
        "t2.i1.c": "t1.i1.c",
        "t2.i1.b": "t1.i1.b",
        "t2.l": "t1.l",
    }
    model = archspec.build(graph)
    assert sorted(name for name, _ in model.named_parameters()) == [
        "t1.i1.b.bias",
        "t1.i1.b.weight",
        "t1.i1.c.bias",
        "t1.i1.c.weight",
        "t1.l.bias",
        "t1.l.weight",
    ]
    x = torch.randn(2, 3, 8, 8)
    model.eval()
    assert torch.allclose(model(x, x), 2 * model.t1.l(model.t1.i1.b(model.t1.i1.c(x))))


def test_share_may_name_a_repeat_copy_or_the_repeat_group_meaning_its_last_copy():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    nodes:
      l: {op: linear, out_features: 8, repeat: 3}
      s: {op: linear, share: l.1}
      t: {op: linear, share: l, repeat: 2}
    """
    graph = _graph(text)
    assert {n.id: n.share for n in graph.spec.nodes.values() if n.share} == {
        "s": "l.1",
        "t.0": "l.2",
        "t.1": "l.2",
    }
    assert _run(text) == (2, 8)


def test_a_chain_of_shares_ends_at_the_node_that_owns_the_weights():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    nodes:
      a: {op: linear, out_features: 8}
      b: {op: linear, share: c}
      c: {op: linear, share: d}
      d: {op: linear, share: a}
    """
    graph = _graph(text)
    assert [graph.spec.nodes[n].share for n in "bcd"] == ["a", "a", "a"]
    assert _run(text) == (2, 8)


def test_shares_that_go_round_in_a_circle_are_one_error():
    text = "archspec: 1\ninputs: {x: {shape: [8]}}\nnodes:\n  a: {op: linear, share: b}\n  b: {op: linear, share: a}\n"
    assert spec_errors(text) == [
        "spec.yaml:4:26: nodes.a.share: shared weights go round in a circle: a -> b -> a"
        " (hint: one node in the chain must own the weights (no share:))"
    ]


def test_a_node_cannot_share_with_itself():
    text = "archspec: 1\ninputs: {x: {shape: [8]}}\nnodes:\n  l: {op: linear, out_features: 8, share: l}\n"
    assert spec_errors(text) == [
        "spec.yaml:4:43: nodes.l.share: a node cannot share weights with itself (hint: name another node of the same op)"
    ]


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "{op: relu, names: [a, b]}",
            "spec.yaml:4:17: nodes.s.names: relu has no argument 'names' (hint: relu takes no arguments)",
        ),
        (
            "{op: split, sizes: [4, 4], names: [a, b], dim: many}",
            "spec.yaml:4:53: nodes.s.dim: expected an integer, got 'many'",
        ),
    ],
)
def test_references_into_a_node_whose_arguments_are_wrong_stay_silent(node, message):
    # the node's own mistake is the one to fix; 's.a' not resolving is a consequence
    text = (
        f"archspec: 1\ninputs: {{x: {{shape: [8]}}}}\nnodes:\n  s: {node}\n  t: {{op: add, in: [s.a, s.b]}}\n"
    )
    assert spec_errors(text) == [message]


def test_a_sharing_node_without_arguments_does_not_excuse_a_later_one():
    # the argument pass skips repeated argument sets it found valid; a sharing node's are valid
    # only because it takes its arguments from its target
    text = "archspec: 1\ninputs: {x: {shape: [8]}}\nnodes:\n  l: {op: linear, out_features: 8}\n  s: {op: linear, share: l}\n  t: {op: linear}\n"
    assert spec_errors(text) == ["spec.yaml:6:3: nodes.t: linear missing required key 'out_features'"]


def test_a_sharing_split_still_needs_the_names_of_its_outputs():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    nodes:
      a: {op: split, sizes: [4, 4], names: [l, r]}
      b: {op: split, share: a, in: x, sizes: [4, 4]}
      c: {op: add, in: [b.l, b.r]}
    """
    assert spec_errors(text) == ["spec.yaml:5:3: nodes.b: split missing required key 'names'"]


def test_sharing_with_a_node_on_another_input_size_is_a_shape_error_not_a_torch_crash():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}, y: {shape: [6]}}
    nodes:
      a: {op: linear, in: x, out_features: 4}
      b: {op: linear, in: y, share: a}
      c: {op: add, in: [a, b]}
    """
    assert spec_errors(text) == [
        "spec.yaml:5:33: nodes.b.share: cannot share weights with 'a': linear on [N, 6] needs 28 parameters,"
        " 'a' (on [N, 8]) has 36 (hint: shared layers need inputs with the same number of features/channels)"
    ]


def test_sharing_across_spatial_sizes_is_fine_when_the_weights_fit():
    text = """\
    archspec: 1
    inputs: {x: {shape: [3, 8, 8]}, y: {shape: [3, 16, 16]}}
    nodes:
      b: {op: conv2d, in: y, share: a}
      a: {op: conv2d, in: x, out_channels: 4, kernel_size: 3}
      pa: {op: global_avgpool, in: a}
      pb: {op: global_avgpool, in: b}
      s: {op: add, in: [pa, pb]}
    """
    assert _run(text) == (2, 4)


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        (
            "a: {op: layernorm, in: x, dims: 2}\n  b: {op: layernorm, in: y, share: a}",
            "spec.yaml:5:36: nodes.b.share: cannot share weights with 'a': layernorm on [N, 4, 6] needs weight of shape [4, 6], 'a' has [2, 12]",
        ),
        (
            "a: {op: batchnorm1d, in: x, affine: false}\n  b: {op: batchnorm1d, in: y, share: a}",
            "spec.yaml:5:38: nodes.b.share: cannot share weights with 'a': batchnorm1d on [N, 4, 6] needs running_mean of shape [4], 'a' has [2]",
        ),
    ],
)
def test_weights_of_the_same_count_but_another_shape_are_refused_at_build(nodes, message):
    text = f"archspec: 1\ninputs: {{x: {{shape: [2, 12]}}, y: {{shape: [4, 6]}}}}\nnodes:\n  {nodes}\noutputs: {{a: a, b: b}}\n"
    assert _build_errors(text) == [message + " (hint: shared layers need inputs of the same size)"]


def test_sharing_a_functional_op_builds_and_runs():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}, y: {shape: [8]}}
    nodes:
      a: {op: relu, in: x}
      b: {op: relu, in: y, share: a}
      c: {op: concat, in: [a, b], dim: 1}
      d: {op: concat, in: [b, a], share: c}
    outputs: {c: c, d: d}
    """
    assert _run(text) == {"c": (2, 16), "d": (2, 16)}


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        (
            "{block: B, in: y, share: t1}",
            "'t1' is an instance of block 'A', not 'B' (hint: instances that share weights must use the same block)",
        ),
        ("{block: A, in: y, share: t3}", "unknown node 't3' (hint: known here: op1, t1, t2, x, y)"),
        (
            "{block: A, in: y, share: op1}",
            "'share' on a block instance must name a block instance, got 'op1' (hint: to share one layer, put share: on an op node)",
        ),
        (
            "{block: A, in: y, share: t2}",
            "a block instance cannot share weights with itself (hint: name another instance of block 'A')",
        ),
    ],
)
def test_a_bad_share_on_a_block_instance_is_reported_at_its_share_key(instance, message):
    text = f"""\
archspec: 1
inputs: {{x: {{shape: [8]}}, y: {{shape: [8]}}}}
blocks:
  A: {{nodes: {{l: {{op: linear, out_features: 4}}}}}}
  B: {{nodes: {{m: {{op: linear, out_features: 4}}}}}}
nodes:
  op1: {{op: linear, in: x, out_features: 4}}
  t1: {{block: A, in: x}}
  t2: {instance}
outputs: {{a: t1, b: t2, c: op1}}
"""
    errors = spec_errors(text)
    assert len(errors) == 1
    assert errors[0].startswith("spec.yaml:9:") and "nodes.t2.share: " + message in errors[0]


def test_instances_that_share_but_expand_differently_name_the_missing_counterpart():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}, y: {shape: [8]}}
    blocks:
      A:
        params: {n: int}
        nodes:
          l: {op: linear, out_features: 8, repeat: "${n}"}
    nodes:
      t1: {block: A, in: x, n: 1}
      t2: {block: A, in: y, n: 2, share: t1}
    outputs: {a: t1, b: t2}
    """
    assert spec_errors(text) == [
        "spec.yaml:7:7: blocks.A.nodes.l: 't2.l.1' has no counterpart 't1.l.1' in 't1' to share weights with"
        " (hint: instances that share weights need the same inner nodes)\n  in block instance nodes.t2 at spec.yaml:10:3"
    ]


def test_instances_that_share_with_other_parameters_say_so():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}, y: {shape: [8]}}
    blocks:
      A:
        params: {w: int}
        nodes:
          l: {op: linear, out_features: "${w}"}
    nodes:
      t1: {block: A, in: x, w: 4}
      t2: {block: A, in: y, w: 5, share: t1}
    outputs: {a: t1, b: t2}
    """
    assert spec_errors(text) == [
        "spec.yaml:7:7: blocks.A.nodes.l: shared node takes its arguments from 't1.l'; they differ"
        " (hint: give both block instances the same parameters)\n  in block instance nodes.t2 at spec.yaml:10:3"
    ]


# -- parts ---------------------------------------------------------------------------------------

PARTS = """\
archspec: 1
inputs: {x: {shape: [8]}}
blocks:
  B:
    nodes:
      l: {op: linear, out_features: 8}
      a: {op: relu}
nodes:
  halves: {op: split, sizes: [4, 4], names: [left, right]}
  enc: {op: linear, in: halves.left, out_features: 8, repeat: 3}
  enc_b: {block: B, repeat: 2}
  dec: {op: linear, out_features: 4, in: halves.right}
  cat: {op: concat, in: [enc_b, dec], dim: 1}
outputs: {y: cat, code: enc}
parts:
  encoder: [enc]
  glob: ["enc*"]
  blk: [enc_b.1]
  dec: [dec, cat]
  copy: [enc.1]
  split: [halves]
"""


@pytest.mark.parametrize(
    ("part", "inputs", "outputs"),
    [
        ("encoder", ["halves.left"], (2, 8)),
        ("glob", ["halves.left"], {"code": (2, 8), "enc_b.1.a": (2, 8)}),
        ("blk", ["enc_b.0.a"], (2, 8)),
        ("dec", ["halves.right", "enc_b.1.a"], (2, 12)),
        ("copy", ["enc.0"], (2, 8)),
        ("split", ["x"], {"halves.left": (2, 4), "halves.right": (2, 4)}),
    ],
)
def test_every_part_builds_with_split_outputs_repeat_copies_and_globs(part, inputs, outputs):
    graph = _graph(PARTS)
    model = archspec.build(graph, part=part)
    assert model.meta["archspec"]["inputs"] == inputs
    assert _run(PARTS, part=part) == outputs


# -- outputs and expect --------------------------------------------------------------------------


def test_an_input_may_be_an_output_directly_and_twice():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    nodes:
      a: {op: relu}
    outputs: {a: a, raw: x, again: x}
    """
    assert _run(text) == {"a": (2, 8), "raw": (2, 8), "again": (2, 8)}


def test_two_outputs_may_name_the_same_node():
    text = "archspec: 1\ninputs: {x: {shape: [8]}}\nnodes:\n  a: {op: relu}\noutputs: {p: a, q: a}\n"
    assert _run(text) == {"p": (2, 8), "q": (2, 8)}


def test_a_node_named_like_an_input_is_refused():
    text = "archspec: 1\ninputs: {x: {shape: [8]}}\nnodes:\n  x: {op: relu}\n"
    assert spec_errors(text) == [
        "spec.yaml:4:3: nodes.x: node 'x' has the same name as an input (hint: rename the node)"
    ]


def test_expect_checks_every_output_of_a_multi_output_spec():
    text = """\
    archspec: 1
    inputs: {x: {shape: [8]}}
    nodes:
      a: {op: linear, out_features: 4}
      s: {op: split, sizes: [1, 3], names: [l, r]}
    outputs: {a: a, r: s.r}
    expect:
      outputs: {a: [4], r: [2], zz: [1]}
    """
    assert spec_errors(text) == [
        "spec.yaml:8:24: expect.outputs.r: output 'r' should have shape [N, 2], got [N, 3]",
        "spec.yaml:8:33: expect.outputs.zz: no output named 'zz'",
    ]


# -- compile-time failures and scale ---------------------------------------------------------------


def test_torch_refusing_a_module_is_a_located_spec_error_for_every_node(monkeypatch):
    from archspec.ops import CATALOGUE

    def refuse(args, shapes):
        raise AssertionError("embed_dim must be divisible by num_heads")  # as nn.MultiheadAttention does

    monkeypatch.setitem(CATALOGUE, "linear", dataclasses.replace(CATALOGUE["linear"], recipe=refuse))
    text = "archspec: 1\ninputs: {x: {shape: [8]}}\nnodes:\n  a: {op: linear, out_features: 4}\n  b: {op: linear, out_features: 4}\n"
    assert _build_errors(text) == [
        "spec.yaml:4:3: nodes.a: linear could not be built: embed_dim must be divisible by num_heads",
        "spec.yaml:5:3: nodes.b: linear could not be built: embed_dim must be divisible by num_heads",
    ]


def test_a_chain_of_five_thousand_nodes_compiles_and_runs():
    # how fast the front end is at this size: benchmarks/compile_scaling.py
    lines = ["archspec: 1", "inputs: {x: {shape: [8]}}", "nodes:"]
    lines += [f"  n{i}: {{op: {'linear, out_features: 8' if i % 2 == 0 else 'relu'}}}" for i in range(5000)]
    model = archspec.build(analyse(load_text("\n".join(lines) + "\n", name="spec.yaml")))
    assert model(torch.randn(2, 8)).shape == (2, 8)
