"""Time the training-time augmentations on one batch of 256 small images with their masks.

hflip, vflip, rotate 10 degrees, translate 3 pixels and noise 0.05 on a 256x1x32x32 image and a
256x32x32 integer mask, one torch thread, after a warm-up; median and spread of the runs.

    python benchmarks/augment_speed.py            # 20 runs
    python benchmarks/augment_speed.py --quick    # 2 runs (numbers mean nothing)

(This was a print-only test, ``test_a_batch_of_256_small_images_augments_quickly``; what the
augmentations do is tested in tests/test_augment.py.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_repo_on_path, fmt_time, machine  # noqa: E402

ensure_repo_on_path()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: two runs")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)

    import torch

    from archspec.training.augment import apply_augment, parse_augment

    torch.set_num_threads(1)  # a batch this small gains nothing from more threads on a busy machine
    batch = {"image": torch.rand(256, 1, 32, 32), "mask": torch.randint(0, 3, (256, 32, 32))}
    augs = parse_augment(
        ["hflip", "vflip", {"rotate": 10}, {"translate": 3}, {"noise": 0.05}],
        default_fields=["image", "mask"],
    )
    g = torch.Generator().manual_seed(0)
    apply_augment(batch, augs, g)  # warm-up
    times = []
    for _ in range(2 if args.quick else args.runs):
        start = time.perf_counter()
        apply_augment(batch, augs, g)
        times.append(time.perf_counter() - start)
    print(machine())
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"augment 256x1x32x32 + mask (hflip, vflip, rotate, translate, noise): median {fmt_time(statistics.median(times))}"
        f" per batch (min {fmt_time(min(times))}, max {fmt_time(max(times))}, {len(times)} runs)"
    )
    if args.quick:
        print("(--quick: smoke mode, numbers mean nothing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
