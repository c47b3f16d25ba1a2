"""Which metrics each model output reports: decided from the spec alone, never silently none.

``training.metrics`` as a list applies each metric to every output it fits, judged by the loss
that trains the output: class metrics (``accuracy``, ``topK``, ``iou``, ``dice``) fit outputs
trained by a classification loss, ``mse``/``mae`` outputs trained by a regression loss. A
listed metric that fits no output is a located error. As a mapping, ``{cls: [accuracy], reg:
[mse]}`` picks them per output (the keys must be outputs). An output the setting does not
cover reports its loss's default metrics. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from archspec.errors import SchemaError, SpecError, did_you_mean
from archspec.lang.model import Spec

__all__ = [
    "CLASS_LOSSES",
    "DEFAULT_METRICS",
    "REGRESSION_LOSSES",
    "fits",
    "metric_errors",
    "metrics_by_output",
]

CLASS_LOSSES = ("cross_entropy", "nll", "binary_cross_entropy", "binary_cross_entropy_with_logits", "dice")
REGRESSION_LOSSES = ("mse", "l1", "smooth_l1", "huber")
_CLASS_METRICS = ("accuracy", "top", "iou", "dice")
DEFAULT_METRICS: Mapping[str, tuple[str, ...]] = {
    "cross_entropy": ("accuracy",),
    "nll": ("accuracy",),
    "binary_cross_entropy": ("accuracy:0.5",),
    "binary_cross_entropy_with_logits": ("accuracy",),
    "dice": ("dice", "iou"),
    "mse": ("mse",),
    "l1": ("mae",),
    "smooth_l1": ("mae",),
    "huber": ("mae",),
}


Labels = Callable[[str, str], "bool | None"]  # (stream, target) -> holds class labels? None: unknown


def _unknown(stream: str, target: str) -> bool | None:
    return None


def _trained_by(spec: Spec, labels: Labels) -> dict[str, list[tuple[str, bool | None]]]:
    """Output -> (loss function, whether its target holds class labels) per data term."""
    out: dict[str, list[tuple[str, bool | None]]] = {}
    train = [s for s in spec.data if (spec.data[s] or {}).get("role", "train") == "train"]
    for raw in spec.losses.values():
        if not isinstance(raw, Mapping) or "params" in raw and raw.get("fn") in ("l1", "l2"):
            continue
        pred = raw.get("pred") or (next(iter(spec.outputs)) if len(spec.outputs) == 1 else None)
        stream = raw.get("stream") or (train[0] if len(train) == 1 else "")
        target = str(raw.get("target", "")).removeprefix("input:")
        if pred in spec.outputs:
            out.setdefault(pred, []).append((str(raw.get("fn")), labels(str(stream), target)))
    return out


def fits(metric: str, loss_fn: str, labels: bool | None = False) -> bool:
    """Whether ``metric`` can score an output trained by ``loss_fn``: class metrics fit a
    classification loss, or any loss whose target holds class labels (``mse`` against digit
    labels, one-hot inside the loss); ``mse``/``mae`` fit a regression loss. ``labels`` None
    (not known before the data is read) gives a class metric the benefit of the doubt."""
    if metric.startswith(_CLASS_METRICS):
        return loss_fn in CLASS_LOSSES or labels is not False
    return loss_fn in REGRESSION_LOSSES


def metrics_by_output(spec: Spec, labels: Labels = _unknown) -> dict[str, list[str]]:
    """Output -> its metrics (see the module docstring); call :func:`metric_errors` first."""
    chosen = spec.training.get("metrics")
    out: dict[str, list[str]] = {}
    for pred, terms in _trained_by(spec, labels).items():
        defaults = list(dict.fromkeys(m for fn, _ in terms for m in DEFAULT_METRICS.get(fn, ())))
        if isinstance(chosen, Mapping):
            names = list(chosen[pred]) if pred in chosen else defaults
        elif chosen:
            names = [m for m in chosen if any(fits(m, fn, lab) for fn, lab in terms)]
        else:
            names = defaults
        out[pred] = names
    return out


def metric_errors(spec: Spec, labels: Labels = _unknown) -> list[SpecError]:
    """A listed metric that fits no output, or a per-output key that is not an output."""
    chosen = spec.training.get("metrics")
    trained = _trained_by(spec, labels)
    errors: list[SpecError] = []
    if isinstance(chosen, Mapping):
        for key in chosen:
            if key not in spec.outputs:
                errors.append(
                    SchemaError(
                        f"metrics for unknown output {key!r}",
                        loc=spec.doc.loc(("training", "metrics", key), key=True),
                        hint=did_you_mean(key, spec.outputs) or f"outputs: {', '.join(spec.outputs)}",
                    )
                )
        return errors
    if not isinstance(chosen, list) or not trained:
        return errors
    for i, metric in enumerate(chosen):
        if isinstance(metric, str) and not any(
            fits(metric, fn, lab) for t in trained.values() for fn, lab in t
        ):
            errors.append(_fits_nothing(spec, i, metric, trained))
    return errors


def _fits_nothing(
    spec: Spec, index: int, metric: str, trained: Mapping[str, list[tuple[str, bool | None]]]
) -> SpecError:
    kind = "a classification loss" if metric.startswith(_CLASS_METRICS) else "a regression loss"
    fns = {k: [fn for fn, _ in v] for k, v in trained.items()}
    outputs = ", ".join(f"{k} ({'/'.join(v)})" for k, v in fns.items())
    example = ", ".join(f"{k}: [{', '.join(_suggest(v)) or '...'}]" for k, v in fns.items())
    return SchemaError(
        f"metric {metric!r} fits no output: it scores outputs trained by {kind}, and the outputs are trained by {outputs}",
        loc=spec.doc.loc(("training", "metrics", index)),
        hint=f"remove it, or choose metrics per output: metrics: {{{example}}}",
    )


def _suggest(fns: list[str]) -> list[str]:
    return list(dict.fromkeys(m for fn in fns for m in DEFAULT_METRICS.get(fn, ())))
