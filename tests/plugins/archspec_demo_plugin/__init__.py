"""A sample archspec plugin: two ops from a user's own modules (used by tests/test_plugins.py).

``scaled_tanh`` has a plain-Python shape rule; ``gated_linear`` has none, so archspec infers
its shape and parameter count on torch's meta device.
"""

import torch
from torch import nn

from archspec.ops import Arg
from archspec.plugins import module_op


class ScaledTanh(nn.Module):
    """tanh(x) * scale, elementwise."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * self.scale


class GatedLinear(nn.Module):
    """A gated linear unit: (W1 x) * sigmoid(W2 x)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.value = nn.Linear(in_features, out_features)
        self.gate = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(x) * torch.sigmoid(self.gate(x))


OPS = [
    module_op(
        "scaled_tanh",
        ScaledTanh,
        args={"scale": Arg({"type": "number"}, 1.0, "output scale")},
        family="activation",
        shape=lambda args, shapes: shapes[0],
    ),
    module_op(
        "gated_linear",
        GatedLinear,
        args={"out_features": Arg({"type": "integer", "minimum": 1}, doc="output features")},
        family="dense",
        in_arg="in_features",
        weighted=True,
    ),
]
