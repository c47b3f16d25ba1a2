"""The op catalogue: every ``op:`` name a spec may use, looked up in one registry.

Each family of ops lives in its own small module that exports ``OPS``; adding an op is one
entry there plus a test. Importing this package never imports torch.
"""

from __future__ import annotations

from archspec.errors import did_you_mean
from archspec.ops.base import REQUIRED as REQUIRED
from archspec.ops.base import Arg as Arg
from archspec.ops.base import Call as Call
from archspec.ops.base import OpDef as OpDef
from archspec.ops.base import OpShapeError as OpShapeError
from archspec.ops.base import Shape as Shape

__all__ = [
    "CATALOGUE",
    "REQUIRED",
    "Arg",
    "Call",
    "OpDef",
    "OpShapeError",
    "Shape",
    "get_op",
    "register",
    "suggest_op",
]

CATALOGUE: dict[str, OpDef] = {}


def register(op: OpDef, *, replace: bool = False) -> OpDef:
    """Add an op to the catalogue (plugins call this too)."""
    if op.name in CATALOGUE and not replace:
        raise ValueError(f"op {op.name!r} is already registered")
    CATALOGUE[op.name] = op
    return op


def get_op(name: str) -> OpDef | None:
    return CATALOGUE.get(name)


def suggest_op(name: object) -> str | None:
    return did_you_mean(name, CATALOGUE)


def _load_builtin() -> None:
    from archspec.ops import _families

    for module in _families.MODULES:
        for op in module.OPS:
            register(op)


_load_builtin()
