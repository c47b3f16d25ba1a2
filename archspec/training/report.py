"""Per-class statistics of a classification output: a confusion matrix, precision, recall and F1
per class (as Ludwig prints by default), and the matrix drawn as a PNG (a matplotlib ``Figure``
with ``FigureCanvasAgg``, never pyplot, so no GUI backend is touched)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archspec.lang.metricplan import CLASS_LOSSES

__all__ = ["ClassReport", "class_reports", "plot_confusion"]


@dataclass
class ClassReport:
    stream: str
    output: str
    matrix: np.ndarray  # [true class, predicted class] counts

    @property
    def support(self) -> np.ndarray:
        return self.matrix.sum(axis=1)

    @property
    def precision(self) -> np.ndarray:
        return _ratio(np.diag(self.matrix), self.matrix.sum(axis=0))

    @property
    def recall(self) -> np.ndarray:
        return _ratio(np.diag(self.matrix), self.support)

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return _ratio(2 * p * r, p + r)

    def lines(self) -> list[str]:
        """A table: one row per class, then the macro average."""
        rows = [f"{self.stream} {self.output}: class  precision  recall  f1      support"]
        for c in range(len(self.matrix)):
            rows.append(
                f"  {c:>5}  {self.precision[c]:9.4f}  {self.recall[c]:6.4f}  {self.f1[c]:6.4f}  {int(self.support[c]):7d}"
            )
        rows.append(
            f"  {'macro':>5}  {self.precision.mean():9.4f}  {self.recall.mean():6.4f}  {self.f1.mean():6.4f}  {int(self.support.sum()):7d}"
        )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "output": self.output,
            "confusion": self.matrix.tolist(),
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "f1": self.f1.tolist(),
            "support": self.support.tolist(),
        }


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


@torch.no_grad()
def class_reports(trainer: Any, roles: tuple[str, ...]) -> list[ClassReport]:
    """A :class:`ClassReport` for every classification output on every stream with these roles."""
    from archspec.training.metrics import Overlap

    reports = []
    trainer.module.eval()
    for name, stream in trainer.streams.items():
        if stream.role not in roles:
            continue
        terms = [t for t in trainer.objective.terms if t.fn in CLASS_LOSSES and t.target in stream.fields]
        pairs = list(dict.fromkeys((t.pred, t.target, t.fn) for t in terms))
        matrices = {
            pair: Overlap("confusion", "iou", 0.5 if pair[2] == "binary_cross_entropy" else 0.0)
            for pair in pairs
        }
        for batch in stream.all_batches():
            batch = {k: v.to(trainer.device) for k, v in batch.items()}
            outputs = trainer.forward(batch)
            for (pred, target, _), matrix in matrices.items():
                matrix.update(outputs[pred].float(), batch[target])
        for (pred, _, _), matrix in matrices.items():
            if matrix.totals is not None:
                reports.append(ClassReport(name, pred, matrix.totals.cpu().numpy().astype(np.int64)))
    return reports


def plot_confusion(report: ClassReport, path: Path, *, log: Callable[[str], None]) -> Path | None:
    """Draw the confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        log("note: install matplotlib (pip install matplotlib) for the confusion-matrix PNG")
        return None
    n = len(report.matrix)
    fig = Figure(figsize=(1.2 + 0.5 * max(n, 4), 1.0 + 0.5 * max(n, 4)))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    image = ax.imshow(report.matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set(
        title=f"{report.stream}: {report.output}",
        xlabel="predicted class",
        ylabel="true class",
        xticks=range(n),
        yticks=range(n),
    )
    if n <= 20:
        top = report.matrix.max() or 1
        for i in range(n):
            for j in range(n):
                value = int(report.matrix[i, j])
                ax.text(
                    j,
                    i,
                    str(value),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > top / 2 else "black",
                )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
