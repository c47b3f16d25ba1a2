"""What a dataset is: a named, seeded generator of aligned numpy arrays.

A :class:`Dataset` is called like a function, ``ds(split, seed, **options)``, and returns a dict
of named fields that all share their first (sample) dimension. Its :meth:`Dataset.info` gives
the per-sample shapes, dtypes and split sizes without generating anything, so specs can be
validated and documented cheaply. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from archspec.data.splits import (
    BUILTIN_FRACTIONS,
    SPLITS,
    check_seed,
    check_split,
    seeded_rng,
    split_sizes,
)
from archspec.errors import DataError, did_you_mean

__all__ = ["Dataset", "DatasetInfo", "FieldInfo", "Option", "generated"]

Fields = dict[str, np.ndarray]
Shape = tuple[int, ...]


@dataclass(frozen=True)
class FieldInfo:
    """One field of a dataset: its per-sample shape (no batch dim) and numpy dtype name."""

    shape: Shape
    dtype: str

    def to_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class DatasetInfo:
    """Everything about a dataset that is known without generating it."""

    name: str
    description: str
    fields: dict[str, FieldInfo]
    sizes: dict[str, int]
    classes: tuple[str, ...]
    options: dict[str, Any]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "fields": {k: v.to_dict() for k, v in self.fields.items()},
            "sizes": dict(self.sizes),
            "classes": list(self.classes),
            "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()},
        }


@dataclass(frozen=True)
class Option:
    """A dataset option: its default (whose type is the option's type) and allowed values."""

    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()  # for tuple-of-str options: the allowed items
    doc: str = ""

    def check(self, dataset: str, name: str, value: Any) -> Any:
        """Return ``value`` normalised to the option's type, or raise :class:`DataError`."""
        where = f"dataset {dataset!r}: option {name!r}"
        if isinstance(self.default, tuple):
            return self._check_items(where, value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(f"{where} must be a number, got {value!r}")
        if isinstance(self.default, int) and not isinstance(value, int):
            raise DataError(f"{where} must be an integer, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise DataError(f"{where} must be at least {self.minimum:g}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise DataError(f"{where} must be at most {self.maximum:g}, got {value!r}")
        return type(self.default)(value)

    def _check_items(self, where: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            raise DataError(f"{where} must be a non-empty list, got {value!r}")
        for item in value:
            if item not in self.choices:
                hint = did_you_mean(item, self.choices)
                choices = ", ".join(repr(c) for c in self.choices)
                raise DataError(
                    f"{where}: unknown item {item!r}"
                    + (f" ({hint})" if hint else "")
                    + f"; choose from {choices}"
                )
        if len(set(value)) != len(value):
            raise DataError(f"{where} lists an item twice: {list(value)!r}")
        return tuple(value)


Make = Callable[..., Fields]  # (split, seed, **options) -> fields
Describe = Callable[[Mapping[str, Any]], dict[str, FieldInfo]]


@dataclass(frozen=True)
class Dataset:
    """A registry entry: ``make`` builds the arrays, ``fields``/``sizes``/``classes`` describe them.

    ``make`` receives fully checked options. ``sizes`` maps resolved options to the number of
    samples per split (``"all"`` included).
    """

    name: str
    description: str
    make: Make
    fields: Describe
    sizes: Callable[[Mapping[str, Any]], dict[str, int]]
    classes: Callable[[Mapping[str, Any]], tuple[str, ...]]
    options: Mapping[str, Option] = field(default_factory=dict)

    def __call__(self, split: str, seed: int, **options: Any) -> Fields:
        check_split(split, SPLITS, f"dataset {self.name!r}")
        check_seed(seed)
        return self.make(split, seed, **self.resolve(options))

    def info(self, options: Mapping[str, Any] | None = None) -> DatasetInfo:
        opts = self.resolve(options or {})
        return DatasetInfo(
            self.name, self.description, self.fields(opts), self.sizes(opts), self.classes(opts), opts
        )

    def resolve(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``options``, each checked; unknown names are refused."""
        for key in options:
            if key not in self.options:
                raise DataError(self._unknown_option(key))
        return {
            key: opt.check(self.name, key, options[key]) if key in options else opt.default
            for key, opt in self.options.items()
        }

    def _unknown_option(self, key: object) -> str:
        msg = f"dataset {self.name!r} has no option {key!r}"
        hint = did_you_mean(key, self.options)
        if hint:
            msg += f" ({hint})"
        if self.options:
            return msg + "; options are " + ", ".join(repr(k) for k in self.options)
        return msg + "; it takes no options"


Generate = Callable[..., Fields]  # (rng, n, **options) -> fields, samples in random order


def generated(
    name: str,
    description: str,
    generate: Generate,
    fields: Describe,
    classes: Callable[[Mapping[str, Any]], tuple[str, ...]],
    options: Mapping[str, Option],
) -> Dataset:
    """A synthetic dataset whose option ``n`` is the total size, split 70/15/15.

    Each split is drawn from its own random stream, derived from ``(seed, name, split)``, so the
    splits are disjoint samples and asking for ``val`` never changes ``train``. ``all`` is
    ``train``, ``val`` and ``test`` concatenated in that order.
    """

    def sizes(opts: Mapping[str, Any]) -> dict[str, int]:
        return split_sizes(opts["n"], BUILTIN_FRACTIONS)

    def make(split: str, seed: int, **opts: Any) -> Fields:
        n_by_split = sizes(opts)
        rest = {k: v for k, v in opts.items() if k != "n"}
        if split != "all":
            return generate(seeded_rng(seed, name, split), n_by_split[split], **rest)
        parts = [generate(seeded_rng(seed, name, s), n_by_split[s], **rest) for s in BUILTIN_FRACTIONS]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    return Dataset(name, description, make, fields, sizes, classes, options)
