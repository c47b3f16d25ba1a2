"""``archspec import``: reference modules become specs that compile to the same network.

The oracle: import -> compile gives the source's parameter count and, with the source's weights
copied by name, equal outputs on random inputs. Weights and BatchNorm statistics are randomised
first (an untouched init, e.g. a zero head, would make the comparison vacuous).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from archspec.compiler.compile import compile_model
from archspec.importer import import_model
from archspec.pipeline import analyse, load_text
from tests import import_refs as refs


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [*model.named_parameters(), *model.named_buffers()]:
            if t.is_floating_point():
                values = torch.randn(t.shape, generator=gen) * 0.5
                t.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
    return model.eval()


def imports_exactly(model: nn.Module, inputs: dict[str, tuple[int, ...]], **kwargs) -> object:
    """Import, compile, copy the weights by name, and compare count and outputs with the source."""
    _randomise(model)
    imported = import_model(model, inputs, **kwargs)
    assert isinstance(yaml.safe_load(imported.text), dict)  # plain YAML readers read it too
    built = compile_model(analyse(load_text(imported.text, name="imported.yaml"))).eval()
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in model.parameters())
    built.load_state_dict(imported.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn((3, *s), generator=gen) for s in inputs.values()]
    with torch.no_grad():
        assert torch.allclose(built(*xs), model(*xs), rtol=1e-5, atol=1e-6)
    return imported


@pytest.mark.parametrize(
    ("make", "inputs"),
    [
        (refs.MLP, {"x": (16,)}),
        (refs.CNN, {"x": (1, 16, 16)}),
        (refs.ResNet, {"x": (3, 32, 32)}),
        (refs.DenseNet, {"x": (3, 8, 8)}),
        (refs.UNet, {"x": (1, 16, 16)}),
    ],
    ids=["mlp", "cnn", "residual", "dense", "unet-skips"],
)
def test_a_reference_module_imports_to_the_same_network(make, inputs):
    imported = imports_exactly(make(), inputs)
    print(f"{make.__name__}: {imported.lines} lines")


def test_the_flat_import_also_compiles_to_the_same_network():
    imported = imports_exactly(refs.ResNet(), {"x": (3, 32, 32)}, blocks=False)
    assert "blocks:" not in imported.text


# -- blocks and repeat ---------------------------------------------------------------------------


def test_a_resnet18_shaped_import_factors_basic_blocks_into_two_blocks_and_a_repeat():
    imported = imports_exactly(refs.ResNet((2, 2, 2, 2)), {"x": (3, 32, 32)}, name="resnet")
    spec = yaml.safe_load(imported.text)
    assert list(spec["blocks"]) == ["basic_block", "basic_block_downsample"]
    assert spec["blocks"]["basic_block"]["params"] == {"out_channels": "int"}
    assert spec["nodes"]["layer1"] == {"block": "basic_block", "out_channels": 8, "repeat": 2}
    assert spec["nodes"]["layer3_0"] == {"block": "basic_block_downsample", "out_channels": 32}
    conv1 = spec["blocks"]["basic_block_downsample"]["nodes"]["conv1"]
    assert conv1["out_channels"] == "${out_channels}" and conv1["stride"] == 2  # equal everywhere: a literal
    example = Path(__file__).parents[1] / "examples" / "resnet18.yaml"
    assert imported.lines <= 1.5 * len(example.read_text().splitlines())


def test_the_names_of_a_repeat_are_the_source_modules_names():
    imported = import_model(_randomise(refs.ResNet((3, 2))), {"x": (3, 16, 16)})
    assert imported.layout.weights["layer1.2.conv1.weight"] == "layer1.2.conv1.weight"
    # one BasicBlock with a projection: not a block, its nodes stay at the top level
    assert imported.layout.weights["layer2_0_downsample_0.weight"] == "layer2.0.downsample.0.weight"


def test_a_value_that_is_a_multiple_of_a_parameter_becomes_an_expression():
    imported = imports_exactly(refs.BottleneckNet(), {"x": (8, 8, 8)})
    nodes = yaml.safe_load(imported.text)["blocks"]["bottleneck"]["nodes"]
    assert nodes["conv1"]["out_channels"] == "${out_channels}"
    assert nodes["conv3"]["out_channels"] == "${out_channels * 4}"


# -- weights -------------------------------------------------------------------------------------


def test_imported_weights_are_an_artefact_that_loads_as_the_source_model(tmp_path):
    from archspec.compiler.artifact import load_artifact

    source = _randomise(refs.UNet())
    imported = import_model(source, {"x": (1, 16, 16)})
    imported.save_weights(tmp_path / "unet")
    model, _ = load_artifact(tmp_path / "unet")
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), source(x), rtol=1e-5, atol=1e-6)


def test_emitted_python_of_an_imported_spec_loads_the_source_weights_strictly(tmp_path):
    from archspec.compiler.emit import emit_python

    source = _randomise(refs.ResNet((1, 1)))
    imported = import_model(source, {"x": (3, 16, 16)})
    graph = analyse(load_text(imported.text))
    code = emit_python(compile_model(graph), graph)
    namespace: dict = {"__name__": "emitted"}
    exec(compile(code, "emitted.py", "exec"), namespace)  # our own generated code
    model = namespace["Imported"]()
    model.load_state_dict(imported.state_dict(), strict=True)


# -- the command ---------------------------------------------------------------------------------


def _cli():
    from archspec.cli._common import ArchSpecGroup
    from archspec.importer.command import import_cmd

    group = ArchSpecGroup(name="archspec")
    group.add_command(import_cmd)
    return group


def test_the_command_writes_a_spec_and_an_artefact_that_validate(tmp_path):
    from click.testing import CliRunner

    from archspec.compiler.artifact import load_artifact

    result = CliRunner().invoke(
        _cli(),
        [
            "import",
            f"{refs.__file__}:MLP",
            "--kwargs",
            "hidden=24",
            "--input",
            "x=16",
            "-o",
            str(tmp_path / "mlp.yaml"),
            "--weights",
            str(tmp_path / "w"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    spec = yaml.safe_load((tmp_path / "mlp.yaml").read_text())
    assert spec["name"] == "mlp" and spec["nodes"]["net_0"]["out_features"] == 24
    load_artifact(tmp_path / "w")


def test_the_command_says_it_runs_the_targets_code():
    from click.testing import CliRunner

    result = CliRunner().invoke(_cli(), ["import", "--help"])
    assert result.exit_code == 0
    assert "runs TARGET's Python code" in " ".join(result.output.split())


def test_a_target_without_a_name_is_a_usage_error(tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(
        _cli(), ["import", "model.py", "--input", "3", "-o", str(tmp_path / "m.yaml")]
    )
    assert result.exit_code == 1
    assert "error: target 'model.py' is not MODULE:NAME or FILE.py:NAME" in result.output
