"""What ``archspec import TARGET`` names: ``package.module:Name`` or ``path/to/file.py:Name``.

Loading a target imports (runs) its Python module and calls ``Name`` with the given keyword
arguments when it is a class or factory; an ``nn.Module`` instance is used as it is.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.errors import ArchSpecError, UsageError
from archspec.importer.opaque import FILE_MODULE_PREFIX, Constructions
from archspec.ops import Shape

__all__ = ["load_target", "parse_inputs", "parse_kwargs"]


def load_target(
    target: str, kwargs: Mapping[str, Any] | None = None, constructions: Constructions | None = None
) -> nn.Module:
    """The module a target names, made with ``kwargs`` (this runs the target's code); with
    ``constructions``, the arguments of every module built in the call are recorded there."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise UsageError(
            f"target {target!r} is not MODULE:NAME or FILE.py:NAME (e.g. torchvision.models:resnet18, model.py:Net)"
        )
    with _users_code(f"importing {where}"):
        module = _import(where)
    obj = getattr(module, name, None)
    if obj is None:
        raise UsageError(f"{where!r} has no attribute {name!r}")
    recording = constructions.recording() if constructions is not None else contextlib.nullcontext()
    with recording, _users_code(f"calling {target}"):
        made = obj if isinstance(obj, nn.Module) else obj(**dict(kwargs or {}))
    if not isinstance(made, nn.Module):
        raise UsageError(f"{target} gave a {type(made).__name__}, not a torch.nn.Module")
    return made


@contextlib.contextmanager
def _users_code(doing: str) -> Iterator[None]:
    """The target's own code failing (a missing import, a bad keyword argument, an exception it
    raises) is the user's error, said with where in their code it happened: not ours."""
    try:
        yield
    except ArchSpecError:
        raise
    except Exception as exc:
        frames = [
            f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_ARCHSPEC_DIR)
        ]
        # the innermost line of the target's code: not torch's (nn.Linear(4, "x") fails inside
        # torch, but the line to fix is the call), nor importlib's
        own = [f for f in frames if not f.filename.startswith((_TORCH_DIR, "<frozen"))] or frames
        at = f" at {own[-1].filename}:{own[-1].lineno}" if own else ""
        raise UsageError(
            f"{doing} raised {type(exc).__name__}: {exc}{at} (import runs the target's code; fix it there, or check --kwargs)"
        ) from exc


_ARCHSPEC_DIR = str(Path(__file__).resolve().parent.parent) + os.sep
_TORCH_DIR = str(Path(torch.__file__).resolve().parent) + os.sep


def _import(where: str) -> Any:
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise UsageError(f"no such file: {where}")
        spec = importlib.util.spec_from_file_location(f"{FILE_MODULE_PREFIX}{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(where)
    except ImportError as exc:
        raise UsageError(f"cannot import {where!r}: {exc}") from exc


def parse_kwargs(items: Sequence[str]) -> dict[str, Any]:
    """``k=v`` pairs; a value that reads as JSON (``3``, ``0.5``, ``true``, ``[2, 2]``) is that value."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--kwargs {item!r} is not NAME=VALUE")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def parse_inputs(items: Sequence[str]) -> dict[str, Shape]:
    """``NAME=C,H,W`` (or ``C,H,W`` for a one-input model): per-sample shapes, batch left out."""
    out: dict[str, Shape] = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not shape or any(d < 1 for d in shape) or (sep and not name.isidentifier()):
            raise UsageError(f"--input {item!r} is not NAME=C,H,W (per-sample sizes, the batch left out)")
        out[name or "input"] = shape
    if not out:
        raise UsageError("give the per-sample shape of each input, e.g. --input x=3,224,224")
    return out
