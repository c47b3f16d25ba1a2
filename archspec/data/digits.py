"""The bundled UCI optical digits: 1,797 grey 8x8 images of 0..9 (see DIGITS_LICENSE.txt)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from archspec.data.base import Dataset, FieldInfo
from archspec.data.splits import BUILTIN_FRACTIONS, split_arrays, split_sizes
from archspec.errors import DataError

__all__ = ["DATASET"]

_FILE = Path(__file__).with_name("digits.npz")
_TOTAL = 1797


@functools.lru_cache(maxsize=1)
def _raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(_FILE, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(
            f"{_FILE}: the bundled digits file is missing or corrupt ({e}); reinstall archspec"
        ) from e
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def _make(split: str, seed: int) -> dict[str, np.ndarray]:
    images, labels = _raw()
    scaled = images.astype(np.float32) / np.float32(16.0)
    fields = {
        "image": scaled[:, None, :, :],
        "label": labels.astype(np.int64),
        "flat": scaled.reshape(len(scaled), 64),
    }
    return split_arrays(fields, BUILTIN_FRACTIONS, split, seed)


def _fields(_: Mapping[str, Any]) -> dict[str, FieldInfo]:
    return {
        "image": FieldInfo((1, 8, 8), "float32"),
        "label": FieldInfo((), "int64"),
        "flat": FieldInfo((64,), "float32"),
    }


DATASET = Dataset(
    name="digits",
    description="UCI optical digits: 1,797 8x8 grey images (0..1) of the digits 0-9; split 70/15/15",
    make=_make,
    fields=_fields,
    sizes=lambda _: split_sizes(_TOTAL, BUILTIN_FRACTIONS),
    classes=lambda _: tuple(str(d) for d in range(10)),
)
