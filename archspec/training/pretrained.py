"""Weights from elsewhere: read a safetensors file or a PyTorch state_dict without unpickling
code, and match its tensors to a spec's — by name, through a declared prefix map, or by order.

``training.init_from`` (``transfer.py``) uses this for ``weights:`` entries. The match is decided
once, predictably: with ``map:`` the file's names are renamed and then matched by name; without
it, by name when the file shares any name with the tensors to fill (an imported spec's artefact,
an earlier compile), else by order (the file's order against the spec's, shapes checked). A
safetensors file keeps no order (its tensors are stored sorted), so it matches by name or map.
Every tensor that does not fit is collected, so one error lists them all.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from archspec.errors import CheckpointError, did_you_mean

__all__ = ["WeightsFile", "WeightsMatch", "match_weights", "read_weights_file", "weights_path"]

SAFETENSORS_SUFFIX = ".safetensors"
ARTIFACT_WEIGHTS = "model.safetensors"  # archspec.compiler.artifact.WEIGHTS, read as a plain file
# Keys under which checkpoints commonly nest their state_dict ({"state_dict": {...}, "epoch": 3}).
_NESTED = ("state_dict", "model_state_dict", "model")


@dataclass(frozen=True)
class WeightsFile:
    """The tensors of a weights file; ``ordered`` when the file keeps the order it was saved in."""

    path: Path
    tensors: dict[str, torch.Tensor]
    ordered: bool


@dataclass
class WeightsMatch:
    """Target name -> source tensor, how they were matched, and what did not fit."""

    how: str
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def weights_path(path: Path) -> Path | None:
    """The weights file ``path`` names: itself, or an artefact directory's ``model.safetensors``."""
    file = path / ARTIFACT_WEIGHTS if path.is_dir() else path
    return file if file.is_file() else None


def read_weights_file(file: Path) -> WeightsFile:
    """A ``.safetensors`` file, or a file ``torch.save`` wrote (loaded with
    ``weights_only=True``: tensors and plain containers only, never code)."""
    if file.suffix == SAFETENSORS_SUFFIX:
        return WeightsFile(file, _read_safetensors(file), ordered=False)
    return WeightsFile(file, _read_state_dict(file), ordered=True)


def _read_safetensors(file: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(file), device="cpu")
    except Exception as exc:  # safetensors raises its own error type, OSError or ValueError
        raise CheckpointError(
            f"{file}: not a readable safetensors file (truncated or corrupt?): {exc}"
        ) from exc


def _read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{file}: holds Python objects other than tensors, which archspec does not unpickle "
            "(it loads with torch.load(weights_only=True)); save the model's state_dict() instead, "
            "or convert the file to safetensors"
        ) from exc
    except Exception as exc:  # a zip or pickle error of another kind: not a torch.save file
        raise CheckpointError(f"{file}: not a readable PyTorch weights file: {exc}") from exc
    state = _state_dict_in(loaded)
    if state is None:
        raise CheckpointError(
            f"{file}: expected a state_dict (a mapping of names to tensors), got a {type(loaded).__name__}"
            + (
                f" with the keys {', '.join(map(repr, list(loaded)[:5]))}"
                if isinstance(loaded, Mapping)
                else ""
            )
        )
    return state


def _state_dict_in(loaded: object) -> dict[str, torch.Tensor] | None:
    if _is_state_dict(loaded):
        return dict(loaded)  # type: ignore[call-overload]
    if isinstance(loaded, Mapping):
        for key in _NESTED:
            if _is_state_dict(loaded.get(key)):
                return dict(loaded[key])
    return None


def _is_state_dict(value: object) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())
    )


# -- matching ---------------------------------------------------------------------------------------


def match_weights(
    source: WeightsFile,
    targets: Mapping[str, torch.Size],
    *,
    prefix_map: Mapping[str, str] | None = None,
    in_scope: Callable[[str], bool] = lambda name: True,
) -> WeightsMatch:
    """Match the file's tensors to ``targets`` (name -> shape, in the model's order).

    ``in_scope`` says which of the spec's names the file may fill (a part's); a file tensor
    whose (mapped) name is in scope but not a target is reported, others are left unused.
    """
    if prefix_map:
        renamed = {_rename(k, prefix_map): v for k, v in source.tensors.items()}
        return _by_name(renamed, targets, in_scope, "by the prefix map")
    if not source.ordered or any(name in source.tensors for name in targets):
        return _by_name(source.tensors, targets, in_scope, "by name")
    return _by_order(source.tensors, targets)


def _rename(name: str, prefix_map: Mapping[str, str]) -> str:
    """The longest prefix of ``name`` (whole dotted components; ``""`` matches every name)
    that the map names is replaced; names under no prefix keep their own."""
    best = None
    for old in prefix_map:
        if (old == "" or name == old or name.startswith(old + ".")) and (
            best is None or len(old) > len(best)
        ):
            best = old
    if best is None:
        return name
    rest = name[len(best) :].lstrip(".") if best else name
    new = prefix_map[best]
    return f"{new}.{rest}" if new and rest else new or rest


def _by_name(
    tensors: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Size],
    in_scope: Callable[[str], bool],
    how: str,
) -> WeightsMatch:
    match = WeightsMatch(how)
    for name, shape in targets.items():
        if name not in tensors:
            close = did_you_mean(name, [k for k in tensors if k not in targets])
            match.problems.append(
                f"{name!r} {_shape(shape)}: not in the file" + (f" ({close})" if close else "")
            )
        elif tensors[name].shape != shape:
            match.problems.append(_misshaped(name, tensors[name].shape, shape))
        else:
            match.tensors[name] = tensors[name]
    for name, tensor in tensors.items():
        if name not in targets and in_scope(name):
            match.problems.append(
                f"{name!r} {_shape(tensor.shape)}: in the file, but this spec has no such tensor"
            )
    return match


def _by_order(tensors: Mapping[str, torch.Tensor], targets: Mapping[str, torch.Size]) -> WeightsMatch:
    match = WeightsMatch("by order")
    theirs, ours = list(tensors.items()), list(targets.items())
    for i, ((name, shape), (their_name, tensor)) in enumerate(zip(ours, theirs, strict=False)):
        if tensor.shape != shape:
            match.problems.append(
                f"#{i} {name!r} {_shape(shape)} in this spec, but #{i} in the file is {their_name!r} {_shape(tensor.shape)}"
            )
        else:
            match.tensors[name] = tensor
    for i, (name, shape) in enumerate(ours[len(theirs) :], len(theirs)):
        match.problems.append(f"#{i} {name!r} {_shape(shape)}: the file has only {len(theirs)} tensors")
    for i, (name, tensor) in enumerate(theirs[len(ours) :], len(ours)):
        match.problems.append(
            f"#{i} in the file, {name!r} {_shape(tensor.shape)}: this spec has only {len(ours)} tensors"
        )
    return match


def _misshaped(name: str, theirs: torch.Size, ours: torch.Size) -> str:
    return f"{name!r}: {_shape(theirs)} in the file, but {_shape(ours)} in this spec"


def _shape(shape: torch.Size) -> str:
    return str(list(shape))
