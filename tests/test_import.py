"""``archspec import``: reference modules become specs that compile to the same network.

The oracle: import -> compile gives the source's parameter count and, with the source's weights
copied by name, equal outputs on random inputs. Weights and BatchNorm statistics are randomised
first (an untouched init, e.g. a zero head, would make the comparison vacuous).
"""

from __future__ import annotations

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
