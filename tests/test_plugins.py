"""Plugins add ops from Python only, and only when the user enables them."""

from __future__ import annotations

import pytest
import torch

from archspec.ops import CATALOGUE
from tests.conftest import ROOT, invoke

PLUGIN_DIR = ROOT / "tests" / "plugins"

SPEC = """\
archspec: 1
inputs: {x: {shape: [6]}}
nodes:
  glu: {op: gated_linear, out_features: 4}
  act: {op: scaled_tanh, scale: 2.0}
"""


@pytest.fixture
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    yield
    for name in ("scaled_tanh", "gated_linear"):
        CATALOGUE.pop(name, None)
    from archspec import plugins

    plugins._LOADED.discard("archspec_demo_plugin")
    plugins._LOADED.discard("demo")


def test_an_op_from_a_disabled_plugin_is_unknown(tmp_path, plugin_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    result = invoke("validate", str(spec))
    assert result.exit_code == 2
    assert "unknown op 'gated_linear'" in result.output


def test_enabled_plugin_ops_validate_compile_and_infer_shapes_on_meta(tmp_path, plugin_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    result = invoke("--plugin", "archspec_demo_plugin", "summary", str(spec))
    assert result.exit_code == 0, result.output
    assert "[N, 4]" in result.output
    assert "total: 56 parameters" in result.output  # two 6->4 linears, found on the meta device
    import archspec
    from archspec.pipeline import load_text

    model = archspec.build(archspec.analyse(load_text(SPEC)))
    x = torch.randn(3, 6)
    expected = torch.tanh(model.glu.value(x) * torch.sigmoid(model.glu.gate(x))) * 2.0
    torch.testing.assert_close(model(x), expected)


def test_an_unknown_plugin_is_a_clear_usage_error(plugin_path):
    result = invoke("--plugin", "no_such_plugin_xyz", "ops")
    assert result.exit_code == 1
    assert "no plugin or module named 'no_such_plugin_xyz'" in result.output


def test_plugins_load_from_the_environment_variable(tmp_path, plugin_path, monkeypatch):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    assert invoke("validate", str(spec)).exit_code == 2  # not without it
    monkeypatch.setenv("ARCHSPEC_PLUGINS", "archspec_demo_plugin")
    result = invoke("validate", str(spec))
    assert result.exit_code == 0, result.output
    assert "ok (2 nodes" in result.output


def test_entry_point_plugins_are_found_by_name(tmp_path, plugin_path, monkeypatch):
    dist = tmp_path / "archspec_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: archspec-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[archspec.ops]\ndemo = archspec_demo_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from archspec.plugins import available_plugins, load_plugins

    assert "demo" in available_plugins()
    assert load_plugins(["demo"]) == ["gated_linear", "scaled_tanh"]


def test_an_op_replaced_under_the_same_name_validates_against_its_new_arguments(monkeypatch):
    """The per-op validator cache follows the catalogue: an import or plugin that puts another
    op under a name (``imported_gate`` from two models, one process) is checked by its own schema."""
    from archspec.ops.base import Arg
    from archspec.plugins import module_op
    from tests.conftest import spec_errors

    text = "archspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  g: {op: zz_gate, ARG: 4}\n"
    monkeypatch.setitem(
        CATALOGUE,
        "zz_gate",
        module_op(
            "zz_gate", lambda features: torch.nn.Identity(), args={"features": Arg({"type": "integer"})}
        ),
    )
    assert spec_errors(text.replace("ARG", "features")) == []
    monkeypatch.setitem(
        CATALOGUE,
        "zz_gate",
        module_op("zz_gate", lambda width: torch.nn.Identity(), args={"width": Arg({"type": "integer"})}),
    )
    assert spec_errors(text.replace("ARG", "width")) == []


def test_a_module_op_is_built_and_run_once_per_arguments_and_shapes_not_once_per_question():
    from archspec.plugins import module_op
    from tests.conftest import analysed

    builds = []

    def made(features: int) -> torch.nn.Module:
        builds.append(features)
        return torch.nn.Linear(features, features)

    text = (
        "archspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  g: {op: zz_counted, repeat: 3}\noutputs: {y: g}\n"
    )
    op = module_op("zz_counted", made, in_arg="features")
    CATALOGUE["zz_counted"] = op
    try:
        graph = analysed(text)
    finally:
        del CATALOGUE["zz_counted"]
    assert len(list(graph.op_nodes())) == 3  # three copies, each asked for its shape, parameters and buffers
    assert builds == [4]
