"""The Python API: the commands as functions, with the same checks and errors as the CLI."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import archspec
from archspec.errors import ArchSpecError, GraphError
from tests.conftest import ROOT, csv_column, invoke

LINEAR = ROOT / "examples" / "linear_softmax.yaml"
UNET = ROOT / "examples" / "unet.yaml"


def test_summary_is_the_table_the_cli_prints_and_the_data_behind_it():
    s = archspec.summary(LINEAR)
    assert s["total_params"] == 650 and s["trainable_params"] == 650 and s["buffers"] == 0
    assert str(s) == invoke("summary", str(LINEAR)).output.rstrip("\n")


def test_summary_takes_a_path_a_spec_or_a_graph_and_overrides_only_with_a_path():
    spec = archspec.load(LINEAR)
    assert archspec.summary(spec) == archspec.summary(archspec.analyse(spec)) == archspec.summary(str(LINEAR))
    wide = archspec.summary(LINEAR, overrides=["inputs.image.shape=[32]"])
    assert wide["total_params"] == 330
    with pytest.raises(ArchSpecError, match="overrides apply to a spec file"):
        archspec.summary(spec, overrides=["name=x"])


def test_render_returns_the_diagram_and_writes_the_file_it_is_given(tmp_path):
    svg = archspec.render(UNET)
    assert svg.startswith("<svg") or svg.startswith("<?xml")
    out = tmp_path / "unet.mmd"
    text = archspec.render(UNET, out)
    assert out.read_text() == text and text.lstrip().startswith(("flowchart", "graph", "%%"))
    assert archspec.render(UNET, format="dot").lstrip().startswith("digraph")


def test_render_refuses_an_unknown_part_with_the_compilers_located_error():
    with pytest.raises(GraphError) as exc:
        archspec.render(UNET, part="encodr")
    assert "unknown part 'encodr'" in str(exc.value) and "did you mean 'encoder'?" in str(exc.value)
    assert str(exc.value).startswith(str(UNET))


def test_render_says_which_suffixes_it_knows():
    with pytest.raises(ArchSpecError, match=r"cannot tell the diagram format from 'x\.txt'"):
        archspec.render(UNET, "x.txt")


def test_train_evaluate_and_predict_as_functions(tmp_path):
    run = archspec.train(LINEAR, run_dir=tmp_path / "run", overrides=["training.epochs=3"])
    assert run.epochs == 3 and run.run_dir == tmp_path / "run"
    losses = csv_column(run.run_dir / "metrics.csv", "train_loss")
    assert losses[-1] < losses[0]  # it really learns
    metrics = archspec.evaluate(run.run_dir)
    assert metrics["test_accuracy"] > 0.8  # ten classes: chance is 0.1
    path = archspec.predict(run.run_dir, tmp_path / "pred.npz")
    with np.load(path) as out:
        assert out["logits"].shape[1] == 10


def test_train_without_a_run_dir_writes_runs_slash_the_spec_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "linear-softmax").mkdir(parents=True)  # taken: the next free name is used
    run = archspec.train(LINEAR, overrides=["training.epochs=1"])
    assert run.run_dir.as_posix() == "runs/linear-softmax-2"
    assert (tmp_path / "runs" / "linear-softmax-2" / "checkpoints").is_dir()


def test_predict_refuses_an_output_it_cannot_write(tmp_path):
    with pytest.raises(ArchSpecError, match=r"use a \.npz or \.csv path"):
        archspec.predict(tmp_path, tmp_path / "out.txt")


def test_importing_archspec_and_using_the_torch_free_api_imports_no_torch():
    code = (
        "import sys, archspec\n"
        "archspec.summary('examples/mlp.yaml'); archspec.render('examples/mlp.yaml')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_the_public_names_are_listed_and_resolve():
    for name in archspec.__all__:
        assert getattr(archspec, name) is not None
    with pytest.raises(AttributeError):
        archspec.no_such_name  # noqa: B018
