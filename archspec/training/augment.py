"""Data augmentation on whole batches: the ``augment:`` list of a data stream.

``parse_augment`` turns the YAML list into :class:`Augment` items once; ``apply_augment`` runs
them on every training batch, vectorised over the batch (no per-sample Python loop). Each item
makes *one* random draw per sample (flip or not, angle, shift) and applies it to every field it
touches, so an image and its mask get the same flip, rotation and translation. Every draw comes
from the ``torch.Generator`` passed in, so a run resumed from a saved generator state augments
exactly as the uninterrupted run would have.

Item forms (``p`` is the chance that a sample is augmented; ``fields`` names the stream fields)::

    hflip                          # p = 0.5
    {vflip: 0.2}                   # a bare number is the main parameter (here p)
    {rotate: 10}                   # angle uniform in [-10, 10] degrees, p = 1
    {translate: 3}                 # shifts uniform in [-3, 3] whole pixels per axis, zero fill
    {crop: 4}                      # pad by 4 and crop back at random: the same as translate 4
    {noise: 0.05}                  # + N(0, 0.05^2), floating fields only
    {normalize: {mean: [0.5], std: [0.25]}}     # (x - mean) / std, per channel or scalar
    {rotate: {degrees: 10, p: 0.5, fields: [image, mask]}}

Field layouts, told apart by dtype: floating ``[N, C, L]`` / ``[N, C, H, W]`` and integer
``[N, L]`` / ``[N, H, W]`` / ``[N, 1, H, W]``. ``hflip`` reverses the last dim, ``vflip`` the one
before it; ``rotate`` needs two spatial dims; integer fields rotate with nearest-neighbour
sampling and every spatial op fills uncovered pixels with 0 (background for a mask).

Without ``fields:`` an item touches each of ``default_fields`` it fits and skips the rest (a
``[N]`` label is never flipped; ``noise`` and ``normalize`` skip integer fields and feature
vectors without spatial dims). Fields named in ``fields:`` must fit, or :func:`apply_augment`
raises ``ValueError``. ``normalize`` is not random: apply :func:`eval_augments` at evaluation
time too, so the model sees the same scale there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from archspec.errors import did_you_mean

__all__ = ["AUGMENTS", "Augment", "AugmentError", "apply_augment", "eval_augments", "parse_augment"]

AUGMENTS = ("hflip", "vflip", "rotate", "translate", "crop", "noise", "normalize")

# The parameter a bare number sets, and the keys each item's mapping form accepts.
_MAIN = {
    "hflip": "p",
    "vflip": "p",
    "rotate": "degrees",
    "translate": "pixels",
    "crop": "pixels",
    "noise": "std",
}
_KEYS = {
    "hflip": ("p", "fields"),
    "vflip": ("p", "fields"),
    "rotate": ("degrees", "p", "fields"),
    "translate": ("pixels", "p", "fields"),
    "crop": ("pixels", "p", "fields"),
    "noise": ("std", "p", "fields"),
    "normalize": ("mean", "std", "fields"),
}
_REQUIRED = {"rotate": "degrees", "translate": "pixels", "crop": "pixels", "noise": "std"}
_DEFAULT_P = {"hflip": 0.5, "vflip": 0.5}

Scalars = float | tuple[float, ...]


class AugmentError(ValueError):
    """A malformed ``augment:`` item; ``path`` locates it inside the list (``(1, "rotate", "p")``)."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Augment:
    """One parsed ``augment:`` item. Only the parameters of its kind are meaningful."""

    name: str
    fields: tuple[str, ...]
    explicit: bool = False  # fields came from ``fields:`` (must fit) rather than the defaults (skipped)
    p: float = 1.0
    degrees: float = 0.0
    pixels: int = 0
    std: Scalars = 0.0
    mean: Scalars = 0.0

    @property
    def random(self) -> bool:
        return self.name != "normalize"


# -- parsing ------------------------------------------------------------------------------------


def parse_augment(items: Sequence[Any], *, default_fields: Sequence[str]) -> list[Augment]:
    """Parse a stream's ``augment:`` list; raises :class:`AugmentError` (a ``ValueError``)."""
    if not isinstance(items, (list, tuple)):
        raise AugmentError(f"augment must be a list of items, got {items!r}")
    return [_parse_item(item, i, tuple(default_fields)) for i, item in enumerate(items)]


def _parse_item(item: Any, index: int, default_fields: tuple[str, ...]) -> Augment:
    if isinstance(item, str):
        name, value = item, None
    elif isinstance(item, Mapping) and len(item) == 1:
        name, value = next(iter(item.items()))
    else:
        raise AugmentError(
            f"an augment item is a name or a one-key mapping like {{rotate: 10}}, got {item!r}", (index,)
        )
    _check_name(name, index)
    if value is None:
        args: dict[str, Any] = {}
    elif isinstance(value, Mapping):
        args = dict(value)
    elif _is_number(value) and name in _MAIN:
        args = {_MAIN[name]: value}
    else:
        form = (
            f"{{{name}: {{mean: [...], std: [...]}}}}"
            if name == "normalize"
            else f"{{{name}: NUMBER}} or {{{name}: {{...}}}}"
        )
        raise AugmentError(f"augment {name!r} takes {form}, got {value!r}", (index, name))
    return _build(name, args, index, default_fields)


def _check_name(name: Any, index: int) -> None:
    if name not in AUGMENTS:
        hint = did_you_mean(name, AUGMENTS)
        raise AugmentError(
            f"unknown augment {name!r} (expected one of {', '.join(AUGMENTS)}{'; ' + hint if hint else ''})",
            (index,),
        )


def _build(name: str, args: dict[str, Any], index: int, default_fields: tuple[str, ...]) -> Augment:
    path = (index, name)
    for key in args:
        if key not in _KEYS[name]:
            hint = did_you_mean(key, _KEYS[name])
            allowed = ", ".join(_KEYS[name])
            raise AugmentError(
                f"augment {name!r} has no option {key!r} (expected {allowed}{'; ' + hint if hint else ''})",
                (*path, key),
            )
    needed = ("mean", "std") if name == "normalize" else ((_REQUIRED[name],) if name in _REQUIRED else ())
    for key in needed:
        if key not in args:
            raise AugmentError(f"augment {name!r} needs {key!r}, e.g. {_example(name)}", path)
    fields = args.get("fields")
    explicit = fields is not None
    if explicit and (
        not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields)
    ):
        raise AugmentError(
            f"augment {name!r}: fields must be a non-empty list of field names, got {fields!r}",
            (*path, "fields"),
        )
    kw: dict[str, Any] = {
        "p": _number(args.get("p", _DEFAULT_P.get(name, 1.0)), name, "p", path, low=0.0, high=1.0)
    }
    if name == "rotate":
        kw["degrees"] = _number(args["degrees"], name, "degrees", path, low=0.0, high=180.0)
    elif name in ("translate", "crop"):
        kw["pixels"] = _pixels(args["pixels"], name, path)
    elif name == "noise":
        kw["std"] = _number(args["std"], name, "std", path, low=0.0)
    elif name == "normalize":
        kw = {
            "mean": _scalars(args["mean"], name, "mean", path),
            "std": _scalars(args["std"], name, "std", path, positive=True),
        }
    return Augment(name, tuple(fields) if explicit else default_fields, explicit, **kw)


def _example(name: str) -> str:
    return {"normalize": "{normalize: {mean: [0.5], std: [0.25]}}"}.get(
        name, f"{{{name}: {{{_REQUIRED.get(name, 'p')}: ...}}}}"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, name: str, key: str, path: tuple, *, low: float, high: float = math.inf) -> float:
    if not _is_number(value) or not low <= value <= high or math.isnan(value):
        bound = f"at least {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise AugmentError(f"augment {name!r}: {key} must be a number {bound}, got {value!r}", (*path, key))
    return float(value)


def _pixels(value: Any, name: str, path: tuple) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise AugmentError(
            f"augment {name!r}: pixels must be a whole number >= 0, got {value!r}", (*path, "pixels")
        )
    return value


def _scalars(value: Any, name: str, key: str, path: tuple, *, positive: bool = False) -> Scalars:
    values = value if isinstance(value, list) else [value]
    ok = bool(values) and all(_is_number(v) and (v > 0 if positive else True) for v in values)
    if not ok:
        what = "positive numbers" if positive else "numbers"
        raise AugmentError(
            f"augment {name!r}: {key} must be a number or a list of {what} (one per channel), got {value!r}",
            (*path, key),
        )
    return tuple(float(v) for v in values) if isinstance(value, list) else float(value)


def eval_augments(augs: Sequence[Augment]) -> list[Augment]:
    """The items that also apply at evaluation and prediction time (``normalize``)."""
    return [a for a in augs if not a.random]


# -- applying -----------------------------------------------------------------------------------


def apply_augment(
    batch: Mapping[str, Tensor], augs: Sequence[Augment], generator: torch.Generator
) -> dict[str, Tensor]:
    """A new batch with ``augs`` applied in order; the input tensors are not modified."""
    out = dict(batch)
    for aug in augs:
        names = _targets(out, aug)
        if names:
            _APPLY[aug.name](out, names, aug, generator)
    return out


def _spatial_dims(x: Tensor) -> int:
    """Floating fields are ``[N, C, *spatial]``; integer ones ``[N, *spatial]`` or ``[N, 1, H, W]``."""
    if x.is_floating_point():
        return max(x.ndim - 2, 0)
    return x.ndim - 1 if x.ndim <= 3 else x.ndim - 2


def _fits(name: str, x: Tensor, explicit: bool) -> bool:
    spatial = _spatial_dims(x)
    if name in ("noise", "normalize"):
        return x.is_floating_point() and (spatial >= 1 or (explicit and x.ndim >= 1))
    if name == "rotate":
        return spatial == 2
    return spatial >= (2 if name == "vflip" else 1)


_NEEDS = {
    "rotate": "a [N, C, H, W] floating or [N, H, W] integer field",
    "vflip": "a field with two spatial dims ([N, C, H, W] floating or [N, H, W] integer)",
    "noise": "a floating field",
    "normalize": "a floating field",
}


def _targets(batch: Mapping[str, Tensor], aug: Augment) -> list[str]:
    names = []
    for name in aug.fields:
        x = batch.get(name)
        if x is None:
            if aug.explicit:
                raise ValueError(
                    f"augment {aug.name!r}: the batch has no field {name!r} (fields: {', '.join(batch)})"
                )
            continue
        if _fits(aug.name, x, aug.explicit):
            names.append(name)
        elif aug.explicit:
            need = _NEEDS.get(
                aug.name,
                "a field with spatial dims ([N, C, L], [N, C, H, W] floating or [N, L], [N, H, W] integer)",
            )
            raise ValueError(
                f"augment {aug.name!r} needs {need}; {name!r} is {list(x.shape)} {str(x.dtype).removeprefix('torch.')}"
            )
    sizes = {batch[n].shape[0] for n in names}
    if len(sizes) > 1:
        raise ValueError(
            f"augment {aug.name!r}: fields {', '.join(names)} have different batch sizes {sorted(sizes)}"
        )
    return names


def _chosen(n: int, p: float, g: torch.Generator, device: torch.device) -> Tensor:
    """Which samples an item applies to (one draw per sample unless p is 0 or 1)."""
    if p >= 1.0:
        return torch.ones(n, dtype=torch.bool, device=device)
    if p <= 0.0:
        return torch.zeros(n, dtype=torch.bool, device=device)
    return (torch.rand(n, generator=g, device=g.device) < p).to(device)


def _per_sample(mask: Tensor, x: Tensor) -> Tensor:
    return mask.to(x.device).view(-1, *([1] * (x.ndim - 1)))


def _flip(dim: int) -> Callable[[dict[str, Tensor], list[str], Augment, torch.Generator], None]:
    def apply(out: dict[str, Tensor], names: list[str], aug: Augment, g: torch.Generator) -> None:
        chosen = _chosen(out[names[0]].shape[0], aug.p, g, g.device)
        for name in names:
            x = out[name]
            out[name] = torch.where(_per_sample(chosen, x), x.flip(dim), x)

    return apply


def _rotate(out: dict[str, Tensor], names: list[str], aug: Augment, g: torch.Generator) -> None:
    n = out[names[0]].shape[0]
    chosen = _chosen(n, aug.p, g, g.device)
    angles = (torch.rand(n, generator=g, device=g.device, dtype=torch.float64) * 2 - 1) * math.radians(
        aug.degrees
    )
    for name in names:
        out[name] = _rotate_field(out[name], angles, chosen)


def _rotate_field(x: Tensor, angles: Tensor, chosen: Tensor) -> Tensor:
    """Rotate each sample by its angle (radians) about the image centre; non-chosen samples stay."""
    integer = not x.is_floating_point()
    x4 = x.unsqueeze(1) if x.ndim == 3 else x
    work = x4 if x4.dtype in (torch.float32, torch.float64) else x4.to(torch.float32)
    n, h, w = work.shape[0], work.shape[-2], work.shape[-1]
    angles = angles.to(work.device)
    cos, sin = angles.cos(), angles.sin()
    theta = torch.zeros(n, 2, 3, dtype=torch.float64, device=work.device)
    # affine_grid works in [-1, 1] coordinates per axis; scale so non-square images rotate rigidly.
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    grid = F.affine_grid(theta.to(work.dtype), list(work.shape), align_corners=False)
    mode = "nearest" if integer else "bilinear"
    rotated = F.grid_sample(work, grid, mode=mode, padding_mode="zeros", align_corners=False)
    rotated = rotated.to(x.dtype).view(x.shape)
    return torch.where(_per_sample(chosen, x), rotated, x)


def _translate(out: dict[str, Tensor], names: list[str], aug: Augment, g: torch.Generator) -> None:
    n = out[names[0]].shape[0]
    chosen = _chosen(n, aug.p, g, g.device)
    k = aug.pixels
    shifts = torch.randint(-k, k + 1, (n, 2), generator=g, device=g.device) * chosen[:, None]
    for name in names:
        x = out[name]
        dims = min(_spatial_dims(x), 2)
        for axis, shift in zip(range(-dims, 0), shifts[:, 2 - dims :].unbind(1)):
            x = _shift_axis(x, x.ndim + axis, shift.to(x.device))
        out[name] = x


def _shift_axis(x: Tensor, axis: int, shift: Tensor) -> Tensor:
    """Move each sample by ``shift[n]`` whole pixels along ``axis``, filling with zeros."""
    size = x.shape[axis]
    src = torch.arange(size, device=x.device)[None, :] - shift[:, None]  # out[i] = in[i - shift]
    valid = (src >= 0) & (src < size)
    shape = [x.shape[0]] + [1] * (x.ndim - 1)
    shape[axis] = size
    moved = x.gather(axis, src.clamp(0, size - 1).view(shape).expand_as(x))
    return torch.where(valid.view(shape), moved, torch.zeros((), dtype=x.dtype, device=x.device))


def _noise(out: dict[str, Tensor], names: list[str], aug: Augment, g: torch.Generator) -> None:
    chosen = _chosen(out[names[0]].shape[0], aug.p, g, g.device)
    for name in names:
        x = out[name]
        eps = torch.randn(x.shape, generator=g, device=g.device, dtype=torch.float32).to(x.device, x.dtype)
        out[name] = torch.where(_per_sample(chosen, x), x + eps * float(aug.std), x)  # type: ignore[arg-type]


def _normalize(out: dict[str, Tensor], names: list[str], aug: Augment, g: torch.Generator) -> None:
    for name in names:
        x = out[name]
        out[name] = (x - _per_channel(aug.mean, x, name, "mean")) / _per_channel(aug.std, x, name, "std")


def _per_channel(values: Scalars, x: Tensor, name: str, key: str) -> Tensor | float:
    if isinstance(values, float):
        return values
    if len(values) == 1:
        return values[0]
    if x.ndim < 2 or x.shape[1] != len(values):
        channels = x.shape[1] if x.ndim >= 2 else "no"
        raise ValueError(
            f"augment 'normalize': {key} has {len(values)} values but field {name!r} has {channels} channels"
        )
    return torch.tensor(values, dtype=x.dtype, device=x.device).view(1, -1, *([1] * (x.ndim - 2)))


_APPLY: dict[str, Callable[[dict[str, Tensor], list[str], Augment, torch.Generator], None]] = {
    "hflip": _flip(-1),
    "vflip": _flip(-2),
    "rotate": _rotate,
    "translate": _translate,
    "crop": _translate,  # zero-pad by k, then a random crop back to size == a shift in [-k, k]
    "noise": _noise,
    "normalize": _normalize,
}
