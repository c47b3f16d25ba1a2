"""Data streams: the ``data:`` section as tensors, batched deterministically and resumably.

A stream is one named source (a built-in dataset, a CSV, NPZ/NPY arrays or an image folder)
with a role (``train``, ``val``, ``test``), a field mapping and a batch size. Batches come from
a permutation drawn from ``(seed, epoch)``, so a position ``(epoch, step)`` fully describes
where a stream is: that is what a checkpoint stores to resume exactly.

``fields: {image: flat, label: label}`` maps the names the spec uses (model inputs and loss
targets) to the source's field names; without it the source's own names are used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from archspec.errors import DataError, SpecError
from archspec.spec.model import Spec

__all__ = ["Stream", "build_streams"]


@dataclass
class Stream:
    name: str
    role: str
    tensors: dict[str, torch.Tensor]
    batch_size: int
    shuffle: bool
    seed: int
    augment: list[Any] = field(default_factory=list)
    rank: int = 0
    world: int = 1

    @property
    def size(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def steps_per_epoch(self, drop_last: bool = False) -> int:
        per_rank = self.size // self.world
        if drop_last:
            return max(1, per_rank // self.batch_size)
        return max(1, -(-per_rank // self.batch_size))

    def order(self, epoch: int) -> torch.Tensor:
        """This rank's sample order for ``epoch`` (the same on every run with the same seed)."""
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.size, generator=gen)
        else:
            perm = torch.arange(self.size)
        if self.world > 1:
            usable = (self.size // self.world) * self.world
            perm = perm[:usable][self.rank :: self.world]
        return perm

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """``(step, batch)`` for the steps of ``epoch`` from ``start`` on."""
        perm = self.order(epoch)
        steps = self.steps_per_epoch()
        for step in range(start, steps):
            idx = perm[step * self.batch_size : (step + 1) * self.batch_size]
            yield step, {k: v[idx] for k, v in self.tensors.items()}

    def all_batches(self, batch_size: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Every sample once, in order (for evaluation)."""
        bs = batch_size or max(self.batch_size, 256)
        for i in range(0, self.size, bs):
            yield {k: v[i : i + bs] for k, v in self.tensors.items()}


def build_streams(spec: Spec, *, base_dir: str | None = None, roles: tuple[str, ...] | None = None, rank: int = 0, world: int = 1) -> dict[str, Stream]:
    """Every stream of ``spec.data`` (optionally only some roles), loaded as tensors."""
    from archspec.train.augment import parse_augment

    training = spec.training
    default_bs = int(training.get("batch_size", 64))
    base = base_dir if base_dir is not None else os.path.dirname(os.path.abspath(spec.file))
    out: dict[str, Stream] = {}
    for name, raw in spec.data.items():
        role = raw.get("role", "train")
        if roles is not None and role not in roles:
            continue
        loc = spec.doc.loc(("data", name), key=True)
        arrays = _read(raw, base, spec.seed, loc)
        if "csv" not in raw:  # the CSV reader has already named its columns by ``fields``
            arrays = _map_fields(arrays, raw.get("fields"), spec, name)
        tensors = {k: _tensor(v) for k, v in arrays.items()}
        augs = []
        if raw.get("augment"):
            try:
                augs = parse_augment(raw["augment"], default_fields=list(tensors))
            except ValueError as exc:
                where = ("data", name, "augment", *getattr(exc, "path", ()))
                raise SpecError(str(exc), loc=spec.doc.loc(where)) from None
        out[name] = Stream(
            name=name,
            role=role,
            tensors=tensors,
            batch_size=int(raw.get("batch_size", default_bs)) // max(world, 1) or 1,
            shuffle=bool(raw.get("shuffle", role == "train")),
            seed=int(raw.get("seed", training.get("seed", spec.seed))),
            augment=augs,
            rank=rank,
            world=world,
        )
    return out


def _read(raw: Mapping[str, Any], base: str, seed: int, loc: Any) -> dict[str, np.ndarray]:
    from archspec import data

    split = raw.get("split", "train")
    limit = raw.get("limit")
    if "dataset" in raw:
        return data.load_dataset(raw["dataset"], split, seed=int(raw.get("seed", seed)), limit=limit, options=raw.get("options"))
    if "csv" in raw:
        columns = raw.get("fields")
        if not columns:
            raise SpecError("a csv stream needs fields: {name: column or [columns]}", loc=loc)
        arrays = data.read_csv(_path(base, raw["csv"]), columns)
    elif "npz" in raw:
        arrays = data.read_npz(_path(base, raw["npz"]))
    elif "npy" in raw:
        arrays = {}
        for key, path in raw["npy"].items():
            arrays.update(data.read_npy(_path(base, path), key))
        data.check_lengths(arrays, source="npy")
    elif "images" in raw:
        arrays, _classes = data.read_image_folder(_path(base, raw["images"]))
    else:
        raise SpecError("a stream needs a source: dataset, csv, npz, npy or images", loc=loc)
    if split != "all":
        arrays = data.split_arrays(arrays, raw.get("splits"), split=split, seed=int(raw.get("seed", seed)))
    if limit is not None:
        arrays = {k: v[:limit] for k, v in arrays.items()}
    return arrays


def _path(base: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(base, path)


def _map_fields(arrays: dict[str, np.ndarray], fields: Mapping[str, Any] | None, spec: Spec, stream: str) -> dict[str, np.ndarray]:
    if not fields:
        return arrays
    out = {}
    for name, source in fields.items():
        if source not in arrays:
            from archspec.errors import did_you_mean

            hint = did_you_mean(source, arrays) or f"fields: {', '.join(arrays)}"
            raise SpecError(f"stream {stream!r} has no field {source!r}", loc=spec.doc.loc(("data", stream, "fields", name)), hint=hint)
        out[name] = arrays[source]
    return out


def _tensor(array: np.ndarray) -> torch.Tensor:
    if array.dtype.kind == "f":
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if array.dtype.kind in "iub":
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    raise DataError(f"unsupported array dtype {array.dtype}")
