"""``${...}`` parameter expressions, evaluated by a small whitelist interpreter — never ``eval``.

The text is parsed with :mod:`ast` (which runs nothing) and walked over a closed set of node
types: numbers, strings, booleans, names bound by block parameters, arithmetic
(``+ - * / // % **``), comparisons, ``and/or/not``, ``a if c else b``, list literals,
indexing and a few pure functions (``min max abs round int float ceil floor width depth``).
Anything else (attributes, lambdas, comprehensions, unknown names or calls) is an error.

Every value an operator or function makes is bounded before (where the size is known in
advance) or right after it is built: numbers by magnitude (:data:`MAX_MAGNITUDE`), strings and
lists by size (:data:`MAX_VALUE_SIZE`), and only numbers, booleans, strings and lists come out
(``(-8) ** 0.5`` is a complex number: an error, not a value). Each list is measured once per
evaluation (a list nested 80 deep is not measured again at every level), and the parsed form of
recent expression texts is kept, as one ``${...}`` is evaluated for every copy of a repeat.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["ExprError", "evaluate", "has_expr", "substitute"]

MAX_EXPR_CHARS = 500
MAX_MAGNITUDE = 10**15
MAX_VALUE_SIZE = 10_000  # characters of a string; items of a list, nested lists and strings in full
MAX_ROUND_DIGITS = 30

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


def _round(number: Any, ndigits: Any = None) -> Any:
    """``round``, refusing a digit count that would make Python build a huge power of ten."""
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS):
        raise ExprError(f"round() takes at most {MAX_ROUND_DIGITS} digits, got {ndigits!r}")
    return round(number, ndigits)


_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": _round,
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
        tree = _parse(text.strip())
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


@functools.lru_cache(maxsize=256)  # ≤ 500 characters each: a few MB at most; the trees are only read
def _parse(text: str) -> ast.Expression:
    return ast.parse(text, mode="eval")


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """Replace ``${...}`` in a value (recursing into lists and mappings).

    A string that is exactly one expression takes the expression's type (``"${ch * 2}"`` -> 32);
    expressions inside a longer string are formatted into it (``"conv${i}"`` -> ``"conv3"``).
    """
    if isinstance(value, str) and "${" in value:
        whole = _FULL.match(value)
        if whole and "${" not in whole.group(1):
            return evaluate(whole.group(1), env)
        return _formatted(value, env)
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value


def _formatted(text: str, env: Mapping[str, Any]) -> str:
    """``text`` with each ``${...}`` replaced by its value's text; what the expressions add is
    bounded by MAX_VALUE_SIZE in all, checked before each piece is joined."""
    pieces: list[str] = []
    added = 0
    for piece in _PART.split(text)[1::2]:
        shown = str(evaluate(piece, env))
        added += len(shown)
        if added > MAX_VALUE_SIZE:
            raise ExprError(f"the expressions in this text add more than {MAX_VALUE_SIZE:,} characters")
        pieces.append(shown)
    values = iter(pieces)
    return _PART.sub(lambda _m: next(values), text)


class _Eval(ast.NodeVisitor):
    def __init__(self, env: Mapping[str, Any]) -> None:
        self.env = env
        self.sizes: _Sizes = {}  # every list measured in this evaluation

    def bounded(self, value: Any) -> Any:
        """``value`` if it is within the limits (:func:`_bounded`, measuring lists once)."""
        if isinstance(value, list):
            _check_size(value, _size(value, self.sizes))
            return value
        return _bounded(value)

    def generic_visit(self, node: ast.AST) -> Any:
        raise ExprError(
            f"{type(node).__name__.lower()} is not allowed in expressions",
            hint=f"use numbers, parameter names, arithmetic and the functions {FUNCTIONS_TEXT}",
        )

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return self.bounded(node.value)
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
        if isinstance(node.op, ast.Add) and isinstance(left, (str, list)) and isinstance(right, (str, list)):
            _check_size(left, len(left) + len(right))
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            _check_format(left, right)
        return self.bounded(op(left, right))

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
        return self.bounded([self.visit(e) for e in node.elts])

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
        return self.bounded(fn(*[self.visit(a) for a in node.args]))


def _bounded(value: Any) -> Any:
    """``value``, if it is a number, boolean, string or list within the limits."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if value != value:
            raise ExprError("value nan is not a number")
        if abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"value {value:.3g} is too large")
        return value
    if isinstance(value, (str, list)):
        _check_size(value, _size(value))
        return value
    if isinstance(value, complex):
        raise ExprError(
            f"value {value:.3g} is a complex number",
            hint="a negative number to a fractional power has no real value",
        )
    raise ExprError(f"a value of type {type(value).__name__} is not allowed")


def _check_size(value: str | list, size: int) -> None:
    """Refuse a string or list of ``size`` (characters; items, in full) over MAX_VALUE_SIZE."""
    if size > MAX_VALUE_SIZE:
        what = "string of" if isinstance(value, str) else "list of"
        unit = "characters" if isinstance(value, str) else "items (nested lists and strings in full)"
        raise ExprError(f"a {what} more than {MAX_VALUE_SIZE:,} {unit} is too large")


_Sizes = dict[int, tuple[list, int]]  # id of a list -> the list (kept, so the id stays its own), its size


def _size(value: Any, known: _Sizes | None = None) -> int:
    """Characters of a string, items of a list counting nested lists and strings in full (a
    shared inner list counts each time it appears); the count stops soon after MAX_VALUE_SIZE.

    Lists measured before are looked up in ``known``, and the lists measured now are added to
    it: one evaluation measures each list once, so checking every level of a nested list costs
    time linear in its size. A count stopped early is still above MAX_VALUE_SIZE, so any list
    holding that one is too large as well.
    """
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, list):
        return 1
    if known is not None and id(value) in known:
        return known[id(value)][1]
    total = len(value)
    for item in value:
        if total > MAX_VALUE_SIZE:
            break
        if isinstance(item, (str, list)):
            total += _size(item, known)
    if known is not None:
        known[id(value)] = (value, total)
    return total


def _shown(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """At least the length of ``str(value)`` (24 characters for a number); stops soon after ``limit``."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, Mapping):
        value = [*value.keys(), *value.values()]
    if not isinstance(value, list):
        return 24
    total = 2
    for item in value:
        if total > limit:
            break
        total += _shown(item, limit - total) + 2
    return total


_CONVERSION = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)


def _check_format(fmt: str, args: Any) -> None:
    """Refuse ``fmt % args`` when the text it would build could pass MAX_VALUE_SIZE.

    The bound is the format's own length, every field width and precision, and the text of
    every argument (24 characters for a number); ``*`` widths are refused outright."""
    bound = len(fmt) + _shown(args)
    for match in _CONVERSION.finditer(fmt):
        width, precision = match.group(1), match.group(2) or ""
        if "*" in (width, precision):
            raise ExprError("'*' widths are not allowed in % formatting", hint="write the width as a number")
        if len(width) > 6 or len(precision) > 6:
            bound = MAX_VALUE_SIZE + 1
            break
        bound += int(width or 0) + int(precision or 0)
    if bound > MAX_VALUE_SIZE:
        raise ExprError(f"formatting with % could make a string longer than {MAX_VALUE_SIZE:,} characters")
