"""The stages in order, as one readable function each: what the CLI and the Python API call.

``load`` (file -> expanded :class:`Spec`) and ``analyse`` (Spec -> checked, shape-annotated
:class:`Graph`) need no torch; ``build`` (in :mod:`archspec.compiler`) does.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Sequence

from archspec.graph import Graph, build_graph
from archspec.shapes import check_expect, infer_shapes
from archspec.spec.expand import expand
from archspec.spec.loader import load_document, loads
from archspec.spec.model import Spec
from archspec.spec.overrides import apply_overrides
from archspec.spec.validate import validate

__all__ = ["analyse", "gc_paused", "load", "load_text"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a stage allocates many small objects.

    The stages create no reference cycles worth collecting mid-way, but each full collection
    walks every live object (hundreds of thousands once torch is imported), which made
    compiling a 10,000-node spec superlinear (benchmarks/compile_scaling.py).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Spec:
    """Read, validate and expand a spec file (stages 1–3)."""
    with gc_paused():
        doc = apply_overrides(load_document(path), overrides)
        return expand(validate(doc))


def load_text(text: str, name: str = "<string>", overrides: Sequence[str] = ()) -> Spec:
    """Like :func:`load`, for spec text held in memory."""
    with gc_paused():
        doc = apply_overrides(loads(text, name=name), overrides)
        return expand(validate(doc))


def analyse(spec: Spec, *, shapes: bool = True) -> Graph:
    """Build the checked DAG (stage 4) and, unless ``shapes=False``, infer shapes (stage 5)."""
    with gc_paused():
        graph = build_graph(spec)
        if shapes:
            check_expect(infer_shapes(graph))
        return graph
