"""Streaming evaluation metrics: ``update`` per batch, ``compute`` once, ``reset`` per epoch.

``make_metric(name)`` builds one by name:

==============  ==========================================================  ======
accuracy        share of correct predictions (per pixel for dense outputs)  max
accuracy:T      the same, single-output threshold T (``accuracy:0.5`` for    max
                probabilities; plain ``accuracy`` thresholds logits at 0)
top5, topk:K    the target is among the K highest scores                     max
iou             mean intersection-over-union over the classes present in     max
                target or prediction, over the whole evaluation
dice            mean Dice (F1) over the same classes                          max
mse, mae        mean squared / absolute error per element                     min
==============  ==========================================================  ======

Predictions and targets: ``[N, C, ...]`` class scores with class-index targets ``[N, ...]``
(the predicted class is the argmax over dim 1; targets outside ``0..C-1``, such as an ignore
index, are skipped); ``[N, C, ...]`` scores with soft or one-hot targets of the same shape (both
argmax'd); or one score per element (``[N]``, ``[N, 1, H, W]``, multi-label ``[N, K]`` with
integer targets): binary, predicted positive above the threshold, two classes for ``iou`` and
``dice``.

Each metric's state is one additive ``totals`` tensor (counts, sums, a confusion matrix), so
data-parallel workers combine with a single ``all_reduce(metric.totals)``. Nothing syncs with
the device before ``compute``. ``metric.mode`` says whether higher (``"max"``) or lower
(``"min"``) is better, for early stopping and best-checkpoint selection.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from archspec.errors import did_you_mean

__all__ = ["METRICS", "Metric", "default_metrics", "make_metric"]

METRICS = ("accuracy", "top5", "topk:K", "iou", "dice", "mse", "mae")


class Metric:
    """Base class: subclasses define ``_update`` (returns the batch's totals) and ``_compute``."""

    mode = "max"

    def __init__(self, name: str) -> None:
        self.name = name
        self.totals: Tensor | None = None

    def update(self, pred: Tensor, target: Tensor) -> None:
        with torch.no_grad():
            batch = self._update(pred.detach(), target.detach())
        if self.totals is None or self.totals.shape != batch.shape:
            if self.totals is not None:
                raise ValueError(
                    f"metric {self.name!r}: this batch has a different number of classes than earlier ones"
                )
            self.totals = batch
        else:
            self.totals += batch

    def compute(self) -> float:
        """The metric over everything since the last reset (nan when nothing was seen)."""
        return float("nan") if self.totals is None else self._compute(self.totals.double().cpu())

    def reset(self) -> None:
        self.totals = None

    def _update(self, pred: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def _compute(self, totals: Tensor) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# -- turning scores into labels --------------------------------------------------------------------


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(["N", *map(str, t.shape[1:])]) + "]" if t.ndim else "[]"


def _labels(name: str, pred: Tensor, target: Tensor, threshold: float) -> tuple[Tensor, Tensor, int]:
    """Predicted and true class labels (same shape, int64) and the number of classes."""
    if (
        pred.ndim == target.ndim >= 2
        and target.shape[1] == 1 < pred.shape[1]
        and target.shape[2:] == pred.shape[2:]
    ):
        target = target.squeeze(1)  # [N, 1, H, W] class indices for [N, C, H, W] scores
    if pred.ndim == target.ndim + 1:
        if tuple(target.shape) != (pred.shape[0], *pred.shape[2:]):
            raise ValueError(f"metric {name!r}: target {_shape(target)} does not fit pred {_shape(pred)}")
        if pred.shape[1] == 1:
            return (pred.squeeze(1) > threshold).long(), target.long(), 2
        return pred.argmax(dim=1), target.long(), pred.shape[1]
    if pred.shape != target.shape:
        if pred.numel() == target.numel() and pred.shape[0] == target.shape[0]:
            target = target.reshape(pred.shape)
        else:
            raise ValueError(f"metric {name!r}: target {_shape(target)} does not fit pred {_shape(pred)}")
    if target.is_floating_point() and pred.ndim >= 2 and pred.shape[1] > 1:  # soft / one-hot targets
        return pred.argmax(dim=1), target.argmax(dim=1), pred.shape[1]
    truth = (target > 0.5) if target.is_floating_point() else target
    return (pred > threshold).long(), truth.long(), 2


def _valid(truth: Tensor, classes: int) -> Tensor:
    return (truth >= 0) & (truth < classes)


class Accuracy(Metric):
    def __init__(self, name: str, threshold: float = 0.0) -> None:
        super().__init__(name)
        self.threshold = threshold

    def _update(self, pred: Tensor, target: Tensor) -> Tensor:
        guess, truth, classes = _labels(self.name, pred, target, self.threshold)
        ok = _valid(truth, classes)
        correct = ((guess == truth) & ok).sum()
        return torch.stack([correct, ok.sum()]).double()

    def _compute(self, totals: Tensor) -> float:
        return float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")


class TopK(Accuracy):
    def __init__(self, name: str, k: int) -> None:
        super().__init__(name)
        self.k = k

    def _update(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.ndim < 2 or pred.shape[1] < self.k:
            raise ValueError(
                f"metric {self.name!r} needs pred [N, C, ...] with at least {self.k} classes, got {_shape(pred)}"
            )
        guess, truth, classes = _labels(self.name, pred, target, 0.0)
        ok = _valid(truth, classes)
        top = pred.topk(self.k, dim=1).indices  # [N, k, ...]
        hit = (top == truth.clamp(0, classes - 1).unsqueeze(1)).any(dim=1) & ok
        return torch.stack([hit.sum(), ok.sum()]).double()


class Overlap(Metric):
    """IoU or Dice from a confusion matrix accumulated over the whole evaluation."""

    def __init__(self, name: str, kind: str, threshold: float = 0.0) -> None:
        super().__init__(name)
        self.kind = kind
        self.threshold = threshold

    def _update(self, pred: Tensor, target: Tensor) -> Tensor:
        guess, truth, classes = _labels(self.name, pred, target, self.threshold)
        ok = _valid(truth, classes)
        index = truth[ok] * classes + guess[ok]
        return torch.bincount(index, minlength=classes * classes).view(classes, classes).double()

    def _compute(self, totals: Tensor) -> float:
        hits = totals.diagonal()
        size = totals.sum(0) + totals.sum(1)  # |pred_c| + |true_c|
        present = size > 0
        if not bool(present.any()):
            return float("nan")
        if self.kind == "iou":
            scores = hits / (size - hits)
        else:
            scores = 2 * hits / size
        return float(scores[present].mean())


class Regression(Metric):
    mode = "min"

    def __init__(self, name: str, power: int) -> None:
        super().__init__(name)
        self.power = power

    def _update(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape:
            core_p = [d for d in pred.shape[1:] if d != 1]
            core_t = [d for d in target.shape[1:] if d != 1]
            if pred.ndim == 0 or target.ndim == 0 or pred.shape[0] != target.shape[0] or core_p != core_t:
                raise ValueError(
                    f"metric {self.name!r} needs pred and target of the same shape, got {_shape(pred)} and {_shape(target)}"
                )
            target = target.reshape(pred.shape)
        diff = pred.double() - target.double() if pred.device.type != "mps" else pred.float() - target.float()
        err = diff.abs() if self.power == 1 else diff.pow(2)
        return torch.stack([err.sum(), torch.tensor(float(err.numel()), dtype=err.dtype, device=err.device)])

    def _compute(self, totals: Tensor) -> float:
        return float(totals[0] / totals[1]) if totals[1] > 0 else float("nan")


# -- by name -------------------------------------------------------------------------------------

_TOPK = re.compile(r"^top(?:k:)?(\d+)$")


def make_metric(name: str) -> Metric:
    """A fresh metric by name (see the module docstring); unknown names raise ``ValueError``."""
    base, _, arg = name.partition(":")
    if m := _TOPK.match(name):
        k = int(m.group(1))
        if k < 1:
            raise ValueError(f"metric {name!r}: k must be at least 1")
        return TopK(f"top{k}", k)
    if base in ("accuracy", "iou", "dice") and arg:
        try:
            threshold = float(arg)
        except ValueError:
            raise ValueError(f"metric {name!r}: the part after ':' is a threshold, e.g. {base}:0.5") from None
    else:
        threshold = 0.0
        if arg:
            raise ValueError(f"metric {base!r} takes no ':' argument, got {name!r}")
    if base == "accuracy":
        return Accuracy(base, threshold)
    if base in ("iou", "dice"):
        return Overlap(base, base, threshold)
    if base in ("mse", "mae"):
        return Regression(base, 2 if base == "mse" else 1)
    hint = did_you_mean(name, ["accuracy", "top5", "iou", "dice", "mse", "mae"])
    raise ValueError(
        f"unknown metric {name!r} (expected one of {', '.join(METRICS)}{'; ' + hint if hint else ''})"
    )


def default_metrics(loss_fn_name: str) -> list[str]:
    """The metrics worth reporting for a loss when ``training.metrics`` names none."""
    from archspec.lang.metricplan import DEFAULT_METRICS

    return list(DEFAULT_METRICS.get(loss_fn_name, ()))
