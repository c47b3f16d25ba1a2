"""A ~1.5-billion-parameter spec summarised without torch and without allocating a weight.

The spec is a GPT-like stack at width 8192: two pre-norm transformer blocks (layernorm,
8192-wide multi-head self-attention with 64 heads, residual add; layernorm, linear 8192 ->
28672, gelu, linear 28672 -> 8192, residual add) over a [2048, 8192] token sequence:
1,476,616,192 parameters, 5.9 GB as float32 weights.

Timed: ``load_text`` + ``analyse`` + ``archspec.graph.summary.summarise`` (+ ``summary_table``), the
first call in the process (cold: schema validators are built on first use) and the best of a
few warm calls. Checked: ``torch`` is not in ``sys.modules`` afterwards, and the resident set
(VmRSS, /proc/self/status) grows by a few MiB at most, not by gigabytes. Goal: <= 3 s.

    python benchmarks/summary_big.py            # full (a few seconds)
    python benchmarks/summary_big.py --quick    # one warm run
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import ensure_repo_on_path, fmt_bytes, fmt_time  # noqa: E402

ensure_repo_on_path()

GOAL_SECONDS = 3.0
W, F, LAYERS = 8192, 28672, 2
# counted by hand, as torch would: per block 2 layernorms (2W each), nn.MultiheadAttention
# (in_proj 3W*W + 3W, out_proj W*W + W), up (W*F + F), down (F*W + W); a final layernorm
EXPECTED_PARAMS = LAYERS * (2 * 2 * W + 4 * W * W + 4 * W + W * F + F + F * W + W) + 2 * W  # 1,476,616,192

SPEC = """
archspec: 1
name: gpt-like-1.5b
params: {width: 8192, heads: 64, hidden: 28672, layers: 2}
inputs:
  tokens: {shape: [2048, '${width}']}
blocks:
  transformer:
    params: {w: int, h: int, f: int}
    nodes:
      ln1:  {op: layernorm, in: x}
      attn: {op: multihead_attention, num_heads: '${h}'}
      res1: {op: add, in: [attn, x]}
      ln2:  {op: layernorm}
      up:   {op: linear, out_features: '${f}'}
      act:  {op: gelu}
      down: {op: linear, out_features: '${w}'}
      res2: {op: add, in: [down, res1]}
nodes:
  blocks:  {block: transformer, in: tokens, w: '${width}', h: '${heads}', f: '${hidden}', repeat: '${layers}'}
  ln_f:    {op: layernorm}
outputs: {hidden: ln_f}
"""


def rss() -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", fh.read(), re.M).group(1)) * 1024  # type: ignore[union-attr]


def run_once() -> tuple[float, dict]:
    import archspec
    from archspec.graph.summary import summarise, summary_table

    t0 = time.perf_counter()
    graph = archspec.analyse(archspec.load_text(SPEC, "gpt_like.yaml"))
    summary = summarise(graph)
    summary_table(summary)
    return time.perf_counter() - t0, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: one cold run, no warm repeats")
    args = parser.parse_args(argv)

    rss_start = rss()
    t0 = time.perf_counter()
    import archspec  # noqa: F401

    t_import = time.perf_counter() - t0
    rss_before = rss()
    cold, summary = run_once()
    rss_after = rss()
    warm = [run_once()[0] for _ in range(0 if args.quick else 3)]
    torch_loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))

    params = summary["total_params"]
    print(
        f"summary_big: {summary['name']}, {len(summary['rows'])} rows, {params:,} parameters "
        f"({fmt_bytes(params * 4)} if allocated as float32), {summary['total_macs']:,} MACs per sample"
    )
    print(f"  import archspec {fmt_time(t_import)} (RSS {fmt_bytes(rss_start)} -> {fmt_bytes(rss_before)})")
    line = f"  load_text + analyse + summarise: cold {fmt_time(cold)}"
    if warm:
        line += f", warm best of {len(warm)} {fmt_time(min(warm))}"
    print(line)
    print(
        f"  RSS across the cold run: {fmt_bytes(rss_before)} -> {fmt_bytes(rss_after)} (+{fmt_bytes(rss_after - rss_before)};"
        f" the weights would be {params * 4 / (rss_after - rss_before + 1):,.0f}x that)"
    )
    print(f"  torch imported: {bool(torch_loaded)}{' ' + str(torch_loaded[:3]) if torch_loaded else ''}")
    print(f"  parameter count matches the hand count {EXPECTED_PARAMS:,}: {params == EXPECTED_PARAMS}")
    ok = params == EXPECTED_PARAMS and not torch_loaded and rss_after - rss_before < 64 * 2**20
    if args.quick:
        print(f"(--quick: smoke mode) checks {'ok' if ok else 'FAILED'}")
    else:
        verdict = "ok" if cold <= GOAL_SECONDS and ok else "ABOVE GOAL / CHECK FAILED"
        print(f"goal: <= {GOAL_SECONDS:.0f} s, no torch, no allocation: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
