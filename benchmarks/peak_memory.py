"""Inference peak memory: compiled vs hand-written vs a naive dict-of-activations interpreter.

The network is a deep plain conv net (20 x conv2d(32 channels, 3x3, padding 1) + relu) on one
1x3x512x512 image, run under ``torch.no_grad``: one activation is 32 MiB, so a model that drops
each value after its last use needs a few of them while an interpreter that keeps a dict of
every node's output holds all 40.

Each variant runs in its own fresh subprocess (``--variant NAME``), so one cannot inherit the
other's heap. In the child, after a warm-up forward, the resident set is read (``VmRSS`` in
/proc/self/status), the kernel's high-water mark is reset (``echo 5 > /proc/self/clear_refs``),
one forward runs, and ``VmHWM - VmRSS(before)`` is its peak. The child runs with
``MALLOC_MMAP_THRESHOLD_=131072`` so glibc serves every large tensor with its own mmap and
returns it on free: otherwise the dynamic mmap threshold lets freed 32 MiB blocks linger in the
heap and the RSS shows allocator policy rather than live tensors. As a cross-check the same
forward is run under ``torch.profiler`` with ``profile_memory=True`` and the peak of the running
sum of CPU allocator events is reported (the allocator's view, independent of glibc).

Goal: compiled / hand <= 1.05. The interpreter line shows what fx's ``x = None`` lines save.

    python benchmarks/peak_memory.py            # full (about 20 s)
    python benchmarks/peak_memory.py --quick    # 128x128 input, 6 layers (seconds)
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, ensure_repo_on_path, fmt_bytes  # noqa: E402

ensure_repo_on_path()

GOAL = 1.05
VARIANTS = ("hand", "compiled", "interpreter")


def spec_text(layers: int, channels: int, size: int) -> str:
    lines = [
        "archspec: 1",
        "name: deep-conv",
        "inputs:",
        f"  image: {{shape: [3, {size}, {size}]}}",
        "nodes:",
    ]
    for i in range(layers):
        src = ", in: image" if i == 0 else ""
        lines.append(f"  conv{i}: {{op: conv2d{src}, out_channels: {channels}, kernel_size: 3, padding: 1}}")
        lines.append(f"  relu{i}: {{op: relu}}")
    lines.append(f"outputs: {{features: relu{layers - 1}}}")
    return "\n".join(lines) + "\n"


# -- the child: one variant, one process ---------------------------------------------------------


def _status() -> dict[str, int]:
    with open("/proc/self/status") as fh:
        return {k: int(v) * 1024 for k, v in re.findall(r"^(Vm\w+):\s+(\d+) kB", fh.read(), re.M)}


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _profiler_peak(fn) -> int | None:
    """Peak of the running sum of CPU allocator events during ``fn()`` (bytes), or None."""
    import torch

    try:
        with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
        ) as prof:
            fn()
        events = sorted(
            (e.start_ns(), e.nbytes())
            for e in prof.profiler.kineto_results.events()
            if e.name() == "[memory]"
        )
    except Exception:  # private API: report n/a rather than fail
        return None
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def child(variant: str, layers: int, channels: int, size: int, threads: int) -> dict:
    import torch
    from torch import nn

    import archspec
    from archspec.compiler.compile import compile_model

    torch.set_num_threads(threads)
    graph = archspec.analyse(archspec.load_text(spec_text(layers, channels, size), "deep_conv.yaml"))
    compiled = compile_model(graph, seed=0).eval()

    if variant == "compiled":
        model = compiled
    elif variant == "hand":
        mods: list[nn.Module] = []
        for i in range(layers):
            mods += [nn.Conv2d(3 if i == 0 else channels, channels, 3, padding=1), nn.ReLU()]
        model = nn.Sequential(*mods).eval()
        model.load_state_dict(dict(zip(model.state_dict(), compiled.state_dict().values(), strict=True)))
        del compiled  # the hand-written process holds only its own weights
    elif variant == "interpreter":
        order = [(name, [str(r) for r in graph.spec.nodes[name].inputs]) for name in graph.op_nodes()]
        out_ref = str(next(iter(graph.spec.outputs.values())).ref)
        mods_by_name = {name: compiled.get_submodule(name) for name, _ in order}

        def model(x):  # the loop the design rejects: every activation stays in the dict
            acts = {"image": x}
            for name, ins in order:
                acts[name] = mods_by_name[name](*(acts[i] for i in ins))
            return acts[out_ref]
    else:
        raise SystemExit(f"unknown variant {variant!r}")

    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        checksum = float(model(x).double().sum())  # warm-up (oneDNN primitives, thread pool)
    gc.collect()
    peaks = []
    for _ in range(3):
        gc.collect()
        before = _status()["VmRSS"]
        if not _reset_hwm():
            raise SystemExit("cannot reset VmHWM (/proc/self/clear_refs); needs Linux")
        with torch.no_grad():
            out = model(x)
        peaks.append(_status()["VmHWM"] - before)
        del out
    with torch.no_grad():
        prof_peak = _profiler_peak(lambda: model(x))
    return {
        "variant": variant,
        "rss_peak": min(peaks),
        "rss_peaks": peaks,
        "profiler_peak": prof_peak,
        "checksum": checksum,
    }


# -- the parent ----------------------------------------------------------------------------------


def run_variant(variant: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--variant",
        variant,
        "--layers",
        str(args.layers),
        "--channels",
        str(args.channels),
        "--size",
        str(args.size),
        "--threads",
        str(args.threads),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"variant {variant} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: 6 layers on 128x128")
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in every child")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)  # internal: the child
    args = parser.parse_args(argv)
    if args.quick:
        args.layers, args.size = min(args.layers, 6), min(args.size, 128)

    if args.variant:
        print(json.dumps(child(args.variant, args.layers, args.channels, args.size, args.threads)))
        return 0

    act = args.channels * args.size * args.size * 4
    print(
        f"peak_memory: {args.layers} x (conv2d {args.channels}ch 3x3 + relu) on 1x3x{args.size}x{args.size}, no_grad, "
        f"{args.threads} torch thread(s); one activation = {fmt_bytes(act)}"
    )
    res = {v: run_variant(v, args) for v in VARIANTS}
    sums = {round(r["checksum"], 3) for r in res.values()}
    print(
        f"outputs agree across variants: {len(sums) == 1} (sum {next(iter(sums)) if len(sums) == 1 else sums})"
    )
    hand = res["hand"]
    for v in VARIANTS:
        r = res[v]
        prof = r["profiler_peak"]
        prof_text = f"{fmt_bytes(prof):>10s} ({prof / act:4.1f} act.)" if prof is not None else "n/a"
        print(
            f"  {v:12s} RSS peak {fmt_bytes(r['rss_peak']):>10s} ({r['rss_peak'] / act:4.1f} activations)   allocator peak {prof_text}"
        )
    for v in ("compiled", "interpreter"):
        ratio = res[v]["rss_peak"] / hand["rss_peak"]
        pr = res[v]["profiler_peak"], hand["profiler_peak"]
        extra = f", allocator {pr[0] / pr[1]:.2f}" if None not in pr else ""
        goal = (
            f"  goal <= {GOAL}: {'ok' if ratio <= GOAL else 'ABOVE GOAL'}"
            if v == "compiled" and not args.quick
            else ""
        )
        print(f"ratio {v}/hand: RSS {ratio:.2f}{extra}{goal}")
    if args.quick:
        print("(--quick: smoke mode, small input; ratios are indicative only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
