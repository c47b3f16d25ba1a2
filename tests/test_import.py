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
from archspec.errors import ImportModelError
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


@pytest.fixture(autouse=True)
def _one_thread():
    """These networks are tiny: one thread is faster than many on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def imports_exactly(model: nn.Module, inputs: dict[str, tuple[int, ...]], **kwargs) -> object:
    """Import, compile, copy the weights by name, and compare count and outputs with the source."""
    _randomise(model)
    imported = import_model(model, inputs, **kwargs)
    assert isinstance(yaml.safe_load(imported.text), dict)  # plain YAML readers read it too
    built = compile_model(analyse(load_text(imported.text, name="imported.yaml"))).eval()
    assert sum(p.numel() for p in built.parameters()) == sum(p.numel() for p in model.parameters())
    built.load_state_dict(imported.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn((2, *s), generator=gen) for s in inputs.values()]
    with torch.no_grad():
        assert torch.allclose(built(*xs), model(*xs), rtol=1e-5, atol=1e-6)
    return imported


@pytest.mark.parametrize(
    ("make", "inputs"),
    [
        (refs.MLP, {"x": (16,)}),
        (refs.CNN, {"x": (1, 16, 16)}),
        (refs.ResNet, {"x": (3, 16, 16)}),
        (refs.DenseNet, {"x": (3, 8, 8)}),
        (refs.UNet, {"x": (1, 8, 8)}),
        (refs.sequential_net, {"input": (3, 4, 4)}),
    ],
    ids=["mlp", "cnn", "residual", "dense", "unet-skips", "bare-sequential"],
)
def test_a_reference_module_imports_to_the_same_network(make, inputs):
    imported = imports_exactly(make(), inputs)
    print(f"{make.__name__}: {imported.lines} lines")


def test_the_flat_import_also_compiles_to_the_same_network():
    imported = imports_exactly(refs.ResNet(), {"x": (3, 16, 16)}, blocks=False)
    assert "blocks:" not in imported.text


# -- blocks and repeat ---------------------------------------------------------------------------


def test_a_resnet18_shaped_import_factors_basic_blocks_into_two_blocks_and_a_repeat():
    imported = imports_exactly(refs.ResNet((2, 2, 2, 2)), {"x": (3, 16, 16)}, name="resnet")
    spec = yaml.safe_load(imported.text)
    assert list(spec["blocks"]) == ["basic_block", "basic_block_downsample"]
    assert spec["blocks"]["basic_block"]["params"] == {"out_channels": "int"}
    assert spec["nodes"]["layer1"] == {"block": "basic_block", "out_channels": 8, "repeat": 2}
    # layer3.0 and layer3.1 are instances of different blocks: one repeat, the block picked by index
    assert spec["nodes"]["layer3"] == {
        "block": "${'basic_block_downsample' if index == 0 else 'basic_block'}",
        "out_channels": 32,
        "repeat": 2,
    }
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


class _Widening(nn.Module):
    """One ``Sequential`` of blocks that project and widen in turn: blocks and widths by index."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        widths = [(8, 8, 1), (8, 16, 2), (16, 16, 1), (16, 32, 2)]
        self.stages = nn.Sequential(*[refs.PreActBlock(cin, cout, stride) for cin, cout, stride in widths])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


@pytest.mark.parametrize(
    "make",
    [
        refs.PreActResNet,
        lambda: refs.PreActResNet((3, 2, 2)),
        lambda: refs.PreActResNet((2, 1, 1)),
        _Widening,
    ],
    ids=["preact-resnet", "longer-first-stage", "one-block-stages", "blocks-and-widths-by-index"],
)
def test_an_imported_spec_has_the_source_s_state_dict_keys_and_its_emitted_python_loads_them(make):
    from archspec.compiler.emit import emit_python

    source = make()
    imported = imports_exactly(source, {"x": (3, 16, 16)})
    graph = analyse(load_text(imported.text))
    built = compile_model(graph)
    assert set(built.state_dict()) == set(source.state_dict())
    namespace: dict = {"__name__": "emitted"}
    exec(compile(emit_python(built, graph), "emitted.py", "exec"), namespace)  # our own generated code
    model = namespace["Imported"]().eval()
    model.load_state_dict(source.state_dict(), strict=True)  # the source's own dict, no name map
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(model(x), source(x))


def test_the_copies_of_a_container_s_repeat_pick_their_block_and_values_by_index():
    nodes = yaml.safe_load(import_model(_Widening(), {"x": (3, 16, 16)}).text)["nodes"]
    assert nodes["stages"] == {
        "block": "${['pre_act_block', 'pre_act_block_shortcut', 'pre_act_block', 'pre_act_block_shortcut'][index]}",
        "out_channels": "${[8, 16, 16, 32][index]}",
        "repeat": 4,
    }
    one = yaml.safe_load(import_model(refs.PreActResNet((2, 1, 1)), {"x": (3, 16, 16)}).text)["nodes"]
    # a stage of one block is still a repeat, so its copy is named layer2.0 as in the source
    assert one["layer2"] == {"block": "pre_act_block_shortcut", "out_channels": 16, "repeat": 1}


def test_in_a_resnet18_import_only_the_projections_inside_a_block_need_the_name_map():
    source = refs.ResNet((2, 2, 2, 2))
    imported = import_model(source, {"x": (3, 16, 16)})
    ours = set(compile_model(analyse(load_text(imported.text))).state_dict())
    theirs = set(source.state_dict())
    # a block's body is flat: downsample.0 (a Sequential's child) is the node downsample_0
    assert sorted(theirs - ours) == sorted(
        f"layer{i}.0.downsample.{key}"
        for i in (2, 3, 4)
        for key in (
            "0.weight",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked",
        )
    )
    assert len(theirs & ours) == 104
    assert {imported.layout.weights[k] for k in ours - theirs} == theirs - ours


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


# -- more of the published families --------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "inputs"),
    [
        (refs.Inception, {"x": (3, 8, 8)}),
        (lambda: refs.MobileNet(se=False), {"x": (3, 8, 8)}),
        (lambda: refs.MobileNet(se=True), {"x": (3, 8, 8)}),
        (refs.ViT, {"x": (3, 16, 16)}),
    ],
    ids=["inception", "inverted-residual-depthwise", "squeeze-excitation", "patch-embedding-attention"],
)
def test_a_published_family_imports_to_the_same_network(make, inputs):
    imported = imports_exactly(make(), inputs)
    print(f"{imported.lines} lines")


def test_a_lone_instance_of_a_class_repeated_inside_blocks_stays_flat():
    spec = yaml.safe_load(import_model(refs.Inception(), {"x": (3, 8, 8)}).text)
    assert list(spec["blocks"]) == ["inception_a"]
    assert spec["nodes"]["stem_conv"]["op"] == "conv2d"


def test_vit_encoder_layers_become_one_block_repeated():
    spec = yaml.safe_load(import_model(refs.ViT(layers=3), {"x": (3, 16, 16)}).text)
    assert spec["nodes"]["layers"] == {"block": "encoder_block", "repeat": 3}
    assert spec["blocks"]["encoder_block"]["nodes"]["self_attention"] == {
        "op": "multihead_attention",
        "num_heads": 2,
    }


# -- what does not import: located errors --------------------------------------------------------

_HINT = "(hint: register a plugin op for it (see docs/import.md, 'What does not import'))"


def _import_error(model: nn.Module, shape: tuple[int, ...]) -> ImportModelError:
    with pytest.raises(ImportModelError) as info:
        import_model(model, {"x": shape})
    return info.value


def _line(text: str) -> int:
    """The line of ``text`` in the reference file (so the asserted messages stay exact)."""
    return next(i for i, line in enumerate(Path(refs.__file__).read_text().splitlines(), 1) if text in line)


def test_a_function_without_an_op_names_the_module_the_function_and_the_line():
    err = _import_error(refs.Unmappable("erf"), (4,))
    assert (err.module, err.construct) == ("head.1", "torch.erf")
    assert (
        str(err)
        == f"module 'head.1': torch.erf has no catalogue op (at import_refs.py:{_line('torch.erf(x)')}) {_HINT}"
    )


def test_data_dependent_control_flow_names_the_module_and_the_line():
    err = _import_error(refs.Unmappable("control"), (4,))
    assert (err.module, err.construct) == ("head.1", "data-dependent control flow")
    assert str(err) == (
        f"module 'head.1': Gate.forward branches or loops on a tensor's values at import_refs.py:{_line('x.sum() > 0')}, "
        "which a static graph cannot express (symbolically traced variables cannot be used as inputs to control flow); "
        "torch.export failed too (GuardOnDataDependentSymNode) "
        "(hint: rewrite it without value-dependent Python control flow, or register a plugin op for this module "
        "(see docs/import.md))"
    )


def test_a_constant_operand_is_refused_with_its_value():
    err = _import_error(refs.HalfScale(), (4,))
    assert str(err) == (
        f"the model's own forward: operator.mul takes a constant 0.5 where archspec's op needs a tensor "
        f"(at import_refs.py:{_line('* 0.5')}) {_HINT}"
    )


# -- free parameters and buffers: class token, position embedding, layer scale ----------------


@pytest.mark.parametrize(
    ("make", "inputs"),
    [
        (refs.TokenViT, {"x": (3, 16, 16)}),
        (lambda: refs.ViT(class_token=True), {"x": (3, 16, 16)}),
        (refs.ConvNeXt, {"x": (3, 16, 16)}),
        (lambda: refs.TokenViT(scaled=True), {"x": (3, 16, 16)}),
        (refs.Normalized, {"x": (3, 8, 8)}),
    ],
    ids=[
        "class-token-position-embedding",
        "torchvision-class-token",
        "layer-scale",
        "vit-layer-scale",
        "buffers",
    ],
)
def test_a_model_with_free_parameters_imports_to_the_same_network(make, inputs):
    imported = imports_exactly(make(), inputs)
    print(f"{imported.lines} lines")


def test_a_class_token_takes_the_batch_and_a_position_embedding_broadcasts():
    spec = yaml.safe_load(import_model(refs.TokenViT(), {"x": (3, 16, 16)}).text)
    nodes = spec["nodes"]
    assert nodes["cls_token"] == {"op": "parameter", "shape": [1, 16]}  # reads the patches for the batch
    assert nodes["concat"] == {"op": "concat", "in": ["cls_token", "patch_embed_transpose"]}
    assert nodes["pos_embed"] == {"op": "parameter", "in": [], "shape": [17, 16]}
    assert nodes["select"] == {"op": "select", "dim": 1, "index": 0}  # x[:, 0]
    assert nodes["blocks"] == {"block": "encoder_block", "repeat": 3}


def test_free_parameters_keep_the_source_names_inside_a_repeated_block():
    imported = import_model(_randomise(refs.ConvNeXt()), {"x": (3, 16, 16)})
    spec = yaml.safe_load(imported.text)
    assert spec["nodes"]["blocks"] == {"block": "layer_scale_block", "repeat": 2}
    gamma = spec["blocks"]["layer_scale_block"]["nodes"]["gamma"]
    assert gamma == {"op": "parameter", "in": [], "shape": [1, 1, 8]}  # [8] at the rank of [N, H, W, 8]
    assert imported.layout.weights["blocks.1.gamma.weight"] == "blocks.1.gamma"
    assert imported.state_dict()["blocks.1.gamma.weight"].shape == (1, 1, 8)
    vit = import_model(refs.TokenViT(scaled=True), {"x": (3, 16, 16)})
    assert vit.layout.weights["cls_token.weight"] == "cls_token"
    assert vit.layout.weights["blocks.2.ls1_gamma.weight"] == "blocks.2.ls1.gamma"


def test_a_layer_scaled_import_writes_weights_that_load_as_the_source(tmp_path):
    from archspec.compiler.artifact import load_artifact

    source = _randomise(refs.ConvNeXt())
    import_model(source, {"x": (3, 16, 16)}).save_weights(tmp_path / "convnext")
    model, _ = load_artifact(tmp_path / "convnext")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), source(x), rtol=1e-5, atol=1e-6)


def test_a_buffer_the_source_does_not_save_is_still_imported():
    imported = import_model(_randomise(refs.Normalized()), {"x": (3, 8, 8)})
    assert "std" not in imported.source.state_dict()
    assert imported.layout.weights["std.value"] == "std"
    assert torch.equal(imported.state_dict()["std.value"], imported.source.std)


def test_a_parameter_that_is_not_one_sample_is_refused_with_its_shape():
    err = _import_error(refs.BatchTable(), (4,))
    assert (err.module, err.construct) == ("", "parameter table")
    assert str(err) == (
        "the model's own forward: the parameter 'table' of shape [2, 4] is used as a batch of 2 "
        f"(at import_refs.py:{_line('x + self.table')}); archspec's parameter op is one sample broadcast or "
        "expanded to the batch (hint: give the tensor a leading dim of 1 (as a class token's [1, 1, D]))"
    )


def test_indexing_the_batch_is_refused():
    err = _import_error(refs.FirstSample(), (4,))
    assert str(err) == (
        "the model's own forward: indexing a value ([0]) has no catalogue op; archspec indexes one dim after "
        f"the batch (x[:, 0], x[:, 1:]) (at import_refs.py:{_line('return x[0]')}) {_HINT}"
    )


def test_the_command_exits_2_with_the_located_error(tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(
        _cli(), ["import", f"{refs.__file__}:HalfScale", "--input", "4", "-o", str(tmp_path / "m.yaml")]
    )
    assert result.exit_code == 2
    assert "error: the model's own forward: operator.mul takes a constant 0.5" in result.output
    assert not (tmp_path / "m.yaml").exists()


# -- the docs run --------------------------------------------------------------------------------


def test_the_import_docs_run_as_shown(tmp_path, monkeypatch):
    import re
    import shlex
    import shutil

    from click.testing import CliRunner

    from archspec.cli import cli

    root = Path(__file__).parents[1]
    text = (root / "docs" / "import.md").read_text()
    shutil.copytree(root / "examples" / "models", tmp_path / "examples" / "models")
    (tmp_path / "examples" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    # the fine-tuning recipe's commands need its edited spec and an image folder:
    # tests/test_finetune_recipe.py runs them, with the recipe's training block, on a small CNN
    before_recipe = text.split("## Fine-tuning", 1)[0]
    commands = [
        line[2:]
        for block in re.findall(r"```console\n(.*?)```", before_recipe, re.S)
        for line in block.splitlines()
    ]
    outputs = []
    for command in commands:
        argv = shlex.split(command)[1:]
        result = CliRunner().invoke(_cli() if argv[0] == "import" else cli, argv)
        assert result.exit_code == 0, (command, result.output)
        outputs.append(result.output)
    shown = re.findall(r"```text\n(.*?)```", text, re.S)[0]
    assert outputs[0] == shown
    exec(re.findall(r"```python\n(.*?)```", text, re.S)[0], {"__name__": "docs"})
    assert Path("build/resnet/model.safetensors").exists()


def test_named_outputs_keep_their_names_and_shapes():
    _randomise(model := refs.TwoHeads())
    imported = import_model(model, {"x": (6,)})
    spec = yaml.safe_load(imported.text)
    assert spec["outputs"] == {"logits": "cls", "boxes": "box"}
    assert spec["expect"]["outputs"] == {"logits": [3], "boxes": [4]}
    built = compile_model(analyse(load_text(imported.text))).eval()
    built.load_state_dict(imported.state_dict(), strict=True)
    x = torch.randn(2, 6)
    with torch.no_grad():
        got, want = built(x), model(x)
    assert all(torch.allclose(got[k], want[k]) for k in want)


def test_a_module_with_weights_called_twice_is_refused_by_name():
    err = _import_error(refs.Shared(), (4,))
    assert str(err) == (
        "module 'fc': Linear is called more than once (shared weights) "
        "(hint: call a separate module each time; shared weights are not imported yet)"
    )


# -- the target's own code failing is the user's error, located in their file -------------------------

TARGET_FAILURES = {
    "a missing import": (
        "import not_a_module_xyz\n",
        "net.py:Net",
        "error: importing net.py raised ModuleNotFoundError: No module named 'not_a_module_xyz' at {path}:1",
    ),
    "an exception at import": (
        "import torch\n\n\nraise RuntimeError('boom')\n",
        "net.py:Net",
        "error: importing net.py raised RuntimeError: boom at {path}:4",
    ),
    "a missing argument": (
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def __init__(self, width):\n        super().__init__()\n",
        "net.py:Net",
        "error: calling net.py:Net raised TypeError: Net.__init__() missing 1 required positional argument: 'width'",
    ),
    "a bad argument to a torch layer": (  # the error is raised inside torch; the line to fix is here
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = torch.nn.Linear(4, 'x')\n",
        "net.py:Net",
        "error: calling net.py:Net raised TypeError: {torch_message} at {path}:7",
    ),
}


@pytest.mark.parametrize("case", sorted(TARGET_FAILURES))
def test_a_target_whose_own_code_fails_is_a_user_error_naming_where(case, tmp_path, monkeypatch):
    from tests.conftest import invoke

    source, target, expected = TARGET_FAILURES[case]
    (tmp_path / "net.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    result = invoke("import", target, "--input", "x=4", "-o", "m.yaml")
    assert result.exit_code == 1, result.output
    try:
        torch.nn.Linear(4, "x")
    except TypeError as exc:
        torch_message = str(exc)
    message = expected.format(path=tmp_path / "net.py", torch_message=torch_message)
    hint = " (import runs the target's code; fix it there, or check --kwargs)"
    assert result.output.strip().splitlines()[-1] == message + hint
    assert not (tmp_path / "m.yaml").exists()
