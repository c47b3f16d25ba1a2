"""Import stage 5: the source model's weights under the imported spec's names, as an artefact.

The artefact is the one ``archspec compile`` writes (``model.safetensors`` with the spec
embedded, ``spec.yaml`` beside it), so ``archspec.compiler.artifact.load_artifact``, ``archspec
export`` and ``archspec predict`` read it as they read any compiled model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from archspec.errors import CheckpointError
from archspec.ops import Shape

__all__ = ["remap_weights", "save_imported_weights"]


def remap_weights(
    source: nn.Module, names: Mapping[str, str], reshapes: Mapping[str, Shape] | None = None
) -> dict[str, torch.Tensor]:
    """The source's state_dict keyed by our names; every source tensor must be claimed.

    ``reshapes`` gives our shape where it differs from the source's by size-1 dims only (a
    layer scale ``[C]`` read as ``[1, 1, C]``); a buffer the source does not save is read too.
    """
    state = source.state_dict()
    unsaved = {k: v for k, v in source.named_buffers() if k not in state}
    missing = [theirs for theirs in names.values() if theirs not in state and theirs not in unsaved]
    unclaimed = sorted(set(state) - set(names.values()))
    if missing or unclaimed:
        raise CheckpointError(
            "the imported spec does not account for the source weights: "
            + "; ".join(
                f"{what} {', '.join(repr(k) for k in keys[:5])}{' ...' if len(keys) > 5 else ''}"
                for what, keys in (("not in the source:", missing), ("not imported:", unclaimed))
                if keys
            )
        )
    shapes = dict(reshapes or {})
    out = {}
    for ours, theirs in names.items():
        tensor = (state[theirs] if theirs in state else unsaved[theirs]).detach().clone()
        out[ours] = tensor.reshape(shapes[ours]) if ours in shapes else tensor
    return out


def save_imported_weights(
    text: str,
    spec_name: str,
    source: nn.Module,
    names: Mapping[str, str],
    out_dir: str | os.PathLike[str],
    reshapes: Mapping[str, Shape] | None = None,
) -> Path:
    """Compile the imported spec, load the source's weights strictly, write the artefact."""
    from archspec.compiler.artifact import save_artifact
    from archspec.compiler.compile import compile_model
    from archspec.pipeline import analyse, load_text

    graph = analyse(load_text(text, name=spec_name))
    model = compile_model(graph)
    model.load_state_dict(remap_weights(source, names, reshapes), strict=True)
    return save_artifact(model, graph, out_dir)
