"""Running one training loop on several processes under ``torchrun``.

Everything that knows about ``torch.distributed`` lives here, so that the loop reads the same
with one process as with many: it asks which rank it is, wraps its model, and averages its
epoch means; with a world of one each of these is a no-op.
"""

from __future__ import annotations

import os

import torch
from torch import nn

__all__ = ["dist_info", "mean_over_ranks", "wrap_ddp"]


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
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


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
