"""Small 2-D point sets for linear, RBF and MLP models: ``moons``, ``spirals`` and ``xor``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from archspec.data.base import FieldInfo, Option, generated

__all__ = ["MOONS", "SPIRALS", "XOR"]


def _points(_: Mapping[str, Any]) -> dict[str, FieldInfo]:
    return {"x": FieldInfo((2,), "float32"), "label": FieldInfo((), "int64")}


def _pack(x: np.ndarray, label: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": x.astype(np.float32), "label": label.astype(np.int64)}


def _moons(rng: np.random.Generator, n: int, *, noise: float) -> dict[str, np.ndarray]:
    label = rng.integers(0, 2, n)
    t = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    x = np.where(label[:, None] == 0, upper, lower) - np.array([0.5, 0.25])
    return _pack(x + noise * rng.standard_normal((n, 2)), label)


def _spirals(
    rng: np.random.Generator, n: int, *, arms: int, turns: float, noise: float
) -> dict[str, np.ndarray]:
    label = rng.integers(0, arms, n)
    t = rng.uniform(0.0, 1.0, n)
    radius = 0.1 + 0.9 * t
    angle = 2 * np.pi * (turns * t + label / arms)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return _pack(x + noise * rng.standard_normal((n, 2)), label)


def _xor(rng: np.random.Generator, n: int, *, noise: float) -> dict[str, np.ndarray]:
    x = rng.uniform(-1.0, 1.0, (n, 2))
    label = (x[:, 0] > 0) != (x[:, 1] > 0)
    return _pack(x + noise * rng.standard_normal((n, 2)), label)


_NOISE = "standard deviation of the Gaussian noise added to each coordinate"

MOONS = generated(
    "moons",
    "two interleaved half circles in 2-D; x float32 [N, 2], label 0/1",
    _moons,
    _points,
    lambda _: ("upper", "lower"),
    {
        "n": Option(1000, minimum=10, doc="total samples (70/15/15)"),
        "noise": Option(0.1, minimum=0, doc=_NOISE),
    },
)

SPIRALS = generated(
    "spirals",
    "interleaved spiral arms in 2-D (radius <= 1); x float32 [N, 2], label = arm",
    _spirals,
    _points,
    lambda opts: tuple(f"arm{i}" for i in range(opts["arms"])),
    {
        "n": Option(1500, minimum=10, doc="total samples (70/15/15)"),
        "arms": Option(2, minimum=2, maximum=16, doc="number of arms (= classes)"),
        "turns": Option(1.5, minimum=0, doc="revolutions of each arm"),
        "noise": Option(0.05, minimum=0, doc=_NOISE),
    },
)

XOR = generated(
    "xor",
    "points uniform in [-1, 1]^2 labelled by the sign of x0 * x1 (1 where it is negative)",
    _xor,
    _points,
    lambda _: ("same-sign", "opposite-sign"),
    {
        "n": Option(1000, minimum=10, doc="total samples (70/15/15)"),
        "noise": Option(0.0, minimum=0, doc=_NOISE + " after labelling"),
    },
)
