"""Moving weights into a model: a checkpoint of a run, one part of an earlier run, or a
pretrained weights file for the whole model or a part (``training.init_from``), with located
errors when names or shapes do not fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.errors import CheckpointError, SpecError, WeightsError, did_you_mean
from archspec.training.pretrained import (
    ARTIFACT_WEIGHTS,
    WeightsFile,
    match_weights,
    read_weights_file,
    weights_path,
)

__all__ = ["freeze", "init_from", "load_weights", "run_weights"]


def load_weights(
    model: nn.Module,
    weights: Mapping[str, torch.Tensor],
    *,
    where: str,
    prefix_map: Mapping[str, str] | None = None,
    strict: bool = True,
) -> list[str]:
    """Copy ``weights`` into ``model`` after checking names and shapes; returns the names set."""
    own = model.state_dict()
    if prefix_map:
        weights = {_remap(k, prefix_map): v for k, v in weights.items() if _remap(k, prefix_map) is not None}
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    if strict and (missing or unexpected):
        what = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise CheckpointError(
            f"{where}: the saved weights do not fit this spec ({what}; {len(missing)} missing, {len(unexpected)} unexpected)"
        )
    for name, tensor in weights.items():
        if name in own and tuple(own[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{where}: {name!r} has shape {list(tensor.shape)} in the saved weights but {list(own[name].shape)} in this spec"
            )
    loaded = {k: v for k, v in weights.items() if k in own}
    model.load_state_dict({**own, **loaded}, strict=True)
    return list(loaded)


def _remap(name: str, prefix_map: Mapping[str, str]) -> str | None:
    for old, new in prefix_map.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return None


def run_weights(run: str | Path, which: str = "best") -> tuple[dict[str, torch.Tensor], Path]:
    """The weights of a run directory's ``best`` (else ``latest``) checkpoint."""
    from archspec.training.checkpoint import latest_checkpoint, load_checkpoint

    root = Path(run) / "checkpoints"
    if not root.is_dir():
        raise CheckpointError(f"{run}: not a run directory (no checkpoints/)")
    path = latest_checkpoint(root, which) or latest_checkpoint(root, "latest")
    if path is None:
        raise CheckpointError(f"{run}: the run has no checkpoint yet")
    weights, _ = load_checkpoint(path)
    return weights, path


def init_from(model: nn.Module, spec: Any, config: Mapping[str, Any], *, base: Path) -> None:
    """Fill the model, or some of its parts, with weights from elsewhere (``training.init_from``).

    ``{weights: FILE, map: {...}}`` fills the whole model; ``{PART: SOURCE, ...}`` fills parts,
    each from ``{run: DIR, part: P}`` (a part of an earlier run) or ``{weights: FILE, map: {...}}``
    (a safetensors file, an artefact directory or a ``torch.save`` state_dict, matched as
    ``pretrained.py`` says). Paths are relative to the spec file.
    """
    if _whole_model(config):
        _from_source(model, spec, config, ("training", "init_from"), None, base)
        return
    for part, source in config.items():
        if part not in spec.parts:
            raise SpecError(
                f"init_from names unknown part {part!r}",
                loc=spec.doc.loc(("training", "init_from", part), key=True),
                hint=did_you_mean(part, spec.parts)
                or f"this spec's parts: {', '.join(spec.parts) or 'none (declare parts: first)'}",
            )
        _from_source(model, spec, source, ("training", "init_from", part), part, base)


def _whole_model(config: Mapping[str, Any]) -> bool:
    """``init_from: {weights: FILE}`` (a source) rather than ``{PART: {weights: FILE}}`` (a part
    may be called ``weights``, but its entry is a mapping, never a path)."""
    return isinstance(config.get("weights"), str) or isinstance(config.get("run"), str)


def _from_source(
    model: nn.Module,
    spec: Any,
    source: Mapping[str, Any],
    where: tuple[str, ...],
    part: str | None,
    base: Path,
) -> None:
    _check_source(spec, source, where, whole=part is None)
    if "weights" in source:
        _from_file(model, spec, source, where, part, base)
    elif part is None:
        path = _relative(source["run"], base)
        weights, file = run_weights(path)
        _fill(model, spec, WeightsFile(file, dict(weights), ordered=False), where + ("run",), None, None)
    else:
        _from_run(model, spec, part, source, base)


def _check_source(spec: Any, source: Mapping[str, Any], where: tuple[str, ...], whole: bool) -> None:
    """Exactly one of ``run:`` and ``weights:``; ``part:`` goes with a run (into a part),
    ``map:`` with a weights file."""
    kinds = [k for k in ("run", "weights") if k in source]
    if len(kinds) != 1:
        raise SpecError(
            "give either run: (an earlier run directory) or weights: (a weights file)"
            + (", not both" if kinds else ""),
            loc=spec.doc.loc(where),
        )
    allowed = {"run": ("run",) if whole else ("run", "part"), "weights": ("weights", "map")}[kinds[0]]
    for key in source:
        if key not in allowed:
            raise SpecError(
                f"{key}: does not go with {kinds[0]}:",
                loc=spec.doc.loc(where + (key,), key=True),
                hint=f"an init_from entry with {kinds[0]}: takes {', '.join(k + ':' for k in allowed)}",
            )


def _from_file(
    model: nn.Module,
    spec: Any,
    source: Mapping[str, Any],
    where: tuple[str, ...],
    part: str | None,
    base: Path,
) -> None:
    path = _relative(source["weights"], base)
    file = weights_path(path)
    if file is None:
        raise SpecError(
            f"no weights file {str(path)!r}"
            + (f" (the directory has no {ARTIFACT_WEIGHTS})" if path.is_dir() else ""),
            loc=spec.doc.loc(where + ("weights",)),
            hint="paths are relative to the spec file; give a .safetensors file, an artefact "
            "directory (archspec compile or import --weights) or a file torch.save wrote",
        )
    _fill(model, spec, read_weights_file(file), where + ("weights",), part, source.get("map"))


def _fill(
    model: nn.Module,
    spec: Any,
    source: WeightsFile,
    where: tuple[str, ...],
    part: str | None,
    prefix_map: Mapping[str, str] | None,
) -> None:
    """Match ``source`` to the model (or a part) and load it; one error lists every misfit."""
    own = model.state_dict()
    nodes = spec.parts[part] if part is not None else None

    def in_scope(name: str) -> bool:
        return nodes is None or any(name.startswith(node + ".") for node in nodes)

    targets = {k: v.shape for k, v in own.items() if in_scope(k)}
    match = match_weights(source, targets, prefix_map=prefix_map, in_scope=in_scope)
    if match.problems:
        what = "this spec" if part is None else f"part {part!r}"
        count = f"{len(match.problems)} misfit{'s' if len(match.problems) != 1 else ''}"
        raise WeightsError(
            f"the weights in {str(source.path)!r} do not fit {what} (matched {match.how}); {count}:",
            problems=match.problems,
            loc=spec.doc.loc(where),
            hint=_misfit_hint(match.how, source.ordered),
        )
    model.load_state_dict({**own, **match.tensors}, strict=True)


_MAP_HINT = (
    "where the file's names differ from this spec's, give map: {prefix in the file: prefix in this spec}"
)


def _misfit_hint(how: str, ordered: bool) -> str:
    if how == "by order":
        return (
            "the file shares no name with this spec, so its tensors were taken in order; to match "
            "them by name instead, give map: {prefix in the file: prefix in this spec}"
        )
    if how == "by name" and not ordered:
        return f"{_MAP_HINT} (a safetensors file keeps no order to match by)"
    return _MAP_HINT


def _relative(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


def _from_run(model: nn.Module, spec: Any, part: str, source: Mapping[str, Any], base: Path) -> None:
    """``{run: runs/ae, part: encoder}``: the part's node ids in the earlier spec are matched to
    this spec's part by position, so the encoder can live under another name here."""
    from archspec.training.rundir import run_graph

    run = _relative(source["run"], base)
    weights, path = run_weights(run)
    old_spec = run_graph(run).spec
    old_part = source.get("part", part)
    if old_part not in old_spec.parts:
        where = ("training", "init_from", part, "part" if "part" in source else "run")
        raise SpecError(
            f"the run {str(run)!r} has no part {old_part!r}",
            loc=spec.doc.loc(where),
            hint=did_you_mean(old_part, old_spec.parts)
            or f"its parts: {', '.join(old_spec.parts) or 'none'}",
        )
    mapping = _part_mapping(old_spec.parts[old_part], spec.parts[part], run, part)
    own = model.state_dict()
    chosen = {}
    for k, v in weights.items():
        new = _remap(k, mapping)
        if new is not None:
            chosen[new] = v
    missing = [k for k in own if any(k.startswith(n + ".") for n in spec.parts[part]) and k not in chosen]
    if missing:
        raise CheckpointError(f"{path}: part {old_part!r} has no weights for {missing[0]!r}")
    load_weights(model, chosen, where=str(path), strict=False)


def _part_mapping(old_nodes: list[str], new_nodes: list[str], run: Path, part: str) -> dict[str, str]:
    if len(old_nodes) != len(new_nodes):
        raise CheckpointError(
            f"{run}: part {part!r} has {len(old_nodes)} nodes there but {len(new_nodes)} here; the architectures differ"
        )
    return dict(zip(old_nodes, new_nodes))


def freeze(model: nn.Module, patterns: Sequence[str], parts: Mapping[str, list[str]]) -> list[nn.Module]:
    """``training.freeze``: the parameters a pattern (a part, or a glob over names) matches stop
    learning. Returns the normalisation layers whose running statistics it matches too: the
    trainer keeps those in eval mode, as Keras does for a frozen BatchNormalization, so that a
    frozen backbone computes after fine-tuning exactly what it computed before."""
    from archspec.training.optim import param_matches

    def frozen(name: str) -> bool:
        return any(param_matches(name, pattern, parts) for pattern in patterns)

    for name, p in model.named_parameters():
        if frozen(name):
            p.requires_grad_(False)
    return [
        m
        for name, m in model.named_modules()
        if isinstance(getattr(m, "running_mean", None), torch.Tensor) and frozen(f"{name}.running_mean")
    ]
