"""Loss and metric curves as a PNG (matplotlib, when installed).

Drawn on a ``Figure`` with its own Agg canvas: pyplot is never imported and the backend is never
switched, so a notebook that uses archspec as a library keeps its own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["plot_history"]


def plot_history(history: list[dict[str, Any]], path: Path, *, log: Callable[[str], None]) -> Path | None:
    if not history:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log("note: install matplotlib (pip install matplotlib) for curves.png; metrics.csv has the numbers")
        return None
    epochs = [row["epoch"] for row in history]
    panels = _panels(history[-1])
    fig = Figure(figsize=(5 * len(panels), 3.6))
    FigureCanvasAgg(fig)  # the figure draws to PNG through this canvas, whatever the backend
    # Fixed margins rather than tight_layout, and plain tick labels rather than mathtext: each
    # costs a text-measuring pass over every label, which made drawing the figure take longer
    # than a small run's whole training.
    fig.subplots_adjust(left=0.8 / (5 * len(panels)), right=0.98, bottom=0.14, top=0.9, wspace=0.28)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    from matplotlib.ticker import LogFormatter, MaxNLocator

    for ax, (title, keys) in zip(axes, panels.items()):
        for key in keys:
            ax.plot(
                epochs, [row.get(key) for row in history], label=key, marker="." if len(epochs) < 20 else None
            )
        ax.set(title=title, xlabel="epoch", yscale="log" if title == "loss" else "linear")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if title == "loss":
            ax.yaxis.set_major_formatter(_plain_log(LogFormatter)())
            ax.yaxis.set_minor_formatter(
                _plain_log(LogFormatter)(labelOnlyBase=False, minor_thresholds=(2, 0.4))
            )
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    return path


def _plain_log(base: type) -> type:
    """matplotlib's log-axis labels (which minor ticks get one, as by default) written as plain
    numbers (``0.3``) instead of mathtext, whose layout is the slowest part of drawing."""

    class PlainLog(base):  # type: ignore[misc, valid-type]
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:g}"

    return PlainLog


def _panels(row: dict[str, Any]) -> dict[str, list[str]]:
    """One axis per scale: losses (training and validation, log scale), scores in 0..1
    (accuracy, IoU, Dice), and errors in the data's units (mse, mae)."""
    floats = [k for k, v in row.items() if isinstance(v, float) and k not in ("lr", "seconds")]
    losses = [k for k in floats if k.startswith("train_loss") or "_loss" in k]
    errors = [k for k in floats if k not in losses and ("_mse" in k or "_mae" in k)]
    scores = [k for k in floats if k not in losses and k not in errors]
    panels = {"loss": losses, "scores": scores, "errors (mse, mae)": errors}
    return {title: keys for title, keys in panels.items() if keys or title == "loss"}
