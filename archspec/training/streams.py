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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from archspec.errors import DataError, SpecError
from archspec.lang.dataplan import StreamPlan, data_plan
from archspec.lang.model import Spec
from archspec.training.files import FileFields

__all__ = ["Stream", "build_streams", "check_model_inputs"]


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
    files: FileFields | None = None  # fields decoded from files as batches are read (image folders)
    _order: tuple[int, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        if self.files is not None:
            return len(self.files)
        return next(iter(self.tensors.values())).shape[0]

    @property
    def fields(self) -> list[str]:
        """Every field's name: those in memory (``tensors``) and those read from files."""
        return [*self.tensors, *(self.files.names if self.files is not None else ())]

    def steps_per_epoch(self, drop_last: bool = False) -> int:
        per_rank = self.size // self.world
        if drop_last:
            return max(1, per_rank // self.batch_size)
        return max(1, -(-per_rank // self.batch_size))

    def order(self, epoch: int) -> torch.Tensor:
        """This rank's sample order for ``epoch`` (the same on every run with the same seed),
        drawn once per epoch: a stream read one batch at a time (a semi-supervised run's other
        streams) must not pay a permutation of its whole size on every step."""
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, self._draw_order(epoch))
        return self._order[1]

    def _draw_order(self, epoch: int) -> torch.Tensor:
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
        if self.files is not None:
            for step in range(start, self.steps_per_epoch()):
                yield step, self.batch(epoch, step)
            return
        order, bs, tensors = self.order(epoch), self.batch_size, self.tensors.items()
        for step in range(start, self.steps_per_epoch()):  # ``batch`` inlined: the hot loop
            idx = order[step * bs : (step + 1) * bs]
            yield step, {k: v[idx] for k, v in tensors}

    def batch(self, epoch: int, step: int) -> dict[str, torch.Tensor]:
        """The batch at position ``(epoch, step)``."""
        order = self.order(epoch)
        idx = order[step * self.batch_size : (step + 1) * self.batch_size]
        batch = {k: v[idx] for k, v in self.tensors.items()}
        if self.files is not None:
            batch.update(self.files.batch((epoch, step), order, self.batch_size))
        return batch

    def all_batches(self, batch_size: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Every sample once, in order (for evaluation)."""
        bs = batch_size or max(self.batch_size, 256)
        decoded = self.files.in_order(bs) if self.files is not None else None
        for i in range(0, self.size, bs):
            batch = {k: v[i : i + bs] for k, v in self.tensors.items()}
            yield batch if decoded is None else {**batch, **next(decoded)}


def build_streams(
    spec: Spec,
    *,
    base_dir: str | None = None,
    roles: tuple[str, ...] | None = None,
    rank: int = 0,
    world: int = 1,
    lazy_files: bool = False,
    pin_memory: bool = False,
) -> dict[str, Stream]:
    """Every stream of ``spec.data`` (optionally only some roles), loaded as tensors; with
    ``lazy_files`` (the trainer) an image folder's images are decoded as batches are read,
    through a ``DataLoader`` with ``workers`` processes (pinned memory with ``pin_memory``)."""
    from archspec.training.augment import parse_augment

    training = spec.training
    default_bs = int(training.get("batch_size", 64))
    base = base_dir if base_dir is not None else os.path.dirname(os.path.abspath(spec.file))
    plans = data_plan(spec, base)  # one split per source, shared by its streams
    out: dict[str, Stream] = {}
    for name, raw in spec.data.items():
        role = raw.get("role", "train")
        if roles is not None and role not in roles:
            continue
        arrays = _read(raw, base, spec, name, plans.get(name), lazy=lazy_files)
        if "csv" not in raw:  # the CSV reader has already named its columns by ``fields``
            arrays = _map_fields(arrays, raw.get("fields"), spec, name)
        # an image folder read lazily gives its images as paths, left on disk until a batch reads them
        paths = [k for k, v in arrays.items() if v.dtype.kind == "U"] if "images" in raw else []
        tensors = {k: _tensor(v, spec, name, k) for k, v in arrays.items() if k not in paths}
        seed = int(raw.get("seed", training.get("seed", spec.seed)))
        files = _file_fields(raw, spec, arrays, paths, pin_memory, seed) if paths else None
        augs = []
        if raw.get("augment"):
            try:
                augs = parse_augment(raw["augment"], default_fields=[*tensors, *paths])
            except ValueError as exc:
                where = ("data", name, "augment", *getattr(exc, "path", ()))
                raise SpecError(str(exc), loc=spec.doc.loc(where)) from None
        out[name] = Stream(
            name=name,
            role=role,
            tensors=tensors,
            batch_size=int(raw.get("batch_size", default_bs)) // max(world, 1) or 1,
            shuffle=bool(raw.get("shuffle", role == "train")),
            seed=seed,
            augment=augs,
            rank=rank,
            world=world,
            files=files,
        )
    return out


def _file_fields(
    raw: Mapping[str, Any],
    spec: Spec,
    arrays: Mapping[str, np.ndarray],
    names: list[str],
    pin_memory: bool,
    seed: int,
) -> FileFields:
    """The folder's images of this stream's split, decoded through a DataLoader."""
    from archspec.training.files import FileFields, FolderImages, default_workers

    size, gray = _image_geometry(raw, spec)
    assert size is not None  # _read_file leaves images on disk only when it knows their size
    images = FolderImages(arrays[names[0]].tolist(), size, gray)
    workers = int(raw.get("workers", default_workers()))
    return FileFields(images, names, workers=workers, pin_memory=pin_memory, seed=seed)


def check_model_inputs(spec: Spec, streams: Mapping[str, Stream], names: Iterable[str]) -> None:
    """Every stream in ``names`` gives every model input with the declared per-sample shape and
    a usable dtype, so a mismatch is reported here, naming the stream and field, and never as a
    torch error inside the first forward. Integer data for a float input becomes float32."""
    for name in dict.fromkeys(names):
        stream = streams[name]
        missing = [i for i in spec.inputs if i not in stream.fields]
        if missing:
            raise SpecError(
                f"stream {name!r} does not provide model input {missing[0]!r}",
                loc=spec.doc.loc(("data", name), key=True),
                hint=f"map it with fields: {{{missing[0]}: <field>}}; the stream has {', '.join(stream.fields)}",
            )
        for key, inp in spec.inputs.items():
            if key in stream.tensors:  # (images read from files are decoded to the input's shape)
                stream.tensors[key] = _fit_input(spec, name, key, inp, stream.tensors[key])
        _check_indices(spec, name, stream.tensors)


def _fit_input(spec: Spec, stream: str, key: str, inp: Any, tensor: torch.Tensor) -> torch.Tensor:
    raw = spec.data.get(stream) or {}
    got, expected = list(tensor.shape[1:]), list(inp.shape)
    if got != expected:
        if "images" in raw:
            hint = "an image folder is resized to the input's [C, H, W] when C is 1 (grayscale) or 3 (RGB); declare such a shape in inputs"
        else:
            hint = f"give {key!r} as an array of shape [N, {', '.join(map(str, expected))}], or change inputs.{key}.shape"
        raise DataError(
            _where(spec, stream, key)
            + f"stream {stream!r} gives model input {key!r} a per-sample shape of {got}, but inputs.{key}.shape is {expected} (hint: {hint})"
        )
    if str(inp.dtype).startswith("float"):
        return tensor if tensor.is_floating_point() else tensor.float()
    if tensor.is_floating_point():
        raise DataError(
            _where(spec, stream, key)
            + f"stream {stream!r} gives model input {key!r} float values, but inputs.{key}.dtype is {inp.dtype} "
            f"(hint: store the field as integers, or declare inputs.{key}.dtype: float32)"
        )
    return tensor


def _check_indices(spec: Spec, stream: str, tensors: Mapping[str, torch.Tensor]) -> None:
    """Indices an input feeds straight into an ``embedding`` fit its table (torch would only
    say "index out of range in self" from inside the forward)."""
    for node in spec.nodes.values():
        if node.op != "embedding" or len(node.inputs) != 1 or node.inputs[0].node not in tensors:
            continue
        key, size = node.inputs[0].node, node.args.get("num_embeddings")
        values = tensors[key]
        if not isinstance(size, int) or values.is_floating_point() or not values.numel():
            continue
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= size:
            bad = low if low < 0 else high
            fix = (
                "re-index the data from 0"
                if low < 0
                else f"raise nodes.{node.id}.num_embeddings to at least {high + 1}, or re-index the data"
            )
            raise DataError(
                _where(spec, stream, key)
                + f"stream {stream!r} gives model input {key!r} the index {bad}, but node {node.id!r} (embedding) "
                f"has num_embeddings: {size}, so indices must be in 0..{size - 1} (hint: {fix})"
            )


def _where(spec: Spec, stream: str, key: str | None = None) -> str:
    """``spec.yaml:12:3: data.train.fields.x: `` for a message about a stream's field."""
    fields = (spec.data.get(stream) or {}).get("fields") or {}
    loc = (
        spec.doc.loc(("data", stream, "fields", key))
        if key in fields
        else spec.doc.loc(("data", stream), key=True)
    )
    return f"{loc.prefix()}: {loc.yaml_path}: "


def _read(
    raw: Mapping[str, Any], base: str, spec: Spec, name: str, plan: StreamPlan | None, *, lazy: bool = False
) -> dict[str, np.ndarray]:
    limit = _check_limit(raw.get("limit"), spec, name)
    if plan is None:  # no source: _read_file says so, located
        return _read_file(raw, base, spec, name, lazy)
    split = plan.split
    if "dataset" in raw:
        arrays = _read_dataset(raw, spec, name, plan, limit)
    else:
        arrays = _read_file(raw, base, spec, name, lazy)
        total = _count(arrays)
        if split != "all":
            arrays = _split(arrays, plan)
        if limit is not None:
            arrays = {k: v[:limit] for k, v in arrays.items()}
        if _count(arrays) == 0:
            where = _where(spec, name)
            if total == 0:
                raise DataError(where + f"stream {name!r} has no samples: its source holds none")
            raise DataError(
                where + f"stream {name!r} has no samples: split {split!r} of its {total} samples is empty "
                "(hint: give it a larger fraction in splits:, add data, or use split: all)"
            )
    return arrays


def _check_limit(limit: Any, spec: Spec, name: str) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise SpecError(
            f"limit must be a positive integer, got {limit!r}",
            loc=spec.doc.loc(("data", name, "limit")),
            hint="limit keeps the first N samples of the split; remove it to keep them all",
        )
    return limit


def _read_dataset(
    raw: Mapping[str, Any], spec: Spec, name: str, plan: StreamPlan, limit: int | None
) -> dict[str, np.ndarray]:
    """A built-in dataset; a bad option or a limit past its size is located in the spec."""
    import archspec.data as data

    dataset = data.get_dataset(raw["dataset"])
    options = raw.get("options") or {}
    for key, value in options.items():
        try:
            dataset.resolve({key: value})
        except DataError as exc:
            raise SpecError(str(exc), loc=spec.doc.loc(("data", name, "options", key), key=True)) from None
    split, seed = plan.split, plan.seed
    size = dataset.info(options).sizes[split]
    if limit is not None and limit > size:
        raise SpecError(
            f"limit {limit} is more than the {size} samples in dataset {raw['dataset']!r}, split {split!r}",
            loc=spec.doc.loc(("data", name, "limit")),
            hint=f"use limit: {size} or less, or raise the dataset's n in options:",
        )
    return data.load_dataset(raw["dataset"], split, seed=seed, limit=limit, options=options)


def _read_file(
    raw: Mapping[str, Any], base: str, spec: Spec, name: str, lazy: bool = False
) -> dict[str, np.ndarray]:
    """The source's fields; with ``lazy``, an image folder's ``image`` is its file paths (the
    labels come from the folder names, so nothing is decoded here)."""
    import archspec.data as data

    loc = spec.doc.loc(("data", name), key=True)
    if "csv" in raw:
        columns = raw.get("fields")
        if not columns:
            raise SpecError("a csv stream needs fields: {name: column or [columns]}", loc=loc)
        return data.read_csv(_path(base, raw["csv"]), columns)
    if "npz" in raw:
        return data.read_npz(_path(base, raw["npz"]))
    if "npy" in raw:
        arrays: dict[str, np.ndarray] = {}
        for key, path in raw["npy"].items():
            arrays.update(data.read_npy(_path(base, path), key))
        data.check_lengths(arrays, source=f"stream {name!r} (npy)")
        return arrays
    if "images" in raw:
        size, gray = _image_geometry(raw, spec)
        if lazy and size is not None:
            files = data.list_image_folder(_path(base, raw["images"]))[1]
            labels = np.asarray([label for label, _ in files], np.int64)
            return {"image": np.asarray([str(p) for _, p in files]), "label": labels}
        return data.read_image_folder(_path(base, raw["images"]), size=size, grayscale=gray)[0]
    raise SpecError("a stream needs a source: dataset, csv, npz, npy or images", loc=loc)


def _image_geometry(raw: Mapping[str, Any], spec: Spec) -> tuple[tuple[int, int] | None, bool]:
    """Resize and colour-convert folder images to the model input they feed (``[C, H, W]``).

    The input is the one whose field is the folder's ``image`` (via ``fields:``, else by name).
    """
    fields = raw.get("fields") or {}
    name = next((k for k, v in fields.items() if v == "image"), "image")
    inp = spec.inputs.get(name)
    if inp is None or len(inp.shape) != 3 or inp.shape[0] not in (1, 3):
        return None, False
    channels, height, width = inp.shape
    return (height, width), channels == 1


def _split(arrays: dict[str, np.ndarray], plan: StreamPlan) -> dict[str, np.ndarray]:
    """One split of user data, as :func:`archspec.lang.dataplan.data_plan` decided (and checked)."""
    import archspec.data as data

    return data.split_arrays(arrays, plan.fractions, split=plan.split, seed=plan.seed)


def _count(arrays: Mapping[str, np.ndarray]) -> int:
    return next(iter(arrays.values())).shape[0] if arrays else 0


def _path(base: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(base, path)


def _map_fields(
    arrays: dict[str, np.ndarray], fields: Mapping[str, Any] | None, spec: Spec, stream: str
) -> dict[str, np.ndarray]:
    if not fields:
        return arrays
    out = {}
    for name, source in fields.items():
        if source not in arrays:
            from archspec.errors import did_you_mean

            hint = did_you_mean(source, arrays) or f"fields: {', '.join(arrays)}"
            raise SpecError(
                f"stream {stream!r} has no field {source!r}",
                loc=spec.doc.loc(("data", stream, "fields", name)),
                hint=hint,
            )
        out[name] = arrays[source]
    return out


def _tensor(array: np.ndarray, spec: Spec, stream: str, key: str) -> torch.Tensor:
    if array.dtype.kind == "f":
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if array.dtype.kind in "iub":
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
    raise DataError(
        _where(spec, stream, key)
        + f"stream {stream!r} field {key!r} holds {array.dtype} values; archspec trains on numbers "
        "(hint: store it as float32 for features, or int64 for class labels)"
    )
