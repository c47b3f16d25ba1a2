"""Normalisation (batch, layer, group, instance) and dropout."""

from __future__ import annotations

from archspec.ops._common import BOOL, LAYOUT, POS_INT, POS_NUMBER, PROB, need_rank, need_spatial, one, prod
from archspec.ops.base import Arg, OpDef, OpShapeError, Recipe, fmt_shape

_EPS = Arg(POS_NUMBER, 1e-5, "added to the variance for stability")
_MOMENTUM = Arg(PROB, 0.1, "running statistics update rate")
_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


# --- batchnorm ---


def _make_batchnorm(n: int) -> OpDef:
    name = f"batchnorm{n}d"

    def shape(args, shapes):
        (x,) = shapes
        if n == 1 and len(x) in (1, 2):
            return x
        if n == 1:
            raise OpShapeError(f"batchnorm1d needs a [N, C] or [N, C, L] input, got {fmt_shape(x)}")
        need_spatial(name, x, n)
        return x

    def recipe(args, shapes):
        from torch import nn

        cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[n]
        keys = ("eps", "momentum", "affine", "track_running_stats")
        return Recipe(cls, {"num_features": shapes[0][0], **{k: args[k] for k in keys}})

    layout = "[C] or [C, L]" if n == 1 else f"[C, {_SPATIAL[n]}]"
    return OpDef(
        name=name,
        family="norm",
        doc=f"Batch normalisation over {layout} (nn.BatchNorm{n}d); num_features comes from the input.",
        args={
            "eps": _EPS,
            "momentum": _MOMENTUM,
            "affine": Arg(BOOL, True, "learn a per-channel scale (weight) and shift (bias)"),
            "track_running_stats": Arg(BOOL, True, "keep running mean/var for evaluation"),
        },
        inputs=1,
        shape=shape,
        recipe=recipe,
        params=lambda args, shapes: 2 * shapes[0][0] if args["affine"] else 0,
        # running mean and variance per channel, and the num_batches_tracked counter
        buffers=lambda args, shapes: 2 * shapes[0][0] + 1 if args["track_running_stats"] else 0,
    )


# --- instancenorm ---


def _make_instancenorm(n: int) -> OpDef:
    name = f"instancenorm{n}d"

    def shape(args, shapes):
        (x,) = shapes
        need_spatial(name, x, n)
        if prod(x[1:]) == 1:
            raise OpShapeError(f"{name} needs more than 1 spatial element, got {fmt_shape(x)}")
        return x

    def recipe(args, shapes):
        from torch import nn

        cls = {1: nn.InstanceNorm1d, 2: nn.InstanceNorm2d, 3: nn.InstanceNorm3d}[n]
        keys = ("eps", "momentum", "affine", "track_running_stats")
        return Recipe(cls, {"num_features": shapes[0][0], **{k: args[k] for k in keys}})

    return OpDef(
        name=name,
        family="norm",
        doc=f"Instance normalisation of each sample and channel over [C, {_SPATIAL[n]}] (nn.InstanceNorm{n}d).",
        args={
            "eps": _EPS,
            "momentum": _MOMENTUM,
            "affine": Arg(BOOL, False, "learn a per-channel scale (weight) and shift (bias)"),
            "track_running_stats": Arg(BOOL, False, "keep running mean/var for evaluation"),
        },
        inputs=1,
        shape=shape,
        recipe=recipe,
        params=lambda args, shapes: 2 * shapes[0][0] if args["affine"] else 0,
        buffers=lambda args, shapes: 2 * shapes[0][0] + 1 if args["track_running_stats"] else 0,
    )


# --- layernorm ---


def _layernorm_shape(args, shapes):
    (x,) = shapes
    k = args["dims"]
    need_rank(
        "layernorm", x, k, what=f"at least {k} dimension{'s' if k > 1 else ''} to normalise (dims: {k})"
    )
    return x


def _layernorm_recipe(args, shapes):
    from torch import nn

    x = shapes[0]
    return Recipe(nn.LayerNorm, {
        "normalized_shape": x[len(x) - args["dims"]:], "eps": args["eps"],
        "elementwise_affine": args["elementwise_affine"], "bias": args["bias"],
    })  # fmt: skip


def _layernorm_params(args, shapes):
    if not args["elementwise_affine"]:
        return 0
    x = shapes[0]
    return prod(x[len(x) - args["dims"] :]) * (1 + int(args["bias"]))


def _channel_layernorm_recipe(args, shapes):
    from archspec.ops.modules import ChannelLayerNorm

    return Recipe(ChannelLayerNorm, {
        "normalized_shape": shapes[0][0], "eps": args["eps"],
        "elementwise_affine": args["elementwise_affine"], "bias": args["bias"],
    })  # fmt: skip


def _channel_layernorm_shape(args, shapes):
    need_rank("channel_layernorm", shapes[0], 1, what="a [N, C, ...] input")
    return shapes[0]


CHANNEL_LAYERNORM = OpDef(
    name="channel_layernorm",
    family="norm",
    doc=(
        "Layer normalisation over the channels (dim 1) of [N, C, ...] at every position: ConvNeXt's "
        "channels-first LayerNorm as one op (module ChannelLayerNorm, an nn.LayerNorm over C)."
    ),
    args={
        "eps": Arg(POS_NUMBER, 1e-6, "added to the variance"),
        "elementwise_affine": Arg(BOOL, True, "learn a per-channel scale (weight) and shift (bias)"),
        "bias": Arg(BOOL, True, "learn the shift (with elementwise_affine)"),
    },
    inputs=1,
    shape=_channel_layernorm_shape,
    recipe=_channel_layernorm_recipe,
    params=lambda a, shapes: shapes[0][0] * (1 + int(a["bias"])) if a["elementwise_affine"] else 0,
)


LAYERNORM = OpDef(
    name="layernorm",
    family="norm",
    doc=(
        "Layer normalisation over the last `dims` dims (nn.LayerNorm); normalized_shape is "
        "derived from the input: dims 1 on [T, E] normalises each [E] vector."
    ),
    args={
        "dims": Arg(POS_INT, 1, "how many trailing dims to normalise over"),
        "eps": _EPS,
        "elementwise_affine": Arg(BOOL, True, "learn an elementwise scale (weight) and shift (bias)"),
        "bias": Arg(BOOL, True, "learn the shift (with elementwise_affine)"),
    },
    inputs=1,
    shape=_layernorm_shape,
    recipe=_layernorm_recipe,
    params=_layernorm_params,
    key_args=("dims",),
)


# --- groupnorm ---


def _groupnorm_shape(args, shapes):
    (x,) = shapes
    need_rank("groupnorm", x, 1, what="a [N, C, ...] input")
    if x[0] % args["num_groups"]:
        raise OpShapeError(
            f"groupnorm num_groups {args['num_groups']} must divide the input's {x[0]} channels"
        )
    return x


def _groupnorm_recipe(args, shapes):
    from torch import nn

    sizes = {"num_groups": args["num_groups"], "num_channels": shapes[0][0]}
    return Recipe(nn.GroupNorm, {**sizes, "eps": args["eps"], "affine": args["affine"]})


GROUPNORM = OpDef(
    name="groupnorm",
    family="norm",
    doc="Group normalisation: channels in num_groups groups, each normalised over [C/G, *spatial] (nn.GroupNorm).",
    args={
        "num_groups": Arg(POS_INT, doc="number of channel groups; must divide the channels"),
        "eps": _EPS,
        "affine": Arg(BOOL, True, "learn a per-channel scale (weight) and shift (bias)"),
    },
    inputs=1,
    shape=_groupnorm_shape,
    recipe=_groupnorm_recipe,
    params=lambda args, shapes: 2 * shapes[0][0] if args["affine"] else 0,
    key_args=("num_groups",),
)


# --- dropout ---


def _make_dropout(name: str, cls_name: str, rank: int | None) -> OpDef:
    def shape(args, shapes):
        (x,) = shapes
        if rank is not None:
            need_spatial(name, x, rank)
        return one(shapes)

    def recipe(args, shapes):
        from torch import nn

        return Recipe(getattr(nn, cls_name), {"p": args["p"]})

    where = "each element" if rank is None else f"whole channels of a {LAYOUT[rank]} input"
    return OpDef(
        name=name,
        family="dropout",
        doc=f"Zero {where} with probability p while training, scaling the rest by 1/(1-p) (nn.{cls_name}).",
        args={"p": Arg(PROB, 0.5, "drop probability")},
        inputs=1,
        shape=shape,
        recipe=recipe,
        key_args=("p",),
    )


OPS: list[OpDef] = [
    *(_make_batchnorm(n) for n in (1, 2, 3)),
    LAYERNORM,
    CHANNEL_LAYERNORM,
    GROUPNORM,
    *(_make_instancenorm(n) for n in (1, 2, 3)),
    _make_dropout("dropout", "Dropout", None),
    _make_dropout("dropout1d", "Dropout1d", 1),
    _make_dropout("dropout2d", "Dropout2d", 2),
    _make_dropout("dropout3d", "Dropout3d", 3),
]
