"""archspec: declarative YAML architectures for PyTorch.

Importing archspec does not import torch; :func:`build` does, when it is called.
"""

from __future__ import annotations

from typing import Any

from archspec.errors import ArchSpecError as ArchSpecError
from archspec.errors import SpecError as SpecError
from archspec.graph.dag import Graph as Graph
from archspec.lang.model import Spec as Spec
from archspec.pipeline import analyse as analyse
from archspec.pipeline import load as load
from archspec.pipeline import load_text as load_text

__version__ = "0.1.0"
__all__ = [
    "ArchSpecError",
    "Graph",
    "Spec",
    "SpecError",
    "__version__",
    "analyse",
    "build",
    "load",
    "load_text",
]


def build(spec: Spec | Graph | str, part: str | None = None, *, seed: int | None = None) -> Any:
    """Compile a spec (or a path to one) into a ``torch.nn.Module`` (a torch.fx GraphModule)."""
    from archspec.compiler.compile import compile_model

    if isinstance(spec, str):
        spec = load(spec)
    graph = spec if isinstance(spec, Graph) else analyse(spec)
    return compile_model(graph, part=part, seed=seed)
