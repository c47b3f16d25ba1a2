"""``training: {solver: closed_form}``: fit a linear model with squared loss exactly.

The seed's first model: a network without a hidden layer is a linear model, and with squared
loss it has a closed-form optimum, ``W = (XᵀX + λI)⁻¹ XᵀY`` (ridge when ``training.ridge`` > 0;
the bias is not penalised). Integer class targets become one-hot rows, so a classifier can be
fitted this way too and scored by the argmax of its outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from archspec.errors import SpecError
from archspec.graph.dag import Graph

if TYPE_CHECKING:
    from archspec.training.objective import LossTerm
    from archspec.training.streams import Stream

__all__ = ["fit_closed_form", "linear_node", "solve"]

_PASS_THROUGH = {"flatten", "reshape", "identity"}


def fit_closed_form(
    graph: Graph, terms: Sequence[LossTerm], streams: Mapping[str, Stream], model: nn.Module
) -> None:
    """Set ``model``'s one linear layer to the least-squares fit of the loss's training stream.

    The loop records the fit as one epoch (evaluation, checkpoint, curves) as it would any."""
    spec = graph.spec
    linear = linear_node(graph)
    fitted = [t for t in terms if not t.is_penalty]
    if len(fitted) != 1 or fitted[0].fn != "mse":
        raise SpecError(
            "closed_form fits one squared-error loss: use a single loss with fn: mse",
            loc=spec.doc.loc(("losses",)),
        )
    term = fitted[0]
    stream = streams[term.stream]
    name = next(iter(spec.inputs))
    x = torch.cat([b[name].reshape(b[name].shape[0], -1) for b in stream.all_batches()]).double()
    y = torch.cat([b[term.target] for b in stream.all_batches()])
    module = model.get_submodule(linear)
    y = _targets(y, module.out_features).double()
    weight, bias = solve(x, y, float(spec.training.get("ridge", 0.0)))
    with torch.no_grad():
        module.weight.copy_(weight.T.to(module.weight.dtype))
        if module.bias is not None:
            module.bias.copy_(bias.to(module.bias.dtype))


def solve(x: torch.Tensor, y: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Least squares with an unpenalised bias: returns (W [F, C], b [C])."""
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    gram = xc.T @ xc + ridge * torch.eye(x.shape[1], dtype=x.dtype)
    weight = torch.linalg.lstsq(
        gram, xc.T @ yc, driver="gelsd"
    ).solution  # gelsy returns 0 on a singular gram
    return weight, ym - xm @ weight


def _targets(y: torch.Tensor, classes: int) -> torch.Tensor:
    if not y.dtype.is_floating_point and y.dim() == 1 and classes > 1:
        return torch.nn.functional.one_hot(y, classes)
    return y.reshape(y.shape[0], -1) if y.dim() > 1 else y.reshape(-1, 1)


def linear_node(graph: Graph) -> str:
    """The id of the one linear node, after checking the model is linear (no data is read)."""
    spec = graph.spec
    nodes = [spec.nodes[n] for n in graph.op_nodes()]
    linear = [n for n in nodes if n.op == "linear"]
    other = [n for n in nodes if n.op != "linear" and n.op not in _PASS_THROUGH]
    if len(linear) != 1 or other or len(spec.inputs) != 1:
        culprit = other[0] if other else (linear[1] if len(linear) > 1 else None)
        raise SpecError(
            "solver: closed_form needs a linear model: one input, one linear node (flatten/reshape allowed before it)",
            loc=culprit.loc if culprit else spec.doc.loc(("training", "solver")),
            hint="use the default gradient solver for anything else",
        )
    return linear[0].id
