"""Weight initialisation schemes, applied per node after the modules are built.

The seed's advice as names: zero biases; Xavier/Glorot (Var = 2 / (n_in + n_out)); LeCun
(Var = 1 / n_in); He/Kaiming (Var = 2 / n_in, for ReLU layers); orthogonal; constants and
plain normal/uniform. ``default`` keeps PyTorch's own initialisation. Unless a spec says
otherwise, weights keep PyTorch's default and biases start at zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["ALIASES", "apply_init", "init_tensor", "resolve_init"]

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


@torch.no_grad()
def init_tensor(t: torch.Tensor, spec: Mapping[str, Any]) -> None:
    """Initialise one tensor in place according to a resolved scheme."""
    scheme = spec["scheme"]
    fan_ok = t.dim() >= 2
    if scheme == "default":
        return
    if scheme == "zeros":
        nn.init.zeros_(t)
    elif scheme == "ones":
        nn.init.ones_(t)
    elif scheme == "constant":
        nn.init.constant_(t, float(spec.get("value", 0.0)))
    elif scheme == "normal":
        nn.init.normal_(t, float(spec.get("mean", 0.0)), float(spec.get("std", 0.01)))
    elif scheme == "uniform":
        nn.init.uniform_(t, float(spec.get("low", -0.05)), float(spec.get("high", 0.05)))
    elif not fan_ok:
        # fan-based schemes need a matrix; a 1-D weight (e.g. PReLU) keeps its default
        return
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(t, gain=float(spec.get("gain", 1.0)))
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(t, gain=float(spec.get("gain", 1.0)))
    elif scheme in ("lecun_uniform", "lecun_normal"):
        fn = nn.init.kaiming_uniform_ if scheme == "lecun_uniform" else nn.init.kaiming_normal_
        fn(t, mode=spec.get("mode", "fan_in"), nonlinearity="linear")
    elif scheme in ("kaiming_uniform", "kaiming_normal"):
        fn = nn.init.kaiming_uniform_ if scheme == "kaiming_uniform" else nn.init.kaiming_normal_
        fn(t, mode=spec.get("mode", "fan_in"), nonlinearity=spec.get("nonlinearity", "relu"))
    elif scheme == "orthogonal":
        nn.init.orthogonal_(t, gain=float(spec.get("gain", 1.0)))
    else:  # the schema lists the schemes; this guards plugins and future names
        raise ValueError(f"unknown init scheme {scheme!r}")


def apply_init(module: nn.Module, default: Mapping[str, Any] | None, node: Mapping[str, Any] | None) -> None:
    """Apply the resolved scheme to every ``weight``/``bias`` parameter of ``module``."""
    schemes = resolve_init(default, node)
    for name, param in module.named_parameters(recurse=True):
        leaf = name.rsplit(".", 1)[-1]
        kind = "bias" if leaf.startswith("bias") else "weight" if leaf.startswith("weight") else None
        if kind is not None:
            init_tensor(param, schemes[kind])
