"""The search space of a sweep: the spec's ``search:`` section, read and checked without torch.

::

    search:
      metric: val_accuracy                 # default: the validation metric the run reports first
      objectives: [params]                 # also minimise these budgets: a Pareto front
      sampler: tpe                         # tpe (default), random, grid
      pruner: median                       # median (default), hyperband, none
      space:
        params.width: {int: [16, 128], step: 16}
        training.optimizer.lr: {float: [1.0e-4, 1.0e-1], log: true}
        training.optimizer.name: {choice: [adam, sgd]}
        training.optimizer.momentum: {float: [0.0, 0.95], when: {training.optimizer.name: sgd}}

Each key of ``space`` is a dotted path into the spec, exactly as ``--set`` takes it; a trial's
values become ``--set`` items, so a trial is the spec with overrides, like any run. The JSON
Schema checks the shapes of these entries; :func:`read_space` checks the rest (the path exists,
the range is not empty, a condition reads an earlier entry) and reports every mistake located
in the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archspec.errors import Location, SchemaError, SpecError, SpecErrors, did_you_mean
from archspec.lang.loader import Document
from archspec.lang.model import Spec

__all__ = ["BUDGETS", "Dim", "SearchSpace", "read_space"]

#: Budgets that can be objectives (minimised), as ``totals(graph)`` names them.
BUDGETS = ("params", "macs")
_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Dim:
    """One searched value: ``kind`` is ``int``, ``float`` or ``choice``."""

    path: str
    kind: str
    low: float = 0
    high: float = 0
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    loc: Location = field(default_factory=Location, compare=False)

    def active(self, values: Mapping[str, Any]) -> bool:
        """Does every condition hold for the values sampled so far?"""
        return all(path in values and values[path] in allowed for path, allowed in self.when)

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this value."""
        if self.kind == "int":
            return trial.suggest_int(
                self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        if self.kind == "float":
            return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.log)
        if all(isinstance(c, _PLAIN) for c in self.choices):
            return trial.suggest_categorical(self.path, list(self.choices))
        # Optuna stores plain values only: lists and mappings are chosen by their JSON text
        picked = trial.suggest_categorical(self.path, [json.dumps(c) for c in self.choices])
        return json.loads(picked)

    def grid(self) -> list[Any]:
        """Every value of this entry, for grid search."""
        if self.kind == "choice":
            return [c if isinstance(c, _PLAIN) else json.dumps(c) for c in self.choices]
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        count = int(round((self.high - self.low) / float(self.step or 1))) + 1
        return [round(self.low + i * float(self.step or 1), 12) for i in range(count)]


@dataclass(frozen=True)
class SearchSpace:
    """What a sweep searches, what it optimises and how."""

    dims: tuple[Dim, ...]
    metric: str
    direction: str
    objectives: tuple[str, ...] = ()
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0

    def sample(self, trial: Any) -> dict[str, Any]:
        """One candidate's values, in ``space`` order; entries whose ``when`` fails are skipped."""
        values: dict[str, Any] = {}
        for dim in self.dims:
            if dim.active(values):
                values[dim.path] = dim.suggest(trial)
        return values

    @staticmethod
    def overrides(values: Mapping[str, Any]) -> list[str]:
        """The values as ``--set`` items (JSON is YAML 1.2, so they read back exactly)."""
        return [f"{path}={json.dumps(value)}" for path, value in values.items()]

    @property
    def directions(self) -> list[str]:
        return [self.direction, *("minimize" for _ in self.objectives)]

    @property
    def names(self) -> list[str]:
        """The objectives' names, in the order of a trial's values."""
        return [self.metric, *self.objectives]

    def grid(self) -> dict[str, list[Any]]:
        return {dim.path: dim.grid() for dim in self.dims}


def read_space(
    spec: Spec, *, sampler: str | None = None, pruner: str | None = None, seed: int | None = None
) -> SearchSpace:
    """The checked search space of a loaded spec; ``sampler``/``pruner``/``seed`` (the command's
    options) win over the section's. Every mistake is raised at once, located."""
    doc = spec.doc
    raw = doc.data.get("search")
    if not isinstance(raw, Mapping):
        raise SchemaError(
            "this spec has no 'search:' section to sweep over",
            loc=doc.loc(()),
            hint="add one, e.g. search: {space: {training.optimizer.lr: {float: [1.0e-4, 1.0e-1], log: true}}}",
        )
    errors: list[SpecError] = []
    dims: list[Dim] = []
    for path, entry in (raw.get("space") or {}).items():
        try:
            dims.append(_read_dim(doc, path, entry, dims))
        except SpecError as exc:
            errors.append(exc)
    metric = raw.get("metric") or _default_metric(spec)
    objectives = tuple(raw.get("objectives") or ())
    space = SearchSpace(
        dims=tuple(dims),
        metric=metric,
        direction=raw.get("direction") or _direction_of(metric),
        objectives=objectives,
        sampler=sampler or raw.get("sampler") or "tpe",
        pruner=pruner or raw.get("pruner") or ("none" if objectives else "median"),
        seed=int(seed if seed is not None else raw.get("seed", spec.seed)),
    )
    errors += _check_strategy(doc, space, dims)
    if errors:
        raise SpecErrors(errors)
    return space


def fingerprint(spec: Spec) -> str:
    """Identifies a spec (text as resolved, with its overrides) so that a sweep directory is
    never resumed with another spec or search space."""
    text = json.dumps(spec.doc.data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- one entry -----------------------------------------------------------------------------------


def _read_dim(doc: Document, path: str, entry: Mapping[str, Any], earlier: Sequence[Dim]) -> Dim:
    where = ("search", "space", path)
    loc = doc.loc(where, key=True)
    _check_path(doc, path, loc)
    when = _read_when(doc, entry.get("when") or {}, earlier, where)
    if "choice" in entry:
        return Dim(path, "choice", choices=tuple(entry["choice"]), when=when, loc=loc)
    kind = "int" if "int" in entry else "float"
    low, high = entry[kind]
    step, log = entry.get("step"), bool(entry.get("log", False))
    at = doc.loc((*where, kind))
    if not low < high:
        raise SchemaError(
            f"the range [{low}, {high}] is empty: the low end must be below the high end", loc=at
        )
    if log and step is not None:
        raise SchemaError(
            "give 'step' or 'log: true', not both", loc=doc.loc(where), hint="a log scale has no even steps"
        )
    if log and low <= (0 if kind == "float" else 0.5):
        raise SchemaError(
            f"a log scale needs a positive low end, got {low!r}",
            loc=at,
            hint="start the range above 0" if kind == "float" else "start the range at 1",
        )
    return Dim(path, kind, low, high, step, log, when=when, loc=loc)


def _check_path(doc: Document, path: str, loc: Location) -> None:
    """Every segment but the last must exist (a typo would otherwise search nothing); the last
    may be new (``momentum`` an optimiser does not yet set), except a ``params`` name, which
    nothing would read."""
    parts = path.split(".")
    if parts[0] in ("search", "archspec"):
        raise SchemaError(f"{parts[0]!r} cannot be searched", loc=loc)
    target: Any = doc.data
    for i, part in enumerate(parts[:-1] if parts[:1] != ["params"] else parts):
        if isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
            continue
        if isinstance(target, Mapping) and part in target:
            target = target[part]
            continue
        prefix = ".".join(parts[:i]) or "the spec"
        have = list(target) if isinstance(target, Mapping) else []
        hint = did_you_mean(part, have) or (f"{prefix} has: {', '.join(map(str, have))}" if have else None)
        raise SchemaError(f"{prefix} has no {part!r}", loc=loc, hint=hint)


def _read_when(
    doc: Document, when: Mapping[str, Any], earlier: Sequence[Dim], where: tuple[str, ...]
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    by_path = {d.path: d for d in earlier}
    out = []
    for path, allowed in when.items():
        loc = doc.loc((*where, "when", path), key=True)
        if path not in by_path:
            raise SchemaError(
                f"condition on {path!r}, which is not an earlier entry of search.space",
                loc=loc,
                hint=did_you_mean(path, by_path)
                or "a condition reads a value chosen before it: list that entry first",
            )
        values = tuple(allowed) if isinstance(allowed, list) else (allowed,)
        dim = by_path[path]
        never = [v for v in values if dim.kind == "choice" and v not in dim.choices]
        if never:
            raise SchemaError(
                f"{path!r} never takes {never[0]!r}; its choices are {list(dim.choices)!r}", loc=loc
            )
        out.append((path, values))
    return tuple(out)


# -- what is optimised, and how -----------------------------------------------------------------


def _default_metric(spec: Spec) -> str:
    """The value the runner itself watches: ``early_stopping.metric``, else the first metric on
    the first validation stream, else the training loss."""
    from archspec.training.metrics import default_metrics

    training = spec.training
    stopping = training.get("early_stopping") or {}
    if stopping.get("metric"):
        return str(stopping["metric"])
    val = [name for name, raw in spec.data.items() if (raw or {}).get("role") == "val"]
    chosen = training.get("metrics")
    if isinstance(chosen, list) and chosen:
        first = chosen[0]
    elif isinstance(chosen, Mapping) and chosen:
        first = next(iter(chosen.values()))[0]
    else:
        fns = [t.get("fn") for t in spec.losses.values() if t.get("stream")]
        first = next((m for fn in fns for m in default_metrics(fn)), None)
    if not val or first is None:
        return "train_loss"
    suffix = ""
    if len(spec.outputs) > 1:
        term = next((t for t in spec.losses.values() if t.get("pred")), {})
        suffix = f"_{term.get('pred', next(iter(spec.outputs)))}"
    return f"{val[0]}_{first}{suffix}"


def _direction_of(metric: str) -> str:
    """The runner's rule for early stopping: losses and errors go down, scores go up."""
    return "minimize" if "loss" in metric or metric.endswith(("mse", "mae")) else "maximize"


def _check_strategy(doc: Document, space: SearchSpace, dims: Sequence[Dim]) -> list[SpecError]:
    errors: list[SpecError] = []
    if space.objectives and space.pruner != "none":
        errors.append(
            SchemaError(
                f"the {space.pruner} pruner compares one value per epoch, but this search has {len(space.directions)} objectives",
                loc=doc.loc(
                    ("search", "pruner") if "pruner" in doc.data["search"] else ("search", "objectives")
                ),
                hint="drop search.pruner (or use --pruner none) for a multi-objective search",
            )
        )
    if space.sampler == "grid":
        for dim in dims:
            if dim.when:
                errors.append(
                    SchemaError(
                        "grid search tries every entry in every trial, so it cannot skip one on a condition",
                        loc=dim.loc,
                        hint="use sampler: tpe or random for a conditional space",
                    )
                )
            elif dim.kind == "float" and dim.step is None:
                errors.append(
                    SchemaError(
                        "grid search needs a finite set of values: give this float range a step",
                        loc=dim.loc,
                        hint="e.g. {float: [0.0, 0.5], step: 0.1}, or list the values with choice: [...]",
                    )
                )
    return errors
