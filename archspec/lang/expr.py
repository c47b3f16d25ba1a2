"""``${...}`` parameter expressions, evaluated by a small whitelist interpreter — never ``eval``.

The text is parsed with :mod:`ast` (which runs nothing) and walked over a closed set of node
types: numbers, strings, booleans, names bound by block parameters, arithmetic
(``+ - * / // % **``), comparisons, ``and/or/not``, ``a if c else b``, list literals,
indexing and a few pure functions (``min max abs round int float ceil floor width depth``).
Anything else (attributes, lambdas, comprehensions, unknown names or calls) is an error.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ExprError", "evaluate", "has_expr", "substitute"]

MAX_EXPR_CHARS = 500
MAX_MAGNITUDE = 10**15

_FULL = re.compile(r"^\$\{(.*)\}$", re.DOTALL)
_PART = re.compile(r"\$\{([^}]*)\}")


class ExprError(Exception):
    """An expression could not be evaluated; the caller adds the location."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "ceil": math.ceil,
    "floor": math.floor,
}

# the hints' list of functions, as docs/spec.md lists them (width/depth: params; shape/channels: shapeexpr)
FUNCTIONS_TEXT = (
    "min, max, abs, round, int, float, ceil, floor, width, depth, and in op arguments shape, channels"
)
_SHAPE_FUNCS = ("shape", "channels")


def has_expr(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate one expression (the text inside ``${...}``) with names from ``env``."""
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExprError(f"invalid expression {text!r}", hint=getattr(exc, "msg", None)) from None
    try:
        return _Eval(env).visit(tree.body)
    except ExprError:
        raise
    except RecursionError:
        raise ExprError(f"expression {text!r} is nested too deeply") from None
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise ExprError(f"cannot evaluate {text!r}: {exc}") from None


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """Replace ``${...}`` in a value (recursing into lists and mappings).

    A string that is exactly one expression takes the expression's type (``"${ch * 2}"`` -> 32);
    expressions inside a longer string are formatted into it (``"conv${i}"`` -> ``"conv3"``).
    """
    if isinstance(value, str) and "${" in value:
        whole = _FULL.match(value)
        if whole and "${" not in whole.group(1):
            return evaluate(whole.group(1), env)
        return _PART.sub(lambda m: str(evaluate(m.group(1), env)), value)
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value


class _Eval(ast.NodeVisitor):
    def __init__(self, env: Mapping[str, Any]) -> None:
        self.env = env

    def generic_visit(self, node: ast.AST) -> Any:
        raise ExprError(
            f"{type(node).__name__.lower()} is not allowed in expressions",
            hint=f"use numbers, parameter names, arithmetic and the functions {FUNCTIONS_TEXT}",
        )

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return _bounded(node.value)
        raise ExprError(f"constant {node.value!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.env:
            return self.env[node.id]
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        from archspec.errors import did_you_mean

        if node.id == "index":
            raise ExprError("unknown name 'index'", hint="index is defined only in a node with repeat:")
        names = [k for k in self.env if not k.startswith("__")]
        raise ExprError(f"unknown name {node.id!r}", hint=did_you_mean(node.id, names))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            return self.generic_visit(node.op)
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
            raise ExprError(f"exponent {right} is too large")
        if isinstance(node.op, ast.Mult) and (
            isinstance(left, (str, list)) or isinstance(right, (str, list))
        ):
            raise ExprError("repeating strings or lists with * is not allowed")
        return _bounded(op(left, right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        if isinstance(node.op, ast.Not):
            return not value
        return self.generic_visit(node.op)

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.visit(v) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op_node, comp in zip(node.ops, node.comparators):
            op = _CMPOPS.get(type(op_node))
            if op is None:
                return self.generic_visit(op_node)
            right = self.visit(comp)
            if not op(left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(e) for e in node.elts]

    visit_Tuple = visit_List

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        seq = self.visit(node.value)
        index = self.visit(node.slice)
        if not isinstance(seq, (list, str)) or not isinstance(index, int):
            raise ExprError("only lists can be indexed, by an integer")
        return seq[index]

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise ExprError("only plain calls like min(a, b) are allowed")
        fn = _FUNCS.get(node.func.id) or self.env.get(f"__fn_{node.func.id}")
        if fn is None:
            from archspec.errors import did_you_mean

            known = [*_FUNCS, *(k[5:] for k in self.env if k.startswith("__fn_")), *_SHAPE_FUNCS]
            if node.func.id in _SHAPE_FUNCS:
                hint = f"{node.func.id}() reads inferred shapes: only op arguments may use it, not block parameters, if: or repeat:"
            else:
                hint = did_you_mean(node.func.id, known) or f"the functions are {FUNCTIONS_TEXT}"
            raise ExprError(f"unknown function {node.func.id!r}", hint=hint)
        return _bounded(fn(*[self.visit(a) for a in node.args]))


def _bounded(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"value {value:.3g} is too large")
    return value
