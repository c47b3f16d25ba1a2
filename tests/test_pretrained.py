"""``training.init_from: {weights: FILE}``: a pretrained weights file fills the whole model or a
part — by name, through a declared prefix map, or by order with shapes checked — and every tensor
that does not fit is listed in one error located at the init_from entry. Oracle: the same network
written by hand, whose weights (randomised, running statistics included) loaded by order give the
compiled spec the reference's outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from archspec.compiler.artifact import save_artifact
from archspec.compiler.compile import compile_model
from archspec.errors import CheckpointError, SpecError, WeightsError
from archspec.pipeline import analyse, load
from archspec.training.pretrained import _rename
from archspec.training.transfer import init_from
from tests.conftest import invoke

SPEC = """\
archspec: 1
inputs: {x: {shape: [3, 8, 8]}}
parts: {backbone: [stem, bn, conv]}
nodes:
  stem: {op: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  bn: {op: batchnorm2d}
  act: {op: relu}
  conv: {op: conv2d, out_channels: 6, kernel_size: 3, padding: 1}
  pool: {op: adaptive_avgpool2d, output_size: 1}
  flat: {op: flatten}
  head: {op: linear, out_features: 5}
training:
  init_from: INIT
"""
BACKBONE = (
    "stem.weight",
    "stem.bias",
    "bn.weight",
    "bn.bias",
    "bn.running_mean",
    "bn.running_var",
    "conv.weight",
)


class Reference(nn.Module):
    """The spec's network written by hand, under torchvision-style names of its own."""

    def __init__(self, width: int = 6) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, width, 3, padding=1),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.classifier = nn.Linear(width, 5)
        torch.manual_seed(3)
        with torch.no_grad():  # randomised, running statistics too: no default init to hide behind
            for tensor in self.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(torch.rand_like(tensor) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def fill(tmp_path: Path, init: str, *, seed: int = 0) -> nn.Module:
    """Compile SPEC with ``init_from: INIT`` (written in tmp_path) and apply its init_from."""
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace("INIT", init))
    graph = analyse(load(path))
    model = compile_model(graph, seed=seed)
    init_from(model, graph.spec, graph.spec.training["init_from"], base=tmp_path)
    return model


def compiled(tmp_path: Path, seed: int) -> nn.Module:
    path = tmp_path / "plain.yaml"
    path.write_text(SPEC.replace("training:\n  init_from: INIT\n", ""))
    return compile_model(analyse(load(path)), seed=seed)


def test_a_state_dict_with_other_names_loads_by_order_and_the_model_computes_the_reference(tmp_path):
    reference = Reference().eval()
    torch.save(reference.state_dict(), tmp_path / "ref.pt")
    model = fill(tmp_path, "{weights: ref.pt}").eval()
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(model(x), reference(x), atol=1e-6)


def test_a_prefix_map_fills_a_part_from_a_file_whose_names_differ_and_leaves_the_rest(tmp_path):
    torch.save(Reference().state_dict(), tmp_path / "ref.pt")
    before = compiled(tmp_path, seed=0).state_dict()
    model = fill(
        tmp_path, "{backbone: {weights: ref.pt, map: {features.0: stem, features.1: bn, features.3: conv}}}"
    )
    state, source = model.state_dict(), Reference().state_dict()
    assert torch.equal(state["bn.running_var"], source["features.1.running_var"])
    assert torch.equal(state["conv.weight"], source["features.3.weight"])
    assert torch.equal(state["head.weight"], before["head.weight"])  # classifier.* is outside the part


def test_an_artefact_with_this_specs_names_loads_by_name_into_a_part_or_the_whole_model(tmp_path):
    source = compiled(tmp_path, seed=7)
    graph = analyse(load(tmp_path / "plain.yaml"))
    save_artifact(source, graph, tmp_path / "pretrained")
    part = fill(tmp_path, "{backbone: {weights: pretrained}}").state_dict()  # the directory
    whole = fill(tmp_path, "{weights: pretrained/model.safetensors}").state_dict()
    for name in BACKBONE:
        assert torch.equal(part[name], source.state_dict()[name]), name
    assert not torch.equal(part["head.weight"], source.state_dict()["head.weight"])
    assert all(torch.equal(whole[k], v) for k, v in source.state_dict().items())


def test_a_nested_checkpoint_dict_is_read_for_its_state_dict(tmp_path):
    reference = Reference().eval()
    torch.save({"epoch": 3, "state_dict": reference.state_dict()}, tmp_path / "ckpt.pth")
    x = torch.randn(1, 3, 8, 8)
    assert torch.allclose(fill(tmp_path, "{weights: ckpt.pth}").eval()(x), reference(x), atol=1e-6)


def test_paths_are_relative_to_the_spec_file_not_the_working_directory(tmp_path, monkeypatch):
    torch.save(Reference().state_dict(), tmp_path / "ref.pt")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    fill(tmp_path, "{weights: ref.pt}")
    with pytest.raises(SpecError) as err:
        fill(tmp_path, "{backbone: {weights: missing.pt}}")
    assert str(err.value) == (
        f"{tmp_path}/spec.yaml:13:35: training.init_from.backbone.weights: no weights file "
        f"'{tmp_path}/missing.pt' (hint: paths are relative to the spec file; give a .safetensors file, "
        "an artefact directory (archspec compile or import --weights) or a file torch.save wrote)"
    )


# -- one located error lists every misfit ----------------------------------------------------------


def test_every_tensor_that_does_not_fit_by_name_is_listed_in_one_error_at_the_entry(tmp_path):
    tensors = {k: v for k, v in compiled(tmp_path, seed=1).state_dict().items() if k != "stem.weight"}
    tensors["conv.weight"] = torch.zeros(7, 4, 3, 3)
    tensors["conv.scale"] = torch.ones(6)
    tensors["stem.weights"] = torch.ones(4, 3, 3, 3)
    save_file(tensors, tmp_path / "w.safetensors")
    with pytest.raises(WeightsError) as err:
        fill(tmp_path, "{backbone: {weights: w.safetensors}}")
    assert str(err.value) == (
        f"{tmp_path}/spec.yaml:13:35: training.init_from.backbone.weights: the weights in "
        f"'{tmp_path}/w.safetensors' do not fit part 'backbone' (matched by name); 4 misfits:\n"
        "  'stem.weight' [4, 3, 3, 3]: not in the file (did you mean 'stem.weights'?)\n"
        "  'conv.weight': [7, 4, 3, 3] in the file, but [6, 4, 3, 3] in this spec\n"
        "  'conv.scale' [6]: in the file, but this spec has no such tensor\n"
        "  'stem.weights' [4, 3, 3, 3]: in the file, but this spec has no such tensor\n"
        "  (hint: where the file's names differ from this spec's, give map: {prefix in the file: prefix in "
        "this spec} (a safetensors file keeps no order to match by))"
    )
    assert (
        err.value.to_dict()["problems"][0]
        == "'stem.weight' [4, 3, 3, 3]: not in the file (did you mean 'stem.weights'?)"
    )


def test_by_order_every_pair_of_another_shape_and_every_extra_tensor_is_listed(tmp_path):
    state = Reference(width=8).state_dict()
    state["extra"] = torch.zeros(2)
    torch.save(state, tmp_path / "wide.pt")
    with pytest.raises(WeightsError) as err:
        fill(tmp_path, "{weights: wide.pt}")
    assert str(err.value).splitlines() == [
        f"{tmp_path}/spec.yaml:13:24: training.init_from.weights: the weights in '{tmp_path}/wide.pt' do not "
        "fit this spec (matched by order); 4 misfits:",
        "  #7 'conv.weight' [6, 4, 3, 3] in this spec, but #7 in the file is 'features.3.weight' [8, 4, 3, 3]",
        "  #8 'conv.bias' [6] in this spec, but #8 in the file is 'features.3.bias' [8]",
        "  #9 'head.weight' [5, 6] in this spec, but #9 in the file is 'classifier.weight' [5, 8]",
        "  #11 in the file, 'extra' [2]: this spec has only 11 tensors",
        "  (hint: the file shares no name with this spec, so its tensors were taken in order; to match them "
        "by name instead, give map: {prefix in the file: prefix in this spec})",
    ]


def test_a_pickle_that_would_run_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"stem.weight": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt: holds Python objects other than tensors"):
        fill(tmp_path, "{weights: evil.pt}")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("init", "message"),
    [
        ("{backbone: {weights: w.pt, run: r}}", "13:25: training.init_from.backbone: give either run: (an earlier run directory) or weights: (a weights file), not both"),
        ("{backbone: {weights: w.pt, part: p}}", "13:41: training.init_from.backbone.part: part: does not go with weights: (hint: an init_from entry with weights: takes weights:, map:)"),
        ("{run: r, part: p}", "13:23: training.init_from.part: part: does not go with run: (hint: an init_from entry with run: takes run:)"),
    ],
)  # fmt: skip
def test_a_source_takes_one_of_run_and_weights_and_only_the_keys_that_go_with_it(tmp_path, init, message):
    with pytest.raises(SpecError) as err:
        fill(tmp_path, init)
    assert str(err.value) == f"{tmp_path}/spec.yaml:{message}"


def test_the_schema_reads_a_mapping_with_a_path_as_one_source_and_names_a_misspelt_key(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("INIT", "{weigths: w.pt}"))
    result = invoke("validate", spec)
    assert result.exit_code == 2
    assert (
        f"{spec}:13:15: training.init_from.weigths: unknown key 'weigths' (hint: did you mean 'weights'?)"
        in result.output
    )
    spec.write_text(SPEC.replace("INIT", "{backbone: {weights: w.pt, map: {features: 3}}}"))
    assert (
        f"{spec}:13:57: training.init_from.backbone.map.features: expected a string, got 3"
        in invoke("validate", spec).output
    )


def test_a_prefix_map_renames_the_longest_matching_prefix_by_whole_components():
    prefixes = {"features": "body", "features.0": "stem", "": "all"}
    assert _rename("features.0.weight", prefixes) == "stem.weight"
    assert _rename("features.1.weight", prefixes) == "body.1.weight"
    assert _rename("features10.weight", prefixes) == "all.features10.weight"
    assert _rename("fc.weight", {"fc": "head"}) == "head.weight"
    assert _rename("fc.weight", {"backbone": ""}) == "fc.weight"
    assert _rename("backbone.fc.weight", {"backbone": ""}) == "fc.weight"


def test_a_run_alone_fills_the_whole_model_by_name(tmp_path):
    from archspec.pipeline import load_text
    from archspec.training.runner import Trainer, train
    from tests.conftest import latest_weights, quiet

    spec = """\
archspec: 1
inputs: {x: {shape: [2]}}
nodes:
  h: {op: linear, out_features: 8}
  out: {op: linear, out_features: 2}
data:
  train: {dataset: moons, limit: 64}
losses:
  ce: {fn: cross_entropy, pred: output, target: label}
training: {epochs: 1, batch_size: 32, seed: SEED}
"""
    train(analyse(load_text(spec.replace("SEED", "1"))), quiet(tmp_path / "first"))
    second = spec.replace("SEED", f"2, init_from: {{run: {tmp_path}/first}}")
    filled = Trainer(analyse(load_text(second)), quiet(tmp_path / "second")).model.state_dict()
    trained = latest_weights(tmp_path / "first")
    assert trained.keys() == filled.keys() and all(torch.equal(trained[k], filled[k]) for k in trained)
