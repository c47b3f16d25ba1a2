"""The compiler against independent, hand-written PyTorch modules (weights copied over)."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

import archspec
from archspec.compiler.compile import compile_model, example_inputs, part_model
from archspec.pipeline import analyse, load_text
from tests.conftest import ROOT


def compiled(name: str, seed: int = 0):
    graph = analyse(archspec.load(ROOT / "examples" / f"{name}.yaml"))
    return compile_model(graph, seed=seed), graph


def assert_same(model: nn.Module, hand: nn.Module, inputs: list[torch.Tensor]) -> None:
    """Same outputs and same gradients, in train mode (batch norm batch statistics, no dropout)."""
    hand.load_state_dict(model.state_dict(), strict=True)
    for m in (model, hand):
        m.train()
        for mod in m.modules():
            if isinstance(mod, nn.Dropout):
                mod.p = 0.0
    out_a, out_b = model(*inputs), hand(*inputs)
    if isinstance(out_a, dict):
        assert out_a.keys() == out_b.keys()
        loss_a = sum(v.square().mean() for v in out_a.values())
        loss_b = sum(v.square().mean() for v in out_b.values())
        for k in out_a:
            torch.testing.assert_close(out_a[k], out_b[k])
    else:
        torch.testing.assert_close(out_a, out_b)
        loss_a, loss_b = out_a.square().mean(), out_b.square().mean()
    loss_a.backward()
    loss_b.backward()
    grads_b = dict(hand.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads_b[name].grad, msg=name)


class HandMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(64, 128)
        self.act = nn.ReLU()
        self.logits = nn.Linear(128, 10)

    def forward(self, x):
        return self.logits(self.act(self.hidden(x)))


def test_mlp_matches_hand_written():
    model, _ = compiled("mlp")
    assert_same(model, HandMLP(), [torch.randn(5, 64)])


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.conv2, self.bn2 = nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64)
        self.logits = nn.Linear(64 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = nn.functional.max_pool2d(x, 2).flatten(1)
        return self.logits(x)


def test_cnn_matches_hand_written():
    model, _ = compiled("cnn")
    assert_same(model, HandCNN(), [torch.randn(4, 1, 8, 8)])


class HandTwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.img_conv, self.img_fc = nn.Conv2d(1, 8, 3, padding=1), nn.Linear(512, 32)
        self.snd_conv, self.snd_fc = nn.Conv1d(1, 8, 5, padding=2), nn.Linear(128, 32)
        self.logits = nn.Linear(64, 4)

    def forward(self, image, sound):
        a = self.img_fc(nn.functional.max_pool2d(torch.relu(self.img_conv(image)), 2).flatten(1))
        b = self.snd_fc(nn.functional.max_pool1d(torch.relu(self.snd_conv(sound)), 4).flatten(1))
        return self.logits(torch.relu(torch.cat([a, b], dim=1)))


def test_two_branch_matches_hand_written():
    model, _ = compiled("two_branch")
    assert_same(model, HandTwoBranch(), [torch.randn(3, 1, 16, 16), torch.randn(3, 1, 64)])


class _Enc(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.code = nn.Linear(64, 64), nn.Linear(64, 8)

    def forward(self, x):
        return self.code(torch.relu(self.fc1(x)))


class _Dec(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.out = nn.Linear(8, 64), nn.Linear(64, 64)

    def forward(self, z):
        return torch.sigmoid(self.out(torch.relu(self.fc1(z))))


class HandAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.dec = _Enc(), _Dec()

    def forward(self, x):
        z = self.enc(x)
        return {"recon": self.dec(z), "code": z}


def test_autoencoder_matches_hand_written_and_its_parts_share_weights():
    model, graph = compiled("autoencoder")
    hand = HandAE()
    assert_same(model, hand, [torch.rand(6, 64)])
    encoder = part_model(model, graph, "encoder")
    decoder = part_model(model, graph, "decoder")
    x = torch.rand(6, 64)
    torch.testing.assert_close(encoder(x), hand.enc(x))
    torch.testing.assert_close(decoder(encoder(x)), model(x)["recon"])
    assert encoder.enc.fc1.weight is model.enc.fc1.weight  # shared, not copied


class _DoubleConv(nn.Module):
    def __init__(self, cin, ch):
        super().__init__()
        self.c1, self.n1 = nn.Conv2d(cin, ch, 3, padding=1), nn.BatchNorm2d(ch)
        self.c2, self.n2 = nn.Conv2d(ch, ch, 3, padding=1), nn.BatchNorm2d(ch)

    def forward(self, x):
        return torch.relu(self.n2(self.c2(torch.relu(self.n1(self.c1(x))))))


class HandUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1, self.enc2, self.bottom = _DoubleConv(1, 16), _DoubleConv(16, 32), _DoubleConv(32, 64)
        self.up2, self.dec2 = nn.ConvTranspose2d(64, 32, 2, stride=2), _DoubleConv(64, 32)
        self.up1, self.dec1 = nn.ConvTranspose2d(32, 16, 2, stride=2), _DoubleConv(32, 16)
        self.head = nn.Conv2d(16, 4, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(nn.functional.max_pool2d(e1, 2))
        b = self.bottom(nn.functional.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def test_unet_matches_hand_written():
    model, _ = compiled("unet")
    assert_same(model, HandUNet(), [torch.randn(2, 1, 32, 32)])


class _Basic(nn.Module):
    def __init__(self, cin, ch, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        if stride != 1:
            self.proj = nn.Conv2d(cin, ch, 1, stride=stride, bias=False)
            self.proj_bn = nn.BatchNorm2d(ch)

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        skip = self.proj_bn(self.proj(x)) if hasattr(self, "proj") else x
        return torch.relu(out + skip)


class _Stage(nn.Module):
    def __init__(self, cin, ch):
        super().__init__()
        self.first, self.second = _Basic(cin, ch, 2), _Basic(ch, ch, 1)

    def forward(self, x):
        return self.second(self.first(x))


class HandResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = nn.Sequential(_Basic(64, 64, 1), _Basic(64, 64, 1))
        self.layer2, self.layer3, self.layer4 = _Stage(64, 128), _Stage(128, 256), _Stage(256, 512)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.mean((2, 3)))


def test_resnet18_matches_hand_written_with_torchvisions_parameter_count():
    model, graph = compiled("resnet18")
    assert sum(p.numel() for p in model.parameters()) == 11_689_512
    assert_same(model, HandResNet18(), [torch.randn(2, 3, 64, 64)])


def test_parameter_names_come_from_node_ids():
    model, _ = compiled("unet")
    names = list(model.state_dict())
    assert names[:3] == ["enc1.c1.weight", "enc1.c1.bias", "enc1.n1.weight"]


def test_generated_forward_frees_intermediates_and_reads_like_code():
    model, _ = compiled("mlp")
    assert "hidden = self.hidden(image);  image = None" in model.code
    assert "return logits" in model.code


def _state_hash(model: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_compilation_is_deterministic_for_a_seed_and_differs_across_seeds():
    a, _ = compiled("cnn", seed=1)
    b, _ = compiled("cnn", seed=1)
    c, _ = compiled("cnn", seed=2)
    assert _state_hash(a) == _state_hash(b) != _state_hash(c)
    assert a.code == b.code


def test_building_does_not_disturb_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    compiled("mlp")
    torch.testing.assert_close(torch.rand(3), expected)


SHARED = """\
archspec: 1
inputs: {a: {shape: [8]}, b: {shape: [8]}}
blocks:
  tower:
    nodes:
      fc: {op: linear, out_features: 4}
      act: {op: tanh}
nodes:
  ta: {block: tower, in: a}
  tb: {block: tower, in: b, share: ta}
  dist: {op: subtract, in: [ta, tb]}
"""


def test_shared_blocks_apply_one_set_of_weights_twice():
    graph = analyse(load_text(SHARED))
    model = compile_model(graph)
    assert [n for n, _ in model.named_parameters()] == ["ta.fc.weight", "ta.fc.bias"]
    x = torch.randn(3, 8)
    assert torch.count_nonzero(model(x, x)) == 0
    y = torch.randn(3, 8)
    expected = torch.tanh(model.ta.fc(x)) - torch.tanh(model.ta.fc(y))
    torch.testing.assert_close(model(x, y), expected)


INIT = """\
archspec: 1
inputs: {x: {shape: [400]}}
init: {weight: he_normal}
nodes:
  he: {op: linear, out_features: 300}
  xa: {op: linear, out_features: 200, init: {weight: xavier_normal}}
  le: {op: linear, out_features: 100, init: {weight: lecun_normal, bias: {scheme: constant, value: 0.5}}}
  ze: {op: linear, out_features: 50, init: {weight: zeros}}
"""


def test_init_schemes_have_the_variances_the_lecture_gives():
    model = compile_model(analyse(load_text(INIT)), seed=0)
    assert model.he.weight.std().item() == pytest.approx((2 / 400) ** 0.5, rel=0.05)
    assert model.xa.weight.std().item() == pytest.approx((2 / (300 + 200)) ** 0.5, rel=0.05)
    assert model.le.weight.std().item() == pytest.approx((1 / 200) ** 0.5, rel=0.05)
    assert torch.count_nonzero(model.ze.weight) == 0
    assert torch.count_nonzero(model.he.bias) == 0  # biases start at zero by default
    assert torch.all(model.le.bias == 0.5)


@pytest.mark.parametrize("name", ["two_branch", "autoencoder", "unet", "cnn"])
def test_torch_compile_fullgraph_runs_on_compiled_examples(name):
    model, graph = compiled(name)
    model.eval()
    inputs = list(example_inputs(graph, batch=3).values())
    fast = torch.compile(model, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(fast(*inputs), model(*inputs))


def test_an_unknown_part_is_a_located_error():
    from archspec.errors import GraphError

    model, graph = compiled("autoencoder")
    with pytest.raises(GraphError, match=r"unknown part 'encodr' \(hint: did you mean 'encoder'\?\)"):
        part_model(model, graph, "encodr")


def test_archspec_build_accepts_a_path_and_builds_a_part():
    encoder = archspec.build(str(ROOT / "examples" / "autoencoder.yaml"), part="encoder")
    assert encoder(torch.rand(2, 64)).shape == (2, 8)


@pytest.mark.parametrize("name", ["mlp", "cnn", "two_branch", "autoencoder", "unet", "linear_softmax"])
def test_compiled_output_shapes_match_inferred_shapes(name):
    model, graph = compiled(name)
    out = model(*example_inputs(graph, batch=2).values())
    outs = out if isinstance(out, dict) else {next(iter(graph.spec.outputs)): out}
    from archspec.graph.shapes import output_shape

    for key, value in outs.items():
        assert tuple(value.shape[1:]) == output_shape(graph, graph.spec.outputs[key].ref)


NAMES_SPEC = """\
archspec: 1
name: names
inputs:
  self: {shape: [4]}
  class: {shape: [4]}
nodes:
  lin: {op: linear, in: self, out_features: 4}
  input: {op: add, in: [lin, class]}
  torch: {op: relu}
  parts: {op: split, sizes: [2, 2], names: [a, b], dim: 1}
  parts_a: {op: relu, in: parts.a}
  out: {op: concat, in: [parts_a, parts.b]}
"""


def test_value_names_are_node_ids_made_legal_by_fx_and_never_self():
    model = compile_model(analyse(load_text(NAMES_SPEC, name="names.yaml")))
    code = model.code
    assert "def forward(self, self_1, class_1):" in code
    assert "lin = self.lin(self_1)" in code
    assert "input_1 = torch.add(lin, class_1)" in code
    assert "torch_1 = self.torch(input_1)" in code
    assert "parts_a = parts[0]" in code and "parts_a_1 = self.parts_a(parts_a)" in code
    assert list(model.state_dict()) == ["lin.weight", "lin.bias"]  # parameter names stay node ids


def test_check_init_names_each_row_by_its_node_id_whatever_fx_named_the_value():
    from archspec.compiler.diagnostics import check_init

    graph = analyse(load_text(NAMES_SPEC, name="names.yaml"))
    report = check_init(compile_model(graph), graph, batch=4)
    assert [row["node"] for row in report.rows] == [
        "lin",
        "input",
        "torch",
        "parts",
        "parts",
        "parts_a",
        "out",
    ]
