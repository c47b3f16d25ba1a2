"""Pooling and resampling: max/avg pools, adaptive pools, global average pool, upsample."""

from __future__ import annotations

from archspec.ops._common import (
    BOOL,
    LAYOUT,
    NONNEG_INT,
    POS_INT,
    POS_NUMBER,
    enum,
    expand,
    int_or_list,
    need_rank,
    need_spatial,
    nullable,
    window_out,
)
from archspec.ops.base import Arg, OpDef, OpShapeError, Recipe, fmt_shape

_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}


def _make_pool(kind: str, n: int) -> OpDef:
    name = f"{kind}pool{n}d"
    is_max = kind == "max"

    def parts(args):
        k = expand(args["kernel_size"], n, "kernel_size")
        s = k if args["stride"] is None else expand(args["stride"], n, "stride")
        d = expand(args["dilation"], n, "dilation") if is_max else (1,) * n
        return k, s, expand(args["padding"], n, "padding"), d

    def shape(args, shapes):
        (x,) = shapes
        need_spatial(name, x, n)
        k, s, p, d = parts(args)
        for kk, pp in zip(k, p, strict=True):
            if pp > kk // 2:
                raise OpShapeError(f"{name} padding {pp} must be at most half of kernel_size {kk}")
        if name == "avgpool3d" and any(size < kk for size, kk in zip(x[1:], k, strict=True)):
            # avg_pool3d checks the unpadded input against the kernel, unlike the other pools
            raise OpShapeError(f"avgpool3d kernel_size {list(k)} is larger than the input {fmt_shape(x)}")
        ceil = args["ceil_mode"]
        return (
            x[0],
            *(window_out(*v, pp, pp, dd, ceil) for *v, pp, dd in zip(x[1:], k, s, p, d, strict=True)),
        )

    def recipe(args, shapes):
        from torch import nn

        k, s, p, d = parts(args)
        window = {"kernel_size": k, "stride": s, "padding": p}
        if is_max:
            cls = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[n]
            return Recipe(cls, {**window, "dilation": d, "ceil_mode": args["ceil_mode"]})
        cls = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[n]
        rest = {"ceil_mode": args["ceil_mode"], "count_include_pad": args["count_include_pad"]}
        return Recipe(cls, {**window, **rest})

    args = {
        "kernel_size": Arg(int_or_list(POS_INT, n), doc="window size: one int, or one per spatial dim"),
        "stride": Arg(nullable(int_or_list(POS_INT, n)), None, "step of the window; default kernel_size"),
        "padding": Arg(int_or_list(NONNEG_INT, n), 0, "implicit padding, at most half the kernel_size"),
        "ceil_mode": Arg(BOOL, False, "round output sizes up instead of down"),
    }
    if is_max:
        args["dilation"] = Arg(int_or_list(POS_INT, n), 1, "spacing between window elements")
    else:
        args["count_include_pad"] = Arg(BOOL, True, "count padded zeros in the average")
    return OpDef(
        name=name,
        family="pool",
        doc=f"{n}-d {kind} pooling (nn.{kind.title()}Pool{n}d): [C, {_SPATIAL[n]}] -> [C, ...]; stride defaults to kernel_size.",
        args=args,
        inputs=1,
        shape=shape,
        recipe=recipe,
        key_args=("kernel_size", "stride"),
    )


def _make_adaptive(kind: str, n: int) -> OpDef:
    name = f"adaptive_{kind}pool{n}d"

    def shape(args, shapes):
        (x,) = shapes
        need_spatial(name, x, n)
        return (x[0], *expand(args["output_size"], n, "output_size"))

    def recipe(args, shapes):
        from torch import nn

        cls = getattr(nn, f"Adaptive{kind.title()}Pool{n}d")
        return Recipe(cls, {"output_size": expand(args["output_size"], n, "output_size")})

    return OpDef(
        name=name,
        family="pool",
        doc=f"{n}-d adaptive {kind} pooling to a fixed output_size (nn.Adaptive{kind.title()}Pool{n}d): [C, {_SPATIAL[n]}] -> [C, *output_size].",
        args={
            "output_size": Arg(int_or_list(POS_INT, n), doc="output size: one int, or one per spatial dim")
        },
        inputs=1,
        shape=shape,
        recipe=recipe,
        key_args=("output_size",),
    )


# --- global average pool ---


def _global_shape(args, shapes):
    (x,) = shapes
    need_rank("global_avgpool", x, 2, what="a [N, C, *spatial] input")
    return (x[0],)


def _global_recipe(args, shapes):
    from archspec.ops.modules import GlobalAvgPool

    return Recipe(GlobalAvgPool)


GLOBAL_AVGPOOL = OpDef(
    name="global_avgpool",
    family="pool",
    doc="Mean over every spatial dim: [C, *spatial] -> [C] (module GlobalAvgPool); no flatten needed after it.",
    args={},
    inputs=1,
    shape=_global_shape,
    recipe=_global_recipe,
)


# --- upsample ---

_MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def _upsample_shape(args, shapes):
    (x,) = shapes
    mode = args["mode"]
    n = len(x) - 1
    if n not in (1, 2, 3):
        raise OpShapeError(
            f"upsample needs a [N, C, L], [N, C, H, W] or [N, C, D, H, W] input, got {fmt_shape(x)}"
        )
    if mode in _MODE_DIMS and _MODE_DIMS[mode] != n:
        raise OpShapeError(
            f"upsample mode '{mode}' needs a {LAYOUT[_MODE_DIMS[mode]]} input, got {fmt_shape(x)}",
            hint=f"use mode: {next(m for m, k in _MODE_DIMS.items() if k == n)} for this input",
        )
    if args["align_corners"] is not None and mode not in _MODE_DIMS:
        raise OpShapeError(f"upsample align_corners only applies to linear modes, not '{mode}'")
    size, scale = args["size"], args["scale_factor"]
    if (size is None) == (scale is None):
        raise OpShapeError("upsample needs exactly one of size and scale_factor")
    if size is not None:
        return (x[0], *expand(size, n, "size"))
    scales = (scale,) * n if isinstance(scale, (int, float)) else tuple(scale)
    if len(scales) != n:
        raise OpShapeError(f"scale_factor needs 1 or {n} values, got {len(scales)}")
    out = tuple(int(float(s) * f) for s, f in zip(x[1:], scales, strict=True))
    if min(out) < 1:
        raise OpShapeError(f"upsample scale_factor {scale} leaves no output from {fmt_shape(x)}")
    return (x[0], *out)


def _upsample_recipe(args, shapes):
    from torch import nn

    size, scale = args["size"], args["scale_factor"]
    return Recipe(
        nn.Upsample,
        {
            "size": tuple(size) if isinstance(size, list) else size,
            "scale_factor": tuple(scale) if isinstance(scale, list) else scale,
            "mode": args["mode"],
            "align_corners": args["align_corners"],
        },
    )


UPSAMPLE = OpDef(
    name="upsample",
    family="pool",
    doc=(
        "Resize the spatial dims (nn.Upsample) to `size` or by `scale_factor` (exactly one): "
        "[C, *spatial] -> [C, *new]. Modes linear/bilinear/bicubic/trilinear need 1/2/2/3 spatial dims."
    ),
    args={
        "scale_factor": Arg(
            nullable(int_or_list(POS_NUMBER)), None, "multiplier per spatial dim (output is floored)"
        ),
        "size": Arg(nullable(int_or_list(POS_INT)), None, "output spatial size"),
        "mode": Arg(
            enum("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"),
            "nearest",
            "interpolation",
        ),
        "align_corners": Arg(nullable(BOOL), None, "for linear modes: align the corner pixels"),
    },
    inputs=1,
    shape=_upsample_shape,
    recipe=_upsample_recipe,
    key_args=("scale_factor", "size", "mode"),
)


OPS: list[OpDef] = [
    *(_make_pool("max", n) for n in (1, 2, 3)),
    *(_make_pool("avg", n) for n in (1, 2, 3)),
    *(_make_adaptive("avg", n) for n in (1, 2, 3)),
    *(_make_adaptive("max", n) for n in (1, 2, 3)),
    GLOBAL_AVGPOOL,
    UPSAMPLE,
]
