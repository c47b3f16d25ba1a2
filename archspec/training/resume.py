"""What a checkpoint holds besides the weights, and how ``--resume`` puts it back.

Exact resume needs everything that decides the next step: optimiser and scheduler state, the
loop's counters, each stream's (epoch, step) position, the torch and augmentation RNG states,
the fp16 loss scaler, and the partial sums of the epoch in progress. A fingerprint of the
resolved spec guards against resuming a run with a different spec.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml
from torch import nn

from archspec.errors import CheckpointError
from archspec.training.checkpoint import latest_checkpoint, load_checkpoint
from archspec.training.loop_state import LoopState
from archspec.training.transfer import load_weights

__all__ = [
    "Resumable",
    "checkpoint_state",
    "load_latest",
    "resolved_fingerprint",
    "restore_state",
    "spec_fingerprint",
]


class Resumable(Protocol):
    """What a checkpoint saves and restores: the Trainer is one. Read through these public
    attributes only, so that this module needs nothing from the loop's module."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Any  # a torch LR scheduler, or None
    scaler: torch.amp.GradScaler | None
    aug_gen: torch.Generator
    device: torch.device
    loop: LoopState


def spec_fingerprint(text: str) -> str:
    """A short hash of spec text, stored in each checkpoint."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolved_fingerprint(data: Any) -> str:
    """Identifies the resolved spec (text and overrides) a checkpoint belongs to."""
    return spec_fingerprint(yaml.safe_dump(data, sort_keys=True))


# -- save -------------------------------------------------------------------------------------


def checkpoint_state(trainer: Resumable, fingerprint: str) -> dict[str, Any]:
    """Everything but the weights that the next step depends on."""
    state = {
        "optimizer": trainer.optimizer.state_dict(),
        "schedule": trainer.schedule.state_dict() if trainer.schedule is not None else {},
        **trainer.loop.state_dict(),
        "rng_torch": torch.get_rng_state(),
        "rng_augment": trainer.aug_gen.get_state(),
        "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else {},
        "spec": fingerprint,
    }
    if trainer.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(trainer.device)
    return state


# -- restore ----------------------------------------------------------------------------------


def load_latest(
    root: Path, run_dir: Path, fingerprint: str
) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
    """The checkpoint ``latest`` points to (its path, weights and state), after checking that it
    belongs to the spec with ``fingerprint``."""
    path = latest_checkpoint(root)
    if path is None:
        raise CheckpointError(f"{run_dir}: nothing to resume (no checkpoints/latest)")
    weights, state = load_checkpoint(path)
    if state.get("spec") != fingerprint:
        raise CheckpointError(f"{run_dir} was trained from another spec; resume with the run's own spec.yaml")
    return path, weights, state


def restore_state(
    trainer: Resumable, path: Path, weights: dict[str, torch.Tensor], state: dict[str, Any]
) -> None:
    """Put a checkpoint that :func:`load_latest` read back into ``trainer``."""
    load_weights(trainer.model, weights, where=str(path))
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.schedule is not None and state.get("schedule"):
        trainer.schedule.load_state_dict(state["schedule"])
    trainer.loop.load_state_dict(state)
    _restore_rng(trainer, state)
    if trainer.scaler is not None and state.get("scaler"):
        trainer.scaler.load_state_dict(state["scaler"])


def _restore_rng(trainer: Resumable, state: dict[str, Any]) -> None:
    """Dropout and augmentation draw from these; without them a resume is not exact.
    The CUDA state is only restored on a CUDA device (a run may resume on another device)."""
    torch.set_rng_state(state["rng_torch"])
    if "rng_cuda" in state and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng_cuda"], trainer.device)
    trainer.aug_gen.set_state(state["rng_augment"])
