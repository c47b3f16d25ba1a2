"""What ``archspec validate`` does for each file, as plain data the CLI prints or dumps as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archspec.errors import SpecError, SpecErrors
from archspec.pipeline import analyse, load
from archspec.shapes import totals

__all__ = ["validate_file", "validate_files"]


def validate_files(
    files: Sequence[str], *, shapes: bool = True, overrides: Sequence[str] = ()
) -> list[dict[str, Any]]:
    return [validate_file(f, shapes=shapes, overrides=overrides) for f in files]


def validate_file(path: str, *, shapes: bool = True, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """``{"file", "ok", "errors", "warnings", "stats"}`` for one spec file."""
    result: dict[str, Any] = {"file": path, "ok": False, "errors": [], "warnings": [], "stats": {}}
    try:
        spec = load(path, overrides)
        graph = analyse(spec, shapes=shapes)
    except SpecError as exc:
        errors = exc.errors if isinstance(exc, SpecErrors) else [exc]
        result["errors"] = [{**e.to_dict(), "text": str(e)} for e in errors]
        return result
    result["ok"] = True
    result["warnings"] = [{**w.to_dict(), "text": str(w)} for w in graph.warnings]
    result["stats"] = {"nodes": len(spec.nodes), **(totals(graph) if shapes else {})}
    return result
