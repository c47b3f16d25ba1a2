"""Export a compiled model, or one named part of it, for inference outside archspec.

Formats:

- ``torchscript``: ``torch.jit.script`` of the GraphModule; when scripting fails (an op
  TorchScript cannot type), ``torch.jit.trace`` on example inputs instead. Load with
  ``torch.jit.load``.
- ``exported-program``: ``torch.export.export`` on example inputs with a dynamic batch dim
  (static when the model will not allow one), saved with ``torch.export.save`` (``.pt2``).
  Load with ``torch.export.load(path).module()``.
- ``onnx``: ``torch.onnx.export(..., dynamo=True)``; needs the ``onnx`` and ``onnxscript``
  packages.
- ``safetensors``: the weights alone with the spec embedded (:mod:`archspec.compiler.artifact`); a
  part's file loads back as that part with ``load_artifact``.

The model is exported in eval mode (dropout off, batch norm on its running statistics); its
own mode is restored afterwards. TorchScript and exported programs are checked against the
eager model on the example inputs before they are written, and written atomically.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import fx

from archspec.errors import RunError
from archspec.fileio import write_atomic_with
from archspec.graph.dag import Graph

__all__ = ["FORMATS", "Exported", "export_model"]

FORMATS = ("torchscript", "exported-program", "onnx", "safetensors")
ONNX_INSTALL = "pip install onnx onnxscript"


@dataclass(frozen=True)
class Exported:
    """What was written: the file, the format, and how (``scripted``, ``traced``, ...)."""

    path: Path
    fmt: str
    how: str


def export_model(
    model: fx.GraphModule, graph: Graph, fmt: str, out_path: str | os.PathLike[str], part: str | None = None
) -> Exported:
    """Write ``model`` (or its ``part``) to ``out_path`` in ``fmt``; see the module docstring."""
    from archspec.compiler.compile import example_inputs, part_model

    if fmt not in FORMATS:
        raise RunError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    target = part_model(model, graph, part) if part is not None else model
    inputs = example_inputs(graph, batch=2, part=part)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "safetensors":
        from archspec.compiler.artifact import save_weights

        return Exported(save_weights(target, graph, out, part=part), fmt, "weights with the spec embedded")
    exporter = {"torchscript": _torchscript, "exported-program": _exported_program, "onnx": _onnx}[fmt]
    with _eval_mode(target), torch.no_grad():
        how = exporter(target, inputs, out)
    return Exported(out, fmt, how)


# -- formats --------------------------------------------------------------------------------------


def _torchscript(model: fx.GraphModule, inputs: dict[str, torch.Tensor], out: Path) -> str:
    args = tuple(inputs.values())
    with _quiet_jit():
        try:
            scripted, how = torch.jit.script(model), "scripted"
        except Exception as script_error:  # TorchScript's failures are RuntimeErrors, NotSupportedErrors, ...
            try:
                scripted = torch.jit.trace(model, args, strict=False, check_trace=False)
            except Exception as exc:
                raise RunError(
                    f"TorchScript export failed: scripting said {_first_line(script_error)}; "
                    f"tracing said {_first_line(exc)}"
                ) from exc
            how = f"traced (scripting failed: {_first_line(script_error)})"
        _check_same(model, scripted, args, "TorchScript")
        write_atomic_with(out, lambda tmp: torch.jit.save(scripted, tmp))
    return how


def _exported_program(model: fx.GraphModule, inputs: dict[str, torch.Tensor], out: Path) -> str:
    args = tuple(inputs.values())
    batch = torch.export.Dim("batch")
    try:
        program = torch.export.export(model, args, dynamic_shapes=tuple({0: batch} for _ in args))
        how = "exported with a dynamic batch dim"
    except Exception:  # a model that fixes its batch size (e.g. by a reshape) exports statically
        try:
            program = torch.export.export(model, args)
        except Exception as exc:
            raise RunError(f"torch.export failed: {_first_line(exc)}") from exc
        how = "exported with a static batch of 2"
    _check_same(model, program.module(), args, "the exported program")
    write_atomic_with(out, lambda tmp: torch.export.save(program, tmp))
    return how


def _onnx(model: fx.GraphModule, inputs: dict[str, torch.Tensor], out: Path) -> str:
    missing = _missing_onnx_packages()
    if missing:
        raise RunError(f"ONNX export needs the {' and '.join(missing)} package(s): {ONNX_INSTALL}")
    args = tuple(inputs.values())
    names = {"input_names": list(inputs), "output_names": model.meta.get("archspec", {}).get("outputs")}
    batch = torch.export.Dim("batch")
    try:
        dynamic = tuple({0: batch} for _ in args)
        torch.onnx.export(model, args, str(out), dynamo=True, dynamic_shapes=dynamic, verbose=False, **names)
        return "exported with a dynamic batch dim"
    except Exception:  # as for torch.export: fall back to the example batch size
        pass
    try:
        torch.onnx.export(model, args, str(out), dynamo=True, verbose=False, **names)
    except Exception as exc:
        raise RunError(f"ONNX export failed: {_first_line(exc)}") from exc
    return "exported with a static batch of 2"


def _missing_onnx_packages() -> list[str]:
    return [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]


# -- helpers --------------------------------------------------------------------------------------


def _check_same(model: Any, exported: Any, args: tuple[torch.Tensor, ...], what: str) -> None:
    """The exported module must give the eager model's outputs on the example inputs."""
    want, got = _flat(model(*args)), _flat(exported(*args))
    if want.keys() != got.keys():
        raise RunError(f"{what} returns outputs {sorted(got)}, the model {sorted(want)}")
    for key, value in want.items():
        if value.shape != got[key].shape or not torch.allclose(value, got[key], rtol=1e-4, atol=1e-5):
            raise RunError(f"{what} does not reproduce the model's output {key!r} on the example inputs")


def _flat(out: Any) -> dict[str, torch.Tensor]:
    return dict(out) if isinstance(out, dict) else {"": out}


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.train(training)


@contextmanager
def _quiet_jit() -> Iterator[None]:
    """torch >= 2.10 marks torch.jit deprecated; the TorchScript format is what was asked for."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")
        warnings.filterwarnings("ignore", category=UserWarning, message=r"The TorchScript type system")
        yield


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
