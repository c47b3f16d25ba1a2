"""Train/val/test splits and seeds, shared by the built-in datasets and by user data.

A split is a contiguous slice of a seeded permutation, cut at the cumulative fractions (rounded
to whole samples; the last split takes the remainder). The same ``(seed, fractions)`` always
gives the same cut, and the splits never overlap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

import numpy as np

from archspec.errors import DataError, did_you_mean

__all__ = [
    "BUILTIN_FRACTIONS",
    "SPLITS",
    "USER_FRACTIONS",
    "check_lengths",
    "check_seed",
    "check_split",
    "seeded_rng",
    "split_arrays",
    "split_sizes",
]

SPLITS = ("train", "val", "test", "all")
BUILTIN_FRACTIONS: Mapping[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}
USER_FRACTIONS: Mapping[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


def check_seed(seed: object) -> int:
    """A seed is a non-negative int (numpy's SeedSequence refuses negatives)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_split(split: object, splits: Iterable[str], what: str) -> str:
    """Refuse an unknown split name, suggesting the closest known one."""
    names = list(splits)
    if split in names:
        return split  # type: ignore[return-value]
    hint = did_you_mean(split, names)
    msg = f"{what} has no split {split!r}" + (f" ({hint})" if hint else "")
    raise DataError(msg + "; splits are " + ", ".join(repr(s) for s in names))


def seeded_rng(seed: int, *keys: str) -> np.random.Generator:
    """An independent random stream for ``seed`` and a path of names (dataset, split)."""
    words = [check_seed(seed), *(zlib.crc32(k.encode()) for k in keys)]
    return np.random.default_rng(np.random.SeedSequence(words))


def _check_fractions(fractions: Mapping[str, float]) -> None:
    if not fractions or "all" in fractions:
        raise DataError(f"fractions must name at least one split other than 'all', got {dict(fractions)!r}")
    for name, frac in fractions.items():
        if isinstance(frac, bool) or not isinstance(frac, int | float) or not 0 < frac <= 1:
            raise DataError(f"fraction of split {name!r} must be a number in (0, 1], got {frac!r}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise DataError(f"split fractions must add up to 1, got {total:g} from {dict(fractions)!r}")


def _bounds(n: int, fractions: Mapping[str, float]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    start, cum = 0, 0.0
    names = list(fractions)
    for i, name in enumerate(names):
        cum += fractions[name]
        stop = n if i == len(names) - 1 else min(n, int(np.floor(cum * n + 0.5)))
        out[name] = (start, stop)
        start = stop
    return out


def split_sizes(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Samples per split (and ``"all"``) when ``n`` samples are cut at ``fractions``."""
    _check_fractions(fractions)
    sizes = {name: stop - start for name, (start, stop) in _bounds(n, fractions).items()}
    return {**sizes, "all": n}


def check_lengths(fields: Mapping[str, np.ndarray], *, source: str = "data") -> int:
    """The common number of samples of ``fields``; :class:`DataError` if they disagree."""
    if not fields:
        raise DataError(f"{source}: no fields")
    lengths: dict[str, int] = {}
    for name, arr in fields.items():
        if not isinstance(arr, np.ndarray) or arr.ndim == 0:
            raise DataError(f"{source}: field {name!r} must be an array with a sample dimension, got {arr!r}")
        lengths[name] = arr.shape[0]
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k!r} has {v}" for k, v in lengths.items())
        raise DataError(f"{source}: fields have different numbers of samples: {listed}")
    return next(iter(lengths.values()))


def split_arrays(
    fields: Mapping[str, np.ndarray],
    fractions: Mapping[str, float] | None = None,
    split: str = "train",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """One split of user data: a seeded shuffle, then a contiguous cut at ``fractions``.

    ``fractions`` defaults to 80/10/10 train/val/test and must add up to 1. ``split="all"``
    returns every sample, shuffled the same way.
    """
    fractions = USER_FRACTIONS if fractions is None else fractions
    _check_fractions(fractions)
    n = check_lengths(fields)
    check_split(split, [*fractions, "all"], "split_arrays")
    order = seeded_rng(seed, "split").permutation(n)
    if split != "all":
        start, stop = _bounds(n, fractions)[split]
        order = order[start:stop]
    return {name: arr[order] for name, arr in fields.items()}
