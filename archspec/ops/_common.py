"""Helpers the op families share: argument schemas and shape checks. Never imports torch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from archspec.ops.base import OpShapeError, Shape, fmt_shape, sample_dim

# --- argument schemas --------------------------------------------------------------------------

POS_INT: dict[str, Any] = {"type": "integer", "minimum": 1}
NONNEG_INT: dict[str, Any] = {"type": "integer", "minimum": 0}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
NUMBER: dict[str, Any] = {"type": "number"}
POS_NUMBER: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
PROB: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}
NAME: dict[str, Any] = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}


def enum(*values: Any) -> dict[str, Any]:
    return {"enum": list(values)}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def list_of(item: dict[str, Any], *, n: int | None = None, min_items: int = 0) -> dict[str, Any]:
    """An array of ``item``; exactly ``n`` long when given."""
    if n is not None:
        return {"type": "array", "items": item, "minItems": n, "maxItems": n}
    return {"type": "array", "items": item, "minItems": min_items}


def int_or_list(item: dict[str, Any], n: int | None = None) -> dict[str, Any]:
    """One int for every spatial dim, or one per dim (``kernel_size: 3`` or ``[3, 5]``)."""
    return {"anyOf": [item, list_of(item, n=n, min_items=1)]}


# --- shape helpers -----------------------------------------------------------------------------

LAYOUT = {0: "[N, C]", 1: "[N, C, L]", 2: "[N, C, H, W]", 3: "[N, C, D, H, W]"}


def prod(values: Sequence[int]) -> int:
    return math.prod(values)


def expand(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """An int-or-list argument as exactly ``n`` ints."""
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise OpShapeError(f"{name} needs 1 or {n} values, got {len(value)}")
    return tuple(value)


def one(shapes: list[Shape]) -> Shape:
    return shapes[0]


def _reshape_hint(shape: Shape, n: int) -> str:
    rank = len(shape) - 1
    if n < rank <= 3:
        return f"use the {rank}d op for a {LAYOUT[rank]} input, or reshape first"
    total = prod(shape)
    side = round(total ** (1 / n))
    if side**n == total:
        return f"reshape first, e.g. op: reshape, shape: {[1] + [side] * n}"
    return f"reshape first to {LAYOUT[n]} with op: reshape"


def need_spatial(op: str, shape: Shape, n: int) -> None:
    """The input must be ``[N, C, *n spatial dims]``."""
    if len(shape) != n + 1:
        raise OpShapeError(
            f"{op} needs a {LAYOUT[n]} input, got {fmt_shape(shape)}", hint=_reshape_hint(shape, n)
        )


def need_rank(op: str, shape: Shape, low: int, high: int | None = None, what: str = "") -> None:
    """Per-sample rank between ``low`` and ``high`` (inclusive; ``None`` for no upper bound)."""
    if len(shape) < low:
        need = what or f"at least {low} dimension{'s' if low > 1 else ''}"
        raise OpShapeError(f"{op} needs {need}, got {fmt_shape(shape)}")
    if high is not None and len(shape) > high:
        need = what or f"at most {high} dimension{'s' if high > 1 else ''}"
        raise OpShapeError(f"{op} needs {need}, got {fmt_shape(shape)}")


def window_out(size: int, k: int, s: int, lo: int, hi: int, d: int = 1, ceil: bool = False) -> int:
    """Output length of a sliding window (conv/pool) over one dim, as PyTorch computes it."""
    padded = size + lo + hi
    eff = d * (k - 1) + 1
    out = (padded - eff + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= size + lo:
        out -= 1
    if out < 1:
        what = f"kernel_size {k}" if d == 1 else f"kernel_size {k} with dilation {d} (spans {eff})"
        raise OpShapeError(
            f"{what} is larger than the padded input {padded}",
            hint="pad the input (padding:) or use a smaller kernel_size",
        )
    return out


def dims_list(value: int | Sequence[int] | None, rank: int, what: str = "dim") -> list[int]:
    """PyTorch-convention dims (int, list or None = every per-sample dim) as per-sample indices."""
    if value is None:
        return list(range(rank))
    raw = [value] if isinstance(value, int) else list(value)
    out = [sample_dim(v, rank, what=what) for v in raw]
    if len(set(out)) != len(out):
        raise OpShapeError(f"{what} {list(raw)} names a dimension more than once")
    return out


def torch_dims(sample_dims: Sequence[int]) -> tuple[int, ...]:
    """Per-sample indices back to PyTorch dims (batch is 0)."""
    return tuple(d + 1 for d in sample_dims)
