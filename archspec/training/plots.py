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
    losses = [k for k in history[-1] if k.startswith("train_loss")]
    metrics = [
        k
        for k, v in history[-1].items()
        if isinstance(v, float) and k not in losses and k not in ("lr", "seconds")
    ]
    fig = Figure(figsize=(10, 3.6))
    FigureCanvasAgg(fig)  # the figure draws to PNG through this canvas, whatever the backend
    axes = fig.subplots(1, 2)
    for key in losses:
        axes[0].plot(epochs, [row.get(key) for row in history], label=key.removeprefix("train_"))
    axes[0].set(title="training loss", xlabel="epoch", yscale="log")
    for key in metrics:
        axes[1].plot(epochs, [row.get(key) for row in history], label=key)
    axes[1].set(title="validation", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
