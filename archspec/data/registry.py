"""The dataset registry and its two entry points, :func:`load_dataset` and :func:`dataset_info`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archspec.data import digits, paired, sequences, shapes, toy
from archspec.data.base import Dataset, DatasetInfo
from archspec.data.splits import check_lengths
from archspec.errors import DataError, did_you_mean

__all__ = ["DATASETS", "dataset_info", "get_dataset", "load_dataset", "register"]

DATASETS: dict[str, Dataset] = {}


def register(dataset: Dataset, *, replace: bool = False) -> Dataset:
    """Add a dataset to the registry (plugins call this too)."""
    if dataset.name in DATASETS and not replace:
        raise ValueError(f"dataset {dataset.name!r} is already registered")
    DATASETS[dataset.name] = dataset
    return dataset


for _ds in (
    digits.DATASET,
    toy.MOONS,
    toy.SPIRALS,
    toy.XOR,
    shapes.DATASET,
    paired.DATASET,
    sequences.REVERSE,
    sequences.SORT,
):
    register(_ds)


def get_dataset(name: object) -> Dataset:
    """The registered dataset called ``name``; :class:`DataError` with a suggestion otherwise."""
    if isinstance(name, str) and name in DATASETS:
        return DATASETS[name]
    hint = did_you_mean(name, DATASETS)
    msg = f"unknown dataset {name!r}" + (f" ({hint})" if hint else "")
    raise DataError(msg + "; datasets are " + ", ".join(repr(k) for k in sorted(DATASETS)))


def load_dataset(
    name: str,
    split: str = "train",
    *,
    seed: int = 0,
    limit: int | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """One split of a built-in dataset as named numpy arrays sharing their first dimension.

    ``split`` is ``train``, ``val``, ``test`` or ``all``. The samples come in a seeded random
    order, and ``limit`` keeps the first ``limit`` of them (so a smaller limit is a prefix of a
    larger one). ``options`` are the dataset's own (see :func:`dataset_info`).
    """
    dataset = get_dataset(name)
    fields = dataset(split, seed, **dict(options or {}))
    n = check_lengths(fields, source=f"dataset {name!r}")
    if limit is None:
        return fields
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise DataError(f"limit must be a positive integer, got {limit!r}")
    if limit > n:
        raise DataError(f"limit {limit} is more than the {n} samples in dataset {name!r}, split {split!r}")
    return {key: arr[:limit] for key, arr in fields.items()}


def dataset_info(name: str, options: Mapping[str, Any] | None = None) -> DatasetInfo:
    """Fields (per-sample shape and dtype), split sizes, classes and options; generates nothing."""
    return get_dataset(name).info(options)
