"""``check_init``: signal and gradient statistics of a freshly initialised network."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from archspec.compiler.compile import compile_model  # noqa: E402
from archspec.compiler.diagnostics import check_init  # noqa: E402
from archspec.pipeline import analyse, load_text  # noqa: E402


def deep_mlp(init: str, act: str = "relu", depth: int = 10, width: int = 128) -> str:
    layers = "\n".join(
        f"  fc{i}: {{op: linear, out_features: {width}}}\n  a{i}: {{op: {act}}}" for i in range(depth)
    )
    return (
        f"archspec: 1\nname: deep\ninputs:\n  x: {{shape: [{width}]}}\ninit: {init}\n"
        f"nodes:\n{layers}\n  out: {{op: linear, out_features: 10}}\noutputs: {{y: out}}\n"
    )


def report_for(text: str, **kwargs):
    graph = analyse(load_text(text, name="deep.yaml"))
    return check_init(compile_model(graph, seed=0), graph, **kwargs)


def test_he_init_keeps_a_deep_relu_network_at_a_constant_scale():
    report = report_for(deep_mlp("{weight: he_normal}"))
    assert report.warnings == []
    stds = [r["std"] for r in report.rows if r["op"] == "linear"]
    assert len(stds) == 11
    assert max(stds) / min(stds) < 2
    assert abs(report.input_std - 1) < 0.05


def test_a_tiny_normal_init_makes_the_signal_vanish():
    report = report_for(deep_mlp("{weight: {scheme: normal, std: 1.0e-3}}"))
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("vanishing signal: activation std falls to ")
    assert (
        " at fc1 (linear), below 0.01 of the input std 1; use he_normal for ReLU layers" in report.warnings[0]
    )


def test_a_constant_init_makes_units_symmetric():
    report = report_for(deep_mlp("{weight: {scheme: constant, value: 0.01}}", depth=3))
    symmetric = [w for w in report.warnings if w.startswith("symmetric weights")]
    assert symmetric == [
        "symmetric weights: every row of fc0.weight [128, 128], fc1.weight [128, 128], fc2.weight [128, 128] "
        "and 1 more is identical, so its units are symmetric: they will stay identical during training "
        "(hint: use a random init such as he_normal or xavier_uniform)"
    ]
    assert [p["symmetric"] for p in report.params] == [True, False] * 4


def test_a_deep_sigmoid_stack_starves_its_first_layers_of_gradient():
    report = report_for(deep_mlp("{weight: xavier_normal}", act="sigmoid"))
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("vanishing gradients: the gradient norm of fc0.weight is ")
    assert "smaller than that of out.weight" in report.warnings[0]
    norms = [p["grad_norm"] for p in report.params if p["name"].endswith("weight")]
    assert norms[0] < norms[-1] * 1e-3


def test_dead_relus_are_counted_per_unit_and_reported():
    text = deep_mlp("{weight: he_normal, bias: {scheme: constant, value: -100.0}}", depth=3)
    report = report_for(text)
    assert [r["dead"] for r in report.rows if r["op"] == "relu"] == [1.0, 1.0, 1.0]
    assert (
        "dead units: 100% of the units of a0 (relu) are zero for the whole batch and get no gradient "
        "(and 2 more activation nodes); check the init of the layer before it (biases, scale)"
    ) in report.warnings


def test_a_large_init_explodes():
    report = report_for(deep_mlp("{weight: {scheme: normal, std: 1.0}}", depth=4))
    assert report.warnings[0].startswith("exploding signal: activation std grows to ")
    assert all(p["grad_norm"] is not None and p["grad_norm"] < float("inf") for p in report.params)


def test_the_check_leaves_the_model_untouched():
    text = (
        "archspec: 1\nname: bn\ninputs:\n  x: {shape: [3, 8, 8]}\nnodes:\n"
        "  c: {op: conv2d, out_channels: 4, kernel_size: 3}\n  n: {op: batchnorm2d}\n"
        "  a: {op: relu}\n  d: {op: dropout}\noutputs: {y: d}\n"
    )
    graph = analyse(load_text(text))
    model = compile_model(graph).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = check_init(model, graph, batch=16)
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert [r["node"] for r in report.rows] == ["c", "n", "a", "d"]
    assert [r["shape"] for r in report.rows] == [[4, 6, 6]] * 4


def test_the_report_reads_as_a_table_and_serialises():
    report = report_for(deep_mlp("{weight: he_normal}", depth=2, width=8))
    text = report.to_text()
    lines = text.splitlines()
    assert lines[0] == "input std " + f"{report.input_std:.3g}"
    assert lines[2].split() == ["node", "op", "shape", "mean", "std", "dead", "grad", "std"]
    assert lines[4].startswith("fc0   linear  [8]")
    assert "parameter   shape   " in text and text.endswith("no warnings")
    data = report.to_dict()
    assert set(data) == {"input_std", "rows", "params", "warnings"}
    assert set(data["rows"][0]) == {"node", "op", "shape", "mean", "std", "dead", "grad_std"}
    import json

    json.dumps(data)
