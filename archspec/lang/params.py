"""Values: ``${...}`` substitution and the typed parameters of a block instance.

The environment an expression sees is the spec's ``params`` and the ``width``/``depth`` scaling
functions (:func:`global_env`), plus, inside a block, the instance's parameters
(:func:`block_params`: each given one declared and of its declared type, each missing one
defaulted or reported) and, inside a ``repeat``, ``index``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspec.errors import ExpandError, Location, SchemaError, did_you_mean
from archspec.lang.errorlog import Reporter
from archspec.lang.expr import ExprError, has_expr, substitute
from archspec.lang.keys import NODE_KEYS

__all__ = ["block_params", "global_env", "subst"]

_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "any": (object,),
}

Path = tuple[str | int, ...]


def global_env(data: Mapping[str, Any]) -> dict[str, Any]:
    """What every expression sees: the spec's ``params`` and the ``scale`` functions."""
    scale = data.get("scale") or {}
    width, depth = float(scale.get("width", 1.0)), float(scale.get("depth", 1.0))
    env: dict[str, Any] = dict(data.get("params") or {})
    env["__fn_width"] = lambda n: max(1, round(n * width))
    env["__fn_depth"] = lambda n: max(1, round(n * depth))
    return env


def subst(value: Any, env: Mapping[str, Any], path: Path, rep: Reporter) -> Any:
    """``value`` with its ``${...}`` expressions evaluated (None, reported, when one fails)."""
    if not _contains_expr(value):
        return value
    try:
        return substitute(value, env)
    except ExprError as exc:
        rep.fail(ExpandError(exc.message, loc=rep.loc(path), hint=exc.hint))
        return None


def _contains_expr(value: Any) -> bool:
    if isinstance(value, list):
        return any(_contains_expr(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_expr(v) for v in value.values())
    return has_expr(value)


def block_params(
    rep: Reporter,
    name: str,
    block: Mapping[str, Any],
    raw: Mapping[str, Any],
    env: dict[str, Any],
    globals_: dict[str, Any],
    path: Path,
) -> dict[str, Any] | None:
    """The parameters of an instance of ``block`` written as ``raw`` (None: reported errors).

    Given values are evaluated in the instance's scope (``env``); defaults in the block's, over
    ``globals_`` and the parameters known so far.
    """
    declared: Mapping[str, Any] = block.get("params") or {}
    values: dict[str, Any] = {}
    ok = _given(rep, name, declared, raw, env, path, values)
    ok = _defaults(rep, name, declared, globals_, path, values) and ok
    return values if ok else None


def _given(
    rep: Reporter,
    name: str,
    declared: Mapping[str, Any],
    raw: Mapping[str, Any],
    env: dict[str, Any],
    path: Path,
    values: dict[str, Any],
) -> bool:
    """Evaluate the parameters written on the instance into ``values``; False after an error."""
    ok = True
    for key, value in raw.items():
        if key in NODE_KEYS:
            continue
        if key not in declared:
            rep.fail(_unknown_param(rep, name, declared, key, path))
            ok = False
            continue
        before = len(rep.log)
        values[key] = subst(value, env, path + (key,), rep)
        if len(rep.log) > before:
            ok = False  # its expression failed, reported: no type error on top
            continue
        # once one parameter failed, later types go unchecked: one mistake, one message
        ok = ok and _type_ok(rep, name, key, declared[key], values[key], rep.loc(path + (key,)))
    return ok


def _unknown_param(
    rep: Reporter, name: str, declared: Mapping[str, Any], key: str, path: Path
) -> SchemaError:
    hint = did_you_mean(key, [*declared, *NODE_KEYS]) or (
        f"block {name!r} takes: {', '.join(declared)}" if declared else f"block {name!r} takes no parameters"
    )
    return SchemaError(
        f"block {name!r} has no parameter {key!r}", loc=rep.loc(path + (key,), key=True), hint=hint
    )


def _defaults(
    rep: Reporter,
    name: str,
    declared: Mapping[str, Any],
    globals_: dict[str, Any],
    path: Path,
    values: dict[str, Any],
) -> bool:
    """Fill the parameters not given from their defaults; False when one has none or fails."""
    ok = True
    for key, decl in declared.items():
        if key in values:
            continue
        if isinstance(decl, Mapping) and "default" in decl:
            values[key] = _default(rep, name, key, decl, {**globals_, **values})
            ok = ok and (values[key] is not None or decl["default"] is None)
        else:
            rep.fail(
                SchemaError(
                    f"block {name!r} needs parameter {key!r}",
                    loc=rep.loc(path, key=True),
                    hint=f"add {key}: ... to the node",
                )
            )
            ok = False
    return ok


def _default(rep: Reporter, block: str, key: str, decl: Mapping[str, Any], env: dict[str, Any]) -> Any:
    """A parameter's default: an expression over ``params`` and the parameters given so far."""
    path = ("blocks", block, "params", key, "default")
    value = subst(decl["default"], env, path, rep)
    if value is None:
        return None  # null: an optional parameter, or an error already reported
    return value if _type_ok(rep, block, key, decl, value, rep.loc(path)) else None


def _type_ok(rep: Reporter, block: str, key: str, decl: Any, value: Any, loc: Location) -> bool:
    type_name = decl["type"] if isinstance(decl, Mapping) else decl
    types = _PARAM_TYPES.get(type_name, (object,))
    bad_bool = isinstance(value, bool) and type_name in ("int", "float")
    if value is None or bad_bool or not isinstance(value, types):
        rep.fail(
            SchemaError(f"parameter {key!r} of block {block!r} must be {type_name}, got {value!r}", loc=loc)
        )
        return False
    return True
