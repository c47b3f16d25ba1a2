"""The stages in order, as one readable function each: what the CLI and the Python API call.

``load`` (file -> expanded :class:`Spec`) and ``analyse`` (Spec -> checked, shape-annotated
:class:`Graph`) need no torch; ``build`` (in :mod:`archspec.compiler.compile`) does.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Sequence
from typing import Any

from archspec.errors import SpecError, SpecErrors
from archspec.graph.dag import Graph, build_graph
from archspec.graph.shapes import check_expect, infer_shapes, totals
from archspec.lang.expand import ExpansionErrors, expand
from archspec.lang.include import resolve_includes
from archspec.lang.loader import Document, load_document, loads
from archspec.lang.model import Spec
from archspec.lang.overrides import apply_overrides
from archspec.lang.runcheck import training_errors
from archspec.lang.validate import op_arg_errors, validate, validate_op_args

__all__ = ["analyse", "gc_paused", "load", "load_text", "validate_file", "validate_files"]


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
    """Read, validate and expand a spec file, then check its op arguments (stages 1–3)."""
    with gc_paused():
        doc = apply_overrides(load_document(path), overrides)
        return _expanded(resolve_includes(validate(doc), validate))


def load_text(text: str, name: str = "<string>", overrides: Sequence[str] = ()) -> Spec:
    """Like :func:`load`, for spec text held in memory."""
    with gc_paused():
        doc = apply_overrides(loads(text, name=name), overrides)
        return _expanded(resolve_includes(validate(doc), validate))


def _expanded(doc: Document) -> Spec:
    """Expand, then check op arguments: when expansion fails (an unknown ``in:``, say), the
    arguments of the nodes it did build are still checked, so both mistakes are reported."""
    try:
        spec = expand(doc)
    except ExpansionErrors as exc:
        raise SpecErrors([*exc.errors, *op_arg_errors(doc, exc.nodes.values())]) from None
    return validate_op_args(spec)


def analyse(spec: Spec, *, shapes: bool = True) -> Graph:
    """Build the checked DAG (stage 4) and, unless ``shapes=False``, infer shapes (stage 5)."""
    with gc_paused():
        graph = build_graph(spec)
        if shapes:
            check_expect(infer_shapes(graph))
        return graph


def validate_files(
    files: Sequence[str], *, shapes: bool = True, overrides: Sequence[str] = ()
) -> list[dict[str, Any]]:
    return [validate_file(f, shapes=shapes, overrides=overrides) for f in files]


def validate_file(path: str, *, shapes: bool = True, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``{"file", "ok", "errors", "warnings", "stats"}`` for one spec file."""
    result: dict[str, Any] = {"file": path, "ok": False, "errors": [], "warnings": [], "stats": {}}
    later: list[SpecError] = []  # what train checks before any tensor: data, losses, metrics
    try:
        spec = load(path, overrides)
        later = training_errors(spec)
        graph = analyse(spec, shapes=shapes)
    except SpecError as exc:
        result["errors"] = _as_dicts([*(exc.errors if isinstance(exc, SpecErrors) else [exc]), *later])
        return result
    if later:
        result["errors"] = _as_dicts(later)
        return result
    result["ok"] = True
    result["warnings"] = [{**w.to_dict(), "text": str(w)} for w in graph.warnings]
    result["stats"] = {"nodes": len(spec.nodes), **(totals(graph) if shapes else {})}
    return result


def _as_dicts(errors: Sequence[SpecError]) -> list[dict[str, Any]]:
    return [{**e.to_dict(), "text": str(e)} for e in sorted(errors, key=lambda e: e.sort_key())]
