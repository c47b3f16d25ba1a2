"""``shapes``: a segmentation set of filled circles, squares and triangles on a noisy background.

Each single-channel image holds 1..``max_shapes`` shapes that do not overlap, each with its own
brightness; the mask labels every pixel 0 (background) or 1 + the index of the shape's kind in
``kinds``. Shapes are big enough (radius 12-22% of the side) for a small U-Net to segment
them almost perfectly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archspec.data.base import FieldInfo, Option, generated

__all__ = ["DATASET", "KINDS"]

KINDS = ("circle", "square", "triangle")
_BACKGROUND = 0.2
_TRIES = 30


def _inside(kind: str, yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    dy, dx = yy - cy, xx - cx
    if kind == "circle":
        return dy * dy + dx * dx <= r * r
    if kind == "square":
        return (np.abs(dy) <= 0.85 * r) & (np.abs(dx) <= 0.85 * r)
    # an upright triangle: apex at (cy - r), base of width 2r at (cy + r)
    return (dy <= r) & (np.abs(dx) <= (dy + r) / 2)


def _place(rng: np.random.Generator, size: int, count: int) -> list[tuple[float, float, float]]:
    """Up to ``count`` (cy, cx, r) discs that stay inside the image and apart from each other."""
    placed: list[tuple[float, float, float]] = []
    for _ in range(_TRIES):
        if len(placed) == count:
            break
        r = rng.uniform(0.12, 0.22) * size
        cy, cx = rng.uniform(r + 0.5, size - 1.5 - r, 2)
        if all(np.hypot(cy - y, cx - x) > r + q + 1.5 for y, x, q in placed):
            placed.append((cy, cx, r))
    return placed


def _one(rng: np.random.Generator, size: int, max_shapes: int, kinds: tuple[str, ...]):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    image = np.full((size, size), _BACKGROUND)
    mask = np.zeros((size, size), np.int64)
    for cy, cx, r in _place(rng, size, int(rng.integers(1, max_shapes + 1))):
        k = int(rng.integers(len(kinds)))
        inside = _inside(kinds[k], yy, xx, cy, cx, r)
        image[inside] = rng.uniform(0.6, 1.0)
        mask[inside] = k + 1
    return image, mask


def _generate(
    rng: np.random.Generator, n: int, *, size: int, max_shapes: int, noise: float, kinds: tuple[str, ...]
) -> dict[str, np.ndarray]:
    images = np.empty((n, 1, size, size), np.float32)
    masks = np.empty((n, size, size), np.int64)
    for i in range(n):
        images[i, 0], masks[i] = _one(rng, size, max_shapes, kinds)
    images += (noise * rng.standard_normal(images.shape)).astype(np.float32)
    return {"image": np.clip(images, 0.0, 1.0), "mask": masks}


def _fields(opts: Mapping[str, Any]) -> dict[str, FieldInfo]:
    s = opts["size"]
    return {"image": FieldInfo((1, s, s), "float32"), "mask": FieldInfo((s, s), "int64")}


DATASET = generated(
    "shapes",
    "segmentation: image float32 [N, 1, S, S] in 0..1, mask int64 [N, S, S] (0 background, 1..K kind)",
    _generate,
    _fields,
    lambda opts: ("background", *opts["kinds"]),
    {
        "n": Option(1000, minimum=10, doc="total images (70/15/15)"),
        "size": Option(32, minimum=16, maximum=512, doc="side of the square images in pixels"),
        "max_shapes": Option(3, minimum=1, maximum=8, doc="each image holds 1..max_shapes shapes"),
        "noise": Option(0.1, minimum=0, doc="standard deviation of the pixel noise"),
        "kinds": Option(KINDS, choices=KINDS, doc="shape kinds; mask class i + 1 is kinds[i]"),
    },
)
