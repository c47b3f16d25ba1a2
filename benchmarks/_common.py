"""Small helpers shared by the benchmark scripts (no archspec or torch import here)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def machine() -> str:
    """One line describing where the numbers came from."""
    try:
        import torch  # noqa: PLC0415  (only when the caller already needs torch)

        torch_text = f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)"
    except ImportError:  # pragma: no cover
        torch_text = "no torch"
    cores = os.cpu_count()
    return f"{platform.machine()}, {cores} cores visible, Python {platform.python_version()}, {torch_text}"


def interleaved(
    fns: Sequence[Callable[[], object]], *, inner: int, repeats: int, warmup: int
) -> list[list[float]]:
    """Time each function ``inner`` times per sample, alternating A B A B ... ``repeats`` times.

    Returns per-function lists of seconds per call. The order inside each round flips every
    round (AB, BA, AB, ...) so neither side always runs right after the other's cache effects.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    order = list(range(len(fns)))
    for r in range(repeats):
        seq = order if r % 2 == 0 else order[::-1]
        for i in seq:
            fn = fns[i]
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            samples[i].append((time.perf_counter() - t0) / inner)
    return samples


def paired_ratio(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Median of per-round ratios a/b, and its 25th/75th percentiles (interquartile range)."""
    ratios = sorted(x / y for x, y in zip(a, b, strict=True))
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    return statistics.median(ratios), q[0], q[2]


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def ensure_repo_on_path() -> None:
    """Let ``python benchmarks/X.py`` import archspec from this checkout even when not installed."""
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
