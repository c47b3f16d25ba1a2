"""The ``losses:`` section bound to a model and its streams: one weighted sum over terms.

A data term reads a model output (``pred``) on one stream and compares it with a field of that
stream (``target``; a model input's name works too, for reconstruction). A penalty term
(``fn: l1`` or ``l2`` with ``params:``) regularises parameters chosen by part or glob. Each
term is checked against the spec before any tensor is touched, with located errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from archspec.errors import DataError, SchemaError, SpecError, TrainingError, did_you_mean
from archspec.lang.model import Spec
from archspec.lang.runcheck import resolve_term

__all__ = ["LossTerm", "Objective", "bind_objective"]

PENALTIES = ("l1", "l2")


@dataclass
class LossTerm:
    name: str
    fn: str
    weight: float | str  # a number, or a ${...} expression over step, epoch and total_steps
    stream: str | None = None
    pred: str | None = None
    target: str | None = None
    params: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_penalty(self) -> bool:
        return self.stream is None and self.fn in PENALTIES

    def weight_at(self, step: int, epoch: int, total_steps: int) -> float:
        """The term's weight now: constant, or a schedule such as ``${min(1, step / 500)}``."""
        if isinstance(self.weight, (int, float)):
            return float(self.weight)
        from archspec.lang.expr import substitute

        return float(
            substitute(self.weight, {"step": step, "epoch": epoch, "total_steps": max(total_steps, 1)})
        )


@dataclass
class Objective:
    terms: list[LossTerm]
    spec: Spec
    total_steps: int = 1
    penalised: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    fast: dict[str, Any] = field(default_factory=dict)  # term name -> losses.fast_loss(...)

    def __post_init__(self) -> None:
        from archspec.training.losses import fast_loss

        self.fast = {t.name: fast_loss(t.fn, t.options) for t in self.terms if not t.is_penalty}

    def bind_params(self, model: nn.Module) -> None:
        """Resolve each penalty's parameter patterns once, with located errors."""
        from archspec.training.losses import select_params

        for term in self.terms:
            if term.is_penalty:
                try:
                    self.penalised[term.name] = [
                        p for _, p in select_params(model, term.params or "*", self.spec.parts)
                    ]
                except ValueError as exc:
                    raise SchemaError(
                        str(exc), loc=self.spec.doc.loc(("losses", term.name, "params"))
                    ) from None

    @property
    def streams(self) -> list[str]:
        """The training streams the loss reads, in first-use order."""
        return list(dict.fromkeys(t.stream for t in self.terms if t.stream))

    def compute(
        self,
        model: nn.Module,
        outputs: Mapping[str, Mapping[str, torch.Tensor]],
        batches: Mapping[str, Mapping[str, torch.Tensor]],
        step: int,
        epoch: int = 0,
        *,
        check: bool = True,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted total and each term's (unweighted) value; stops on a non-finite term
        unless ``check`` is false (the training loop checks the values it has logged in one
        go at its next host sync, see :meth:`non_finite_error`). A weight of 1 multiplies
        nothing, so a single unit-weight term *is* the total."""
        from archspec.training.losses import penalty

        values: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        fast_losses = self.fast
        for term in self.terms:
            if term.stream is None and term.fn in PENALTIES:
                value = penalty(term.fn, self.penalised[term.name])
            else:
                pred = outputs[term.stream][term.pred]
                target = batches[term.stream][term.target]
                fast = fast_losses.get(term.name)
                value = fast(pred, target) if fast is not None else None
                if value is None:
                    value = self.checked_value(term, pred, target)
            values[term.name] = value
            weight = (
                term.weight
                if isinstance(term.weight, float)
                else term.weight_at(step, epoch, self.total_steps)
            )
            weighted = value if weight == 1.0 else value * weight
            total = weighted if total is None else total + weighted
        assert total is not None
        if check and not torch.isfinite(total.detach()):
            row = [float(total.detach()), *(float(v.detach()) for v in values.values())]
            raise self.non_finite_error(step, row)
        return total, values

    def checked_value(self, term: LossTerm, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """A data term through ``LOSSES`` with its checks: the value, or the located error."""
        from archspec.training.losses import LOSSES

        try:
            return LOSSES[term.fn](pred, target, term.options)
        except ValueError as exc:
            raise self._target_error(term, exc) from None

    def check_labels(self, graph: Any, stream_fields: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        """Every stream's class-index targets fit the classes of their term's pred, checked once
        before training on the host copy of the data, with the loss's own message: on an
        accelerator the loss then only asserts on the device, with no host sync per step."""
        from archspec.graph.shapes import output_shape
        from archspec.training.losses import CLASS_INDEX_LOSSES, check_labels

        for term in self.terms:
            if term.is_penalty or term.fn not in CLASS_INDEX_LOSSES or term.pred not in self.spec.outputs:
                continue
            shape = tuple(output_shape(graph, self.spec.outputs[term.pred].ref))
            if not shape or (term.fn == "dice" and shape[0] < 2):
                continue
            for name, fields in stream_fields.items():
                labels = fields.get(term.target)
                if labels is None or tuple(labels.shape[1:]) == shape:  # absent, or probabilities
                    continue
                try:
                    check_labels(term.fn, term.options, shape[0], labels)
                except ValueError as exc:
                    raise self._target_error(replace(term, stream=name), exc) from None

    def non_finite_error(self, step: int, row: list[float]) -> TrainingError | None:
        """The error for a step whose logged values ``[total, *terms]`` are not all finite, naming
        the first non-finite term (the weighted sum when every term is finite), else None."""
        if all(math.isfinite(v) for v in row):
            return None
        names = [t.name for t in self.terms]
        name, bad = next(((n, v) for n, v in zip(names, row[1:]) if not math.isfinite(v)), ("total", row[0]))
        fn = next((t.fn for t in self.terms if t.name == name), "weighted sum")
        return TrainingError(
            f"loss term {name!r} ({fn}) is {bad} at step {step}; stopping (hint: lower the learning rate, check the data, or run with --detect-anomaly)"
        )

    def _target_error(self, term: LossTerm, exc: ValueError) -> DataError:
        """A target the loss cannot take, located at the term's ``target:`` in the spec."""
        loc = self.spec.doc.loc(("losses", term.name, "target"))
        return DataError(
            f"{loc.prefix()}: {loc.yaml_path}: loss term {term.name!r} on stream {term.stream!r}, target {term.target!r}: {exc} "
            f"(hint: check which field data.{term.stream} gives as {term.target!r}, or choose a loss that fits it)"
        )


def _weight(raw: Any, loc: Any, errors: list[SpecError]) -> float | str:
    """A constant weight, or an expression checked now (at step 0) so typos fail before training."""
    if not isinstance(raw, str):
        return float(raw)
    from archspec.lang.expr import ExprError, substitute

    try:
        value = substitute(raw, {"step": 0, "epoch": 0, "total_steps": 1})
        float(value)
    except (ExprError, TypeError, ValueError) as exc:
        errors.append(
            SchemaError(
                f"invalid loss weight {raw!r}: {getattr(exc, 'message', exc)}",
                loc=loc,
                hint=getattr(exc, "hint", None) or "names available: step, epoch, total_steps",
            )
        )
        return 0.0
    return raw


def bind_objective(spec: Spec, stream_fields: Mapping[str, set[str]]) -> Objective:
    """Check and bind the spec's loss terms (``stream_fields``: each stream's field names)."""
    from archspec.training.losses import LOSSES, check_options

    errors: list[SpecError] = []
    terms: list[LossTerm] = []
    if not spec.losses:
        raise SchemaError(
            "training needs a 'losses:' section",
            loc=spec.doc.loc(()),
            hint="e.g. losses: {nll: {fn: cross_entropy, stream: train, pred: logits, target: label}}",
        )
    train_streams = [s for s in stream_fields if (spec.data.get(s) or {}).get("role", "train") == "train"]
    for name, raw in spec.losses.items():

        def loc(key: str, _name: str = name) -> Any:
            return spec.doc.loc(("losses", _name, key))

        fn = raw["fn"]
        weight = _weight(raw.get("weight", 1.0), loc("weight"), errors)
        if fn in PENALTIES and "params" in raw:
            patterns = raw["params"] if isinstance(raw["params"], list) else [raw["params"]]
            terms.append(LossTerm(name, fn, weight, params=patterns))
            continue
        if fn not in LOSSES:
            errors.append(
                SchemaError(
                    f"unknown loss {fn!r}",
                    loc=loc("fn"),
                    hint=did_you_mean(fn, [*LOSSES, *PENALTIES]) or f"losses: {', '.join(sorted(LOSSES))}",
                )
            )
            continue
        found = resolve_term(spec, name, raw, stream_fields, train_streams)
        if isinstance(found, SpecError):
            errors.append(found)
            continue
        stream, pred, target = found
        options = dict(raw.get("options") or {})
        try:
            check_options(fn, options)
        except ValueError as exc:
            errors.append(SchemaError(str(exc), loc=loc("options")))
            continue
        terms.append(LossTerm(name, fn, weight, stream, pred, target, options=options))
    if errors:
        from archspec.errors import SpecErrors

        raise SpecErrors(errors)
    return Objective(terms, spec)
