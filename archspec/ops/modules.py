"""Small modules for ops that no stock ``torch.nn`` module fits.

The compiler copies these definitions verbatim into standalone generated files, so each one is
self-contained: it uses only ``torch`` and ``torch.nn``, never anything from archspec,
takes plain constructor arguments (ints, floats, bools, strings, lists) and works with
TorchScript and torch.fx. This is the only file of ``archspec.ops`` that imports torch at
module scope; nothing imports it until a model is built.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "ConstantTensor",
    "DropPath",
    "index_dim",
    "resize_to",
    "ChannelLayerNorm",
    "LearnedTensor",
    "RBF",
    "Attention",
    "CropTo",
    "GlobalAvgPool",
    "Recurrent",
    "Reshape",
    "SelfAttention",
    "add_n",
    "mul_n",
    "slice_dim",
]


def add_n(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Sum of two or more tensors, broadcasting like ``+``."""
    out = tensors[0]
    for t in tensors[1:]:
        out = out + t
    return out


def mul_n(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Elementwise product of two or more tensors, broadcasting like ``*``."""
    out = tensors[0]
    for t in tensors[1:]:
        out = out * t
    return out


def slice_dim(x: torch.Tensor, dim: int, start: int | None, end: int | None, step: int) -> torch.Tensor:
    """``x[:, ..., start:end:step]`` on dim ``dim`` (batch is 0), Python's slice rules."""
    index = [slice(None)] * dim + [slice(start, end, step)]
    return x[tuple(index)]


class LearnedTensor(nn.Module):
    """A learned tensor of a fixed ``shape`` (a class token, a position embedding, a layer scale).

    Called with a tensor, it returns the parameter expanded to that tensor's batch size (the
    tensor's values are not read); called with nothing, with a batch dim of 1, which broadcasts.
    Its parameter is called ``weight`` and starts at zero.
    """

    def __init__(self, shape: list[int]):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(shape))
        self.rank = len(shape)

    def forward(self, like: torch.Tensor | None = None) -> torch.Tensor:
        out = self.weight.unsqueeze(0)
        if like is None:
            return out
        return out.expand([like.shape[0]] + [-1] * self.rank)


class ConstantTensor(nn.Module):
    """A constant tensor (a buffer: saved, not trained), e.g. a relative position index.

    Like :class:`LearnedTensor`, called with a tensor it is expanded to that batch size.
    """

    def __init__(self, values: list, dtype: str = "float32"):
        super().__init__()
        self.register_buffer("value", torch.tensor(values, dtype=getattr(torch, dtype)))
        self.rank = len(self.value.shape)

    def forward(self, like: torch.Tensor | None = None) -> torch.Tensor:
        out = self.value.unsqueeze(0)
        if like is None:
            return out
        return out.expand([like.shape[0]] + [-1] * self.rank)


def index_dim(x: torch.Tensor, index: torch.Tensor, dim: int) -> torch.Tensor:
    """``x`` looked up along ``dim`` by the constant ``index`` (its first sample serves the batch)."""
    flat = index[0].reshape(-1)
    out = x.index_select(dim, flat)
    return out.reshape(list(x.shape[:dim]) + list(index.shape[1:]) + list(x.shape[dim + 1 :]))


def resize_to(x: torch.Tensor, like: torch.Tensor, mode: str) -> torch.Tensor:
    """``x`` interpolated to the spatial size of ``like`` (every dim after the channels)."""
    return nn.functional.interpolate(x, size=like.shape[2:], mode=mode)


class DropPath(nn.Module):
    """Stochastic depth: in training, each sample's value is zeroed with probability ``p`` and the
    others scaled by ``1 / (1 - p)`` (timm's ``drop_path``); the identity in eval."""

    def __init__(self, p: float = 0.1):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty([x.shape[0]] + [1] * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep if keep > 0.0 else x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ChannelLayerNorm(nn.LayerNorm):
    """Layer norm over dim 1, the channels of ``[N, C, *]``, at every position (ConvNeXt's
    "channels_first" LayerNorm): ``normalized_shape`` is the number of channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.layer_norm(
            x.movedim(1, -1), self.normalized_shape, self.weight, self.bias, self.eps
        )
        return y.movedim(-1, 1)


class Reshape(nn.Module):
    """Reshape each sample to ``shape`` (one entry may be -1); the batch dim is kept."""

    def __init__(self, shape: list[int]) -> None:
        super().__init__()
        self.shape = list(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape([x.shape[0]] + self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class CropTo(nn.Module):
    """Crop ``x`` centrally to the spatial size of ``ref`` on every dim after the channel dim
    (U-Net copy-and-crop).

    ``start[i]``/``size[i]`` are the crop of dim ``i + 2`` at the sizes the spec declares; called
    at other sizes, the crop is taken centrally from the sizes of the two inputs, as at build
    time. ``ref``'s values are not used. An ``x`` smaller than ``ref`` is refused with a
    ``ValueError`` that names the node (``node``), both inputs' sizes and the declared crop.
    """

    names_its_node = True  # the compiler passes node=<the node's id> for run-time errors

    def __init__(self, start: list[int], size: list[int], node: str = "crop_to") -> None:
        super().__init__()
        self.start = list(start)
        self.size = list(size)
        self.node = node

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        for i in range(len(self.size)):
            have, want = x.size(i + 2), ref.size(i + 2)
            if isinstance(have, int) and have < want:  # (a symbolic trace has no sizes to check)
                raise ValueError(
                    "crop_to at node '" + self.node + "': cannot crop spatial size " + str(list(x.shape[2:]))
                    + " to the larger " + str(list(ref.shape[2:])) + " (the spec declares a crop to "
                    + str(self.size) + "; the inputs are not the sizes the spec declares)"
                )  # fmt: skip
            x = x.narrow(i + 2, (have - want) // 2, want)
        return x

    def extra_repr(self) -> str:
        return f"start={self.start}, size={self.size}"


class GlobalAvgPool(nn.Module):
    """Mean over every dim after the channel dim: ``[N, C, *spatial] -> [N, C]``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).mean(-1)


class RBF(nn.Module):
    """Gaussian radial-basis features: ``exp(-gamma * |x - c_j|^2)`` for each centre ``c_j``.

    Works on the last dim: ``[..., in_features] -> [..., centers]``. The centres (``weight``,
    shape ``[centers, in_features]``) are drawn from a standard normal seeded with ``seed``;
    they are a parameter when ``learnable`` and a buffer (saved, not trained) otherwise.
    """

    def __init__(
        self, in_features: int, centers: int, gamma: float = 1.0, learnable: bool = False, seed: int = 0
    ) -> None:
        super().__init__()
        self.gamma = float(gamma)
        g = torch.Generator().manual_seed(int(seed))
        init = torch.randn(centers, in_features, generator=g, device="cpu")
        if learnable:
            self.weight = nn.Parameter(init)
        else:
            self.register_buffer("weight", init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = x.unsqueeze(-2) - self.weight
        return torch.exp(-self.gamma * diff.pow(2).sum(-1))

    def extra_repr(self) -> str:
        centers, in_features = self.weight.shape
        return f"in_features={in_features}, centers={centers}, gamma={self.gamma}"


class Recurrent(nn.Module):
    """A batch-first LSTM or GRU that returns the output sequence or only the last step.

    ``[N, T, F] -> [N, T, H * dirs]`` (``return_sequence``) or ``[N, H * dirs]``. The last step
    of a bidirectional net is the forward direction at ``t = T - 1`` joined with the backward
    direction at ``t = 0``: the final hidden state of each direction.
    """

    def __init__(
        self,
        kind: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
        bidirectional: bool = False,
        return_sequence: bool = False,
    ) -> None:
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]
        self.rnn = cls(
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=True,
            dropout=dropout,
            bidirectional=bidirectional,
        )
        self.hidden_size = hidden_size
        self.bidirectional = bidirectional
        self.return_sequence = return_sequence

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]
        if self.return_sequence:
            return out
        if not self.bidirectional:
            return out[:, -1]
        h = self.hidden_size
        return torch.cat([out[:, -1, :h], out[:, 0, h:]], dim=-1)


class SelfAttention(nn.Module):
    """Batch-first multi-head self-attention returning only the attended output ``[N, L, E]``."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


class Attention(nn.Module):
    """Batch-first multi-head attention over (query, key, value), returning only the output."""

    def __init__(
        self, embed_dim: int, num_heads: int, kdim: int, vdim: int, dropout: float = 0.0, bias: bool = True
    ) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(
            embed_dim, num_heads, dropout=dropout, bias=bias, kdim=kdim, vdim=vdim, batch_first=True
        )

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return self.attn(query, key, value, need_weights=False)[0]
