"""``archspec import --allow-opaque``: a module no op expresses becomes an op of a written plugin.

The oracle is the source model: the spec compiled with the plugin enabled, given the source's
weights (randomised, loaded strictly), computes what the source computes. The plugin is never
loaded by the spec itself: without ``--plugin`` the spec is a located error and the model's code
does not run (its file writes a marker when it runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from archspec.compiler.compile import compile_model
from archspec.errors import ImportModelError, RunError
from archspec.importer import Constructions, import_model
from archspec.ops import CATALOGUE
from archspec.pipeline import analyse, load_text
from tests import import_refs as refs
from tests.conftest import ROOT, invoke

MODEL = '''\
from pathlib import Path

import torch
from torch import nn

Path(__file__).with_name("ran.txt").write_text("gated.py ran")  # a marker: this file's code ran


class Gate(nn.Module):
    def __init__(self, features, scale=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.scale = scale

    def forward(self, x):
        if x.mean() > 0:  # data-dependent control flow
            return x * torch.sigmoid(self.weight) * self.scale
        return x * torch.erf(self.weight)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.gate = Gate(8, scale=0.5)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.gate(self.fc1(x)))


def make():
    """Net with random weights from a fixed seed (an untouched Gate would be all ones)."""
    net = Net()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return net.eval()
'''

GATE_LINE = MODEL.splitlines().index("        if x.mean() > 0:  # data-dependent control flow") + 1


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A folder with the model file, as the working directory; the plugin unloaded afterwards."""
    (tmp_path / "gated.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    from archspec import plugins

    CATALOGUE.pop("model_gate", None)
    plugins._LOADED.discard("model_plugin")
    for name in ("model_plugin", "_archspec_import_gated"):
        sys.modules.pop(name, None)


def _archspec(*args: str, cwd: Path, pythonpath: str = "") -> subprocess.CompletedProcess[str]:
    """``archspec ARGS`` in a fresh process (so what it imports is its own doing)."""
    env = {k: v for k, v in os.environ.items() if k != "ARCHSPEC_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, str(ROOT)) if p)
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _import(*extra: str):
    return invoke("import", "gated.py:make", "--input", "x=6", "-o", "out/model.yaml", *extra)


def test_without_allow_opaque_an_unmappable_module_is_the_located_error(project):
    result = _import()
    assert result.exit_code == 2
    assert result.output == (
        f"error: module 'gate': Gate.forward branches or loops on a tensor's values at gated.py:{GATE_LINE}, "
        "which a static graph cannot express (symbolically traced variables cannot be used as inputs to control flow); "
        "torch.export failed too (GuardOnDataDependentSymNode) "
        "(hint: rewrite it without value-dependent Python control flow, or register a plugin op for this module "
        "(see docs/import.md))\n"
    )
    assert not (project / "out" / "model_plugin.py").exists()


def test_an_opaque_import_compiles_with_its_plugin_to_the_source_network(project, monkeypatch):
    result = _import("--weights", "out/w", "--allow-opaque")
    assert result.exit_code == 0, result.output
    assert "wrote out/model_plugin.py (the plugin model_plugin: model_gate (Gate))" in result.output
    spec = yaml.safe_load((project / "out" / "model.yaml").read_text())
    assert spec["requires"] == {"plugins": ["model_plugin"]}
    assert spec["nodes"]["gate"] == {"op": "model_gate", "features": 8, "scale": 0.5}
    plugin = (project / "out" / "model_plugin.py").read_text()
    assert plugin.startswith("# Written by `archspec import --allow-opaque` for model.yaml")
    assert '_file = _load("../gated.py", "_archspec_import_gated")' in plugin

    # Without the plugin: a located error that says how to enable it, and the model's code never runs.
    (project / "ran.txt").unlink()
    plain = _archspec("validate", "out/model.yaml", cwd=project)
    assert plain.returncode == 2
    assert (plain.stdout + plain.stderr).splitlines()[0] == (
        "out/model.yaml:11:14: nodes.gate.op: unknown op 'model_gate' (hint: this spec requires the plugin "
        "'model_plugin' (requires.plugins), which a spec never loads by itself; if you trust it, enable it: "
        "archspec --plugin model_plugin COMMAND ... or ARCHSPEC_PLUGINS=model_plugin)"
    )
    assert not (project / "ran.txt").exists()

    # Enabled (the plugin's folder on the module path): it runs the model file, and the spec works.
    enabled = _archspec(
        "--plugin", "model_plugin", "summary", "out/model.yaml", cwd=project, pythonpath="out"
    )
    assert enabled.returncode == 0, enabled.stderr
    assert "total: 91 parameters" in enabled.stdout
    assert (project / "ran.txt").exists()
    built = _archspec(
        "--plugin",
        "model_plugin",
        "compile",
        "out/model.yaml",
        "-o",
        "out/build",
        cwd=project,
        pythonpath="out",
    )
    assert built.returncode == 0, built.stderr

    from archspec.compiler.artifact import load_artifact
    from archspec.importer.target import load_target
    from archspec.plugins import load_plugins

    monkeypatch.syspath_prepend(str(project / "out"))
    assert load_plugins(["model_plugin"]) == ["model_gate"]
    model, _ = load_artifact(project / "out" / "w")  # the source's weights under the spec's names, strictly
    source = load_target("gated.py:make")
    gen = torch.Generator().manual_seed(1)
    for sign in (1.0, -1.0):  # both branches of the gate
        x = sign * (torch.randn(4, 6, generator=gen).abs() + 1.0)
        with torch.no_grad():
            torch.testing.assert_close(model.eval()(x), source(x), rtol=0, atol=0)


def test_an_existing_file_import_did_not_write_is_never_overwritten(project):
    (project / "out").mkdir()
    mine = project / "out" / "model_plugin.py"
    mine.write_text("# my own plugin\n")
    result = _import("--allow-opaque")
    assert result.exit_code == 1
    assert result.output == (
        "error: out/model_plugin.py exists and was not written by archspec import; it is left alone "
        "(the plugin is named after the spec: choose another -o, or move the file)\n"
    )
    assert mine.read_text() == "# my own plugin\n"
    assert not (project / "out" / "model.yaml").exists()
    assert not (project / "ran.txt").exists()  # refused before the target ran


def test_a_plugin_file_import_wrote_is_rewritten(project):
    assert _import("--allow-opaque").exit_code == 0
    plugin = project / "out" / "model_plugin.py"
    plugin.write_text(plugin.read_text() + "# an edit\n")
    assert _import("--allow-opaque").exit_code == 0
    assert "# an edit" not in plugin.read_text()


# -- the Python API ------------------------------------------------------------------------------


def _gated(**kw):
    constructions = Constructions()
    with constructions.recording():
        source = refs.GatedNet(**kw)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in source.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return source.eval(), constructions


def test_constructor_arguments_are_recorded_by_name_and_defaults_left_out():
    source, constructions = _gated(width=5)
    imported = import_model(source, {"x": (6,)}, name="net", allow_opaque=True, constructions=constructions)
    nodes = yaml.safe_load(imported.text)["nodes"]
    assert nodes["gate1"] == {"op": "net_value_gate", "features": 5, "scale": 0.5}
    assert nodes["gate2"] == {"op": "net_value_gate", "features": 5}
    assert imported.plugin == "net_plugin"
    assert "from tests.import_refs import ValueGate" in imported.plugin_source("net.yaml")
    with imported.ops_registered():
        model = compile_model(analyse(load_text(imported.text, name="net.yaml"))).eval()
        model.load_state_dict(imported.state_dict(), strict=True)
    assert "net_value_gate" not in CATALOGUE  # registered for the block only
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)


def test_without_recorded_arguments_a_module_that_needs_them_is_refused():
    source = refs.GatedNet().eval()  # built outside recording: import cannot know Gate's arguments
    with pytest.raises(ImportModelError) as info:
        import_model(source, {"x": (6,)}, allow_opaque=True)
    assert str(info.value) == (
        "module 'gate1': ValueGate's recorded arguments do not fit its signature: missing a required argument: "
        "'features' (hint: register a plugin op for it by hand (see docs/cookbook.md, 'Your own module as an op'))"
    )


def test_the_model_s_own_forward_cannot_be_opaque():
    with pytest.raises(ImportModelError) as info:
        import_model(refs.HalfScale(), {"x": (4,)}, allow_opaque=True)
    assert str(info.value).endswith("; --allow-opaque embeds a sub-module, not the model's own forward)")


def test_emit_python_names_the_plugin_class_it_cannot_write():
    from archspec.compiler.emit import emit_python

    source, constructions = _gated()
    imported = import_model(source, {"x": (6,)}, name="net", allow_opaque=True, constructions=constructions)
    with imported.ops_registered():
        graph = analyse(load_text(imported.text, name="net.yaml"))
        with pytest.raises(RunError) as info:
            emit_python(compile_model(graph), graph)
    assert str(info.value) == (
        "cannot emit gate1: tests.import_refs.ValueGate is neither a torch.nn module nor an archspec op module, "
        "so a standalone file cannot rebuild it"
    )


def test_a_spec_naming_a_plugin_gets_the_hint_and_loads_nothing(tmp_path, monkeypatch):
    from tests.conftest import spec_errors

    marker = tmp_path / "imported"
    (tmp_path / "gates_plugin.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable, were anything to import it
    errors = spec_errors(
        textwrap.dedent("""\
        archspec: 1
        requires: {plugins: [gates_plugin, other]}
        inputs: {x: {shape: [4]}}
        nodes:
          g: {op: gates_gate}
          r: {op: rellu}
        """)
    )
    required = (
        "this spec requires the plugins 'gates_plugin', "
        "'other' (requires.plugins), which a spec never loads by itself; if you trust them, enable them: "
        "archspec --plugin gates_plugin --plugin other COMMAND ... or ARCHSPEC_PLUGINS=gates_plugin,other"
    )
    assert errors == [
        f"spec.yaml:5:11: nodes.g.op: unknown op 'gates_gate' (hint: {required})",
        # a typo of a built-in op still gets its suggestion, with the plugin's hint after it
        f"spec.yaml:6:11: nodes.r.op: unknown op 'rellu' (hint: did you mean 'relu'? If it is an op of a plugin: {required})",
    ]
    assert not marker.exists() and "gates_plugin" not in sys.modules


def test_the_python_example_of_the_import_page_runs(capsys):
    text = (ROOT / "docs" / "import.md").read_text()
    code = text.split("what enabling the written plugin does):\n\n```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/import.md", "exec"), {})
    assert capsys.readouterr().out == "gated_plugin\n"
    assert "gated_value_gate" not in CATALOGUE


def test_compile_with_an_emit_it_cannot_write_leaves_no_artefact(tmp_path, monkeypatch):
    from archspec.compiler import emit
    from tests.conftest import invoke

    def refuse(model, graph):
        raise RunError("cannot emit gate1: stands for a plugin class")

    monkeypatch.setattr(emit, "emit_python", refuse)
    monkeypatch.chdir(tmp_path)
    spec = Path(__file__).resolve().parent.parent / "examples" / "mlp.yaml"
    result = invoke("compile", str(spec), "--out", "built", "--emit-python", "mlp_model.py")
    assert result.exit_code != 0 and "cannot emit gate1" in result.output
    assert not (tmp_path / "built").exists() and not (tmp_path / "mlp_model.py").exists()


def test_constructor_arguments_are_recorded_for_a_users_package_whose_name_starts_with_torch():
    from torch import nn

    from archspec.importer.opaque import _module_classes

    gate = type("Gate", (nn.Module,), {"__module__": "torchy_models"})  # a user's package, not torch
    classes = _module_classes()
    assert gate in classes and nn.Linear not in classes
