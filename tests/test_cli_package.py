"""The command line as a package over the Python API: commands import what they need when they
run, ``python -m archspec``, shell completion, the shared "what is this path" answer
(:mod:`archspec.sources`) and one meaning of ``--device auto`` (:mod:`archspec.devices`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from archspec import devices, pipeline
from archspec.cli import COMMANDS, cli, main
from archspec.errors import UsageError
from archspec.sources import is_run_dir, open_source, source_kind
from tests.conftest import ROOT, invoke

# -- lazy commands ----------------------------------------------------------------------------------


def test_help_imports_no_command_and_validate_no_later_stage():
    code = (
        "import sys\n"
        "from archspec.cli import main\n"
        "def run(*argv):\n"
        "    try:\n"
        "        main(list(argv))\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
        "    later = ('archspec.cli.', 'archspec.compiler', 'archspec.training', 'archspec.diagram')\n"
        "    print('imported:', sorted(m for m in sys.modules if m.startswith(later) or m == 'torch'))\n"
        "run('--help')\n"
        "run('validate', sys.argv[1])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "examples" / "mlp.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    after_help, after_validate = (line for line in proc.stdout.splitlines() if line.startswith("imported:"))
    assert after_help == "imported: ['archspec.cli._common']", (
        "listing the commands imported a command module"
    )
    assert after_validate == "imported: ['archspec.cli._common', 'archspec.cli.check']"


def test_every_listed_command_is_the_command_its_table_entry_names():
    ctx = click.Context(cli)
    for name, entry in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name, name
        assert command.callback.__module__ == entry.module, name
    listing = invoke("--help").output.split("Commands:")[1]
    assert [line.split()[0] for line in listing.splitlines() if line[:3].strip()] == sorted(COMMANDS)
    assert " ".join(listing.split()).count(".") >= len(COMMANDS)  # whole sentences, none cut off
    for entry in COMMANDS.values():
        assert " ".join(entry.short_help.split()) in " ".join(listing.split()), entry


def test_python_dash_m_archspec_is_the_archspec_command():
    proc = subprocess.run(
        [sys.executable, "-m", "archspec", "validate", str(ROOT / "examples" / "mlp.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{ROOT / 'examples' / 'mlp.yaml'}: ok (3 nodes")
    usage = subprocess.run([sys.executable, "-m", "archspec", "--help"], capture_output=True, text=True)
    assert usage.stdout.startswith("Usage: archspec [OPTIONS] COMMAND [ARGS]...")


# -- shell completion -------------------------------------------------------------------------------


def test_the_readme_completion_lines_produce_completion_scripts(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    shells = re.findall(r"_ARCHSPEC_COMPLETE=(\w+)_source archspec", readme)
    assert shells == ["bash", "zsh", "fish"]
    for shell in shells:
        monkeypatch.setenv("_ARCHSPEC_COMPLETE", f"{shell}_source")
        result = CliRunner().invoke(cli, [], prog_name="archspec")
        assert result.exit_code == 0, shell
        assert "_ARCHSPEC_COMPLETE" in result.output and f"{shell}_complete" in result.output, shell


def test_completion_offers_command_names(monkeypatch):
    monkeypatch.setenv("_ARCHSPEC_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "archspec va")
    monkeypatch.setenv("COMP_CWORD", "1")
    result = CliRunner().invoke(cli, [], prog_name="archspec")
    assert result.output.splitlines() == ["plain,validate"]


# -- what a path is ---------------------------------------------------------------------------------


def test_source_kind_tells_a_spec_a_run_and_an_artefact_apart(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text("archspec: 1\n")
    (run / "run.json").write_text("{}")
    artefact = tmp_path / "build"
    artefact.mkdir()
    (artefact / "model.safetensors").write_bytes(b"")
    assert is_run_dir(run) and not is_run_dir(artefact)
    assert source_kind(run) == "run"
    assert source_kind(artefact) == "artifact"
    assert source_kind(artefact / "model.safetensors") == "artifact"
    assert source_kind(ROOT / "examples" / "mlp.yaml") == "spec"
    with pytest.raises(UsageError) as plain:
        source_kind(tmp_path)
    assert str(plain.value) == (
        f"{str(tmp_path)!r} is a directory but neither a training run (no spec.yaml) nor an artefact "
        "of `archspec compile` (no model.safetensors)"
    )
    with pytest.raises(UsageError, match=r"^--set applies to a SPEC, not to a trained run$"):
        open_source(run, ["training.epochs=2"])


def test_open_source_compiles_a_spec_with_its_overrides_and_seed():
    import torch

    spec = ROOT / "examples" / "mlp.yaml"
    a, graph = open_source(spec, ["nodes.hidden.out_features=8"], seed=3)
    b, _ = open_source(spec, ["nodes.hidden.out_features=8"], seed=3)
    assert graph.spec.nodes["hidden"].args["out_features"] == 8
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# -- --device auto and loading once -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_is_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert devices.auto_device() == expected
    assert devices.choose_device("auto", None) == "auto"
    assert devices.choose_device("auto", "cpu") == "cpu"
    assert devices.choose_device("mps", "cpu") == "mps"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    """``archspec train net.yaml`` (default run directory), counting spec reads and auto picks."""
    base = tmp_path_factory.mktemp("cli")
    assert invoke("init", "net", "-d", str(base)).exit_code == 0
    reads: list[str] = []
    picks: list[str] = []
    real_read = pipeline.load_document
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        mp.setattr(pipeline, "load_document", lambda path: reads.append(str(path)) or real_read(path))
        mp.setattr(devices, "auto_device", lambda: picks.append("train") or "cpu")
        argv = ["net.yaml", "--set", "training.epochs=1", "--max-steps", "2", "--checkpoint-every", "2"]
        result = invoke("train", *argv, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "run saved to runs/net (2 steps)" in result.output
    return SimpleNamespace(run=base / "runs" / "net", reads=reads, picks=picks)


def test_train_reads_its_spec_once(trained):
    assert trained.reads == ["net.yaml"]


def test_auto_is_one_answer_for_train_evaluate_and_predict(trained, monkeypatch, tmp_path):
    picks: list[str] = []
    monkeypatch.setattr(devices, "auto_device", lambda: picks.append("auto") or "cpu")
    assert trained.picks == ["train"]
    assert invoke("evaluate", trained.run).exit_code == 0
    assert picks, "evaluate --device auto did not ask auto_device"
    picks.clear()
    assert invoke("predict", trained.run, "-o", tmp_path / "p.npz").exit_code == 0
    assert picks, "predict --device auto did not ask auto_device"
    picks.clear()
    assert invoke("evaluate", trained.run, "--device", "cpu").exit_code == 0
    assert invoke("predict", trained.run, "--device", "cpu", "-o", tmp_path / "q.npz").exit_code == 0
    assert picks == [], "an explicit --device is not auto"


def test_main_is_the_console_entry_and_takes_argv(capsys):
    with pytest.raises(SystemExit) as done:
        main(["ops", "linear"])
    assert done.value.code == 0
    assert "out_features" in capsys.readouterr().out
    assert Path(ROOT / "pyproject.toml").read_text().count('archspec = "archspec.cli:main"') == 1


def test_train_no_plots_leaves_curves_out_of_the_run(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    assert invoke("init", "net", "-d", str(tmp_path)).exit_code == 0
    monkeypatch.chdir(tmp_path)
    argv = ["net.yaml", "--set", "training.epochs=1", "--no-progress"]
    for run, flag in (("drawn", "--plots"), ("bare", "--no-plots")):
        result = invoke("train", *argv, flag, "--run-dir", run)
        assert result.exit_code == 0, result.output
    assert (tmp_path / "drawn" / "curves.png").exists()
    assert (tmp_path / "bare" / "metrics.csv").exists() and not (tmp_path / "bare" / "curves.png").exists()
