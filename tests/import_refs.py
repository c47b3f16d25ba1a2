"""Reference modules for the import tests, written by hand after the published architectures
(torchvision does not import here). Small widths keep the tests fast; structure is faithful."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from examples.models.small_resnet import BasicBlock  # torchvision's, shared with the example


class MLP(nn.Module):
    def __init__(self, features: int = 16, hidden: int = 32, classes: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, hidden), nn.GELU(),
            nn.LayerNorm(hidden), nn.Linear(hidden, classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.net(x), dim=-1)


class CNN(nn.Module):
    """LeNet-like: conv, pool, conv, pool, classifier, with functional calls mixed in."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, (3, 5), stride=(1, 1), padding=(1, 2), bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.conv1(x)))
        x = F.max_pool2d(torch.tanh(self.bn(self.conv2(x))), 2)
        x = x.view(x.size(0), -1)
        return self.fc2(torch.sigmoid(self.fc1(x)))


class SmallConvNet(nn.Module):
    """An image classifier: a conv/batch-norm backbone and a linear head (the fine-tuning recipe
    imports it with its weights, replaces the head and trains only the head)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class ResNet(nn.Module):
    """torchvision's ResNet with BasicBlocks; ``layers=(2, 2, 2, 2)`` is ResNet-18's shape."""

    def __init__(self, layers: tuple[int, ...] = (2, 2, 2, 2), width: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = width
        for i, n in enumerate(layers):
            cout = width * 2**i
            blocks = [BasicBlock(cin, cout, 1 if i == 0 else 2)] + [
                BasicBlock(cout, cout) for _ in range(n - 1)
            ]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(len([m for m in self.children() if isinstance(m, nn.Sequential)])):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class PreActBlock(nn.Module):
    """He et al. 2016's pre-activation block: BN-ReLU-conv twice; a 1x1 conv projects the shortcut
    where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet(nn.Module):
    """A pre-activation ResNet: each stage a ``Sequential`` whose first block projects."""

    def __init__(self, layers: tuple[int, ...] = (2, 2, 2), width: int = 8, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        cin = width
        for i, n in enumerate(layers):
            cout = width * 2**i
            blocks = [PreActBlock(cin, cout, 1 if i == 0 else 2)] + [
                PreActBlock(cout, cout) for _ in range(n - 1)
            ]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            cin = cout
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        for i in range(len([m for m in self.children() if isinstance(m, nn.Sequential)])):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(F.relu(self.bn(x)).mean((2, 3)))


class DenseLayer(nn.Module):
    """DenseNet's bottleneck layer: BN-ReLU-conv1x1-BN-ReLU-conv3x3, concatenated to its input."""

    def __init__(self, cin: int, growth: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
        return torch.cat([x, out], 1)


class DenseNet(nn.Module):
    def __init__(self, growth: int = 4, layers: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.block = nn.Sequential(*[DenseLayer(8 + i * growth, growth) for i in range(layers)])
        self.transition = nn.Sequential(
            nn.BatchNorm2d(8 + layers * growth), nn.ReLU(), nn.Conv2d(8 + layers * growth, 8, 1, bias=False),
            nn.AvgPool2d(2, 2),
        )  # fmt: skip
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.transition(self.block(self.stem(x)))
        return self.head(x.mean((2, 3)))


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """Ronneberger et al.'s U-Net, two levels deep: concatenating skips across the bottleneck."""

    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.inc = DoubleConv(1, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(16, 32))
        self.up1 = Up(32, 16)
        self.up2 = Up(16, 8)
        self.outc = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        return self.outc(self.up2(self.up1(x3, x2), x1))


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 Bottleneck: 1x1 reduce, 3x3, 1x1 expand (x4)."""

    expansion = 4

    def __init__(self, cin: int, planes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + x)


class BottleneckNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = Bottleneck(8, 2)
        self.proj = nn.Conv2d(8, 16, 1)
        self.b = Bottleneck(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.proj(self.a(x)))


class BasicConv(nn.Module):
    """Inception's conv-BN-ReLU unit."""

    def __init__(self, cin: int, cout: int, **kwargs: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionA(nn.Module):
    """GoogLeNet/Inception-v3's four parallel branches joined on channels."""

    def __init__(self, cin: int, pool: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv(cin, 8, kernel_size=1)
        self.branch5x5_1 = BasicConv(cin, 6, kernel_size=1)
        self.branch5x5_2 = BasicConv(6, 8, kernel_size=5, padding=2)
        self.branch3x3_1 = BasicConv(cin, 8, kernel_size=1)
        self.branch3x3_2 = BasicConv(8, 12, kernel_size=3, padding=1)
        self.branch_pool = BasicConv(cin, pool, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class Inception(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = BasicConv(3, 16, kernel_size=3, padding=1)
        self.mixed_a = InceptionA(16, pool=4)
        self.mixed_b = InceptionA(32, pool=8)
        self.fc = nn.Linear(36, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mixed_b(self.mixed_a(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


class SqueezeExcitation(nn.Module):
    """torchvision's SqueezeExcitation: pool, 1x1 reduce, ReLU, 1x1 expand, sigmoid, rescale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise (groups = channels), 1x1 project, skip."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, se: bool = False) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = [
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
        ]  # fmt: skip
        if se:
            layers.append(SqueezeExcitation(hidden, max(hidden // 4, 8)))
        layers += [nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class MobileNet(nn.Module):
    def __init__(self, se: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True),
            InvertedResidual(8, 8, 1, 1, se), InvertedResidual(8, 12, 2, 6, se),
            InvertedResidual(12, 12, 1, 6, se), InvertedResidual(12, 12, 1, 6, se),
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(12, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class EncoderBlock(nn.Module):
    """A pre-norm transformer encoder layer (torchvision's ViT EncoderBlock)."""

    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y = self.self_attention(y, y, y, need_weights=False)[0]
        x = x + y
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    """A Vision Transformer: patch embedding (a strided conv), encoder layers, mean pooling.

    ``class_token=True`` prepends a learned token as torchvision does (a free parameter).
    """

    def __init__(self, dim: int = 16, layers: int = 3, class_token: bool = False) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim)) if class_token else None
        self.layers = nn.Sequential(*[EncoderBlock(dim, 2, 2 * dim) for _ in range(layers)])
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        if self.class_token is not None:
            x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.ln(self.layers(x))
        return self.head(x.mean(dim=1))


class PatchEmbed(nn.Module):
    """timm's PatchEmbed: a conv with stride = kernel = patch size, then [N, D, h, w] -> [N, h*w, D]."""

    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class LayerScale(nn.Module):
    """CaiT's (and timm's) LayerScale: a learned per-channel gain ``x * gamma``."""

    def __init__(self, dim: int, init: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class ScaledEncoderBlock(EncoderBlock):
    """DeiT III's / CaiT's block: a pre-norm encoder layer whose two branches are layer-scaled."""

    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__(dim, heads, mlp)
        self.ls1 = LayerScale(dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        x = x + self.ls1(self.self_attention(y, y, y, need_weights=False)[0])
        return x + self.ls2(self.mlp(self.ln_2(x)))


class TokenViT(nn.Module):
    """timm's VisionTransformer with a class token: patches, ``cls_token`` prepended (expanded to
    the batch), ``pos_embed`` added, pre-norm encoder blocks, a final norm, the head on token 0."""

    def __init__(
        self, size: int = 16, patch: int = 4, dim: int = 16, depth: int = 3, scaled: bool = False
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, (size // patch) ** 2 + 1, dim) * 0.02)
        self.pos_drop = nn.Dropout(0.1)
        block = ScaledEncoderBlock if scaled else EncoderBlock
        self.blocks = nn.Sequential(*[block(dim, 2, 2 * dim) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.pos_drop(x + self.pos_embed)
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class LayerScaleBlock(nn.Module):
    """ConvNeXt's block: depthwise 7x7, LayerNorm over channels, MLP, a learned per-channel scale."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        y = self.gamma * y
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, dim: int = 8) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, dim, 4, stride=4)
        self.blocks = nn.Sequential(LayerScaleBlock(dim), LayerScaleBlock(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))


class Normalized(nn.Module):
    """Input normalisation by buffers, as torchvision's transforms do inside a model: ``mean``
    is saved with the weights, ``std`` is not (``persistent=False``)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(-1, 1, 1), persistent=False)
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv((x - self.mean) / self.std)


class BatchTable(nn.Module):
    """A parameter whose first dim is a fixed 2, not a batch of 1: it only works for batches of 2."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(2, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table


class FirstSample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[0]


class ShapeBranch(nn.Module):
    """Python control flow on a shape (pool only inputs wider than 8): fx cannot trace it,
    torch.export can, as the example shape decides the branch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.blocks = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.fc = nn.Linear(8 * 8 * 8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv(x)))
        if x.shape[-1] > 8:
            x = F.max_pool2d(x, 2)
        x = self.blocks(x)
        return self.fc(x.view(x.size(0), -1))


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow
            return x
        return -x


class Erf(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.erf(x)


class Unmappable(nn.Module):
    """``kind`` picks the construct that has no catalogue op."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.head = nn.Sequential(nn.Linear(4, 4), Gate() if kind == "control" else Erf())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc(x))


class HalfScale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * 0.5


class TwoHeads(nn.Module):
    """Two named outputs from one trunk (a dict, as detection and multi-task models return)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
        self.cls = nn.Linear(8, 3)
        self.box = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {"logits": self.cls(h), "boxes": self.box(h)}


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.fc(x))


def sequential_net() -> nn.Sequential:
    """A bare ``nn.Sequential`` (its forward argument is ``input``, which fx renames)."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        BasicBlock(8, 8),
        BasicBlock(8, 8),
        nn.Flatten(),
        nn.Linear(128, 2),
    )


class ValueGate(nn.Module):
    """A gate with its own weight whose forward branches on the input's values: no catalogue op
    expresses it, fx cannot trace it, and the meta device cannot run it (``--allow-opaque``)."""

    def __init__(self, features: int, scale: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:  # data-dependent control flow
            return x * torch.sigmoid(self.weight) * self.scale
        return x * torch.erf(self.weight)


class GatedNet(nn.Module):
    """Two ``ValueGate`` leaves (one with its default scale) between catalogue layers."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.fc1 = nn.Linear(6, width)
        self.gate1 = ValueGate(width, scale=0.5)
        self.fc2 = nn.Linear(width, width)
        self.gate2 = ValueGate(width)
        self.head = nn.Linear(width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gate2(torch.relu(self.fc2(self.gate1(self.fc1(x))))))
