"""Expressions over inferred shapes: ``${shape(x)[0] * t}``, ``${channels(x)}`` in op arguments.

A block often computes a width from what it is given (MobileNetV2's hidden width is the input's
channels times ``t``; a depthwise conv's ``groups`` is its input's channels). Shapes are known
only after expansion, so an op argument whose expression calls ``shape(name)`` or
``channels(name)`` is kept as a :class:`Deferred` value: its names are resolved with the node's
``in:`` (any input or node of the scope), and it is evaluated by the shape stage just before the
node's shape rule runs, still without torch. ``shape(x)`` is ``x``'s per-sample shape as a list
(no batch), so ``channels(x)`` is ``shape(x)[0]``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archspec.errors import Location
from archspec.lang.expr import ExprError, substitute
from archspec.lang.model import Ref

__all__ = ["SHAPE_FUNCTIONS", "Deferred", "evaluate_deferred", "shape_names"]

#: The functions that read an inferred shape.
SHAPE_FUNCTIONS = ("shape", "channels")
_CALL = re.compile(r"\b(?:shape|channels)\s*\(")
_EXPR = re.compile(r"\$\{([^}]*)\}")


@dataclass
class Deferred:
    """An op argument that reads inferred shapes, evaluated by the shape stage.

    ``refs`` maps each name a ``shape()``/``channels()`` call names to what it refers to (a
    reference resolved once every scope is known, then a :class:`Ref`).
    """

    value: Any
    env: dict[str, Any]
    loc: Location
    refs: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # shown where a value is printed before it is known
        return repr(self.value)


class _Named:
    """A bare name inside ``shape(x)``: the node or input ``x`` of the scope."""

    def __init__(self, name: str) -> None:
        self.name = name


def shape_names(value: Any) -> list[str] | None:
    """The names ``value``'s expressions read shapes of (None: it reads no shape)."""
    texts = [m.group(1) for m in _EXPR.finditer(value)] if isinstance(value, str) else []
    if isinstance(value, list):
        found = [shape_names(v) for v in value]
        return None if all(f is None for f in found) else [n for f in found for n in f or []]
    if not any(_CALL.search(t) for t in texts):
        return None
    names: list[str] = []
    for text in texts:
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError:
            continue  # the evaluator reports it
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in SHAPE_FUNCTIONS and node.args:
                arg = node.args[0]
                name = arg.id if isinstance(arg, ast.Name) else getattr(arg, "value", None)
                if isinstance(name, str) and name not in names:
                    names.append(name)
    return names


def evaluate_deferred(deferred: Deferred, shape_of: Callable[[Ref], tuple[int, ...]]) -> Any:
    """The argument's value, now that the shapes its names refer to are known (raises ExprError)."""

    def shape(name: Any) -> list[int]:
        key = name.name if isinstance(name, _Named) else name
        ref = deferred.refs.get(key) if isinstance(key, str) else None
        if not isinstance(ref, Ref):
            raise ExprError(f"shape() takes the name of an input or node, got {key!r}")
        return list(shape_of(ref))

    def channels(name: Any) -> int:
        dims = shape(name)
        if not dims:
            raise ExprError(f"channels({getattr(name, 'name', name)}) of a scalar sample")
        return dims[0]

    env: Mapping[str, Any] = {
        **{name: _Named(name) for name in deferred.refs},
        **deferred.env,
        "__fn_shape": shape,
        "__fn_channels": channels,
    }
    return substitute(deferred.value, env)
