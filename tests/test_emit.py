"""``emit_python``: a standalone PyTorch file that is the compiled network, weight for weight."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from archspec.compiler.compile import compile_model, example_inputs  # noqa: E402
from archspec.compiler.emit import emit_python  # noqa: E402
from archspec.errors import RunError  # noqa: E402
from archspec.pipeline import analyse, load, load_text  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402

# Every module class the catalogue builds, with non-default arguments where extra_repr would
# drop or misquote them (padding_mode, count_include_pad, align_corners, PReLU channels, ...).
ZOO = textwrap.dedent(
    """
    archspec: 1
    name: zoo
    inputs:
      image: {shape: [3, 12, 12]}
      seq: {shape: [6, 8]}
      tokens: {shape: [6], dtype: int64}
      vol: {shape: [2, 4, 4, 4]}
    nodes:
      c1: {op: conv2d, in: image, out_channels: 4, kernel_size: 3, padding: 1, padding_mode: reflect, bias: false}
      bn: {op: batchnorm2d, momentum: 0.2}
      pr: {op: prelu, per_channel: true}
      up: {op: upsample, scale_factor: 2, mode: bilinear, align_corners: true}
      ct: {op: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2, output_padding: 1}
      crop: {op: crop_to, in: [ct, up]}
      gn: {op: groupnorm, num_groups: 2}
      inn: {op: instancenorm2d, affine: true, track_running_stats: true}
      mp: {op: maxpool2d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
      ap: {op: avgpool2d, kernel_size: 2, padding: 1, count_include_pad: false}
      amp: {op: adaptive_maxpool2d, output_size: [2, 2]}
      d2: {op: dropout2d, p: 0.1}
      pad: {op: pad, pad: [1, 1, 1, 1], mode: constant, value: 0.5}
      gap: {op: global_avgpool}
      flat: {op: flatten, in: amp}
      lin: {op: linear, in: flat, out_features: 8}
      ln: {op: layernorm}
      el: {op: elu, alpha: 0.5}
      ge: {op: gelu, approximate: tanh}
      lk: {op: leaky_relu, negative_slope: 0.2}
      sp: {op: softplus, beta: 2.0}
      sm: {op: softmax, dim: 1}
      bil: {op: bilinear, in: [lin, gap], out_features: 5}
      emb: {op: embedding, in: tokens, num_embeddings: 10, embedding_dim: 8, padding_idx: 0}
      lstm: {op: lstm, in: seq, hidden_size: 8, num_layers: 2, bidirectional: true, return: sequence}
      gru: {op: gru, in: emb, hidden_size: 5, bias: false}
      att: {op: multihead_attention, in: [lstm, lstm, lstm], num_heads: 2}
      rs: {op: reshape, in: att, shape: [96]}
      rbf: {op: rbf, in: rs, centers: 7, gamma: 0.5, seed: 3}
      rbf2: {op: rbf, in: rs, centers: 3, learnable: true}
      sum3: {op: add, in: [rbf, rbf, rbf]}
      sub: {op: subtract, in: [sum3, rbf]}
      mul3: {op: multiply, in: [sub, rbf, rbf]}
      parts: {op: split, in: mul3, sizes: [3, 4], names: [a, b], dim: 1}
      cat: {op: concat, in: [parts.a, rbf2, gru, bil, sm, ge, el, lk, sp], dim: 1}
      sq: {op: unsqueeze, dim: 1}
      tr: {op: transpose, dim0: 1, dim1: 2}
      pm: {op: permute, dims: [0, 2, 1]}
      sqz: {op: squeeze, dim: 1}
      mean: {op: mean, in: pad, dim: [2, 3]}
      c3: {op: conv3d, in: vol, out_channels: 2, kernel_size: 3, groups: 2}
      bn3: {op: batchnorm3d, affine: false}
      r6: {op: relu6}
      g3: {op: global_avgpool}
      hs: {op: hardswish, in: mean}
      stk: {op: stack, in: [g3, g3], dim: 1}
      sf: {op: flatten, in: stk}
      out: {op: concat, in: [sqz, hs, sf, parts.b], dim: 1}
      ls: {op: log_softmax}
      ident: {op: identity}
    outputs: {y: ident, crop: crop}
    """
)

CASES = [pytest.param(str(p), id=p.stem) for p in EXAMPLES] + [pytest.param(ZOO, id="every-module")]


def _graph(case: str):
    return analyse(load_text(case, name="zoo.yaml") if "\n" in case else load(case))


def _namespace(source: str) -> dict:
    namespace: dict = {"__name__": "emitted"}
    exec(compile(source, "<emitted>", "exec"), namespace)
    return namespace


def _assert_same(a, b) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    else:
        assert torch.equal(a, b)


@pytest.mark.parametrize("case", CASES)
def test_the_emitted_file_is_the_compiled_network_weight_for_weight(case):
    graph = _graph(case)
    model = compile_model(graph, seed=1).eval()
    source = emit_python(model, graph)
    assert "import archspec" not in source and "from archspec" not in source
    emitted = _namespace(source)[type(model).__name__]().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    inputs = list(example_inputs(graph, batch=3).values())
    with torch.no_grad():
        _assert_same(model(*inputs), emitted(*inputs))


def test_nested_containers_keep_the_state_dict_keys_of_the_compiled_model():
    graph = _graph(str(next(p for p in EXAMPLES if p.stem == "resnet18")))
    source = emit_python(compile_model(graph), graph)
    assert "        self.layer1.add_module('0', nn.Module())" in source
    assert (
        "        getattr(self.layer1, '0').conv1 = nn.Conv2d(in_channels=64, out_channels=64, kernel_size=3, padding=1, bias=False)"
        in source
    )
    assert "    def forward(self, image: torch.Tensor) -> torch.Tensor:" in source


def test_helpers_are_copied_verbatim_and_called_by_their_own_names():
    graph = _graph(ZOO)
    source = emit_python(compile_model(graph), graph)
    assert "\ndef add_n(tensors: list[torch.Tensor]) -> torch.Tensor:" in source
    assert "sum3 = add_n([rbf, rbf, rbf])" in source
    assert "\nclass RBF(nn.Module):" in source
    assert "        self.rbf = RBF(in_features=96, centers=7, gamma=0.5, seed=3)" in source
    assert "        self.up = nn.Upsample(scale_factor=2, mode='bilinear', align_corners=True)" in source
    assert (
        "        self.ap = nn.AvgPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(1, 1), count_include_pad=False)"
        in source
    )
    assert "-> Dict[str, torch.Tensor]:" in source and "from typing import Dict" in source


def test_the_emitted_file_imports_without_archspec(tmp_path):
    paths = []
    for case in CASES[:-1]:
        graph = _graph(case.values[0])
        path = tmp_path / f"m{len(paths)}.py"
        path.write_text(emit_python(compile_model(graph), graph))
        paths.append(path)
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        sys.modules["archspec"] = None  # any `import archspec` now fails
        for path in {[str(p) for p in paths]!r}:
            spec = importlib.util.spec_from_file_location("emitted", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        assert not any(name.startswith("archspec.") for name in sys.modules)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_part_emits_only_its_own_modules():
    graph = _graph(str(next(p for p in EXAMPLES if p.stem == "autoencoder")))
    part = compile_model(graph, part="encoder")
    source = emit_python(part, graph)
    assert "self.enc.fc1 = " in source and "self.dec" not in source


def test_a_model_its_spec_does_not_rebuild_is_refused_before_the_text_is_returned(monkeypatch):
    import dataclasses

    from archspec.ops import CATALOGUE, Recipe
    from archspec.ops.modules import RBF

    graph = _graph(ZOO)
    model = compile_model(graph)  # then the op's recipe changes under it
    wrong = dataclasses.replace(
        CATALOGUE["rbf"],
        recipe=lambda a, s: Recipe(RBF, {"in_features": 96, "centers": 2, "gamma": 0.5, "seed": 3}),
    )
    monkeypatch.setitem(CATALOGUE, "rbf", wrong)
    with pytest.raises(RunError, match=r"cannot emit rbf: the rebuilt module is not the same \(parameter"):
        emit_python(model, graph)


def test_a_plugin_module_from_outside_torch_and_archspec_cannot_be_emitted(monkeypatch):
    from archspec.ops import CATALOGUE
    from archspec.plugins import module_op

    class Mine(torch.nn.Linear):
        def __init__(self, in_features: int) -> None:
            super().__init__(in_features, 4)

    text = "archspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  act: {op: mine}\n"
    monkeypatch.setitem(CATALOGUE, "mine", module_op("mine", Mine, in_arg="in_features"))
    graph = _graph(text)
    with pytest.raises(
        RunError, match=r"cannot emit act: .*Mine is neither a torch.nn module nor an archspec op module"
    ):
        emit_python(compile_model(graph), graph)


def test_a_module_added_after_compiling_cannot_be_emitted():
    graph = _graph(str(next(p for p in EXAMPLES if p.stem == "mlp")))
    model = compile_model(graph)
    model.extra = torch.nn.Tanh()
    with pytest.raises(RunError, match=r"cannot emit extra: no node of the spec builds it \(Tanh\)"):
        emit_python(model, graph)


# -- init: the spec's initial weights, in the emitted file too -------------------------------------

INIT_SPEC = textwrap.dedent(
    """
    archspec: 1
    name: inits
    init: {weight: xavier_uniform, bias: zeros}
    inputs:
      x: {shape: [3, 8, 8]}
    nodes:
      c1: {op: conv2d, out_channels: 4, kernel_size: 3, init: {weight: {scheme: kaiming_normal, mode: fan_out}}}
      c2: {op: conv2d, out_channels: 4, kernel_size: 3, init: {weight: orthogonal, bias: {scheme: constant, value: 0.1}}}
      flat: {op: flatten}
      fc1: {op: linear, out_features: 16, init: {weight: lecun_normal, bias: ones}}
      fc2: {op: linear, out_features: 16, init: {weight: {scheme: normal, std: 0.5}}}
      fc3: {op: linear, out_features: 16, init: {weight: {scheme: uniform, low: -0.2, high: 0.3}}}
      fc4: {op: linear, out_features: 8, init: {weight: default, bias: default}}
      pr: {op: prelu, init: {weight: he_uniform}}
    """
)


def test_the_emitted_init_writes_the_spec_schemes_as_nn_init_calls():
    graph = _graph(INIT_SPEC)
    source = emit_python(compile_model(graph), graph)
    for line in [
        "self.c1 = nn.Conv2d(in_channels=3, out_channels=4, kernel_size=3)",
        "nn.init.kaiming_normal_(self.c1.weight, mode='fan_out', nonlinearity='relu')",
        "nn.init.zeros_(self.c1.bias)",
        "nn.init.orthogonal_(self.c2.weight, gain=1.0)",
        "nn.init.constant_(self.c2.bias, val=0.1)",
        "nn.init.kaiming_normal_(self.fc1.weight, mode='fan_in', nonlinearity='linear')",
        "nn.init.ones_(self.fc1.bias)",
        "nn.init.normal_(self.fc2.weight, mean=0.0, std=0.5)",
        "nn.init.uniform_(self.fc3.weight, a=-0.2, b=0.3)",
    ]:
        assert f"\n        {line}\n" in source, line
    assert "self.fc4.weight" not in source and "self.fc4.bias" not in source  # default: torch's own
    assert "self.pr.weight" not in source  # a 1-D weight keeps its default under a fan-based scheme


@pytest.mark.parametrize("case", [pytest.param(INIT_SPEC, id="inits"), *CASES])
def test_a_fresh_emitted_model_under_the_same_seed_has_the_compiled_initial_weights_exactly(case):
    graph = _graph(case)
    model = compile_model(graph, seed=5)
    emitted = _namespace(emit_python(model, graph))[type(model).__name__]
    torch.manual_seed(5)
    fresh = emitted()
    compiled, built = model.state_dict(), fresh.state_dict()
    assert list(built) == list(compiled)
    for key, value in compiled.items():
        assert torch.equal(built[key], value), key


def test_a_fresh_emitted_bias_is_zero_where_the_spec_says_zeros_whatever_the_seed():
    graph = _graph(str(next(p for p in EXAMPLES if p.stem == "mlp")))
    emitted = _namespace(emit_python(compile_model(graph), graph))[_class(graph)]
    torch.manual_seed(123)
    fresh = emitted()
    assert fresh.hidden.bias.numel() == 128 and torch.count_nonzero(fresh.hidden.bias) == 0


def _class(graph) -> str:
    return type(compile_model(graph)).__name__
