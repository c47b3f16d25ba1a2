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


def test_an_empty_history_draws_nothing(tmp_path):
    assert plot_history([], tmp_path / "curves.png", log=print) is None
    assert not (tmp_path / "curves.png").exists()
