"""curves.png: drawn without touching the caller's matplotlib (no pyplot, no backend switch)."""

from __future__ import annotations

import sys

import pytest

from archspec.training.plots import plot_history

HISTORY = [
    {"epoch": 1, "step": 10, "lr": 0.01, "seconds": 0.5, "train_loss": 1.2, "val_accuracy": 0.6},
    {"epoch": 2, "step": 20, "lr": 0.01, "seconds": 0.9, "train_loss": 0.7, "val_accuracy": 0.8},
]


def test_curves_are_drawn_without_pyplot_and_leave_the_users_backend_as_it_was(tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    monkeypatch.setitem(matplotlib.rcParams, "backend", "pdf")  # stands for a notebook's own backend
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # any `import matplotlib.pyplot` fails
    logs: list[str] = []

    out = plot_history(HISTORY, tmp_path / "curves.png", log=logs.append)

    assert out == tmp_path / "curves.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert logs == []
    assert matplotlib.get_backend() == "pdf"


def test_a_single_loss_term_is_one_line_the_total_not_two_on_top_of_each_other():
    from archspec.training.plots import panel_series

    history = [
        {**row, "train_loss_ce": row["train_loss"], "val_loss": row["train_loss"] / 2} for row in HISTORY
    ]
    panels = panel_series(history, {})
    assert [label for label, _ in panels["loss"]] == ["train_loss", "val_loss"]
    assert [label for label, _ in panels["scores"]] == ["val_accuracy"]


def test_an_empty_history_draws_nothing(tmp_path):
    assert plot_history([], tmp_path / "curves.png", log=print) is None
    assert not (tmp_path / "curves.png").exists()


TWO_TERMS = """\
archspec: 1
name: two
inputs:
  x: {shape: [4]}
nodes:
  a: {op: linear, out_features: 3}
outputs: {logits: a}
data:
  t: {npz: data.npz, split: all, batch_size: 8}
  v: {npz: val.npz, split: all, batch_size: 16, role: val}
losses:
  ce: {fn: cross_entropy, stream: t, pred: logits, target: y}
  recon: {fn: mse, stream: t, pred: logits, target: z, weight: WEIGHT}
  l2: {fn: l2, params: "*", weight: 0.01}
training: {optimizer: {name: sgd, lr: 0.1}, epochs: 3, metrics: {logits: [accuracy]}}
"""


@pytest.mark.parametrize("weight", ["0.1", '"${min(1, step / 6)}"'])
def test_the_loss_panel_plots_each_term_weighted_and_they_sum_to_the_total(tmp_path, weight):
    """A scheduled weight changes within an epoch, so the weighted column is the epoch's mean of
    weight x term per step (what entered the total), never the weight times the mean term."""
    import numpy as np

    from archspec.pipeline import analyse, load
    from archspec.training.plots import panel_series
    from archspec.training.runner import Trainer
    from tests.conftest import quiet

    rng = np.random.RandomState(0)
    x = rng.randn(32, 4).astype("float32")
    for name in ("data", "val"):
        np.savez(tmp_path / f"{name}.npz", x=x, y=np.arange(32) % 3, z=rng.randn(32, 3).astype("float32"))
    (tmp_path / "spec.yaml").write_text(TWO_TERMS.replace("WEIGHT", weight))
    trainer = Trainer(analyse(load(tmp_path / "spec.yaml")), quiet(tmp_path / "run"))
    history = trainer.run().history
    weights = {t.name: t.weight for t in trainer.objective.terms}

    loss = dict(panel_series(history, weights)["loss"])
    factor = "0.1" if weight == "0.1" else "λ(step)"
    for stream in ("train", "v"):
        parts = [f"{stream}: 1 × ce", f"{stream}: {factor} × recon", f"{stream}: 0.01 × l2"]
        assert set(parts) <= set(loss)
        for epoch, total in enumerate(loss[f"{stream}_loss"]):
            assert sum(loss[p][epoch] for p in parts) == pytest.approx(total, rel=1e-5)
    assert not any(key.startswith(("train_loss_", "v_loss_")) for key in loss)  # raw terms: metrics.csv only
    raw = [row["train_loss_recon"] for row in history]
    if weight == "0.1":
        assert loss["train: 0.1 × recon"] == pytest.approx([0.1 * r for r in raw])
    else:  # epoch 1 runs steps 0..3 at weights 0, 1/6, 2/6, 3/6: below the last weight x the mean
        assert 0 < loss["train: λ(step) × recon"][0] < 0.5 * raw[0]


def test_log_axis_labels_are_plain_numbers_not_mathtext():
    """mathtext layout was the slowest part of drawing curves.png: the loss axis says 0.3."""
    pytest.importorskip("matplotlib")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from archspec.training.plots import _plain_log

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([1, 2, 3], [0.5, 0.3, 0.15])
    ax.set_yscale("log")
    plain = _plain_log()
    ax.yaxis.set_major_formatter(plain())
    ax.yaxis.set_minor_formatter(plain(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels(which="both") if t.get_text()]
    assert labels and not any("$" in text for text in labels)
    assert {"0.2", "0.3", "0.4"} <= set(labels)
