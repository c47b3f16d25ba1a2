"""The tensor math modern blocks are built from: matmul, scaled-dot-product attention, roll,
lookup by a constant index buffer, constant buffers, resizing to another tensor's size and
drop-path (stochastic depth).

With these a pre-norm transformer block, windowed attention with a relative position bias and
a decoder-only language model are written from the catalogue alone. Per-sample shapes, dims
counting the batch as 0, as everywhere.
"""

from __future__ import annotations

from archspec.ops._common import BOOL, INT, PROB, enum, list_of, need_rank, nullable, prod
from archspec.ops.base import Arg, Call, OpDef, OpShapeError, Recipe, fmt_shape, sample_dim

_POS_NUMBER = {"type": "number", "exclusiveMinimum": 0}


def _broadcast_lead(op: str, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast of two shapes' leading (per-sample) dims, which must have equal rank."""
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            raise OpShapeError(f"{op} cannot broadcast the leading dims {list(a)} and {list(b)}")
        out.append(max(x, y))
    return tuple(out)


# --- matmul ---


def _matmul_shape(args, shapes):
    a, b = shapes
    for s in shapes:
        need_rank("matmul", s, 2, what="inputs of at least [N, rows, cols]")
    if len(a) != len(b):
        raise OpShapeError(
            f"matmul needs inputs of equal rank, got {fmt_shape(a)} and {fmt_shape(b)}",
            hint="unsqueeze the smaller input (op: unsqueeze)",
        )
    if a[-1] != b[-2]:
        raise OpShapeError(
            f"matmul needs the last dim of input 0 ({a[-1]}) to equal the second-to-last of input 1 ({b[-2]})",
            hint="transpose input 1 (op: transpose, dim0: -2, dim1: -1)",
        )
    return (*_broadcast_lead("matmul", a[:-2], b[:-2]), a[-2], b[-1])


def _matmul_recipe(args, shapes):
    import torch

    return Call(torch.matmul)


MATMUL = OpDef(
    name="matmul",
    family="merge",
    doc="Matrix product of the last two dims (torch.matmul, a @ b), leading dims broadcast: [.., n, k] @ [.., k, m] -> [.., n, m].",
    args={},
    inputs=2,
    shape=_matmul_shape,
    recipe=_matmul_recipe,
    macs=lambda args, shapes, out: prod(out) * shapes[0][-1],
)


# --- scaled-dot-product attention ---


def _sdpa_shape(args, shapes):
    for s in shapes[:3]:
        need_rank("scaled_dot_product_attention", s, 2, what="[N, ..., L, E] query, key and value")
    q, k, v = shapes[:3]
    if not len(q) == len(k) == len(v):
        raise OpShapeError("scaled_dot_product_attention needs query, key and value of equal rank")
    if q[-1] != k[-1] or k[-2] != v[-2]:
        raise OpShapeError(
            f"scaled_dot_product_attention needs query and key of equal features and key and value of equal length, got {fmt_shape(q)}, {fmt_shape(k)} and {fmt_shape(v)}"
        )
    lead = _broadcast_lead("scaled_dot_product_attention", _broadcast_lead("x", q[:-2], k[:-2]), v[:-2])
    if len(shapes) == 4:
        if args["causal"]:
            raise OpShapeError(
                "scaled_dot_product_attention takes causal: true or a mask input, not both",
                hint="add the causal mask into the additive mask",
            )
        m, want = shapes[3], (*lead, q[-2], k[-2])
        if len(m) != len(want) or any(a not in (1, b) for a, b in zip(m, want, strict=True)):
            raise OpShapeError(
                f"scaled_dot_product_attention mask {fmt_shape(m)} does not broadcast to the scores {fmt_shape(want)}"
            )
    return (*lead, q[-2], v[-1])


def _sdpa_recipe(args, shapes):
    from torch.nn import functional

    kwargs = {"is_causal": args["causal"]} if args["causal"] else {}
    if args["scale"] is not None:
        kwargs["scale"] = float(args["scale"])
    return Call(functional.scaled_dot_product_attention, kwargs=kwargs)


SDPA = OpDef(
    name="scaled_dot_product_attention",
    family="attention",
    doc=(
        "softmax(q @ k^T * scale + mask) @ v (F.scaled_dot_product_attention) over [N, ..., L, E] "
        "inputs (query, key, value, optional additive float mask or boolean keep-mask broadcast to "
        "[N, ..., L, S]); causal: true masks the future. scale defaults to 1/sqrt(E). Heads are a "
        "leading dim: reshape and transpose to [N, heads, L, E/heads] first."
    ),
    args={
        "causal": Arg(BOOL, False, "mask each position's future (a decoder)"),
        "scale": Arg(nullable(_POS_NUMBER), None, "score scale; null: 1/sqrt(E)"),
    },
    inputs=(3, 4),
    shape=_sdpa_shape,
    recipe=_sdpa_recipe,
    macs=lambda args, shapes, out: prod(out) * shapes[1][-2] + prod(shapes[0]) * shapes[1][-2],
    key_args=("causal",),
)


# --- roll ---


def _roll_shape(args, shapes):
    (x,) = shapes
    shifts, dims = args["shifts"], args["dims"]
    if len(shifts) != len(dims):
        raise OpShapeError(f"roll has {len(shifts)} shifts but {len(dims)} dims")
    for d in dims:
        sample_dim(d, len(x))
    return x


def _roll_recipe(args, shapes):
    import torch

    return Call(torch.roll, kwargs={"shifts": list(args["shifts"]), "dims": list(args["dims"])})


ROLL = OpDef(
    name="roll",
    family="shape",
    doc="Shift elements cyclically along dims (torch.roll): Swin's shifted windows are shifts: [-3, -3], dims: [2, 3].",
    args={
        "shifts": Arg(list_of(INT, min_items=1), doc="shift per dim"),
        "dims": Arg(list_of(INT, min_items=1), doc="dims to roll (batch is 0)"),
    },
    inputs=1,
    shape=_roll_shape,
    recipe=_roll_recipe,
    key_args=("shifts", "dims"),
)


# --- constant buffers ---


def _nested_shape(values) -> tuple[int, ...]:
    if not isinstance(values, list):
        return ()
    if not values:
        raise OpShapeError("buffer values may not contain an empty list")
    inner = [_nested_shape(v) for v in values]
    if any(s != inner[0] for s in inner):
        raise OpShapeError("buffer values must be a rectangular nested list")
    return (len(values), *inner[0])


def _relative_index(window: list[int]) -> list[list[int]]:
    """Swin's relative position index of a window [h, w]: [h*w, h*w] into a (2h-1)(2w-1) table."""
    h, w = window
    coords = [(i, j) for i in range(h) for j in range(w)]
    return [[(a - c + h - 1) * (2 * w - 1) + (b - d + w - 1) for c, d in coords] for a, b in coords]


def _buffer_values(args):
    given = [k for k in ("values", "relative_position_index") if args[k] is not None]
    if len(given) != 1:
        raise OpShapeError("buffer needs exactly one of values: or relative_position_index:")
    if args["values"] is not None:
        return args["values"]
    return _relative_index(args["relative_position_index"])


def _buffer_shape(args, shapes):
    shape = _nested_shape(_buffer_values(args))
    if not shape:
        raise OpShapeError("buffer values must be a list")
    return shape


def _buffer_recipe(args, shapes):
    from archspec.ops.modules import ConstantTensor

    return Recipe(ConstantTensor, {"values": _buffer_values(args), "dtype": args["dtype"]})


BUFFER = OpDef(
    name="buffer",
    family="feature",
    doc=(
        "A constant (saved, not trained) tensor: `values` as a nested list, or Swin's "
        "`relative_position_index: [h, w]`. Like `parameter` it reads its input only for the batch "
        "size (in: [] gives a batch of 1). Module ConstantTensor; the buffer is `<node>.value`."
    ),
    args={
        "values": Arg(nullable({"type": "array"}), None, "the tensor as a nested list (per sample)"),
        "relative_position_index": Arg(
            nullable(list_of({"type": "integer", "minimum": 1}, n=2)), None, "window [h, w]"
        ),
        "dtype": Arg(enum("float32", "int64"), "float32", "element type"),
    },
    inputs=(0, 1),
    shape=_buffer_shape,
    recipe=_buffer_recipe,
    buffers=lambda args, shapes: prod(_buffer_shape(args, shapes)),
    key_args=("dtype",),
)


# --- lookup by an index buffer ---


def _index_shape(args, shapes):
    x, idx = shapes
    d = sample_dim(args["dim"], len(x))
    return (*x[:d], *idx, *x[d + 1 :])


def _index_recipe(args, shapes):
    from archspec.ops.modules import index_dim

    return Call(index_dim, extra=(sample_dim(args["dim"], len(shapes[0])) + 1,))


INDEX = OpDef(
    name="index",
    family="shape",
    doc=(
        "Look up positions of `dim` of input 0 by the integer input 1, a constant index (a `buffer`; "
        "its first sample is used for the whole batch): the result has input 1's shape in place of "
        "`dim` — a relative position bias is a learned table indexed by a relative_position_index."
    ),
    args={"dim": Arg(INT, 1, "dim of input 0 to look up (batch is 0)")},
    inputs=2,
    shape=_index_shape,
    recipe=_index_recipe,
    key_args=("dim",),
)


# --- resize to another tensor's size ---


def _resize_shape(args, shapes):
    x, ref = shapes
    need_rank("resize_to", x, 2, 4, what="a [N, C, *spatial] input with 1 to 3 spatial dims")
    if len(x) != len(ref):
        raise OpShapeError(f"resize_to needs inputs of equal rank, got {fmt_shape(x)} and {fmt_shape(ref)}")
    if args["mode"] in ("linear", "bilinear", "bicubic", "trilinear"):
        want = {"linear": 2, "bilinear": 3, "bicubic": 3, "trilinear": 4}[args["mode"]]
        if len(x) != want:
            raise OpShapeError(
                f"resize_to mode '{args['mode']}' needs {want - 1} spatial dim(s), got {fmt_shape(x)}"
            )
    return (x[0], *ref[1:])


def _resize_recipe(args, shapes):
    from archspec.ops.modules import resize_to

    return Call(resize_to, extra=(args["mode"],))


RESIZE_TO = OpDef(
    name="resize_to",
    family="pool",
    doc=(
        "Resize input 0 (F.interpolate) to the spatial size of input 1, keeping input 0's channels: "
        "an FPN or U-Net decoder matching a skip's size. Input 1's values are unused."
    ),
    args={
        "mode": Arg(
            enum("nearest", "linear", "bilinear", "bicubic", "trilinear", "area"), "nearest", "interpolation"
        )
    },
    inputs=2,
    shape=_resize_shape,
    recipe=_resize_recipe,
    key_args=("mode",),
)


# --- drop-path ---


def _drop_path_recipe(args, shapes):
    from archspec.ops.modules import DropPath

    return Recipe(DropPath, {"p": float(args["p"])})


DROP_PATH = OpDef(
    name="drop_path",
    family="dropout",
    doc=(
        "Stochastic depth (timm's DropPath): in training, zero whole samples with probability p and "
        "scale the rest by 1/(1-p); the identity in eval. Put it on a residual branch before the add."
    ),
    args={"p": Arg(PROB, 0.1, "probability of dropping a sample's branch")},
    inputs=1,
    shape=lambda args, shapes: shapes[0],
    recipe=_drop_path_recipe,
    key_args=("p",),
)

OPS: list[OpDef] = [MATMUL, SDPA, ROLL, BUFFER, INDEX, RESIZE_TO, DROP_PATH]
