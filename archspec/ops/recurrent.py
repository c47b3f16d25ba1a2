"""Recurrent layers: batch-first LSTM and GRU over a per-sample sequence [T, F]."""

from __future__ import annotations

from archspec.ops._common import BOOL, POS_INT, PROB, enum, need_rank
from archspec.ops.base import Arg, OpDef, Recipe

_GATES = {"lstm": 4, "gru": 3}


def _make_rnn(kind: str) -> OpDef:
    gates = _GATES[kind]

    def shape(args, shapes):
        (x,) = shapes
        need_rank(kind, x, 2, 2, what="a [N, T, F] sequence")
        width = args["hidden_size"] * (2 if args["bidirectional"] else 1)
        return (x[0], width) if args["return"] == "sequence" else (width,)

    def recipe(args, shapes):
        from archspec.ops.modules import Recurrent

        return Recipe(Recurrent, {
            "kind": kind, "input_size": shapes[0][1], "hidden_size": args["hidden_size"],
            "num_layers": args["num_layers"], "bias": args["bias"], "dropout": float(args["dropout"]),
            "bidirectional": args["bidirectional"], "return_sequence": args["return"] == "sequence",
        })  # fmt: skip

    def layers(args, shapes):
        """(input size, hidden size) of every layer and direction."""
        h, dirs = args["hidden_size"], 2 if args["bidirectional"] else 1
        return [
            (shapes[0][1] if i == 0 else h * dirs, h) for i in range(args["num_layers"]) for _ in range(dirs)
        ]

    def params(args, shapes):
        bias = 2 * gates if args["bias"] else 0
        return sum(gates * h * (f + h) + bias * h for f, h in layers(args, shapes))

    def macs(args, shapes, out):
        return shapes[0][0] * sum(gates * h * (f + h) for f, h in layers(args, shapes))

    return OpDef(
        name=kind,
        family="recurrent",
        doc=(
            f"Batch-first {kind.upper()} (nn.{kind.upper()} in module Recurrent) over [T, F]: returns "
            "[T, hidden_size * dirs] (return: sequence) or the last step [hidden_size * dirs] (return: "
            "last, the default; bidirectional joins each direction's final state)."
        ),
        args={
            "hidden_size": Arg(POS_INT, doc="features of the hidden state"),
            "num_layers": Arg(POS_INT, 1, "stacked layers"),
            "bidirectional": Arg(BOOL, False, "also run backwards; doubles the output features"),
            "dropout": Arg(PROB, 0.0, "dropout between stacked layers (needs num_layers > 1)"),
            "bias": Arg(BOOL, True, "learn input and hidden biases"),
            "return": Arg(enum("sequence", "last"), "last", "the whole output sequence, or the last step"),
        },
        inputs=1,
        shape=shape,
        recipe=recipe,
        params=params,
        macs=macs,
        weighted=True,
        key_args=("hidden_size", "num_layers", "return"),
    )


OPS: list[OpDef] = [_make_rnn("lstm"), _make_rnn("gru")]
