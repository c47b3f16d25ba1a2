"""Attention: batch-first multi-head attention over per-sample sequences [L, E]."""

from __future__ import annotations

from archspec.ops._common import BOOL, POS_INT, PROB, need_rank
from archspec.ops.base import Arg, OpDef, OpShapeError, Recipe, fmt_shape


def _dims(args, shapes):
    """(L, E, S, kdim, vdim) with the checks nn.MultiheadAttention makes."""
    if len(shapes) == 2:
        raise OpShapeError(
            "multihead_attention takes 1 input (self-attention) or 3 (query, key, value), got 2"
        )
    for s in shapes:
        need_rank("multihead_attention", s, 2, 2, what="[N, L, E] inputs")
    q = shapes[0]
    k, v = (shapes[1], shapes[2]) if len(shapes) == 3 else (q, q)
    if k[0] != v[0]:
        raise OpShapeError(
            f"multihead_attention needs key and value of equal length, got {fmt_shape(k)} and {fmt_shape(v)}"
        )
    if q[1] % args["num_heads"]:
        raise OpShapeError(
            f"multihead_attention num_heads {args['num_heads']} must divide embed_dim {q[1]} (the query's last dim)"
        )
    return q[0], q[1], k[0], k[1], v[1]


def _shape(args, shapes):
    _dims(args, shapes)
    return shapes[0]


def _recipe(args, shapes):
    from archspec.ops.modules import Attention, SelfAttention

    _, e, _, kdim, vdim = _dims(args, shapes)
    heads = {"embed_dim": e, "num_heads": args["num_heads"]}
    common = {"dropout": float(args["dropout"]), "bias": args["bias"]}
    if len(shapes) == 1:
        return Recipe(SelfAttention, {**heads, **common})
    return Recipe(Attention, {**heads, "kdim": kdim, "vdim": vdim, **common})


def _params(args, shapes):
    _, e, _, kdim, vdim = _dims(args, shapes)
    bias = int(args["bias"])
    return e * (e + kdim + vdim) + 3 * e * bias + e * e + e * bias


def _macs(args, shapes, out):
    lq, e, s, kdim, vdim = _dims(args, shapes)
    return lq * e * e + s * e * (kdim + vdim) + 2 * lq * s * e + lq * e * e


MULTIHEAD_ATTENTION = OpDef(
    name="multihead_attention",
    family="attention",
    doc=(
        "Batch-first multi-head attention (nn.MultiheadAttention); returns only the attended output "
        "[L, E], not the weights. One input: self-attention (module SelfAttention); three: query, key, "
        "value (module Attention, [L, E], [S, kdim], [S, vdim]). embed_dim is the query's last dim."
    ),
    args={
        "num_heads": Arg(POS_INT, doc="parallel heads; must divide embed_dim"),
        "dropout": Arg(PROB, 0.0, "dropout on the attention weights"),
        "bias": Arg(BOOL, True, "learn projection biases"),
    },
    inputs=(1, 3),
    shape=_shape,
    recipe=_recipe,
    params=_params,
    macs=_macs,
    weighted=True,
    key_args=("num_heads",),
)

OPS: list[OpDef] = [MULTIHEAD_ATTENTION]
