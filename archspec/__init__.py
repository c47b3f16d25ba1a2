"""archspec: declarative YAML architectures for PyTorch.

The stages, as functions (none imports torch until it needs tensors)::

    spec = archspec.load("net.yaml")          # read, validate, expand (no torch)
    graph = archspec.analyse(spec)            # DAG checks and shapes (no torch)
    model = archspec.build(graph)             # a torch.fx GraphModule: an ordinary nn.Module

and the commands, as functions: :func:`summary`, :func:`render` (no torch), :func:`train`,
:func:`resume`, :func:`evaluate`, :func:`predict`. Names are imported on first use, so
``import archspec`` costs almost nothing.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ArchSpecError": "archspec.errors",
    "SpecError": "archspec.errors",
    "Graph": "archspec.graph.dag",
    "Spec": "archspec.lang.model",
    "analyse": "archspec.pipeline",
    "load": "archspec.pipeline",
    "load_text": "archspec.pipeline",
    "Summary": "archspec.api",
    "evaluate": "archspec.api",
    "predict": "archspec.api",
    "render": "archspec.api",
    "resume": "archspec.api",
    "summary": "archspec.api",
    "train": "archspec.api",
}

__all__ = [
    "ArchSpecError",
    "Graph",
    "Spec",
    "SpecError",
    "Summary",
    "__version__",
    "analyse",
    "build",
    "evaluate",
    "load",
    "load_text",
    "predict",
    "render",
    "resume",
    "summary",
    "train",
]

if TYPE_CHECKING:
    from archspec.api import Summary, evaluate, predict, render, resume, summary, train
    from archspec.errors import ArchSpecError, SpecError
    from archspec.graph.dag import Graph
    from archspec.lang.model import Spec
    from archspec.pipeline import analyse, load, load_text


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'archspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__


def build(spec: Any, part: str | None = None, *, seed: int | None = None) -> Any:
    """Compile a spec (a path, a :class:`Spec` or a :class:`Graph`) into a ``torch.nn.Module``
    (a torch.fx GraphModule); ``part`` compiles one named part, e.g. an encoder."""
    from archspec.compiler.compile import compile_model
    from archspec.graph.dag import Graph
    from archspec.pipeline import analyse, load

    if isinstance(spec, str | os.PathLike):
        spec = load(spec)
    graph = spec if isinstance(spec, Graph) else analyse(spec)
    return compile_model(graph, part=part, seed=seed)
