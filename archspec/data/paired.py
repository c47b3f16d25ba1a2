"""``paired``: a two-modality set whose label needs both the image and the sound.

The image (``[1, S, S]``) shows stripes, horizontal (bit 0) or vertical (bit 1), at a random
spatial frequency and phase. The sound (``[1, L]``) is a sinusoid, low (bit 0: 2-4 cycles) or
high (bit 1: 8-12 cycles), with random phase and amplitude. Both carry Gaussian noise. The
label is ``2 * image_bit + sound_bit``, so either modality alone can reach only 50% accuracy
and a model that fuses the two can reach ~100%.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archspec.data.base import FieldInfo, Option, generated

__all__ = ["DATASET"]


def _images(rng: np.random.Generator, bits: np.ndarray, size: int) -> np.ndarray:
    n = len(bits)
    cycles = rng.uniform(size / 6, size / 3, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    yy, xx = np.mgrid[0:size, 0:size] / size
    coord = np.where(bits[:, None, None] == 0, yy[None], xx[None])  # horizontal stripes vary along y
    return 0.5 + 0.4 * np.sin(2 * np.pi * cycles * coord + phase)


def _sounds(rng: np.random.Generator, bits: np.ndarray, length: int) -> np.ndarray:
    n = len(bits)
    cycles = np.where(bits == 0, rng.uniform(2, 4, n), rng.uniform(8, 12, n))[:, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    amplitude = rng.uniform(0.5, 1.0, n)[:, None]
    t = np.arange(length) / length
    return amplitude * np.sin(2 * np.pi * cycles * t[None] + phase)


def _generate(
    rng: np.random.Generator, n: int, *, size: int, length: int, noise: float
) -> dict[str, np.ndarray]:
    image_bit = rng.integers(0, 2, n)
    sound_bit = rng.integers(0, 2, n)
    image = _images(rng, image_bit, size) + noise * rng.standard_normal((n, size, size))
    sound = _sounds(rng, sound_bit, length) + noise * rng.standard_normal((n, length))
    return {
        "image": image[:, None].astype(np.float32),
        "sound": sound[:, None].astype(np.float32),
        "label": (2 * image_bit + sound_bit).astype(np.int64),
    }


def _fields(opts: Mapping[str, Any]) -> dict[str, FieldInfo]:
    s, length = opts["size"], opts["length"]
    return {
        "image": FieldInfo((1, s, s), "float32"),
        "sound": FieldInfo((1, length), "float32"),
        "label": FieldInfo((), "int64"),
    }


DATASET = generated(
    "paired",
    "two modalities: image [N, 1, S, S] (stripe direction) + sound [N, 1, L] (pitch); label needs both",
    _generate,
    _fields,
    lambda _: ("horizontal-low", "horizontal-high", "vertical-low", "vertical-high"),
    {
        "n": Option(2000, minimum=10, doc="total samples (70/15/15)"),
        "size": Option(16, minimum=8, maximum=256, doc="side of the square images"),
        "length": Option(64, minimum=32, maximum=8192, doc="samples in each sound"),
        "noise": Option(0.3, minimum=0, doc="standard deviation of the noise on both modalities"),
    },
)
