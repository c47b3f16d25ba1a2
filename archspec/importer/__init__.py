"""``archspec import``: an existing PyTorch module becomes a spec, its weights an artefact.

The stages, in order, one module each::

    trace_module -> map_model -> factor -> write_spec -> check (our shapes = traced shapes)
     (trace.py)    (mapping.py)  (factor.py)  (write.py)         |
                                                                 +-> save_imported_weights (weights.py)

Importing runs the model's Python code (its constructor and a traced ``forward``): like
``torch.load(weights_only=False)``, it is for trusted code only. It is the one part of archspec
that executes user code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from archspec.errors import ImportModelError
from archspec.importer.factor import Layout, factor
from archspec.importer.mapping import map_model
from archspec.importer.trace import trace_module
from archspec.importer.weights import remap_weights, save_imported_weights
from archspec.importer.write import write_spec
from archspec.ops import Shape

__all__ = ["Imported", "import_model"]


@dataclass
class Imported:
    """An imported model: the spec text, its layout, and the source module it came from."""

    text: str
    name: str
    layout: Layout
    source: nn.Module
    params: int

    @property
    def lines(self) -> int:
        return self.text.count("\n")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The source's weights under the spec's names (what the compiled spec loads strictly)."""
        return remap_weights(self.source, self.layout.weights, self.layout.reshapes)

    def save_weights(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write the source's weights as a compiled artefact (``model.safetensors`` + ``spec.yaml``)."""
        return save_imported_weights(
            self.text, f"{self.name}.yaml", self.source, self.layout.weights, out_dir, self.layout.reshapes
        )


def import_model(
    module: nn.Module,
    inputs: Mapping[str, Shape],
    *,
    name: str = "imported",
    source: str = "a PyTorch module",
    blocks: bool = True,
) -> Imported:
    """Trace ``module`` on inputs of the given per-sample shapes and write it as a spec.

    ``blocks=False`` keeps every node at the top level (no factoring). The spec is checked
    before it is returned: archspec's own shape inference must give the traced shapes.
    """
    traced = trace_module(module, inputs)
    mapped = map_model(traced)
    layout = factor(mapped, blocks=blocks)
    params = sum(p.numel() for p in module.parameters())
    outputs = {k: traced.by_name[v].shape or () for k, v in mapped.outputs.items()}
    text = write_spec(layout, name=name, source=source, params=params, output_shapes=outputs)
    _check(text, name, layout)
    return Imported(text=text, name=name, layout=layout, source=module, params=params)


def _check(text: str, name: str, layout: Layout) -> None:
    """archspec's shapes for every node must be the traced ones (else a mapping is wrong)."""
    from archspec.pipeline import analyse, load_text

    graph = analyse(load_text(text, name=f"{name}.yaml"))
    for node_id, shape in layout.shapes.items():
        ours = graph.spec.nodes[node_id].meta.get("shape")
        if isinstance(ours, tuple) and tuple(ours) != tuple(shape):
            raise ImportModelError(
                f"node {node_id!r}: archspec infers the shape {list(ours)}, the traced model has {list(shape)}",
                construct=graph.spec.nodes[node_id].op or "",
                hint="this is a bug in archspec import; please report it with the model",
            )
