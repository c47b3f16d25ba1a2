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
from archspec.ops.base import Recipe as Recipe
from archspec.ops.base import Shape as Shape

__all__ = [
    "CATALOGUE",
    "REQUIRED",
    "Arg",
    "Call",
    "OpDef",
    "OpShapeError",
    "Recipe",
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


# Names people bring from PyTorch and Keras, mapped to ours (only used for hints).
_ALIASES = {
    "mul": "multiply",
    "cat": "concat",
    "concatenate": "concat",
    "sub": "subtract",
    "dense": "linear",
    "fc": "linear",
    "conv": "conv2d",
    "convtranspose2d": "conv_transpose2d",
    "deconv2d": "conv_transpose2d",
    "maxpool": "maxpool2d",
    "avgpool": "avgpool2d",
    "batchnorm": "batchnorm2d",
    "bn": "batchnorm2d",
    "globalaveragepooling2d": "global_avgpool",
    "view": "reshape",
    "swish": "silu",
    "attention": "multihead_attention",
    "layernorm2d": "channel_layernorm",
    "layernormchannelsfirst": "channel_layernorm",
}


def suggest_op(name: object) -> str | None:
    if isinstance(name, str) and name.lower().replace("_", "") in _ALIASES:
        return f"did you mean {_ALIASES[name.lower().replace('_', '')]!r}?"
    return did_you_mean(name, CATALOGUE)


# Ops that move, cut or join values without arithmetic that needs floats: they take integer
# tensors too and pass their dtype through. Embedding takes integer indices. Every other
# built-in op needs floating-point inputs.
_ANY_DTYPE = frozenset(
    "identity flatten reshape permute transpose squeeze unsqueeze concat stack split chunk select slice pad crop_to roll index add subtract multiply sum".split()
)
_INDEX_DTYPE = frozenset({"embedding"})
_FREE_DTYPE = frozenset({"parameter", "buffer"})  # reads no values: a float tensor whatever it is given


def _load_builtin() -> None:
    import dataclasses

    from archspec.ops import _families

    for module in _families.MODULES:
        for op in module.OPS:
            kind = (
                "any"
                if op.name in _ANY_DTYPE
                else "index"
                if op.name in _INDEX_DTYPE
                else "free"
                if op.name in _FREE_DTYPE
                else "float"
            )
            register(dataclasses.replace(op, dtypes=kind))


_load_builtin()
