"""What a checkpoint holds besides the weights, and how ``--resume`` puts it back.

Exact resume needs everything that decides the next step: optimiser and scheduler state, the
loop's counters, each stream's (epoch, step) position, the torch and augmentation RNG states,
the fp16 loss scaler, and the partial sums of the epoch in progress. A fingerprint of the
resolved spec guards against resuming a run with a different spec.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from archspec.errors import CheckpointError
from archspec.lang.loader import dumps
from archspec.training.checkpoint import latest_checkpoint, load_checkpoint
from archspec.training.loop_state import LoopState
from archspec.training.transfer import load_weights

__all__ = [
    "Resumable",
    "check_state",
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
    return spec_fingerprint(dumps(data, sort_keys=True))


def _fingerprints(fingerprint: str, data: Any) -> Iterator[str]:
    """``fingerprint``, then (only if asked for) that of the pure-Python emitter's text. The two
    emitters differ on unusual strings, and a run started before archspec used libyaml, or on a
    machine whose PyYAML lacks it, must still resume."""
    yield fingerprint
    yield spec_fingerprint(dumps(data, sort_keys=True, pure=True))


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
    root: Path, run_dir: Path, fingerprint: str, data: Any
) -> tuple[Path, dict[str, torch.Tensor], dict[str, Any]]:
    """The checkpoint ``latest`` points to (its path, weights and state), after checking that it
    belongs to the resolved spec ``data``, whose fingerprint is ``fingerprint``."""
    path = latest_checkpoint(root)
    if path is None:
        raise CheckpointError(f"{run_dir}: nothing to resume (no checkpoints/latest)")
    weights, state = load_checkpoint(path)
    check_state(path, state)
    if state.get("spec") not in _fingerprints(fingerprint, data):
        raise CheckpointError(f"{run_dir} was trained from another spec; resume with the run's own spec.yaml")
    return path, weights, state


def restore_state(
    trainer: Resumable, path: Path, weights: dict[str, torch.Tensor], state: dict[str, Any]
) -> None:
    """Put a checkpoint that :func:`load_latest` read back into ``trainer``."""
    load_weights(trainer.model, weights, where=str(path))
    with _field(path, "optimizer"):
        trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.schedule is not None and state.get("schedule"):
        with _field(path, "schedule"):
            trainer.schedule.load_state_dict(state["schedule"])
    trainer.loop.load_state_dict(state)
    _restore_rng(trainer, state)
    if trainer.scaler is not None and state.get("scaler"):
        with _field(path, "scaler"):
            trainer.scaler.load_state_dict(state["scaler"])


# -- the state's fields, checked before any is used --------------------------------------------

_INT, _NUMBER, _BOOL = "an integer >= 0", "a number", "true or false"
_COUNTER_TYPES = {"step": _INT, "epoch": _INT, "epoch_step": _INT, "bad_epochs": _INT, "micro": _INT}
_COUNTER_TYPES |= {"stopped": _BOOL, "seconds": _NUMBER}


def check_state(path: Path, state: Any) -> None:
    """Refuse a checkpoint whose ``state.pt`` has the right keys but values of the wrong kind
    (a float RNG state, ``step: "abc"``), naming the field, before anything is restored."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: state.pt holds {type(state).__name__}, not a training state")
    for key in ("optimizer", "counters", "positions", "rng_torch", "rng_augment"):
        if key not in state:
            raise CheckpointError(f"{path}: state.pt has no field {key!r}")
    _need(path, "spec", state.get("spec"), "a spec fingerprint", lambda v: isinstance(v, str))
    _need(path, "optimizer", state["optimizer"], "an optimiser state", _optimizer_like)
    for key in ("schedule", "scaler", "epoch_sums"):
        _need(path, key, state.get(key) or {}, "a mapping", lambda v: isinstance(v, dict))
    for key, value in (state.get("epoch_sums") or {}).items():
        _need(path, f"epoch_sums.{key}", value, _NUMBER, _is_number)
    _need(path, "counters", state["counters"], "a mapping", lambda v: isinstance(v, dict))
    for key, value in state["counters"].items():
        what = _COUNTER_TYPES.get(key)
        if what is not None:
            _need(path, f"counters.{key}", value, what, _CHECKS[what])
    if state.get("best") is not None:
        _need(path, "best", state["best"], _NUMBER, _is_number)
    _need(path, "positions", state["positions"], "a mapping", lambda v: isinstance(v, dict))
    for key, value in state["positions"].items():
        _need(path, f"positions.{key}", value, "[epoch, step]", _position)
    for key in ("rng_torch", "rng_augment", "rng_cuda"):
        if key in state:
            _need(path, key, state[key], "a uint8 tensor (an RNG state)", _rng_state)


def _need(path: Path, field: str, value: Any, what: str, ok: Any) -> None:
    if not ok(value):
        shown = f"a {value.dtype} tensor" if isinstance(value, torch.Tensor) else repr(value)[:80]
        raise CheckpointError(f"{path}: field {field!r} of state.pt should be {what}, got {shown}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_CHECKS = {_INT: _is_int, _NUMBER: _is_number, _BOOL: lambda v: isinstance(v, bool)}


def _position(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) == 2 and all(_is_int(x) for x in v)


def _rng_state(v: Any) -> bool:
    return isinstance(v, torch.Tensor) and v.dtype == torch.uint8 and v.dim() == 1


def _optimizer_like(v: Any) -> bool:
    return (
        isinstance(v, dict) and isinstance(v.get("state"), dict) and isinstance(v.get("param_groups"), list)
    )


@contextmanager
def _field(path: Path, field: str) -> Iterator[None]:
    """Name the field when torch refuses what it holds (its own nested structure)."""
    try:
        yield
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: field {field!r} of state.pt does not fit this run ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def _restore_rng(trainer: Resumable, state: dict[str, Any]) -> None:
    """Dropout and augmentation draw from these; without them a resume is not exact.
    The CUDA state is only restored on a CUDA device (a run may resume on another device)."""
    torch.set_rng_state(state["rng_torch"])
    if "rng_cuda" in state and trainer.device.type == "cuda":
        torch.cuda.set_rng_state(state["rng_cuda"], trainer.device)
    trainer.aug_gen.set_state(state["rng_augment"])
