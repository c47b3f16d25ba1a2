"""Activations: elementwise nonlinearities (shape-preserving) and softmax/log_softmax over a dim."""

from __future__ import annotations

from archspec.ops._common import BOOL, INT, NUMBER, POS_NUMBER, enum, need_rank, one
from archspec.ops.base import Arg, OpDef, Recipe, sample_dim


def _make(name: str, cls_name: str, doc: str, args: dict[str, Arg] | None = None) -> OpDef:
    """A stateless elementwise activation built as ``nn.<cls_name>(**args)``."""
    args = args or {}

    def recipe(a, shapes):
        from torch import nn

        return Recipe(getattr(nn, cls_name), {k: a[k] for k in args})

    return OpDef(
        name=name,
        family="activation",
        doc=f"{doc} (nn.{cls_name}); elementwise, shape unchanged.",
        args=args,
        inputs=1,
        shape=lambda a, shapes: one(shapes),
        recipe=recipe,
        key_args=tuple(args)[:1],
    )


# --- prelu ---


def _prelu_shape(args, shapes):
    if args["per_channel"]:
        need_rank("prelu", shapes[0], 1, what="a [N, C, ...] input for per_channel")
    return one(shapes)


def _prelu_recipe(args, shapes):
    from torch import nn

    return Recipe(
        nn.PReLU, {"num_parameters": shapes[0][0] if args["per_channel"] else 1, "init": args["init"]}
    )


PRELU = OpDef(
    name="prelu",
    family="activation",
    doc="Leaky ReLU with a learned negative slope (nn.PReLU): one slope, or one per channel (dim 1).",
    args={
        "per_channel": Arg(BOOL, False, "learn one slope per channel instead of one in all"),
        "init": Arg(NUMBER, 0.25, "initial slope"),
    },
    inputs=1,
    shape=_prelu_shape,
    recipe=_prelu_recipe,
    params=lambda args, shapes: shapes[0][0] if args["per_channel"] else 1,
    key_args=("per_channel",),
)


# --- softmax / log_softmax ---


def _make_softmax(name: str, cls_name: str, what: str) -> OpDef:
    def shape(args, shapes):
        sample_dim(args["dim"], len(shapes[0]))
        return one(shapes)

    def recipe(args, shapes):
        from torch import nn

        return Recipe(getattr(nn, cls_name), {"dim": args["dim"]})

    return OpDef(
        name=name,
        family="activation",
        doc=f"{what} over `dim` (nn.{cls_name}); dim counts the batch as 0, default -1 (the last).",
        args={"dim": Arg(INT, -1, "dimension to normalise over, PyTorch convention (batch is 0)")},
        inputs=1,
        shape=shape,
        recipe=recipe,
        key_args=("dim",),
    )


OPS: list[OpDef] = [
    _make("relu", "ReLU", "max(0, x)"),
    _make("relu6", "ReLU6", "min(max(0, x), 6)"),
    _make(
        "leaky_relu",
        "LeakyReLU",
        "x, or negative_slope * x below 0",
        {"negative_slope": Arg(NUMBER, 0.01, "slope below 0")},
    ),
    PRELU,
    _make(
        "elu",
        "ELU",
        "x, or alpha * (exp(x) - 1) below 0",
        {"alpha": Arg(NUMBER, 1.0, "scale of the negative part")},
    ),
    _make("selu", "SELU", "scaled ELU with fixed self-normalising constants"),
    _make(
        "gelu",
        "GELU",
        "x * Phi(x)",
        {"approximate": Arg(enum("none", "tanh"), "none", "'tanh' for the fast approximation")},
    ),
    _make("silu", "SiLU", "x * sigmoid(x) (swish)"),
    _make("mish", "Mish", "x * tanh(softplus(x))"),
    _make(
        "softplus",
        "Softplus",
        "log(1 + exp(beta * x)) / beta",
        {
            "beta": Arg(POS_NUMBER, 1.0, "sharpness"),
            "threshold": Arg(NUMBER, 20.0, "linear above beta * x > threshold"),
        },
    ),  # fmt: skip
    _make("hardswish", "Hardswish", "x * relu6(x + 3) / 6"),
    _make("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6"),
    _make("tanh", "Tanh", "hyperbolic tangent"),
    _make("sigmoid", "Sigmoid", "1 / (1 + exp(-x))"),
    _make_softmax("softmax", "Softmax", "Softmax"),
    _make_softmax("log_softmax", "LogSoftmax", "Log of the softmax"),
]
