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
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    from matplotlib.ticker import MaxNLocator

    for ax, (title, keys) in zip(axes, panels.items()):
        for key in keys:
            ax.plot(
                epochs, [row.get(key) for row in history], label=key, marker="." if len(epochs) < 20 else None
            )
        ax.set(title=title, xlabel="epoch", yscale="log" if title == "loss" else "linear")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _panels(row: dict[str, Any]) -> dict[str, list[str]]:
    """One axis per scale: losses (training and validation, log scale), scores in 0..1
    (accuracy, IoU, Dice), and errors in the data's units (mse, mae)."""
    floats = [k for k, v in row.items() if isinstance(v, float) and k not in ("lr", "seconds")]
    losses = [k for k in floats if k.startswith("train_loss") or "_loss" in k]
    errors = [k for k in floats if k not in losses and ("_mse" in k or "_mae" in k)]
    scores = [k for k in floats if k not in losses and k not in errors]
    panels = {"loss": losses, "scores": scores, "errors (mse, mae)": errors}
    return {title: keys for title, keys in panels.items() if keys or title == "loss"}
