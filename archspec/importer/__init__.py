"""``archspec import``: an existing PyTorch module becomes a spec, its weights an artefact.

The stages, in order, one module each::

    trace_module -> map_model -> factor -> write_spec -> check (our shapes = traced shapes)
     (trace.py)    (mapping.py)  (factor.py)  (write.py)         |
                                                                 +-> save_imported_weights (weights.py)

With ``allow_opaque``, a sub-module that does not trace or map is traced again as one call and
becomes an op of a plugin written beside the spec (``opaque.py``).

Importing runs the model's Python code (its constructor and a traced ``forward``): like
``torch.load(weights_only=False)``, it is for trusted code only. It is the one part of archspec
that executes user code.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from archspec.errors import ImportModelError
from archspec.importer.factor import Layout, factor
from archspec.importer.mapping import Mapped, map_model
from archspec.importer.opaque import (
    Constructions,
    Opaque,
    OpaqueOp,
    describe_opaque,
    plugin_name,
    plugin_source,
)
from archspec.importer.trace import Traced, trace_module
from archspec.importer.weights import remap_weights, save_imported_weights
from archspec.importer.write import write_spec
from archspec.ops import CATALOGUE, Shape

__all__ = ["Constructions", "Imported", "import_model"]


@dataclass
class Imported:
    """An imported model: the spec text, its layout, and the source module it came from."""

    text: str
    name: str
    layout: Layout
    source: nn.Module
    params: int
    opaque: list[OpaqueOp] = field(default_factory=list)  # the plugin's ops (allow_opaque)

    @property
    def lines(self) -> int:
        return self.text.count("\n")

    @property
    def plugin(self) -> str | None:
        """The name of the plugin module the spec needs (None: it needs none)."""
        return plugin_name(self.name) if self.opaque else None

    def plugin_source(self, spec_file: str | os.PathLike[str]) -> str:
        """The plugin module's text, for writing beside ``spec_file`` (as ``<plugin>.py``)."""
        folder = Path(spec_file).parent
        return plugin_source(self.opaque, spec_file=os.fspath(spec_file), folder=folder)

    @contextlib.contextmanager
    def ops_registered(self) -> Iterator[None]:
        """The plugin's ops in the catalogue for the block's duration (what enabling it does)."""
        with _registered(self.opaque):
            yield

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The source's weights under the spec's names (what the compiled spec loads strictly)."""
        return remap_weights(self.source, self.layout.weights, self.layout.reshapes)

    def save_weights(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write the source's weights as a compiled artefact (``model.safetensors`` + ``spec.yaml``)."""
        with self.ops_registered():
            return save_imported_weights(
                self.text,
                f"{self.name}.yaml",
                self.source,
                self.layout.weights,
                out_dir,
                self.layout.reshapes,
            )


def import_model(
    module: nn.Module,
    inputs: Mapping[str, Shape],
    *,
    name: str = "imported",
    source: str = "a PyTorch module",
    blocks: bool = True,
    allow_opaque: bool = False,
    constructions: Constructions | None = None,
) -> Imported:
    """Trace ``module`` on inputs of the given per-sample shapes and write it as a spec.

    ``blocks=False`` keeps every node at the top level (no factoring). With ``allow_opaque``, a
    sub-module that does not trace or map becomes an op of a plugin (see :class:`Imported`),
    built with the constructor arguments ``constructions`` recorded. The spec is checked before
    it is returned: archspec's own shape inference must give the traced shapes.
    """
    traced, mapped, opaque = _trace_and_map(module, inputs, allow_opaque, constructions, name)
    layout = factor(mapped, blocks=blocks)
    params = sum(p.numel() for p in module.parameters())
    outputs = {k: traced.by_name[v].shape or () for k, v in mapped.outputs.items()}
    plugins = [plugin_name(name)] if opaque.ops else []
    text = write_spec(layout, name=name, source=source, params=params, output_shapes=outputs, plugins=plugins)
    with _registered(opaque.ops):
        _check(text, name, layout)
    return Imported(text=text, name=name, layout=layout, source=module, params=params, opaque=opaque.ops)


def _trace_and_map(
    module: nn.Module,
    inputs: Mapping[str, Shape],
    allow_opaque: bool,
    constructions: Constructions | None,
    name: str,
) -> tuple[Traced, Mapped, Opaque]:
    """Trace and map; with ``allow_opaque``, each module that fails is made a leaf and the
    whole is tried again (each module at most once, so this ends)."""
    leaves: list[str] = []
    while True:
        try:
            traced = trace_module(module, inputs, leaves=leaves)
            opaque = describe_opaque(traced, constructions, name)
            return traced, map_model(traced, opaque.nodes), opaque
        except ImportModelError as exc:
            if not allow_opaque or exc.module in leaves:
                raise
            if not exc.module:
                raise ImportModelError(
                    exc.message,
                    construct=exc.construct,
                    hint=f"{exc.hint}; --allow-opaque embeds a sub-module, not the model's own forward",
                ) from exc
            leaves.append(exc.module)


@contextlib.contextmanager
def _registered(ops: list[OpaqueOp]) -> Iterator[None]:
    """Put ``ops`` in the catalogue for a while (in place of a same-named op), then restore it."""
    saved = {op.name: CATALOGUE.get(op.name) for op in ops}
    for op in ops:
        CATALOGUE[op.name] = op.opdef()
    try:
        yield
    finally:
        for op_name, before in saved.items():
            if before is None:
                CATALOGUE.pop(op_name, None)
            else:
                CATALOGUE[op_name] = before


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
