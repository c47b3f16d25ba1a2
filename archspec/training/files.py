"""Fields decoded from files as a stream reads them: an image folder through a ``DataLoader``.

A stream keeps its labels in memory and the image paths of its split; :class:`FileFields`
decodes the images of each batch with Pillow in ``workers`` processes (pinned memory when the
model is on CUDA, so the copy to the device overlaps the step). The batches are the stream's
own: the index lists come from ``Stream.order(epoch)``, so the shuffle, a resume mid-epoch and
the numbers are those of the in-memory path. Workers draw no random numbers (decoding is
deterministic; augmentation runs in the training process on the run's own generator), which is
why ``workers: 0`` and ``workers: 4`` train to the same weights.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["FileFields", "FolderImages", "default_workers"]


def default_workers() -> int:
    """``workers`` for a file-backed stream when the spec says nothing: min(4, CPUs)."""
    return min(4, os.cpu_count() or 1)


class FolderImages(Dataset):
    """Map-style: item ``i`` is image ``paths[i]`` as float32 ``[C, H, W]`` in 0..1."""

    def __init__(self, paths: Sequence[str], size: tuple[int, int], grayscale: bool) -> None:
        from archspec.data.readers import image_reader

        self.paths, self.size, self.grayscale = list(paths), size, grayscale
        self._read = image_reader(size, grayscale)  # Pillow found and the size checked once

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self._read(self.paths[i]))


class _Chunks(Sampler[list[int]]):
    """The index lists the loader reads next; set before each pass (sampling runs in the
    training process, so persistent workers see the new lists)."""

    def __init__(self) -> None:
        self.chunks: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.chunks)

    def __len__(self) -> int:
        return len(self.chunks)


class FileFields:
    """The stream's fields (``names``, all the same images) decoded batch by batch.

    Read in order — ``(epoch, 0)``, ``(epoch, 1)``, ... — the loader runs ahead by
    ``workers × 2`` batches; any other position (a resume, a new epoch) starts a new pass there.
    """

    def __init__(
        self, images: FolderImages, names: Sequence[str], *, workers: int, pin_memory: bool, seed: int
    ) -> None:
        self.images, self.names, self.workers = images, tuple(names), workers
        self._chunks = _Chunks()
        self.loader = DataLoader(
            images,
            batch_sampler=self._chunks,
            num_workers=workers,
            pin_memory=pin_memory,
            persistent_workers=workers > 0,
            # the loader draws its workers' base seed from this, never from torch's global RNG
            # (which dropout reads: drawing from it would make workers change the run)
            generator=torch.Generator().manual_seed(seed),
        )
        self._live: Iterator[torch.Tensor] | None = None
        self._next: Any = None  # the position the live pass reads next

    def __len__(self) -> int:
        return len(self.images)

    def per_sample_shape(self) -> tuple[int, ...]:
        channels = 1 if self.images.grayscale else 3
        return (channels, *self.images.size)

    def batch(
        self, position: tuple[int, int], order: torch.Tensor, batch_size: int
    ) -> dict[str, torch.Tensor]:
        """The images at ``position`` = (epoch, step) of a pass in ``order``."""
        epoch, step = position
        if self._live is None or self._next != position:
            rest = order.numpy()[step * batch_size :]  # the order lives on the CPU: no device read
            self._live = self._start(
                [rest[i : i + batch_size].tolist() for i in range(0, len(rest), batch_size)]
            )
        self._next = (epoch, step + 1)
        return self._fields(next(self._live))

    def in_order(self, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """Every image once, in order (for evaluation)."""
        self._live = None
        chunks = [list(range(i, min(i + batch_size, len(self)))) for i in range(0, len(self), batch_size)]
        for images in self._start(chunks):
            yield self._fields(images)

    def _start(self, chunks: list[list[int]]) -> Iterator[torch.Tensor]:
        self._chunks.chunks = chunks
        return iter(self.loader)

    def _fields(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict.fromkeys(self.names, images)
