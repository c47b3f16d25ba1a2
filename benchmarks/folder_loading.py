"""One epoch of batches from an image folder: archspec's loader against a hand-written one.

Generates a folder of small PNGs (two classes) in a temporary directory and times reading
every batch of one epoch (decode, resize check, stack) through

  A. archspec: the stream ``train`` builds for ``{images: ..., workers: W}`` (its DataLoader);
  B. a plain ``Dataset`` whose ``__getitem__`` opens the PNG with Pillow, in a ``DataLoader``
     with the same workers, batch size and ``persistent_workers``.

Rounds are interleaved (A B, B A, ...); the median and interquartile range of the per-round
ratio A/B are printed, with the load average before and after.

    python benchmarks/folder_loading.py                # 2,000 PNGs, 15 rounds
    python benchmarks/folder_loading.py --quick        # 200 PNGs, 2 rounds (numbers mean nothing)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_repo_on_path, fmt_time, interleaved, machine, paired_ratio  # noqa: E402

ensure_repo_on_path()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

SPEC = """\
archspec: 1
name: folder
inputs:
  x: {shape: [1, 28, 28]}
nodes:
  f: {op: flatten}
  a: {op: linear, out_features: 2}
outputs: {logits: a}
data:
  train: {images: images, fields: {x: image, label: label}, batch_size: BATCH, workers: WORKERS}
losses:
  ce: {fn: cross_entropy, stream: train, pred: logits, target: label}
"""


class PlainFolder(Dataset):
    """What one writes by hand: Pillow, grey, 0..1, [1, H, W], and the label."""

    def __init__(self, root: Path) -> None:
        classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        self.items = [(p, c) for c, name in enumerate(classes) for p in sorted((root / name).iterdir())]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[i]
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255.0)
        return torch.from_numpy(arr)[None], label


def make_folder(root: Path, n: int) -> None:
    rng = np.random.RandomState(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
    for i in range(n):
        img = rng.randint(0, 256, (28, 28)).astype(np.uint8)
        Image.fromarray(img, mode="L").save(root / ("a", "b")[i % 2] / f"{i:05d}.png")


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: 200 images, 2 rounds")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    n, rounds = (200, 2) if args.quick else (args.images, args.rounds)
    from archspec.pipeline import analyse, load
    from archspec.training.streams import build_streams

    print(machine())
    print(f"load average before: {load_avg()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folder(root / "images", n)
        text = SPEC.replace("BATCH", str(args.batch)).replace("WORKERS", str(args.workers))
        (root / "spec.yaml").write_text(text)
        stream = build_streams(analyse(load(root / "spec.yaml")).spec, lazy_files=True)["train"]
        plain = DataLoader(
            PlainFolder(root / "images"),
            batch_size=args.batch,
            shuffle=True,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
        )
        epoch = [0]

        def archspec_epoch() -> None:
            for _ in stream.batches(epoch[0]):
                pass
            epoch[0] += 1

        def plain_epoch() -> None:
            for _ in plain:
                pass

        a, b = interleaved([archspec_epoch, plain_epoch], inner=1, repeats=rounds, warmup=1)
    mid, lo, hi = paired_ratio(a, b)
    print(f"{n} PNGs 28x28, batch {args.batch}, {args.workers} workers, {rounds} interleaved rounds")
    print(f"archspec epoch: median {fmt_time(sorted(a)[len(a) // 2])}")
    print(f"plain Dataset + DataLoader epoch: median {fmt_time(sorted(b)[len(b) // 2])}")
    print(f"ratio archspec/plain: {mid:.3f} (IQR {lo:.3f}-{hi:.3f}; below 1 is faster)")
    print(f"load average after: {load_avg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
