"""The pickle-free artefact: safetensors weights with the spec embedded, loaded strictly."""

from __future__ import annotations

import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from safetensors import safe_open  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from archspec.compiler.artifact import load_artifact, save_artifact  # noqa: E402
from archspec.compiler.compile import compile_model, example_inputs  # noqa: E402
from archspec.errors import CheckpointError  # noqa: E402
from archspec.pipeline import analyse, load, load_text  # noqa: E402

from .conftest import ROOT  # noqa: E402

SPEC = textwrap.dedent(
    """
    archspec: 1
    name: tiny
    inputs:
      x: {shape: [1, 8, 8]}
    nodes:
      conv: {op: conv2d, out_channels: 4, kernel_size: 3}
      bn:   {op: batchnorm2d}
      act:  {op: relu}
      flat: {op: flatten}
      head: {op: linear, out_features: 3}
    outputs: {y: head}
    """
)


@pytest.fixture
def saved(tmp_path):
    graph = analyse(load_text(SPEC, name="tiny.yaml"))
    model = compile_model(graph, seed=3)
    model(torch.randn(4, 1, 8, 8))  # move the batch-norm running statistics off their defaults
    save_artifact(model, graph, tmp_path / "run")
    return model.eval(), tmp_path / "run"


def _tensors_and_metadata(file):
    with safe_open(str(file), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()  # noqa: SIM118


def test_an_artefact_round_trips_weights_buffers_and_outputs(saved):
    model, run = saved
    loaded, graph = load_artifact(run)
    assert graph.spec.name == "tiny"
    assert loaded.state_dict().keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(loaded.eval()(x), model(x))
    again, _ = load_artifact(run / "model.safetensors")  # the file itself works too
    assert torch.equal(again.eval()(x), model(x))


def test_the_spec_travels_inside_the_weights_file_and_beside_it(saved):
    _, run = saved
    _, metadata = _tensors_and_metadata(run / "model.safetensors")
    assert metadata == {"archspec_format": "1", "archspec_spec": SPEC, "archspec_file": "tiny.yaml"}
    assert (run / "spec.yaml").read_text() == SPEC
    assert sorted(p.name for p in run.iterdir()) == ["model.safetensors", "spec.yaml"]  # no temp files left


def test_every_example_round_trips(tmp_path):
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        graph = analyse(load(path))
        model = compile_model(graph).eval()
        save_artifact(model, graph, tmp_path / path.stem)
        loaded, _ = load_artifact(tmp_path / path.stem)
        inputs = list(example_inputs(graph).values())
        a, b = model(*inputs), loaded.eval()(*inputs)
        for key in a if isinstance(a, dict) else [None]:
            assert torch.equal(a[key] if key else a, b[key] if key else b), path.stem


def test_overridden_specs_embed_what_was_built(tmp_path):
    path = ROOT / "examples" / "mlp.yaml"
    graph = analyse(load(path, overrides=["nodes.hidden.out_features=32"]))
    save_artifact(compile_model(graph), graph, tmp_path)
    loaded, loaded_graph = load_artifact(tmp_path)
    assert loaded.hidden.out_features == 32
    assert loaded_graph.spec.nodes["hidden"].args["out_features"] == 32


def test_a_missing_artefact_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"cannot load artefact: no model.safetensors in directory "):
        load_artifact(tmp_path)
    with pytest.raises(CheckpointError, match=r"cannot load artefact: no such file: .*nothing.safetensors"):
        load_artifact(tmp_path / "nothing.safetensors")


@pytest.mark.parametrize("keep", [0.5, 0.01])
def test_a_truncated_file_is_a_checkpoint_error(saved, keep):
    _, run = saved
    file = run / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(data[: max(4, int(len(data) * keep))])
    with pytest.raises(
        CheckpointError,
        match=r"model.safetensors: not a readable safetensors file \(truncated or corrupt\?\)",
    ):
        load_artifact(run)


def test_a_pickle_is_refused_not_unpickled(tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"not a readable safetensors file"):
        load_artifact(tmp_path)


def test_a_plain_safetensors_file_is_not_an_artefact(tmp_path):
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(
        CheckpointError, match=r"not an archspec artefact \(no embedded spec in its metadata\)"
    ):
        load_artifact(tmp_path)


def test_a_newer_format_is_refused(saved):
    _, run = saved
    tensors, metadata = _tensors_and_metadata(run / "model.safetensors")
    save_file(tensors, str(run / "model.safetensors"), metadata={**metadata, "archspec_format": "2"})
    with pytest.raises(
        CheckpointError, match=r"artefact format '2' is not supported \(this archspec reads format '1'\)"
    ):
        load_artifact(run)


def test_weights_that_do_not_fit_the_spec_name_the_tensor_and_both_shapes(saved):
    _, run = saved
    tensors, metadata = _tensors_and_metadata(run / "model.safetensors")
    other = metadata["archspec_spec"].replace("out_features: 3", "out_features: 5")
    save_file(tensors, str(run / "model.safetensors"), metadata={**metadata, "archspec_spec": other})
    with pytest.raises(
        CheckpointError, match=r"weight 'head.weight' has shape \[3, 144\] but the spec builds \[5, 144\]$"
    ):
        load_artifact(run)


def test_missing_and_unexpected_tensors_are_listed(saved):
    _, run = saved
    tensors, metadata = _tensors_and_metadata(run / "model.safetensors")
    del tensors["bn.running_var"]
    tensors["extra.weight"] = torch.zeros(1)
    save_file(tensors, str(run / "model.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError) as info:
        load_artifact(run)
    assert str(info.value).endswith(
        "model.safetensors: weights do not match the spec: missing 1 tensor ('bn.running_var'); "
        "unexpected 1 tensor ('extra.weight')"
    )
