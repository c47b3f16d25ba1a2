"""What a path names — a spec file, a training run or a compiled artefact — and the model it holds.

``export``, ``check-init`` and the Python API take any of the three: a spec compiles fresh
(seeded), a run loads its best checkpoint, an artefact (a directory ``archspec compile`` wrote, or
its ``.safetensors`` file) loads its saved weights. :func:`source_kind` answers without torch;
:func:`open_source` imports it only when it builds the model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from archspec.errors import UsageError

if TYPE_CHECKING:
    from torch import nn

    from archspec.graph.dag import Graph

__all__ = ["SourceKind", "is_run_dir", "open_source", "runs_in", "source_kind"]

SourceKind = Literal["spec", "run", "artifact"]


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    """A directory ``archspec train`` wrote: ``spec.yaml`` beside ``checkpoints/`` or ``run.json``."""
    return os.path.isfile(os.path.join(path, "spec.yaml")) and (
        os.path.isdir(os.path.join(path, "checkpoints")) or os.path.isfile(os.path.join(path, "run.json"))
    )


def runs_in(path: str | os.PathLike[str]) -> list[str]:
    """The training runs directly inside ``path`` (e.g. ``runs/``), sorted."""
    return sorted(os.path.join(path, d) for d in os.listdir(path) if is_run_dir(os.path.join(path, d)))


def source_kind(path: str | os.PathLike[str]) -> SourceKind:
    """``"run"``, ``"artifact"`` or ``"spec"``; a directory that is neither run nor artefact is a
    :class:`UsageError`."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if is_run_dir(path) or os.path.isdir(os.path.join(path, "checkpoints")):
            return "run"
        if os.path.isfile(os.path.join(path, "model.safetensors")):
            return "artifact"
        raise UsageError(
            f"{path!r} is a directory but neither a training run (no spec.yaml) nor an artefact of "
            "`archspec compile` (no model.safetensors)"
        )
    return "artifact" if path.endswith(".safetensors") else "spec"


def open_source(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), seed: int | None = None
) -> tuple[nn.Module, Graph]:
    """``(model, graph)`` for a spec (compiled with ``seed``, else the spec's own), a training run
    (its best checkpoint) or an artefact (its saved weights). ``overrides`` (``--set``) apply to a
    spec only."""
    kind = source_kind(path)
    if kind != "spec" and overrides:
        what = "a trained run" if kind == "run" else "a saved artefact"
        raise UsageError(f"--set applies to a SPEC, not to {what}")
    if kind == "run":
        from archspec.training.session import load_run

        graph, model = load_run(path)
        return model, graph
    if kind == "artifact":
        from archspec.compiler.artifact import load_artifact

        return load_artifact(path)
    from archspec.pipeline import analyse, load

    graph = analyse(load(path, overrides))  # a bad spec fails here, before torch is imported
    from archspec.compiler.compile import compile_model

    return compile_model(graph, seed=seed), graph
