"""``archspec import`` falls back to ``torch.export`` where fx cannot trace.

The oracle is the one of tests/test_import.py: the compiled spec has the source's parameter
count and, with the weights copied by name, its outputs.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from archspec.errors import ImportModelError
from archspec.importer import import_model
from archspec.importer.trace import trace_module
from tests import import_refs as refs
from tests.test_import import _line, imports_exactly


def test_fx_cannot_trace_control_flow_on_a_shape():
    with pytest.raises(torch.fx.proxy.TraceError):
        torch.fx.symbolic_trace(refs.ShapeBranch())


@pytest.mark.parametrize("size", [16, 8], ids=["branch-taken", "branch-skipped"])
def test_control_flow_on_a_shape_imports_through_torch_export(size):
    imported = imports_exactly(refs.ShapeBranch(), {"x": (3, size, size)})
    spec = yaml.safe_load(imported.text)
    assert ("maxpool2d" in imported.text) == (size > 8)  # the example shape decided the branch
    assert spec["nodes"]["blocks"] == {"block": "basic_block", "repeat": 2}  # names follow the modules
    assert spec["nodes"]["reshape"] == {"op": "reshape", "shape": [-1]}  # x.view(x.size(0), -1)
    assert imported.layout.weights["blocks.1.bn2.running_var"] == "blocks.1.bn2.running_var"


def test_an_exported_leaf_module_is_one_node_in_its_scope():
    traced = trace_module(refs.ShapeBranch(), {"x": (3, 8, 8)})
    calls = [(n.target, n.scope) for n in traced.nodes if n.kind == "call_module"]
    assert calls[:3] == [("conv", ()), ("bn", ()), ("blocks.0.conv1", ("blocks", "blocks.0"))]


def test_data_dependent_control_flow_fails_in_both_tracers_with_the_module_and_line():
    with pytest.raises(ImportModelError) as info:
        import_model(refs.Unmappable("control"), {"x": (4,)})
    err = info.value
    assert (err.module, err.construct) == ("head.1", "data-dependent control flow")
    assert (
        f"Gate.forward branches or loops on a tensor's values at import_refs.py:{_line('x.sum() > 0')}"
        in str(err)
    )
    assert "; torch.export failed too (GuardOnDataDependentSymNode) (hint: " in str(err)
