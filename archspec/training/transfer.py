"""Moving weights between runs: loading a checkpoint into a model, or one part of an earlier run
into a new spec (``training.init_from``), with clear errors when shapes do not fit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.errors import CheckpointError, SpecError, did_you_mean

__all__ = ["init_from", "load_weights", "run_weights"]


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


def init_from(model: nn.Module, spec: Any, config: Mapping[str, Mapping[str, Any]], *, base: Path) -> None:
    """``init_from: {encoder: {run: runs/ae, part: encoder}}``: copy a part of an earlier run.

    The part's node ids in the earlier spec are matched to this spec's part by position, so the
    encoder can live under another name here. Shapes must agree exactly.
    """
    from archspec.training.rundir import run_graph

    for part, source in config.items():
        if part not in spec.parts:
            raise SpecError(
                f"init_from names unknown part {part!r}",
                loc=spec.doc.loc(("training", "init_from", part), key=True),
                hint=did_you_mean(part, spec.parts)
                or f"this spec's parts: {', '.join(spec.parts) or 'none (declare parts: first)'}",
            )
        run = Path(source["run"])
        run = run if run.is_absolute() else base / run
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
