"""What a checkpoint holds besides the weights, and how ``--resume`` puts it back.

Exact resume needs everything that decides the next step: optimiser and scheduler state, the
loop's counters, each stream's (epoch, step) position, the torch and augmentation RNG states,
the fp16 loss scaler, and the partial sums of the epoch in progress. A fingerprint of the
resolved spec guards against resuming a run with a different spec.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import yaml

from archspec.errors import CheckpointError
from archspec.training.checkpoint import latest_checkpoint, load_checkpoint

if TYPE_CHECKING:
    from archspec.training.runner import Trainer

__all__ = [
    "checkpoint_name",
    "checkpoint_state",
    "fresh_state",
    "load_latest",
    "restore_state",
    "spec_fingerprint",
]

_COUNTERS = ("step", "epoch", "epoch_step", "bad_epochs", "stopped", "micro")


def spec_fingerprint(text: str) -> str:
    """A short hash of spec text, stored in each checkpoint."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolved_fingerprint(data: Any) -> str:
    """Identifies the resolved spec (text and overrides) a checkpoint belongs to."""
    return spec_fingerprint(yaml.safe_dump(data, sort_keys=True))


def fresh_state() -> dict[str, Any]:
    """The loop's counters at the start of a run (a resume overwrites them)."""
    return {
        "step": 0,
        "epoch": 0,
        "epoch_step": 0,
        "positions": {},
        "best": None,
        "bad_epochs": 0,
        "stopped": False,
    }


def checkpoint_name(state: dict[str, Any]) -> str:
    """Names sort in training order, also for checkpoints taken within an epoch."""
    return f"step-{state['step']:08d}-{state['epoch_step']:06d}"


# -- save -------------------------------------------------------------------------------------


def checkpoint_state(trainer: Trainer) -> dict[str, Any]:
    """Everything but the weights that the next step depends on."""
    state = {
        "optimizer": trainer.optimizer.state_dict(),
        "schedule": trainer.schedule.state_dict() if trainer.schedule is not None else {},
        **_loop_state(trainer.state),
        "rng_torch": torch.get_rng_state(),
        "rng_augment": trainer.aug_gen.get_state(),
        "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else {},
        "epoch_sums": dict(trainer.state.get("epoch_sums") or {}),
        "spec": trainer.fingerprint(),
    }
    if trainer.device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(trainer.device)
    return state


def _loop_state(state: dict[str, Any]) -> dict[str, Any]:
    """Counters, the early-stopping best, and stream positions (as lists; ``_restore_loop``
    turns them back into tuples)."""
    return {
        "counters": {k: state[k] for k in _COUNTERS if k in state},
        "best": state["best"],
        "positions": {k: list(v) for k, v in state["positions"].items()},
    }


# -- restore ----------------------------------------------------------------------------------


def load_latest(root: Path, run_dir: Path) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
    """The checkpoint ``latest`` points to: its path, weights and state."""
    path = latest_checkpoint(root)
    if path is None:
        raise CheckpointError(f"{run_dir}: nothing to resume (no checkpoints/latest)")
    weights, state = load_checkpoint(path)
    return path, weights, state


def restore_state(
    trainer: Trainer, path: Path, weights: dict[str, torch.Tensor], state: dict[str, Any]
) -> None:
    """Put a checkpoint back into ``trainer``, after checking it belongs to this spec."""
    if state.get("spec") != trainer.fingerprint():
        raise CheckpointError(
            f"{trainer.opt.run_dir} was trained from another spec; resume with the run's own spec.yaml"
        )
    from archspec.training.transfer import load_weights

    load_weights(trainer.model, weights, where=str(path))
    _restore_optimisation(trainer, state)
    _restore_loop(trainer.state, state)
    _restore_rng(trainer, state)
    if trainer.scaler is not None and state.get("scaler"):
        trainer.scaler.load_state_dict(state["scaler"])
    trainer.state["epoch_sums"] = dict(state.get("epoch_sums") or {})


def _restore_optimisation(trainer: Trainer, state: dict[str, Any]) -> None:
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.schedule is not None and state.get("schedule"):
        trainer.schedule.load_state_dict(state["schedule"])


def _restore_loop(into: dict[str, Any], state: dict[str, Any]) -> None:
    """The inverse of ``_loop_state``: positions become (epoch, step) tuples again."""
    into.update(state["counters"])
    into["best"] = state["best"]
    into["positions"] = {k: tuple(v) for k, v in state["positions"].items()}


def _restore_rng(trainer: Trainer, state: dict[str, Any]) -> None:
    """Dropout and augmentation draw from these; without them a resume is not exact.
    The CUDA state is only restored on a CUDA device (a run may resume on another device)."""
    torch.set_rng_state(state["rng_torch"])
    if "rng_cuda" in state and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng_cuda"], trainer.device)
    trainer.aug_gen.set_state(state["rng_augment"])
