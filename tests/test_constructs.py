"""Spec language 1.1 constructs (issue 11): each against hand-written PyTorch with copied weights,
and each misuse with its exact, located message."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from archspec.compiler.compile import compile_model
from archspec.pipeline import analyse, load_text
from tests.conftest import spec_errors
from tests.test_compiler import assert_same


def build(text: str, seed: int = 0):
    graph = analyse(load_text(textwrap.dedent(text), name="spec.yaml"))
    return compile_model(graph, seed=seed), graph


# --- if: and repeat: 0 ---------------------------------------------------------------------------

INVERTED_RESIDUAL = """\
archspec: 1
params: {n: 1}
inputs: {x: {shape: [4, 8, 8]}}
blocks:
  ir:
    params: {out: int, stride: {type: int, default: 1}, cin: int}
    nodes:
      conv: {op: conv2d, out_channels: "${out}", kernel_size: 3, stride: "${stride}", padding: 1}
      bn: {op: batchnorm2d}
      add: {op: add, in: [bn, x], if: "${stride == 1 and cin == out}"}
nodes:
  a: {block: ir, out: 4, cin: 4}
  b: {block: ir, out: 8, cin: 4, stride: 2}
  rest: {block: ir, out: 8, cin: 8, repeat: "${n - 1}"}
  off: {op: relu, if: false}
  head: {op: flatten}
"""


class HandIR(nn.Module):
    def __init__(self, cin, out, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, out, 3, stride, 1)
        self.bn = nn.BatchNorm2d(out)
        self.residual = stride == 1 and cin == out

    def forward(self, x):
        y = self.bn(self.conv(x))
        return y + x if self.residual else y


class HandConditional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = HandIR(4, 4, 1)
        self.b = HandIR(4, 8, 2)

    def forward(self, x):
        return torch.flatten(self.b(self.a(x)), 1)


def test_if_false_and_repeat_zero_pass_the_input_through_as_hand_written_code_does():
    model, graph = build(INVERTED_RESIDUAL)
    assert [n for n in graph.spec.nodes] == ["a.conv", "a.bn", "a.add", "b.conv", "b.bn", "head"]
    assert_same(model, HandConditional(), [torch.randn(2, 4, 8, 8)])


def test_repeat_zero_and_if_true_keep_the_nodes_when_the_parameters_ask_for_them():
    text = INVERTED_RESIDUAL.replace("{n: 1}", "{n: 3}").replace("if: false", "if: true")
    _, graph = build(text)
    assert "rest.1.add" in graph.spec.nodes and "off" in graph.spec.nodes


def test_an_if_that_is_not_true_or_false_is_a_located_error():
    text = INVERTED_RESIDUAL.replace("if: false", "if: 1")
    assert spec_errors(text, shapes=False) == [
        "spec.yaml:15:23: nodes.off.if: expected true or false or a string, got 1"
    ]


def test_an_if_expression_that_gives_a_number_names_the_value_and_the_instance():
    text = INVERTED_RESIDUAL.replace('"${stride == 1 and cin == out}"', '"${stride}"')
    assert spec_errors(text)[0] == (
        "spec.yaml:10:39: blocks.ir.nodes.add.if: if must be true or false, got 1 "
        "(hint: write a comparison, e.g. if: ${stride == 1})\n  in block instance nodes.a at spec.yaml:12:3"
    )


def test_a_negative_repeat_names_the_new_range():
    text = INVERTED_RESIDUAL.replace('"${n - 1}"', '"${n - 2}"')
    assert spec_errors(text) == [
        "spec.yaml:14:45: nodes.rest.repeat: repeat must be an integer from 0 to 10000, got -1"
    ]


# --- constants in elementwise ops, and the elementwise math ops ----------------------------------

MATH = """\
archspec: 1
inputs: {x: {shape: [6]}, y: {shape: [6]}}
nodes:
  fc: {op: linear, in: x, out_features: 6}
  scaled: {op: multiply, value: 0.125}
  shifted: {op: add, value: 3}
  ratio: {op: divide, in: [shifted, y]}
  halved: {op: divide, in: ratio, value: 2}
  less: {op: subtract, value: 1}
  squared: {op: pow, value: 2}
  root: {op: sqrt}
  grown: {op: exp}
  capped: {op: clamp, min: 0.5, max: 6}
  gate: {op: hardsigmoid, in: fc}
  out: {op: multiply, in: [capped, gate]}
"""


class HandMath(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x, y):
        h = self.fc(x)
        v = ((h * 0.125 + 3) / y / 2 - 1) ** 2
        v = torch.clamp(torch.exp(torch.sqrt(v)), 0.5, 6)
        return v * nn.functional.hardsigmoid(h)


def test_constants_and_math_ops_match_hand_written_code():
    model, _ = build(MATH)
    x, y = torch.randn(3, 6), torch.rand(3, 6) + 0.5
    assert_same(model, HandMath(), [x, y])
    assert "torch.mul(fc, 0.125)" in model.code


def test_a_constant_and_two_inputs_is_a_located_error():
    text = MATH.replace("{op: divide, in: [shifted, y]}", "{op: divide, in: [shifted, y], value: 2}")
    assert spec_errors(text) == [
        "spec.yaml:7:3: nodes.ratio: divide with value: takes one input, got 2 "
        "(hint: drop value: to combine the inputs, or give one input)"
    ]


def test_one_input_without_a_constant_is_a_located_error():
    text = MATH.replace("{op: add, value: 3}", "{op: add}")
    assert spec_errors(text) == [
        "spec.yaml:6:3: nodes.shifted: add takes 2 or more inputs, or one input and value:, got 1 "
        "(hint: list them with in: [a, b], or add value: 0.5)"
    ]


# --- indexing and slicing ------------------------------------------------------------------------

INDEXING = """\
archspec: 1
inputs: {seq: {shape: [5, 8]}, img: {shape: [6, 4, 4]}}
nodes:
  cls: {op: select, in: seq, dim: 1, index: 0}
  last: {op: select, in: seq, dim: -2, index: -1}
  both: {op: add, in: [cls, last]}
  head: {op: linear, out_features: 3}
  left: {op: slice, in: img, dim: 1, start: 0, end: 3}
  odd: {op: slice, in: img, dim: 1, start: 1, step: 2}
  tail: {op: slice, in: img, dim: 3, start: -2}
  mix: {op: add, in: [left, odd]}
outputs: {logits: head, mix: mix, tail: tail}
"""


class HandIndexing(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 3)

    def forward(self, seq, img):
        logits = self.head(seq[:, 0] + seq[:, -1])
        return {"logits": logits, "mix": img[:, 0:3] + img[:, 1::2], "tail": img[:, :, :, -2:]}


def test_select_and_slice_match_python_indexing():
    model, graph = build(INDEXING)
    assert graph.spec.nodes["tail"].meta["shape"] == (6, 4, 2)
    assert_same(model, HandIndexing(), [torch.randn(2, 5, 8), torch.randn(2, 6, 4, 4)])
    assert "torch.narrow(img, dim = 1, start = 0, length = 3)" in model.code


def test_an_index_past_the_end_and_an_empty_slice_are_located_errors():
    text = INDEXING.replace("index: -1", "index: 5").replace("start: -2}", "start: 4}")
    assert spec_errors(text) == [
        "spec.yaml:5:3: nodes.last: select index 5 is out of range for size 5 of dim -2; got [N, 5, 8]",
        "spec.yaml:10:3: nodes.tail: slice [4:] of size 4 on dim 3 is empty; got [N, 6, 4, 4]",
    ]


# --- free parameter tensors and channels-first layer norm -----------------------------------------

VIT_TOKENS = """\
archspec: 1
inputs: {image: {shape: [1, 8, 8]}}
nodes:
  patches: {op: conv2d, out_channels: 16, kernel_size: 4, stride: 4}
  flat: {op: flatten, start_dim: 2}
  tokens: {op: transpose, dim0: 1, dim1: 2}
  cls: {op: parameter, shape: [1, 16], init: {weight: {scheme: normal, std: 0.02}}}
  seq: {op: concat, in: [cls, tokens], dim: 1}
  pos: {op: parameter, in: [], shape: [5, 16], init: {weight: {scheme: normal, std: 0.02}}}
  embedded: {op: add, in: [seq, pos]}
  first: {op: select, dim: 1, index: 0}
  head: {op: linear, out_features: 3}
"""


class HandViTTokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.patches = nn.Conv2d(1, 16, 4, 4)
        self.cls = nn.Module()
        self.cls.weight = nn.Parameter(torch.zeros(1, 16))
        self.pos = nn.Module()
        self.pos.weight = nn.Parameter(torch.zeros(5, 16))
        self.head = nn.Linear(16, 3)

    def forward(self, image):
        tokens = self.patches(image).flatten(2).transpose(1, 2)
        cls = self.cls.weight.expand(image.shape[0], -1, -1)
        x = torch.cat([cls, tokens], dim=1) + self.pos.weight
        return self.head(x[:, 0])


def test_a_class_token_and_a_position_embedding_are_parameters_of_their_shape():
    model, graph = build(VIT_TOKENS)
    assert tuple(model.get_parameter("cls.weight").shape) == (1, 16)
    assert tuple(model.get_parameter("pos.weight").shape) == (5, 16)
    assert graph.spec.nodes["pos"].meta["params"] == 80
    assert 0.01 < model.get_parameter("pos.weight").std().item() < 0.03
    assert_same(model, HandViTTokens(), [torch.randn(3, 1, 8, 8)])


CONVNEXT = """\
archspec: 1
inputs: {x: {shape: [8, 6, 6]}}
nodes:
  dw: {op: conv2d, out_channels: 8, kernel_size: 7, padding: 3, groups: 8}
  norm: {op: channel_layernorm}
  pw1: {op: conv2d, out_channels: 32, kernel_size: 1}
  act: {op: gelu}
  pw2: {op: conv2d, out_channels: 8, kernel_size: 1}
  gamma: {op: parameter, shape: [8, 1, 1], init: {weight: {scheme: constant, value: 1.0e-6}}}
  scaled: {op: multiply, in: [pw2, gamma]}
  out: {op: add, in: [scaled, x]}
"""


class HandConvNeXtBlock(nn.Module):
    """ConvNeXt's block as torchvision writes it (LayerNorm2d and layer scale by hand)."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm = nn.LayerNorm(8, eps=1e-6)
        self.pw1 = nn.Conv2d(8, 32, 1)
        self.pw2 = nn.Conv2d(32, 8, 1)
        self.gamma = nn.Module()
        self.gamma.weight = nn.Parameter(torch.full((8, 1, 1), 1e-6))

    def forward(self, x):
        y = self.norm(self.dw(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        y = self.pw2(nn.functional.gelu(self.pw1(y)))
        return y * self.gamma.weight + x


def test_channel_layernorm_and_a_layer_scale_match_convnext_written_by_hand():
    model, graph = build(CONVNEXT)
    assert graph.spec.nodes["norm"].meta["params"] == 16
    assert torch.all(model.get_parameter("gamma.weight") == 1e-6)
    with torch.no_grad():
        model.get_parameter("gamma.weight").normal_()  # a layer scale of 1e-6 would hide the block
        model.get_parameter("norm.weight").normal_()
    assert_same(model, HandConvNeXtBlock(), [torch.randn(2, 8, 6, 6)])


def test_a_parameter_that_does_not_broadcast_is_a_located_shape_error():
    text = CONVNEXT.replace("shape: [8, 1, 1]", "shape: [4, 1, 1]")
    assert spec_errors(text) == [
        "spec.yaml:10:3: nodes.scaled: multiply cannot broadcast [N, 8, 6, 6] with [N, 4, 1, 1]: "
        "sizes 8 and 4 on dim 1; got [N, 8, 6, 6] and [N, 4, 1, 1]"
    ]


# --- side inputs in repeat ------------------------------------------------------------------------

SIDE_INPUTS = """\
archspec: 1
inputs: {x: {shape: [4, 8]}, cond: {shape: [1, 8]}}
blocks:
  film:
    inputs: [h, c]
    nodes:
      fc: {op: linear, in: h, out_features: 8}
      shift: {op: add, in: [fc, c]}
      act: {op: relu}
nodes:
  stack: {block: film, in: [x, cond], repeat: 3}
"""


class HandSideInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.stack = nn.ModuleList([nn.Module() for _ in range(3)])
        for m in self.stack:
            m.fc = nn.Linear(8, 8)

    def forward(self, x, cond):
        for m in self.stack:
            x = torch.relu(m.fc(x) + cond)
        return x


def test_a_repeated_block_chains_its_first_input_and_gives_every_copy_the_side_input():
    model, _ = build(SIDE_INPUTS)
    assert_same(model, HandSideInputs(), [torch.randn(2, 4, 8), torch.randn(2, 1, 8)])


# --- op and block names as block parameters -------------------------------------------------------

OP_PARAMS = """\
archspec: 1
inputs: {x: {shape: [3, 8, 8]}}
blocks:
  conv_norm_act:
    params: {ch: int, norm: {type: str, default: batchnorm2d}, act: {type: str, default: relu}}
    nodes:
      conv: {op: conv2d, out_channels: "${ch}", kernel_size: 3, padding: 1}
      norm: {op: "${norm}"}
      act: {op: "${act}"}
  stage:
    params: {unit: str}
    nodes:
      first: {block: "${unit}", ch: 4, act: gelu}
nodes:
  a: {block: conv_norm_act, ch: 4, act: hardswish}
  b: {block: stage, unit: conv_norm_act}
"""


class HandOpParams(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Module()
        self.a.conv, self.a.norm, self.a.act = (
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.Hardswish(),
        )
        self.b = nn.Module()
        self.b.first = nn.Module()
        f = self.b.first
        f.conv, f.norm, f.act = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.GELU()

    def forward(self, x):
        x = self.a.act(self.a.norm(self.a.conv(x)))
        f = self.b.first
        return f.act(f.norm(f.conv(x)))


def test_an_op_and_a_block_passed_as_parameters_build_what_they_name():
    model, graph = build(OP_PARAMS)
    assert [n.op for n in graph.spec.nodes.values()][-1] == "gelu"
    assert_same(model, HandOpParams(), [torch.randn(2, 3, 8, 8)])


def test_an_op_parameter_that_names_no_op_is_checked_against_the_catalogue_after_substitution():
    text = OP_PARAMS.replace("act: hardswish}", "act: hardswsh}")
    assert spec_errors(text) == [
        "spec.yaml:9:17: blocks.conv_norm_act.nodes.act.op: unknown op 'hardswsh' "
        "(hint: did you mean 'hardswish'?)\n  in block instance nodes.a at spec.yaml:15:3"
    ]


# --- weight tying across op kinds -----------------------------------------------------------------

TIED = """\
archspec: 1
inputs: {tokens: {shape: [6], dtype: int64}}
nodes:
  wte: {op: embedding, num_embeddings: 11, embedding_dim: 8}
  norm: {op: layernorm}
  head: {op: linear, out_features: 11, share: wte}
"""


class HandTied(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(11, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 11)
        self.head.weight = self.wte.weight

    def forward(self, tokens):
        return self.head(self.norm(self.wte(tokens)))


def test_a_linear_head_tied_to_an_embedding_uses_its_weight_as_a_language_model_does():
    model, graph = build(TIED)
    assert model.get_parameter("head.weight") is model.get_parameter("wte.weight")
    assert graph.spec.nodes["head"].meta["params"] == 11  # the bias; the weight is counted on wte
    assert sum(p.numel() for p in model.parameters()) == 11 * 8 + 16 + 11
    hand = HandTied()
    assert_same(model, hand, [torch.randint(0, 11, (2, 6))])
    assert hand.head.weight is hand.wte.weight


def test_emitted_source_ties_the_weights_too():
    from archspec.compiler.emit import emit_python

    model, graph = build(TIED)
    source = emit_python(model, graph)
    assert "self.head.weight = self.wte.weight" in source


def test_a_tied_head_of_the_wrong_size_is_a_located_error():
    from archspec.errors import SpecErrors

    with pytest.raises(SpecErrors) as info:
        build(TIED.replace("out_features: 11", "out_features: 10"))
    assert [str(e) for e in info.value.errors] == [
        "spec.yaml:6:47: nodes.head.share: cannot tie weights with 'wte': linear on [N, 6, 8] needs a "
        "weight of shape [10, 8], 'wte' has [11, 8] (hint: a tied head's weight must have the owner's "
        "shape, e.g. a linear of out_features = num_embeddings)"
    ]


# --- expressions over inferred shapes -------------------------------------------------------------

MOBILENET = """\
archspec: 1
inputs: {x: {shape: [3, 16, 16]}}
blocks:
  inverted_residual:
    params: {out: int, t: {type: int, default: 6}, stride: {type: int, default: 1}}
    nodes:
      expand: {op: conv2d, out_channels: "${channels(x) * t}", kernel_size: 1, bias: false, if: "${t != 1}"}
      bn1: {op: batchnorm2d, if: "${t != 1}"}
      act1: {op: relu6, if: "${t != 1}"}
      dw:
        op: conv2d
        out_channels: "${channels(x) * t}"
        kernel_size: 3
        stride: "${stride}"
        padding: 1
        groups: "${shape(x)[0] * t}"
        bias: false
      bn2: {op: batchnorm2d}
      act2: {op: relu6}
      project: {op: conv2d, out_channels: "${out}", kernel_size: 1, bias: false}
      bn3: {op: batchnorm2d}
      add: {op: add, in: [bn3, x], if: "${stride == 1}"}
nodes:
  stem: {op: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  b1: {block: inverted_residual, out: 8, t: 1}
  b2: {block: inverted_residual, out: 12, stride: 2}
  pool: {op: global_avgpool}
  head: {op: linear, out_features: 4}
"""


class HandInvertedResidual(nn.Module):
    """torchvision's MobileNetV2 InvertedResidual, written out."""

    def __init__(self, cin, out, t, stride):
        super().__init__()
        hidden = cin * t
        self.t, self.use_res = t, stride == 1 and cin == out
        if t != 1:
            self.expand = nn.Conv2d(cin, hidden, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(hidden)
        self.dw = nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)

    def forward(self, x):
        h = nn.functional.relu6(self.bn1(self.expand(x))) if self.t != 1 else x
        h = self.bn3(self.project(nn.functional.relu6(self.bn2(self.dw(h)))))
        return h + x if self.use_res else h


class HandMobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.b1 = HandInvertedResidual(8, 8, 1, 1)
        self.b2 = HandInvertedResidual(8, 12, 6, 2)
        self.head = nn.Linear(12, 4)

    def forward(self, x):
        return self.head(self.b2(self.b1(self.stem(x))).mean((2, 3)))


def test_widths_from_the_input_channels_build_mobilenet_v2_blocks_as_torchvision_does():
    model, graph = build(MOBILENET)
    assert graph.spec.nodes["b2.dw"].args["groups"] == 48
    assert_same(model, HandMobileNet(), [torch.randn(2, 3, 16, 16)])


def test_a_shape_expression_naming_nothing_in_scope_is_a_located_error():
    text = MOBILENET.replace('"${channels(x) * t}", kernel_size: 1', '"${channels(y) * t}", kernel_size: 1')
    assert spec_errors(text) == [
        "spec.yaml:7:42: blocks.inverted_residual.nodes.expand.out_channels: unknown node 'y' "
        "(hint: known here: expand, bn1, act1, dw, bn2, act2, project, bn3, add, x)"
        "\n  in block instance nodes.b2 at spec.yaml:26:3"
    ]


def test_a_shape_expression_giving_a_bad_value_is_checked_like_any_argument():
    text = MOBILENET.replace('"${shape(x)[0] * t}"', '"${shape(x)[0] - 8}"')
    assert spec_errors(text) == [
        "spec.yaml:16:17: blocks.inverted_residual.nodes.dw.groups: expected at least 1, got 0"
        "\n  in block instance nodes.b1 at spec.yaml:25:3"
    ]


# --- attention math: matmul, sdpa with masks, roll, buffers, index, resize_to, drop_path ------------

WINDOW_ATTENTION = """\
archspec: 1
inputs: {x: {shape: [4, 8]}}
blocks:
  heads:
    nodes:
      split: {op: reshape, shape: [4, 2, 4]}
      t: {op: transpose, dim0: 1, dim1: 2}
nodes:
  shifted: {op: roll, shifts: [1], dims: [1]}
  qkv: {op: linear, out_features: 24}
  parts: {op: chunk, names: [q, k, v], dim: -1}
  q: {block: heads, in: parts.q}
  k: {block: heads, in: parts.k}
  v: {block: heads, in: parts.v}
  table: {op: parameter, in: [], shape: [9, 2], init: {weight: {scheme: normal, std: 0.5}}}
  rel: {op: buffer, in: [], relative_position_index: [2, 2], dtype: int64}
  looked_up: {op: index, in: [table, rel], dim: 1}
  bias: {op: permute, dims: [0, 3, 1, 2]}
  attn: {op: scaled_dot_product_attention, in: [q, k, v, bias]}
  merged: {op: transpose, dim0: 1, dim1: 2}
  flat: {op: reshape, shape: [4, 8]}
  proj: {op: linear, out_features: 8}
  dropped: {op: drop_path, p: 0.0}
  causal: {op: scaled_dot_product_attention, in: [q, k, v], causal: true, scale: 0.5}
  kt: {op: transpose, in: k, dim0: -2, dim1: -1}
  scores: {op: matmul, in: [q, kt]}
  scaled: {op: multiply, value: 0.5}
outputs: {out: dropped, causal: causal, scores: scaled}
"""


def relative_position_index(h, w):
    coords = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    rel[:, :, 0] += h - 1
    rel[:, :, 1] += w - 1
    rel[:, :, 0] *= 2 * w - 1
    return rel.sum(-1)


class HandWindowAttention(nn.Module):
    """Swin's window attention with a relative position bias, as its reference code writes it."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.table = nn.Module()
        self.table.weight = nn.Parameter(torch.zeros(9, 2))
        self.rel = nn.Module()
        self.rel.register_buffer("value", relative_position_index(2, 2))
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        n = x.shape[0]
        q, k, v = self.qkv(torch.roll(x, 1, 1)).reshape(n, 4, 3, 2, 4).permute(2, 0, 3, 1, 4)
        bias = self.table.weight[self.rel.value.view(-1)].view(4, 4, 2).permute(2, 0, 1)
        attn = torch.softmax(q @ k.transpose(-2, -1) / 2.0 + bias, dim=-1) @ v
        out = self.proj(attn.transpose(1, 2).reshape(n, 4, 8))
        mask = torch.ones(4, 4, dtype=torch.bool).tril()
        causal = torch.softmax((q @ k.transpose(-2, -1) * 0.5).masked_fill(~mask, float("-inf")), -1) @ v
        return {"out": out, "causal": causal, "scores": q @ k.transpose(-2, -1) * 0.5}


def test_windowed_attention_with_a_relative_position_bias_matches_swins_reference_code():
    model, graph = build(WINDOW_ATTENTION)
    assert graph.spec.nodes["bias"].meta["shape"] == (2, 4, 4)
    assert graph.spec.nodes["rel"].meta["buffers"] == 16
    hand = HandWindowAttention()
    assert torch.equal(model.get_buffer("rel.value"), hand.rel.value)
    assert_same(model, hand, [torch.randn(3, 4, 8)])


def test_a_mask_that_does_not_fit_the_scores_is_a_located_error():
    text = WINDOW_ATTENTION.replace("relative_position_index: [2, 2]", "relative_position_index: [1, 2]")
    assert spec_errors(text) == [
        "spec.yaml:19:3: nodes.attn: scaled_dot_product_attention mask [N, 2, 2, 2] does not broadcast "
        "to the scores [N, 2, 4, 4]; got [N, 2, 4, 4] and [N, 2, 4, 4] and [N, 2, 4, 4] and [N, 2, 2, 2]"
    ]


def test_drop_path_zeroes_whole_samples_in_training_and_is_the_identity_in_eval():
    model, _ = build("archspec: 1\ninputs: {x: {shape: [3, 5]}}\nnodes:\n  d: {op: drop_path, p: 0.5}\n")
    x = torch.ones(400, 3, 5)
    model.train()
    torch.manual_seed(0)
    y = model(x)
    kept = y.flatten(1).amax(1)
    assert set(kept.tolist()) == {0.0, 2.0} and torch.all(y.flatten(1).amin(1) == kept)
    assert 150 < int((kept == 0).sum()) < 250
    model.eval()
    assert torch.equal(model(x), x)


def test_resize_to_takes_the_spatial_size_of_another_tensor():
    text = """\
    archspec: 1
    inputs: {small: {shape: [3, 4, 5]}, skip: {shape: [2, 9, 10]}}
    nodes:
      up: {op: resize_to, in: [small, skip], mode: bilinear}
    """
    model, graph = build(text)
    assert graph.spec.nodes["up"].meta["shape"] == (3, 9, 10)
    small, skip = torch.randn(2, 3, 4, 5), torch.randn(2, 2, 9, 10)
    expected = nn.functional.interpolate(small, size=(9, 10), mode="bilinear")
    torch.testing.assert_close(model(small, skip), expected)


# --- parameters register in YAML order ------------------------------------------------------------

YAML_ORDER = """\
archspec: 1
inputs: {x: {shape: [3]}}
nodes:
  head: {op: linear, in: body, out_features: 2}
  body: {op: linear, in: x, out_features: 4}
outputs: {y: head}
"""


class HandYamlOrder(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 2)  # the head, declared first as in the spec
        self.second = nn.Linear(3, 4)

    def forward(self, x):
        return self.first(self.second(x))


def test_parameters_register_in_the_order_the_yaml_lists_the_nodes_so_weights_copy_by_position():
    model, graph = build(YAML_ORDER)
    assert graph.op_nodes() == ["body", "head"]  # the graph runs body first
    assert [name for name, _ in model.named_parameters()] == [
        "head.weight",
        "head.bias",
        "body.weight",
        "body.bias",
    ]
    hand = HandYamlOrder()
    with torch.no_grad():
        for mine, theirs in zip(model.parameters(), hand.parameters(), strict=True):
            theirs.copy_(mine)
    x = torch.randn(2, 3)
    torch.testing.assert_close(model(x), hand(x))


# --- block libraries across files -------------------------------------------------------------------

BACKBONE = """\
archspec: 1
inputs: {image: {shape: [1, 8, 8]}}
blocks:
  conv_bn:
    params: {ch: int}
    nodes:
      conv: {op: conv2d, out_channels: "${ch}", kernel_size: 3, padding: 1}
      bn: {op: batchnorm2d}
nodes:
  stem: {block: conv_bn, ch: 4}
"""

CLASSIFIER = """\
archspec: 1
include: [lib/backbone.yaml]
inputs: {image: {shape: [1, 8, 8]}}
nodes:
  stem: {block: conv_bn, ch: 4}
  pool: {op: global_avgpool}
  head: {op: linear, out_features: 3}
"""


def test_blocks_included_from_another_file_build_as_if_written_here(tmp_path):
    import archspec

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "backbone.yaml").write_text(BACKBONE)
    (tmp_path / "classifier.yaml").write_text(CLASSIFIER)
    model = archspec.build(tmp_path / "classifier.yaml")
    assert [n for n, _ in model.named_parameters()][:2] == ["stem.conv.weight", "stem.conv.bias"]
    assert tuple(model(torch.zeros(2, 1, 8, 8)).shape) == (2, 3)


def test_an_error_in_an_included_block_is_located_in_its_file_and_names_the_instance(tmp_path):
    from archspec.errors import SpecErrors
    from archspec.pipeline import load

    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "backbone.yaml").write_text(BACKBONE.replace("kernel_size: 3", "kernel_size: 0"))
    (tmp_path / "classifier.yaml").write_text(CLASSIFIER)
    with pytest.raises(SpecErrors) as info:
        load(tmp_path / "classifier.yaml")
    assert str(info.value.errors[0]) == (
        f"{tmp_path}/lib/backbone.yaml:7:62: blocks.conv_bn.nodes.conv.kernel_size: "
        f"expected at least 1, got 0\n  in block instance nodes.stem at {tmp_path}/classifier.yaml:5:3"
    )


def test_an_include_cycle_is_refused_with_the_chain(tmp_path):
    from archspec.errors import SpecErrors
    from archspec.pipeline import load

    (tmp_path / "a.yaml").write_text(CLASSIFIER.replace("lib/backbone.yaml", "b.yaml"))
    (tmp_path / "b.yaml").write_text(BACKBONE.replace("archspec: 1\n", "archspec: 1\ninclude: [a.yaml]\n"))
    with pytest.raises(SpecErrors) as info:
        load(tmp_path / "a.yaml")
    assert [str(e) for e in info.value.errors] == [
        f"{tmp_path}/b.yaml:2:11: include[0]: include cycle: a.yaml -> b.yaml -> a.yaml"
    ]
