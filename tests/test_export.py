"""Export to TorchScript, exported programs and ONNX, whole or one part, checked by reloading."""

from __future__ import annotations

import textwrap
import warnings

import pytest

torch = pytest.importorskip("torch")

from archspec.compiler.compile import compile_model, example_inputs  # noqa: E402
from archspec.compiler.export import export_model  # noqa: E402
from archspec.errors import GraphError, RunError  # noqa: E402
from archspec.pipeline import analyse, load, load_text  # noqa: E402

from .conftest import ROOT  # noqa: E402

# torch.jit.split with a list of sizes as a keyword does not script: the exporter must trace.
UNSCRIPTABLE = textwrap.dedent(
    """
    archspec: 1
    name: halves
    inputs:
      x: {shape: [6]}
    nodes:
      fc:    {op: linear, out_features: 6}
      parts: {op: split, sizes: [2, 4], names: [a, b], dim: 1}
      cat:   {op: concat, in: [parts.b, parts.a], dim: 1}
    outputs: {y: cat}
    """
)


def _compiled(name: str):
    graph = analyse(load(ROOT / "examples" / f"{name}.yaml"))
    return compile_model(graph, seed=0), graph


def _jit_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(path))


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return torch.equal(a, b)


def test_torchscript_reloads_with_the_same_outputs_and_leaves_the_model_in_its_mode(tmp_path):
    model, graph = _compiled("cnn")
    result = export_model(model, graph, "torchscript", tmp_path / "cnn.ts")
    assert result.how == "scripted" and result.path == tmp_path / "cnn.ts"
    assert model.training  # restored after the eval-mode export
    x = tuple(example_inputs(graph, batch=3).values())
    with torch.no_grad():
        assert _same(model.eval()(*x), _jit_load(tmp_path / "cnn.ts")(*x))
    assert [p.name for p in tmp_path.iterdir()] == ["cnn.ts"]


def test_torchscript_falls_back_to_tracing_when_scripting_fails(tmp_path, monkeypatch):
    graph = analyse(load_text(UNSCRIPTABLE))
    model = compile_model(graph).eval()

    def refuse(*args, **kwargs):
        raise RuntimeError("not scriptable")

    monkeypatch.setattr(torch.jit, "script", refuse)
    result = export_model(model, graph, "torchscript", tmp_path / "halves.ts")
    assert result.how.startswith("traced (scripting failed: ")
    x = tuple(example_inputs(graph, batch=2).values())
    assert _same(model(*x), _jit_load(tmp_path / "halves.ts")(*x))


def test_an_exported_program_reloads_and_takes_any_batch_size(tmp_path):
    model, graph = _compiled("mlp")
    result = export_model(model, graph, "exported-program", tmp_path / "mlp.pt2")
    assert result.how == "exported with a dynamic batch dim"
    loaded = torch.export.load(str(tmp_path / "mlp.pt2")).module()
    for batch in (2, 5):
        x = tuple(example_inputs(graph, batch=batch).values())
        assert _same(model.eval()(*x), loaded(*x))


def test_one_part_exports_alone_with_its_own_inputs_and_outputs(tmp_path):
    model, graph = _compiled("autoencoder")
    export_model(model, graph, "exported-program", tmp_path / "encoder.pt2", part="encoder")
    export_model(model, graph, "torchscript", tmp_path / "encoder.ts", part="encoder")
    (x,) = example_inputs(graph, batch=2, part="encoder").values()
    want = model.eval()(x)["code"]
    assert torch.equal(torch.export.load(str(tmp_path / "encoder.pt2")).module()(x), want)
    assert torch.equal(_jit_load(tmp_path / "encoder.ts")(x), want)


def test_an_unknown_format_or_part_is_refused(tmp_path):
    model, graph = _compiled("mlp")
    with pytest.raises(
        RunError,
        match=r"unknown export format 'tflite' \(choose from torchscript, exported-program, onnx, safetensors\)",
    ):
        export_model(model, graph, "tflite", tmp_path / "m")
    with pytest.raises(GraphError, match=r"unknown part 'encoder'"):
        export_model(model, graph, "torchscript", tmp_path / "m", part="encoder")


def test_onnx_without_its_packages_says_how_to_install_them(tmp_path, monkeypatch):
    from archspec.compiler import export

    monkeypatch.setattr(export, "_missing_onnx_packages", lambda: ["onnxscript"])
    model, graph = _compiled("mlp")
    with pytest.raises(
        RunError, match=r"^ONNX export needs the onnxscript package\(s\): pip install onnx onnxscript$"
    ):
        export_model(model, graph, "onnx", tmp_path / "mlp.onnx")


def test_onnx_export_passes_the_checker(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model, graph = _compiled("mlp")
    result = export_model(model, graph, "onnx", tmp_path / "mlp.onnx")
    assert result.how == "exported with a dynamic batch dim"
    onnx.checker.check_model(onnx.load(str(tmp_path / "mlp.onnx")))
    try:
        import onnxruntime
    except ImportError:
        pytest.skip("onnxruntime is not installed: the file passed the ONNX checker, outputs not compared")
    session = onnxruntime.InferenceSession(str(tmp_path / "mlp.onnx"))
    for batch in (2, 5):
        x = example_inputs(graph, batch=batch)
        (got,) = session.run(None, {k: v.numpy() for k, v in x.items()})
        want = model.eval()(*x.values()).detach().numpy()
        assert abs(got - want).max() < 1e-4


def test_the_weights_of_one_part_load_back_as_that_part(tmp_path):
    from archspec.compiler.artifact import load_artifact

    model, graph = _compiled("autoencoder")
    result = export_model(model, graph, "safetensors", tmp_path / "encoder.safetensors", part="encoder")
    encoder, _ = load_artifact(result.path)
    (x,) = example_inputs(graph, batch=2, part="encoder").values()
    assert torch.equal(encoder(x), model(x)["code"])
    assert set(encoder.state_dict()) == {"enc.fc1.weight", "enc.fc1.bias", "enc.code.weight", "enc.code.bias"}
