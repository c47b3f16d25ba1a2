"""Loss and metric curves as a PNG (matplotlib, when installed).

Drawn on a ``Figure`` with its own Agg canvas: pyplot is never imported and the backend is never
switched, so a notebook that uses archspec as a library keeps its own."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["WEIGHTED", "panel_series", "plot_history"]

WEIGHTED = "_weighted_"  # metrics.csv: <stream>_weighted_<term>, the term times its weight


def plot_history(
    history: list[dict[str, Any]],
    path: Path,
    *,
    log: Callable[[str], None],
    weights: Mapping[str, float | str] | None = None,
) -> Path | None:
    """Draw ``history`` (metrics.csv's rows) to ``path``; ``weights`` are the loss terms' weights
    (numbers, or the ``${...}`` text of a schedule), for the weighted terms' labels."""
    if not history:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log("note: install matplotlib (pip install matplotlib) for curves.png; metrics.csv has the numbers")
        return None
    epochs = [row["epoch"] for row in history]
    panels = panel_series(history, weights or {})
    fig = Figure(figsize=(5 * len(panels), 3.6))
    FigureCanvasAgg(fig)  # the figure draws to PNG through this canvas, whatever the backend
    # Fixed margins rather than tight_layout, and plain tick labels rather than mathtext: each
    # costs a text-measuring pass over every label, which made drawing the figure take longer
    # than a small run's whole training.
    fig.subplots_adjust(left=0.8 / (5 * len(panels)), right=0.98, bottom=0.14, top=0.9, wspace=0.28)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    from matplotlib.ticker import MaxNLocator

    for ax, (title, series) in zip(axes, panels.items()):
        for label, values in series:
            ax.plot(epochs, values, label=label, marker="." if len(epochs) < 20 else None)
        ax.set(xlabel="epoch", yscale="log" if title == "loss" else "linear")
        ax.set_title(title, y=1.0)  # a fixed place: an automatic one measures every tick label again
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if title == "loss":
            plain = _plain_log()
            ax.yaxis.set_major_formatter(plain())
            ax.yaxis.set_minor_formatter(plain(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    return path


@functools.cache
def _plain_log() -> type:
    """matplotlib's log-axis labels (the ticks it labels, as by default) written as plain numbers
    (``0.3``) instead of mathtext, whose layout is the slowest part of drawing. Made on first use:
    matplotlib is imported only when a figure is drawn."""
    from matplotlib.ticker import LogFormatter

    class PlainLog(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if super().__call__(x, pos) else ""

    return PlainLog


def panel_series(
    history: list[dict[str, Any]], weights: Mapping[str, float | str]
) -> dict[str, list[tuple[str, list[Any]]]]:
    """What each panel draws: ``(legend label, one value per epoch)``. With several loss terms
    the loss panel shows each term as it enters the total — the ``<stream>_weighted_<term>``
    columns, labelled ``train: 0.1 × recon`` — beside the total, which they sum to; the raw
    ``<stream>_loss_<term>`` columns stay in metrics.csv."""
    return {
        title: [(_label(key, weights), [row.get(key) for row in history]) for key in keys]
        for title, keys in _panels(history[-1]).items()
    }


def _label(key: str, weights: Mapping[str, float | str]) -> str:
    stream, sep, term = key.partition(WEIGHTED)
    if not sep:
        return key
    weight = weights.get(term)
    factor = "λ(step)" if isinstance(weight, str) else "λ" if weight is None else f"{weight:g}"
    return f"{stream}: {factor} × {term}"


def _panels(row: dict[str, Any]) -> dict[str, list[str]]:
    """One axis per scale: losses (training and validation, log scale; weighted terms rather
    than raw ones), scores in 0..1 (accuracy, IoU, Dice), and errors in the data's units."""
    floats = [k for k, v in row.items() if isinstance(v, float) and k not in ("lr", "seconds")]
    weighted = [k for k in floats if WEIGHTED in k]
    raw = {k.replace(WEIGHTED, "_loss_", 1) for k in weighted}  # shown weighted instead
    terms = [k for k in floats if k.startswith("train_loss_")]
    if len(terms) == 1 and not weighted:
        raw.add(terms[0])  # the only term is the total: one line, not two on top of each other
    losses = [k for k in floats if k not in raw and (k.startswith("train_loss") or "_loss" in k)]
    losses += weighted
    errors = [k for k in floats if k not in losses and k not in raw and ("_mse" in k or "_mae" in k)]
    scores = [k for k in floats if k not in losses and k not in errors and k not in raw]
    panels = {"loss": losses, "scores": scores, "errors (mse, mae)": errors}
    return {title: keys for title, keys in panels.items() if keys or title == "loss"}
