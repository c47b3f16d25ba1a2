"""Running one training loop on several processes under ``torchrun``.

Everything that knows about ``torch.distributed`` lives here, so that the loop reads the same
with one process as with many: it asks which rank it is, wraps its model, and averages its
epoch means; with a world of one each of these is a no-op.

A rank that dies or freezes must not leave the others waiting for ever, nor make them print a
backend's traceback: the process group is made with a timeout (``ARCHSPEC_DIST_TIMEOUT``
seconds, default 600), after which a collective that a rank never joins fails, and
:func:`lost_ranks` turns that failure, or a dead rank's closed connection, into a
:class:`TrainingError` that names the ranks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch
from torch import nn

from archspec.errors import TrainingError, UsageError

__all__ = ["TIMEOUT_ENV", "dist_info", "dist_timeout", "lost_ranks", "mean_over_ranks", "wrap_ddp"]

TIMEOUT_ENV = "ARCHSPEC_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600.0  # seconds: longer than any checkpoint or evaluation one rank does alone
# How backends word a peer that went away or never answered (gloo, NCCL, the TCP store).
_LOST = ("connection reset", "connection closed", "broken pipe", "timed out", "timeout", "gloo", "nccl")


def dist_timeout() -> float:
    """Seconds a collective waits for every rank: ``ARCHSPEC_DIST_TIMEOUT``, else 600."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{TIMEOUT_ENV} must be a number of seconds greater than 0, got {text!r}")
    return value


def dist_info(device: torch.device) -> tuple[int, int, torch.device]:
    """``(rank, world size, device)`` under ``torchrun``; ``(0, 1, device)`` otherwise.

    On GPUs each rank takes the one its ``LOCAL_RANK`` names and talks over NCCL; on the CPU
    (also ``--device cpu`` on a GPU machine) the ranks talk over gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    import torch.distributed as dist

    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=dist_timeout()))
    return dist.get_rank(), dist.get_world_size(), device


@contextmanager
def lost_ranks() -> Iterator[None]:
    """Under ``torchrun``, turn a collective that failed because another rank died or froze into
    a :class:`TrainingError` naming this rank and the lost one (which is known in a world of two)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        yield
    except RuntimeError as exc:  # torch.distributed's DistError is one
        text = str(exc).strip()
        if world <= 1 or not any(word in text.lower() for word in _LOST):
            raise
        raise TrainingError(_lost_message(text, world)) from exc


def _lost_message(text: str, world: int) -> str:
    rank = int(os.environ.get("RANK", "0"))
    other = f"rank {1 - rank}" if world == 2 else "another rank"
    timeout = dist_timeout()
    if "timed out" in text.lower() or "timeout" in text.lower():
        what = f"{other} did not answer within {timeout:g} s (it is frozen, stopped or far too slow)"
    else:
        what = f"{other} closed its connection (it crashed or was killed)"
    detail = text.splitlines()[0][:200] if text else "no detail"
    return (
        f"rank {rank} of {world}: {what}; stopping this rank too ({detail}) "
        f"(hint: a rank that does not answer is given up on after {TIMEOUT_ENV}={timeout:g} seconds)"
    )


def wrap_ddp(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """The module to call in the loop: ``model`` itself alone, wrapped in DDP (which averages
    gradients across ranks in ``backward``) when there are several ranks."""
    if world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def mean_over_ranks(values: dict[str, float], device: torch.device, world: int) -> dict[str, float]:
    """Average the ranks' epoch means (equal step counts), so that every rank logs and
    decides early stopping and plateau cuts on the same global loss, as one process would."""
    if world <= 1 or not values:
        return values
    import torch.distributed as dist

    summed = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(summed)
    return dict(zip(values, (summed / world).tolist()))
