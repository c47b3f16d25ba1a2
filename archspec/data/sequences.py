"""Generated sequence tasks for small decoder-only transformers: ``reverse`` and ``sort``.

Each sample is a random string of ``length`` digits (0-9) and its answer: the string reversed, or
sorted ascending. A decoder reads ``tokens``, the string, the separator token 10 and the answer
shifted right by one (teacher forcing), ``2 * length`` tokens in all; the answer is ``target``.
The decoder's predictions at positions ``length .. 2 * length - 1`` (from the separator on) are
the answer, one digit each, so the vocabulary has 11 tokens and the answer 10 classes.

The splits hold different strings: a string belongs to the split its hash falls in (70/15/15 of
the hash range), and each split draws from its own seeded stream, keeping only its own strings.
So a test score is on strings the model never saw. numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archspec.data.base import Dataset, FieldInfo, Option
from archspec.data.splits import BUILTIN_FRACTIONS, seeded_rng, split_sizes

__all__ = ["REVERSE", "SEP", "SORT"]

SEP = 10  # the separator token; digits are 0..9


def _fields(opts: Mapping[str, Any]) -> dict[str, FieldInfo]:
    length = opts["length"]
    return {"tokens": FieldInfo((2 * length,), "int64"), "target": FieldInfo((length,), "int64")}


def _digits(_: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(d) for d in range(10))


def _hash_split(strings: np.ndarray) -> np.ndarray:
    """The split (0 train, 1 val, 2 test) each string belongs to, from a splitmix64 hash of it."""
    value = np.zeros(len(strings), np.uint64)
    for column in strings.T:  # the string as a base-10 number (length <= 19 fits in 64 bits)
        value = value * np.uint64(10) + column.astype(np.uint64)
    value = value + np.uint64(0x9E3779B97F4A7C15)
    value = (value ^ (value >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    value = (value ^ (value >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    value = value ^ (value >> np.uint64(31))
    bucket = value % np.uint64(100)
    return np.where(bucket < 70, 0, np.where(bucket < 85, 1, 2))


def _strings(rng: np.random.Generator, n: int, length: int, split: int) -> np.ndarray:
    kept: list[np.ndarray] = []
    count = 0
    while count < n:
        batch = rng.integers(0, 10, (2 * n + 16, length))
        batch = batch[_hash_split(batch) == split]
        kept.append(batch)
        count += len(batch)
    return np.concatenate(kept)[:n]


def _dataset(name: str, description: str, answer: Any) -> Dataset:
    def sizes(opts: Mapping[str, Any]) -> dict[str, int]:
        return split_sizes(opts["n"], BUILTIN_FRACTIONS)

    def one(split: str, seed: int, n: int, length: int) -> dict[str, np.ndarray]:
        index = list(BUILTIN_FRACTIONS).index(split)
        string = _strings(seeded_rng(seed, name, split), n, length, index)
        target = answer(string)
        sep = np.full((n, 1), SEP)
        tokens = np.concatenate([string, sep, target[:, :-1]], axis=1)
        return {"tokens": tokens.astype(np.int64), "target": target.astype(np.int64)}

    def make(split: str, seed: int, *, n: int, length: int) -> dict[str, np.ndarray]:
        n_by_split = sizes({"n": n})
        if split != "all":
            return one(split, seed, n_by_split[split], length)
        parts = [one(s, seed, n_by_split[s], length) for s in BUILTIN_FRACTIONS]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    return Dataset(name, description, make, _fields, sizes, _digits, _OPTIONS)


_OPTIONS = {
    "n": Option(4000, minimum=10, doc="total samples (70/15/15)"),
    "length": Option(6, minimum=2, maximum=19, doc="digits per string"),
}

REVERSE = _dataset(
    "reverse",
    "random digit strings and the same strings reversed; tokens int64 [2L] (string, separator 10,"
    " answer shifted right), target int64 [L]",
    lambda s: s[:, ::-1],
)

SORT = _dataset(
    "sort",
    "random digit strings and the same strings sorted ascending; tokens int64 [2L] (string,"
    " separator 10, answer shifted right), target int64 [L]",
    lambda s: np.sort(s, axis=1),
)
