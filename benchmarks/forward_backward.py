"""Training-step speed: an archspec-compiled model vs the same network written by hand.

For an MLP, a CNN (like ``examples/cnn.yaml``) and a small U-Net (like ``examples/unet.yaml``)
the spec is compiled with :func:`archspec.compiler.compile.compile_model`; an idiomatic hand-written
``nn.Module`` of the same architecture receives the compiled weights through an explicit
state_dict key mapping, and both are checked to give the same outputs. Then one training step
(``zero_grad``; forward; ``mean(out**2)``; backward) of each is timed, interleaved A B B A ...,
after a warm-up, and the median of the per-round ratios compiled/hand is printed with its
interquartile range. Goal: <= 1.02.

    python benchmarks/forward_backward.py            # full (about 1.5 minutes on 2 cores)
    python benchmarks/forward_backward.py --quick    # smoke mode (seconds)
    python benchmarks/forward_backward.py --threads 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_repo_on_path, fmt_time, interleaved, machine, paired_ratio  # noqa: E402

ensure_repo_on_path()

import torch  # noqa: E402
from torch import nn  # noqa: E402

import archspec  # noqa: E402
from archspec.compiler.compile import compile_model  # noqa: E402

GOAL = 1.02

# -- the three networks, as specs ---------------------------------------------------------------

MLP_SPEC = """
archspec: 1
name: bench-mlp
inputs:
  x: {shape: [784]}
nodes:
  fc1:  {op: linear, in: x, out_features: 512}
  act1: {op: relu}
  fc2:  {op: linear, out_features: 256}
  act2: {op: relu}
  fc3:  {op: linear, out_features: 10}
outputs: {logits: fc3}
"""

CNN_SPEC = """
archspec: 1
name: bench-cnn
inputs:
  image: {shape: [1, 28, 28]}
nodes:
  conv1: {op: conv2d, in: image, out_channels: 32, kernel_size: 3, padding: 1}
  bn1:   {op: batchnorm2d}
  relu1: {op: relu}
  conv2: {op: conv2d, out_channels: 64, kernel_size: 3, padding: 1}
  bn2:   {op: batchnorm2d}
  relu2: {op: relu}
  pool:  {op: maxpool2d, kernel_size: 2}
  flat:  {op: flatten}
  drop:  {op: dropout, p: 0.3}
  logits: {op: linear, out_features: 10}
outputs: {logits: logits}
"""

UNET_SPEC = """
archspec: 1
name: bench-unet
inputs:
  image: {shape: [1, 32, 32]}
blocks:
  double_conv:
    params: {ch: int}
    nodes:
      c1: {op: conv2d, out_channels: "${ch}", kernel_size: 3, padding: 1}
      n1: {op: batchnorm2d}
      a1: {op: relu}
      c2: {op: conv2d, out_channels: "${ch}", kernel_size: 3, padding: 1}
      n2: {op: batchnorm2d}
      a2: {op: relu}
nodes:
  enc1:   {block: double_conv, in: image, ch: 16}
  down1:  {op: maxpool2d, kernel_size: 2}
  enc2:   {block: double_conv, ch: 32}
  down2:  {op: maxpool2d, kernel_size: 2}
  bottom: {block: double_conv, ch: 64}
  up2:    {op: conv_transpose2d, out_channels: 32, kernel_size: 2, stride: 2}
  cat2:   {op: concat, in: [up2, enc2], dim: 1}
  dec2:   {block: double_conv, ch: 32}
  up1:    {op: conv_transpose2d, out_channels: 16, kernel_size: 2, stride: 2}
  cat1:   {op: concat, in: [up1, enc1], dim: 1}
  dec1:   {block: double_conv, ch: 16}
  head:   {op: conv2d, out_channels: 4, kernel_size: 1}
outputs: {mask: head}
"""

# -- the same networks, by hand -----------------------------------------------------------------


def hand_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))


class HandCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(64 * 14 * 14, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(self.drop(x))


def double_conv(cin: int, ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, ch, 3, padding=1),
        nn.BatchNorm2d(ch),
        nn.ReLU(),
        nn.Conv2d(ch, ch, 3, padding=1),
        nn.BatchNorm2d(ch),
        nn.ReLU(),
    )


class HandUNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc1 = double_conv(1, 16)
        self.enc2 = double_conv(16, 32)
        self.bottom = double_conv(32, 64)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec2 = double_conv(64, 32)
        self.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec1 = double_conv(32, 16)
        self.head = nn.Conv2d(16, 4, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottom(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)


def copy_weights(compiled: nn.Module, hand: nn.Module) -> int:
    """Copy the compiled weights into ``hand`` by an explicit key mapping; returns its size.

    Both modules register their parameters and buffers in the same (forward) order, so the
    mapping pairs keys in order and checks that each pair has the same kind (weight, bias,
    running_mean, ...) and shape.
    """
    src, dst = compiled.state_dict(), hand.state_dict()
    if len(src) != len(dst):
        raise SystemExit(f"state_dict sizes differ: {len(src)} compiled vs {len(dst)} hand-written")
    mapping = {}
    for (ck, cv), (hk, hv) in zip(src.items(), dst.items(), strict=True):
        if ck.rsplit(".", 1)[-1] != hk.rsplit(".", 1)[-1] or cv.shape != hv.shape:
            raise SystemExit(f"cannot map {ck} {tuple(cv.shape)} -> {hk} {tuple(hv.shape)}")
        mapping[hk] = ck
    hand.load_state_dict({hk: src[ck] for hk, ck in mapping.items()}, strict=True)
    return len(mapping)


CASES = [
    # name, spec, hand-written factory, input shape (with batch)
    ("mlp", MLP_SPEC, hand_mlp, (64, 784)),
    ("cnn", CNN_SPEC, HandCNN, (64, 1, 28, 28)),
    ("unet", UNET_SPEC, HandUNet, (16, 1, 32, 32)),
]


def train_step(model: nn.Module, x: torch.Tensor):
    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model(x)
        out.square().mean().backward()

    return step


def infer_step(model: nn.Module, x: torch.Tensor):
    def step() -> None:
        with torch.no_grad():
            model(x)

    return step


def measure(
    name: str, spec_text: str, factory, shape: tuple[int, ...], *, seconds: float, quick: bool
) -> dict[str, float]:
    torch.manual_seed(0)
    compiled = compile_model(archspec.analyse(archspec.load_text(spec_text, f"{name}.yaml")), seed=0)
    hand = factory()
    n = copy_weights(compiled, hand)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    compiled.eval()
    hand.eval()
    with torch.no_grad():
        diff = (compiled(x) - hand(x)).abs().max().item()
    if diff > 1e-5:
        raise SystemExit(f"{name}: compiled and hand-written outputs differ by {diff:g}")
    compiled.train()
    hand.train()

    result: dict[str, float] = {"mapped": n, "diff": diff}
    for kind, make, share in (("fwd+bwd", train_step, 0.75), ("fwd (no_grad)", infer_step, 0.25)):
        a, b = make(compiled, x), make(hand, x)
        # calibrate: enough calls per sample for ~20 ms samples, enough rounds for the budget
        for _ in range(3):
            a(), b()
        probes = []
        for _ in range(7):
            t0 = time.perf_counter()
            a()
            probes.append(time.perf_counter() - t0)
        per_call = sorted(probes)[3]  # the median: one preempted call must not set the plan
        if quick:
            inner, repeats, warmup = 1, 4, 1
        else:
            inner = max(1, int(0.02 / per_call))
            repeats = max(10, int(seconds * share / (2 * inner * per_call)))
            warmup = max(2, inner)
        ta, tb = interleaved([a, b], inner=inner, repeats=repeats, warmup=warmup)
        med, q1, q3 = paired_ratio(ta, tb)
        ta.sort(), tb.sort()
        print(
            f"  {name:5s} {kind:14s} compiled {fmt_time(ta[len(ta) // 2]):>10s}  hand {fmt_time(tb[len(tb) // 2]):>10s}"
            f"  ratio {med:.3f} (IQR {q1:.3f}-{q3:.3f}, {repeats} rounds x {inner} calls)",
            flush=True,
        )
        result[kind] = med
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few calls, numbers meaningless")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch.set_num_threads for both sides (default 1: least noise)"
    )
    parser.add_argument("--seconds", type=float, default=25.0, help="time budget per model in full mode")
    parser.add_argument(
        "--only", choices=[c[0] for c in CASES], action="append", help="run only these models"
    )
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(1)
    print(f"forward_backward: {machine()}")
    print(f"ratio = compiled / hand-written time, median over interleaved rounds; goal <= {GOAL}")
    summary = []
    for name, spec, factory, shape in CASES:
        if args.only and name not in args.only:
            continue
        res = measure(name, spec, factory, shape, seconds=args.seconds, quick=args.quick)
        summary.append((name, res))
    print("summary (fwd+bwd ratio compiled/hand):")
    for name, res in summary:
        verdict = "smoke" if args.quick else ("ok" if res["fwd+bwd"] <= GOAL else "ABOVE GOAL")
        print(
            f"  {name:5s} {res['fwd+bwd']:.3f}  {verdict}   ({int(res['mapped'])} tensors mapped, max |diff| {res['diff']:.1e})"
        )
    if args.quick:
        print("(--quick: smoke mode, the ratios above are not measurements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
