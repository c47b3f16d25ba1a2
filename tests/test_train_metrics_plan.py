"""Metrics never drop silently: a metric scores every output it fits (judged by the output's loss)
or is a located error; validation reports the loss per term and overall; a two-head model on a
CSV learns (its validation loss falls and its accuracy rises)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import invoke

TWO_HEADS = """\
archspec: 1
inputs: {x: {shape: [2]}}
nodes:
  body: {op: linear, out_features: 16}
  act:  {op: relu}
  cls:  {op: linear, in: act, out_features: 2}
  reg:  {op: linear, in: act, out_features: 1}
outputs: {cls: cls, reg: reg}
data:
  train: {csv: rows.csv, fields: {x: [a, b], label: label, value: value, id: id}, batch_size: 32}
  val:   {csv: rows.csv, fields: {x: [a, b], label: label, value: value, id: id}, role: val}
  test:  {csv: rows.csv, fields: {x: [a, b], label: label, value: value, id: id}, role: test}
losses:
  ce:  {fn: cross_entropy, stream: train, pred: cls, target: label}
  fit: {fn: mse, stream: train, pred: reg, target: value}
training:
  optimizer: {name: adam, lr: 0.02}
  epochs: 6
"""


def _rows(tmp: Path, n: int = 400) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2))
    with open(tmp / "rows.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "a", "b", "label", "value"])
        for i, (a, b) in enumerate(x):
            w.writerow([1000 + i, f"{a:.4f}", f"{b:.4f}", int(a + b > 0), f"{a - 2 * b:.4f}"])


def test_a_listed_metric_scores_every_output_it_fits_and_the_model_learns(tmp_path):
    _rows(tmp_path)
    (tmp_path / "spec.yaml").write_text(TWO_HEADS + "  metrics: [accuracy, mse]\n")
    result = invoke("train", tmp_path / "spec.yaml", "--run-dir", tmp_path / "run", "--no-progress")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "run" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    first, last = rows[0], rows[-1]
    for key in ("val_accuracy_cls", "val_mse_reg", "val_loss", "val_loss_ce", "val_loss_fit"):
        assert key in last, (key, list(last))
    assert "val_accuracy_reg" not in last and "val_mse_cls" not in last
    assert float(last["val_loss"]) < 0.5 * float(first["val_loss"])
    assert float(last["val_accuracy_cls"]) > 0.9  # the label (a + b > 0) is learnable
    assert float(last["val_mse_reg"]) < float(first["val_mse_reg"])
    # the end of training names the checkpoint evaluate uses, and scores the test stream with it
    assert "evaluate and predict use the best by val_accuracy_cls (max) checkpoint: " in result.output
    tested = next(line for line in result.output.splitlines() if line.startswith("test: "))
    assert "test_loss_fit" in tested and "_weighted_" not in tested  # as the epoch lines show them
    evaluated = invoke("evaluate", tmp_path / "run", "--role", "test")
    assert evaluated.exit_code == 0
    scores = dict(line.split() for line in evaluated.output.splitlines() if line.startswith("test_"))
    assert f"test_accuracy_cls {float(scores['test_accuracy_cls']):.4g}" in tested
    assert float(scores["test_accuracy_cls"]) > 0.85 and "test_loss" in scores
    # per-class statistics and a confusion matrix whose diagonal is the accuracy
    assert "test cls: class  precision  recall  f1      support" in evaluated.output
    from archspec.training.session import evaluate_run

    reports: list = []
    metrics = evaluate_run(tmp_path / "run", ("test",), device="cpu", reports=reports)
    (report,) = reports
    assert (report.stream, report.output, report.matrix.sum()) == ("test", "cls", 40)
    assert np.trace(report.matrix) / report.matrix.sum() == pytest.approx(metrics["test_accuracy_cls"])
    assert report.recall @ report.support / report.support.sum() == pytest.approx(
        metrics["test_accuracy_cls"]
    )
    png = tmp_path / "run" / "confusion-test-cls.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # predictions: an id column passed through, classes and probabilities
    out = tmp_path / "pred.csv"
    assert invoke("predict", tmp_path / "run", "--classes", "--id", "id", "-o", out).exit_code == 0
    with open(out, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["id", "cls_0", "cls_1", "cls_class", "cls_prob_0", "cls_prob_1", "reg"]
    assert len(table) == 40 and all(1000 <= int(r["id"]) < 1400 for r in table)
    for r in table:
        assert int(r["cls_class"]) == int(float(r["cls_1"]) > float(r["cls_0"]))
        assert abs(float(r["cls_prob_0"]) + float(r["cls_prob_1"]) - 1) < 1e-5


def _validate(tmp: Path, text: str) -> list[str]:
    from archspec.pipeline import validate_file

    _rows(tmp, 20)
    (tmp / "spec.yaml").write_text(text)
    return [e["text"].replace(f"{tmp}/", "") for e in validate_file(str(tmp / "spec.yaml"))["errors"]]


def test_a_listed_metric_that_fits_no_output_is_a_located_error(tmp_path):
    text = TWO_HEADS.replace("  ce:  {fn: cross_entropy, stream: train, pred: cls, target: label}\n", "")
    assert _validate(tmp_path, text + "  metrics: [mse, accuracy]\n") == [
        "spec.yaml:18:18: training.metrics[1]: metric 'accuracy' fits no output: it scores outputs trained by "
        "a classification loss, and the outputs are trained by reg (mse) "
        "(hint: remove it, or choose metrics per output: metrics: {reg: [mse]})"
    ]


def test_per_output_metrics_name_outputs(tmp_path):
    assert _validate(tmp_path, TWO_HEADS + "  metrics: {cls: [accuracy], regg: [mse]}\n") == [
        "spec.yaml:19:30: training.metrics.regg: metrics for unknown output 'regg' (hint: did you mean 'reg'?)"
    ]


ONE_OUTPUT_TWO_TARGETS = """\
archspec: 1
inputs: {x: {shape: [2]}}
nodes:
  body: {op: linear, out_features: 2}
outputs: {out: body}
data:
  train: {csv: rows.csv, fields: {x: [a, b], label: label, pair: [a, b]}, batch_size: 32}
  val:   {csv: rows.csv, fields: {x: [a, b], label: label, pair: [a, b]}, role: val}
losses:
  ce:    {fn: cross_entropy, stream: train, pred: out, target: label}
  recon: {fn: mse, stream: train, pred: out, target: pair, weight: 0.1}
training:
  optimizer: {name: adam, lr: 0.02}
  epochs: 2
"""


def test_an_output_trained_against_two_targets_scores_each_metric_on_the_target_it_fits(tmp_path):
    """accuracy against the class labels of the cross_entropy term, mse against the field the
    mse term reconstructs: never mse against the labels (which used to stop the run)."""
    _rows(tmp_path)
    (tmp_path / "spec.yaml").write_text(ONE_OUTPUT_TWO_TARGETS)
    result = invoke("train", tmp_path / "spec.yaml", "--run-dir", tmp_path / "run", "--no-progress")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "run" / "metrics.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    assert {"val_accuracy", "val_mse", "val_loss_ce", "val_loss_recon"} <= set(last), list(last)
    assert float(last["val_mse"]) == pytest.approx(float(last["val_loss_recon"]), rel=1e-5)
