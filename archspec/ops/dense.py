"""Dense layers: linear, bilinear, identity, embedding, and the RBF feature map."""

from __future__ import annotations

from archspec.ops._common import BOOL, INT, NONNEG_INT, POS_INT, POS_NUMBER, list_of, nullable, one, prod
from archspec.ops.base import Arg, OpDef, OpShapeError, Recipe, fmt_shape


def _last_dim(op: str, shape: tuple[int, ...]) -> int:
    if not shape:
        raise OpShapeError(
            f"{op} needs at least 1 dimension, got {fmt_shape(shape)}", hint="it acts on the last dim"
        )
    return shape[-1]


# --- linear ---


def _linear_shape(args, shapes):
    (shape,) = shapes
    _last_dim("linear", shape)
    return (*shape[:-1], args["out_features"])


def _linear_recipe(args, shapes):
    from torch import nn

    return Recipe(
        nn.Linear, {"in_features": shapes[0][-1], "out_features": args["out_features"], "bias": args["bias"]}
    )


def _linear_params(args, shapes):
    return args["out_features"] * (shapes[0][-1] + int(args["bias"]))


def _linear_macs(args, shapes, out):
    return prod(out) * shapes[0][-1]


LINEAR = OpDef(
    name="linear",
    family="dense",
    doc="Fully connected layer on the last dim: [..., F] -> [..., out_features] (nn.Linear).",
    args={
        "out_features": Arg(POS_INT, doc="output features"),
        "bias": Arg(BOOL, True, "learn an additive bias"),
    },
    inputs=1,
    shape=_linear_shape,
    recipe=_linear_recipe,
    params=_linear_params,
    macs=_linear_macs,
    weighted=True,
    key_args=("out_features",),
)


# --- bilinear ---


def _bilinear_shape(args, shapes):
    a, b = shapes
    _last_dim("bilinear", a)
    _last_dim("bilinear", b)
    if a[:-1] != b[:-1]:
        raise OpShapeError(
            f"bilinear needs inputs that differ only in the last dim, got {fmt_shape(a)} and {fmt_shape(b)}"
        )
    return (*a[:-1], args["out_features"])


def _bilinear_recipe(args, shapes):
    from torch import nn

    sizes = {"in1_features": shapes[0][-1], "in2_features": shapes[1][-1]}
    return Recipe(nn.Bilinear, {**sizes, "out_features": args["out_features"], "bias": args["bias"]})


def _bilinear_params(args, shapes):
    out = args["out_features"]
    return out * shapes[0][-1] * shapes[1][-1] + out * int(args["bias"])


BILINEAR = OpDef(
    name="bilinear",
    family="dense",
    doc="x1^T W x2 + b over two inputs [..., F1] and [..., F2] -> [..., out_features] (nn.Bilinear).",
    args={
        "out_features": Arg(POS_INT, doc="output features"),
        "bias": Arg(BOOL, True, "learn an additive bias"),
    },
    inputs=2,
    shape=_bilinear_shape,
    recipe=_bilinear_recipe,
    params=_bilinear_params,
    macs=lambda args, shapes, out: prod(out) * shapes[0][-1] * shapes[1][-1],
    weighted=True,
    key_args=("out_features",),
)


# --- identity ---


def _identity_recipe(args, shapes):
    from torch import nn

    return Recipe(nn.Identity)


IDENTITY = OpDef(
    name="identity",
    family="dense",
    doc="Passes its input through unchanged (nn.Identity); a named tap or placeholder.",
    args={},
    inputs=1,
    shape=lambda args, shapes: one(shapes),
    recipe=_identity_recipe,
)


# --- embedding ---


def _embedding_shape(args, shapes):
    pad = args["padding_idx"]
    n = args["num_embeddings"]
    if pad is not None and not -n <= pad < n:
        raise OpShapeError(f"embedding padding_idx {pad} is out of range for num_embeddings {n}")
    return (*shapes[0], args["embedding_dim"])


def _embedding_recipe(args, shapes):
    from torch import nn

    keys = ("num_embeddings", "embedding_dim", "padding_idx", "max_norm")
    return Recipe(nn.Embedding, {k: args[k] for k in keys})


EMBEDDING = OpDef(
    name="embedding",
    family="embedding",
    doc=(
        "Lookup table: integer indices of any shape [...] -> [..., embedding_dim] (nn.Embedding). "
        "The input must hold int64 indices in [0, num_embeddings)."
    ),
    args={
        "num_embeddings": Arg(POS_INT, doc="size of the vocabulary"),
        "embedding_dim": Arg(POS_INT, doc="size of each embedding vector"),
        "padding_idx": Arg(nullable(INT), None, "index whose vector stays zero and gets no gradient"),
        "max_norm": Arg(nullable(POS_NUMBER), None, "renormalise looked-up vectors to at most this norm"),
    },
    inputs=1,
    shape=_embedding_shape,
    recipe=_embedding_recipe,
    params=lambda args, shapes: args["num_embeddings"] * args["embedding_dim"],
    weighted=True,
    key_args=("num_embeddings", "embedding_dim"),
)


# --- rbf ---


def _rbf_shape(args, shapes):
    (shape,) = shapes
    _last_dim("rbf", shape)
    return (*shape[:-1], args["centers"])


def _rbf_recipe(args, shapes):
    from archspec.ops.modules import RBF

    keys = ("centers", "gamma", "learnable", "seed")
    return Recipe(RBF, {"in_features": shapes[0][-1], **{k: args[k] for k in keys}})


RBF_OP = OpDef(
    name="rbf",
    family="feature",
    doc=(
        "Gaussian radial-basis feature map on the last dim: [..., F] -> [..., centers], "
        "exp(-gamma * |x - c_j|^2). Centres are drawn from a standard normal seeded with `seed`; "
        "they are trained only when `learnable` (module RBF, centres in `weight`)."
    ),
    args={
        "centers": Arg(POS_INT, doc="number of centres (output features)"),
        "gamma": Arg(POS_NUMBER, 1.0, "width: exp(-gamma * squared distance)"),
        "learnable": Arg(BOOL, False, "train the centres"),
        "seed": Arg(NONNEG_INT, 0, "seed of the normal draw of the centres"),
    },
    inputs=1,
    shape=_rbf_shape,
    recipe=_rbf_recipe,
    params=lambda args, shapes: args["centers"] * shapes[0][-1] if args["learnable"] else 0,
    buffers=lambda args, shapes: 0 if args["learnable"] else args["centers"] * shapes[0][-1],
    macs=lambda args, shapes, out: prod(out) * shapes[0][-1],
    key_args=("centers", "gamma"),
)


# --- parameter: a free learned tensor ---


def _parameter_recipe(args, shapes):
    from archspec.ops.modules import LearnedTensor

    return Recipe(LearnedTensor, {"shape": list(args["shape"])})


PARAMETER = OpDef(
    name="parameter",
    family="dense",
    doc=(
        "A learned tensor of per-sample `shape` (a class token, a position embedding, a layer "
        "scale), usable as an input of any op; `init:` sets its start (default zeros). It reads "
        "its input only for the batch size (in: [] gives a batch of 1, which broadcasts). Module "
        "LearnedTensor; the parameter is `<node>.weight`."
    ),
    args={"shape": Arg(list_of(POS_INT, min_items=1), doc="per-sample shape of the tensor")},
    inputs=(0, 1),
    shape=lambda args, shapes: tuple(args["shape"]),
    recipe=_parameter_recipe,
    params=lambda args, shapes: prod(args["shape"]),
    weighted=True,
    key_args=("shape",),
)

OPS: list[OpDef] = [LINEAR, BILINEAR, IDENTITY, EMBEDDING, RBF_OP, PARAMETER]
