"""A pickle-free model artefact: weights in safetensors, the spec that built them inside.

``save_artifact`` writes ``model.safetensors`` (every parameter and buffer, by its stable
node-id name) with the spec text in the file's metadata, plus ``spec.yaml`` beside it for
people. ``load_artifact`` rebuilds the model from the embedded spec and loads the weights
strictly. Nothing is ever unpickled, so an artefact from a stranger cannot run code.

Metadata keys: ``archspec_format`` (``"1"``), ``archspec_spec`` (the spec text) and
``archspec_file`` (the file it came from, for error messages) and, for the weights of one
part alone, ``archspec_part``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import yaml
from torch import fx, nn

from archspec.errors import CheckpointError
from archspec.fileio import write_atomic_with
from archspec.graph.dag import Graph

__all__ = ["FORMAT", "WEIGHTS", "load_artifact", "save_artifact", "save_weights"]

FORMAT = "1"
WEIGHTS = "model.safetensors"
SPEC_COPY = "spec.yaml"


def save_artifact(model: nn.Module, graph: Graph, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/model.safetensors`` (spec embedded) and ``out_dir/spec.yaml``; returns the former."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, graph, out / WEIGHTS)
    write_atomic_with(out / SPEC_COPY, lambda tmp: Path(tmp).write_text(_spec_text(graph), encoding="utf-8"))
    return out / WEIGHTS


def save_weights(
    model: nn.Module, graph: Graph, out_file: str | os.PathLike[str], part: str | None = None
) -> Path:
    """Write one safetensors file with the spec embedded; ``part`` marks the weights of one part."""
    from safetensors.torch import save_file

    metadata = {
        "archspec_format": FORMAT,
        "archspec_spec": _spec_text(graph),
        "archspec_file": graph.spec.file or "<spec>",
    }
    if part is not None:
        metadata["archspec_part"] = part
    tensors = _tensors(model)
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic_with(out, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return out


def load_artifact(path: str | os.PathLike[str]) -> tuple[fx.GraphModule, Graph]:
    """The model (with its saved weights) and graph from an artefact directory or its weights file.

    A file written for one part (``export --format safetensors --part P``) loads as that part.
    """
    from archspec.compiler.compile import compile_model
    from archspec.pipeline import analyse, load_text

    file = _weights_file(Path(path))
    metadata, tensors = _read(file)
    graph = analyse(load_text(metadata["archspec_spec"], name=metadata.get("archspec_file") or str(file)))
    if "archspec_part" not in metadata:
        _check_size(file, graph, tensors)
    model = compile_model(graph, part=metadata.get("archspec_part"))
    _check_keys(file, model, tensors)
    _check_shapes(file, model, tensors)
    model.load_state_dict(tensors, strict=True)
    return model, graph


# -- writing --------------------------------------------------------------------------------------


def _spec_text(graph: Graph) -> str:
    """The spec as written, unless ``--set`` overrides changed it: then its data as YAML."""
    from archspec.lang.loader import loads

    doc = graph.spec.doc
    if loads(doc.text, name=doc.file).data == doc.data:
        return doc.text
    return yaml.safe_dump(doc.data, sort_keys=False, allow_unicode=True)


def _tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies of the state dict; tensors that share storage are stored once each."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, value in model.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        storage = tensor.untyped_storage().data_ptr()
        out[name] = tensor.clone() if storage in seen else tensor
        if tensor.numel():
            seen.add(storage)
    return out


# -- reading --------------------------------------------------------------------------------------


def _weights_file(path: Path) -> Path:
    file = path / WEIGHTS if path.is_dir() else path
    if not file.is_file():
        where = f"no {WEIGHTS} in directory {path}" if path.is_dir() else f"no such file: {path}"
        raise CheckpointError(f"cannot load artefact: {where}")
    return file


def _read(file: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Metadata and tensors; any failure to parse is a corrupt file (safetensors never unpickles)."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:  # safetensors raises its own error type, OSError or ValueError
        raise CheckpointError(
            f"{file}: not a readable safetensors file (truncated or corrupt?): {exc}"
        ) from exc
    if "archspec_spec" not in metadata:
        raise CheckpointError(f"{file}: not an archspec artefact (no embedded spec in its metadata)")
    if metadata.get("archspec_format") != FORMAT:
        raise CheckpointError(
            f"{file}: artefact format {metadata.get('archspec_format')!r} is not supported "
            f"(this archspec reads format {FORMAT!r})"
        )
    return metadata, tensors


_SLACK_BYTES = 64 * 2**20


def _check_size(file: Path, graph: Graph, tensors: dict[str, torch.Tensor]) -> None:
    """Refuse, before building it, an embedded spec whose weights outnumber those in the file by
    more than 64 MiB (a smaller mismatch is built, and named tensor by tensor)."""
    from archspec.graph.memory import BYTES_PER_ELEMENT
    from archspec.graph.shapes import totals

    sums = totals(graph)
    wants, holds = sums["params"] + sums["buffers"], sum(t.numel() for t in tensors.values())
    if (wants - holds) * BYTES_PER_ELEMENT > _SLACK_BYTES:
        raise CheckpointError(
            f"{file}: the embedded spec builds {wants:,} parameters and buffer elements, "
            f"but the file holds only {holds:,} (a tampered or mismatched artefact)"
        )


def _check_keys(file: Path, model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict().keys()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        raise CheckpointError(f"{file}: weights do not match the spec: {'; '.join(parts)}")


def _check_shapes(file: Path, model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    for name, value in model.state_dict().items():
        got = tuple(tensors[name].shape)
        if got != tuple(value.shape):
            raise CheckpointError(
                f"{file}: weight {name!r} has shape {list(got)} but the spec builds {list(value.shape)}"
            )


def _few(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{len(names)} tensor{'s' if len(names) != 1 else ''} ({shown}{more})"
