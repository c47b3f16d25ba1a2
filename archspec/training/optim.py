"""Optimisers, per-part parameter groups and learning-rate schedules, by name from a registry.

``groups`` give some parameters their own settings (e.g. a lower lr for a pretrained encoder):
each group's ``params`` is a part name or a glob over parameter names; the first group that
matches a parameter wins, and the rest use the optimiser's own settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from archspec.lang.model import param_matches

__all__ = ["OPTIMIZERS", "build_optimizer", "build_schedule", "param_matches"]

OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], tuple[str, ...]]] = {
    "sgd": (torch.optim.SGD, ("lr", "momentum", "nesterov", "weight_decay")),
    "adagrad": (torch.optim.Adagrad, ("lr", "weight_decay", "eps")),
    "rmsprop": (torch.optim.RMSprop, ("lr", "alpha", "eps", "momentum", "weight_decay")),
    "adadelta": (torch.optim.Adadelta, ("lr", "rho", "eps", "weight_decay")),
    "adam": (torch.optim.Adam, ("lr", "betas", "eps", "weight_decay")),
    "adamw": (torch.optim.AdamW, ("lr", "betas", "eps", "weight_decay")),
    "adamax": (torch.optim.Adamax, ("lr", "betas", "eps", "weight_decay")),
}
DEFAULT_LR = {
    "sgd": 0.01,
    "adagrad": 0.01,
    "rmsprop": 0.01,
    "adadelta": 1.0,
    "adam": 1e-3,
    "adamw": 1e-3,
    "adamax": 2e-3,
}


def build_optimizer(
    model: nn.Module, config: Mapping[str, Any], parts: Mapping[str, list[str]]
) -> torch.optim.Optimizer:
    name = config.get("name", "adam")
    cls, allowed = OPTIMIZERS[name]
    base = {k: (tuple(v) if k == "betas" else v) for k, v in config.items() if k in allowed}
    base.setdefault("lr", DEFAULT_LR[name])
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = []
    taken: set[str] = set()
    for group in config.get("groups", []):
        patterns = group["params"] if isinstance(group["params"], list) else [group["params"]]
        chosen = [
            p for n, p in named if n not in taken and any(param_matches(n, pat, parts) for pat in patterns)
        ]
        taken |= {n for n, p in named if any(q is p for q in chosen)}
        if chosen:
            groups.append({"params": chosen, **{k: v for k, v in group.items() if k != "params"}})
    rest = [p for n, p in named if n not in taken]
    if rest:
        groups.append({"params": rest})
    return cls(groups, **base)


def build_schedule(
    optimizer: torch.optim.Optimizer, config: Mapping[str, Any] | None, total_steps: int, *, mode: str = "min"
) -> Any:
    """A per-step LR scheduler (``plateau`` steps per epoch on the validation metric).

    ``mode`` says whether that metric is better when lower (``min``, a loss) or higher
    (``max``, an accuracy); the runner passes the early-stopping monitor's mode.
    """
    if not config:
        return None
    name = config["name"]
    warmup = int(config.get("warmup", 0))
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode=mode,
            factor=config.get("factor", 0.1),
            patience=config.get("patience", 5),
            min_lr=config.get("min_lr", 0.0),
        )
    if name == "one_cycle":
        max_lr = config.get("max_lr") or [g["lr"] for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=max(total_steps, 1))
    gamma = float(config.get("gamma", 0.1))
    step_size = int(config.get("step_size", max(total_steps // 3, 1)))
    min_lr = float(config.get("min_lr", 0.0))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = step - warmup
        if name == "step":
            return gamma ** (t // step_size)
        if name == "cosine":
            span = max(total_steps - warmup, 1)
            return min_lr + (1 - min_lr) * 0.5 * (1 + math.cos(math.pi * min(t / span, 1.0)))
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
