"""Weight initialisation schemes, applied per node after the modules are built.

The seed's advice as names: zero biases; Xavier/Glorot (Var = 2 / (n_in + n_out)); LeCun
(Var = 1 / n_in); He/Kaiming (Var = 2 / n_in, for ReLU layers); orthogonal; constants and
plain normal/uniform. ``default`` keeps PyTorch's own initialisation. Unless a spec says
otherwise, weights keep PyTorch's default and biases start at zero.

A scheme becomes one ``torch.nn.init`` call (:class:`InitCall`), decided once by
:func:`init_plan`: the compiler applies the plan to the modules it builds, and ``compile
--emit-python`` writes the same calls into the generated ``__init__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["ALIASES", "InitCall", "apply_init", "init_call", "init_plan", "init_tensor", "resolve_init"]

ALIASES = {
    "glorot_uniform": "xavier_uniform",
    "glorot_normal": "xavier_normal",
    "he_uniform": "kaiming_uniform",
    "he_normal": "kaiming_normal",
}

DEFAULT_INIT: dict[str, Any] = {"weight": "default", "bias": "zeros"}


def resolve_init(
    default: Mapping[str, Any] | None, node: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Merge the spec-wide and per-node ``init`` into ``{"weight": {...}, "bias": {...}}``."""
    merged: dict[str, Any] = {**DEFAULT_INIT, **(default or {}), **(node or {})}
    out = {}
    for key in ("weight", "bias"):
        value = merged[key]
        spec = {"scheme": value} if isinstance(value, str) else dict(value)
        spec["scheme"] = ALIASES.get(spec["scheme"], spec["scheme"])
        out[key] = spec
    return out


@dataclass(frozen=True)
class InitCall:
    """One in-place initialiser: ``torch.nn.init.<fn>(tensor, **kwargs)``."""

    fn: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, t: torch.Tensor) -> None:
        getattr(nn.init, self.fn)(t, **self.kwargs)


def init_call(spec: Mapping[str, Any], dim: int) -> InitCall | None:
    """The ``nn.init`` call of a resolved scheme for a tensor of ``dim`` dims; None leaves it be."""
    scheme = spec["scheme"]
    if scheme == "default":
        return None
    if scheme in ("zeros", "ones"):
        return InitCall(f"{scheme}_")
    if scheme == "constant":
        return InitCall("constant_", {"val": float(spec.get("value", 0.0))})
    if scheme == "normal":
        return InitCall(
            "normal_", {"mean": float(spec.get("mean", 0.0)), "std": float(spec.get("std", 0.01))}
        )
    if scheme == "uniform":
        return InitCall("uniform_", {"a": float(spec.get("low", -0.05)), "b": float(spec.get("high", 0.05))})
    if dim < 2:
        # fan-based schemes need a matrix; a 1-D weight (e.g. PReLU) keeps its default
        return None
    return _fan_call(scheme, spec)


def _fan_call(scheme: str, spec: Mapping[str, Any]) -> InitCall:
    gain = {"gain": float(spec.get("gain", 1.0))}
    if scheme in ("xavier_uniform", "xavier_normal", "orthogonal"):
        return InitCall(f"{scheme}_", gain)
    mode = spec.get("mode", "fan_in")
    if scheme in ("lecun_uniform", "lecun_normal"):
        kind = scheme.split("_")[1]
        return InitCall(f"kaiming_{kind}_", {"mode": mode, "nonlinearity": "linear"})
    if scheme in ("kaiming_uniform", "kaiming_normal"):
        return InitCall(f"{scheme}_", {"mode": mode, "nonlinearity": spec.get("nonlinearity", "relu")})
    # the schema lists the schemes; this guards plugins and future names
    raise ValueError(f"unknown init scheme {scheme!r}")


def init_plan(
    module: nn.Module, default: Mapping[str, Any] | None, node: Mapping[str, Any] | None
) -> list[tuple[str, InitCall]]:
    """The call for each ``weight*``/``bias*`` parameter of ``module``, in parameter order."""
    schemes = resolve_init(default, node)
    plan = []
    for name, param in module.named_parameters(recurse=True):
        leaf = name.rsplit(".", 1)[-1]
        kind = "bias" if leaf.startswith("bias") else "weight" if leaf.startswith("weight") else None
        call = None if kind is None else init_call(schemes[kind], param.dim())
        if call is not None:
            plan.append((name, call))
    return plan


@torch.no_grad()
def init_tensor(t: torch.Tensor, spec: Mapping[str, Any]) -> None:
    """Initialise one tensor in place according to a resolved scheme."""
    call = init_call(spec, t.dim())
    if call is not None:
        call.apply(t)


@torch.no_grad()
def apply_init(module: nn.Module, default: Mapping[str, Any] | None, node: Mapping[str, Any] | None) -> None:
    """Apply the resolved scheme to every ``weight``/``bias`` parameter of ``module``."""
    params = dict(module.named_parameters(recurse=True))
    for name, call in init_plan(module, default, node):
        call.apply(params[name])
