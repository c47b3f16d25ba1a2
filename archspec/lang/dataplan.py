"""Which rows each data stream reads: one split decision per data source, made before any file
is opened, so ``validate`` and ``train`` agree and no two roles ever share a row.

A *source* is a built-in dataset (by name) or a file or folder (by its resolved path). Every
stream that reads a source shares its split: one set of fractions (``splits:`` on any one of
them, or the default: 80/10/10 train/val/test for your own files, 70/15/15 for the built-in
datasets) and one seed. A stream reads the split it names (``split:``), else the split named by
its role; a file read by streams of one role only, with no ``splits:``, is read whole. Streams
of different roles never read the same split of a source (nor ``split: all`` beside another
role): that would put validation or test rows into training, and is refused with a located
error. Nothing here imports numpy or reads a file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archspec.errors import SchemaError, SpecError, SpecErrors
from archspec.lang.model import Spec

__all__ = ["BUILTIN_FRACTIONS", "USER_FRACTIONS", "StreamPlan", "data_plan", "source_of"]

USER_FRACTIONS: Mapping[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}
BUILTIN_FRACTIONS: Mapping[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}
FILE_KINDS = ("csv", "npz", "npy", "images")


@dataclass(frozen=True)
class StreamPlan:
    """What one stream reads: its source, the split, the source's fractions and split seed."""

    stream: str
    role: str
    source: tuple[str, ...]
    split: str
    fractions: Mapping[str, float] | None  # None for a built-in dataset (its own 70/15/15)
    seed: int

    @property
    def source_text(self) -> str:
        kind, *rest = self.source
        return f"dataset {rest[0]!r}" if kind == "dataset" else f"{kind} {', '.join(rest)}"


def source_of(raw: Mapping[str, Any], base: str) -> tuple[str, ...] | None:
    """The identity of a stream's source: ``("dataset", name)`` or ``(kind, path, ...)``."""
    if "dataset" in raw:
        return ("dataset", str(raw["dataset"]))
    for kind in FILE_KINDS:
        if kind in raw:
            value = raw[kind]
            paths = sorted(value.values()) if isinstance(value, Mapping) else [value]
            return (kind, *(os.path.normpath(os.path.join(base, str(p))) for p in paths))
    return None


def _canonical(fractions: Mapping[str, Any]) -> dict[str, Any]:
    """Fractions in train, val, test order (then any other names), so the cut does not depend
    on the order a user wrote them in."""
    known = [k for k in ("train", "val", "test") if k in fractions]
    return {k: fractions[k] for k in [*known, *(k for k in fractions if k not in known)]}


def _text(fractions: Mapping[str, Any]) -> str:
    return (
        "{"
        + ", ".join(
            f"{k}: {v:g}" if isinstance(v, float | int) else f"{k}: {v!r}" for k, v in fractions.items()
        )
        + "}"
    )


def data_plan(spec: Spec, base: str | None = None) -> dict[str, StreamPlan]:
    """Every stream's :class:`StreamPlan`; :class:`SpecErrors` lists every conflict, located."""
    base = base if base is not None else os.path.dirname(os.path.abspath(spec.file))
    errors: list[SpecError] = []
    by_source: dict[tuple[str, ...], list[str]] = {}
    for name, raw in spec.data.items():
        source = source_of(raw or {}, base)
        if source is not None:
            by_source.setdefault(source, []).append(name)
    plans: dict[str, StreamPlan] = {}
    for source, names in by_source.items():
        plans.update(_plan_source(spec, source, names, errors))
    if errors:
        raise SpecErrors(errors)
    return plans


def _plan_source(
    spec: Spec, source: tuple[str, ...], names: list[str], errors: list[SpecError]
) -> dict[str, StreamPlan]:
    data = spec.data
    fractions = _shared(spec, names, "splits", errors, _canonical)
    if fractions is not None and not _fractions_ok(spec, names, fractions, errors):
        fractions = None
    seed = _shared(spec, names, "seed", errors, lambda s: s)
    if source[0] == "dataset":
        for name in names:
            if "splits" in data[name]:
                errors.append(
                    SchemaError(
                        f"built-in dataset {source[1]!r} has its own train/val/test split (70/15/15); splits: applies to your own files",
                        loc=spec.doc.loc(("data", name, "splits"), key=True),
                        hint="remove splits:, and pick a part with split: train, val, test or all",
                    )
                )
        fractions = None
    roles = {str(data[n].get("role", "train")) for n in names}
    whole = source[0] != "dataset" and fractions is None and len(roles) == 1
    if source[0] != "dataset" and fractions is None:
        fractions = dict(USER_FRACTIONS)
    plans = {}
    for name in names:
        raw = data[name]
        role = str(raw.get("role", "train"))
        split = str(raw.get("split", "all" if whole else role))
        plans[name] = StreamPlan(
            name, role, source, split, fractions, int(seed if seed is not None else spec.seed)
        )
        known = BUILTIN_FRACTIONS if fractions is None else fractions
        if (
            split != "all"
            and split not in known
            and not any(e.loc.path[:2] == ("data", name) for e in errors)
        ):
            errors.append(_unknown_split(spec, plans[name], known))
    _check_overlap(spec, list(plans.values()), errors)
    return plans


def _shared(spec: Spec, names: list[str], key: str, errors: list[SpecError], norm: Any) -> Any:
    """The one value of ``key`` that the streams of a source declare (None when none does)."""
    first: tuple[str, Any] | None = None
    for name in names:
        raw = spec.data[name]
        if key not in raw:
            continue
        value = norm(raw[key]) if isinstance(raw[key], Mapping) else raw[key]
        if first is None:
            first = (name, value)
        elif value != first[1]:
            what = "fractions" if key == "splits" else "seeds"
            shown = _text if key == "splits" and isinstance(value, Mapping) else repr
            errors.append(
                SchemaError(
                    f"streams {first[0]!r} and {name!r} read the same source with different {key}: "
                    f"{shown(first[1])} and {shown(value)}; a source is split once, for every stream that reads it",
                    loc=spec.doc.loc(("data", name, key)),
                    hint=f"declare {key}: on one of the streams only, or give them the same {what}",
                )
            )
    return None if first is None else first[1]


def _unknown_split(spec: Spec, plan: StreamPlan, known: Mapping[str, float]) -> SpecError:
    explicit = "split" in spec.data[plan.stream]
    if explicit:  # the wording of archspec.data.split_arrays
        names = ", ".join(repr(k) for k in [*known, "all"])
        return SchemaError(
            f"stream {plan.stream!r} has no split {plan.split!r}; splits are {names}",
            loc=spec.doc.loc(("data", plan.stream, "split")),
            hint="name a split of splits:, or use split: all",
        )
    names = ", ".join(repr(k) for k in known)
    where = ("data", plan.stream, "split") if explicit else ("data", plan.stream)
    how = "it names" if explicit else f"its role {plan.role!r} picks"
    return SchemaError(
        f"stream {plan.stream!r} reads split {plan.split!r} of {plan.source_text}, which {how}, but the source is split into {names}",
        loc=spec.doc.loc(where, key=not explicit),
        hint="give the stream split: with one of those, add the split to splits:, or use split: all",
    )


def _check_overlap(spec: Spec, plans: list[StreamPlan], errors: list[SpecError]) -> None:
    """Streams of different roles must read disjoint rows: different splits, none ``all``."""
    for i, later in enumerate(plans):
        for earlier in plans[:i]:
            if earlier.role == later.role:
                continue
            if later.split != earlier.split and "all" not in (later.split, earlier.split):
                continue
            explicit = "split" in spec.data[later.stream]
            where = ("data", later.stream, "split") if explicit else ("data", later.stream)
            errors.append(
                SchemaError(
                    f"stream {later.stream!r} (role {later.role}) and stream {earlier.stream!r} (role {earlier.role}) "
                    f"would read the same rows of {later.source_text}: split {later.split!r} and split {earlier.split!r}",
                    loc=spec.doc.loc(where, key=not explicit),
                    hint=_overlap_hint(plans, later, earlier),
                )
            )
            break


def _overlap_hint(plans: list[StreamPlan], later: StreamPlan, earlier: StreamPlan) -> str:
    """Point at the stream whose ``split:`` to change, and at a split no other role reads."""
    fix = earlier if earlier.split == "all" else later
    taken = {p.split for p in plans if p.role != fix.role and p is not fix}
    split = fix.role if fix.role not in taken else "<a split no other role reads>"
    return f"give stream {fix.stream!r} split: {split}; streams of different roles read different splits of a source"


def _fractions_ok(
    spec: Spec, names: list[str], fractions: Mapping[str, Any], errors: list[SpecError]
) -> bool:
    """Fractions name at least one split other than ``all``, each in (0, 1], adding up to 1
    (the wording of :func:`archspec.data.split_arrays`, which checks the same at run time)."""
    name = next(n for n in names if "splits" in spec.data[n])
    written = dict(spec.data[name]["splits"])
    problem = None
    if not fractions or "all" in fractions:
        problem = f"fractions must name at least one split other than 'all', got {written!r}"
    else:
        bad = [
            k
            for k, v in written.items()
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1
        ]
        if bad:
            problem = f"fraction of split {bad[0]!r} must be a number in (0, 1], got {written[bad[0]]!r}"
        elif abs(sum(written.values()) - 1.0) > 1e-6:
            problem = f"split fractions must add up to 1, got {sum(written.values()):g} from {written!r}"
    if problem:
        errors.append(SchemaError(problem, loc=spec.doc.loc(("data", name, "splits"))))
    return problem is None
