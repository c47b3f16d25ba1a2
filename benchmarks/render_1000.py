"""Time drawing a 1,000-node spec: load -> analyse -> to_rgraph -> layout -> to_svg (no torch).

    python benchmarks/render_1000.py            # best of 5 runs
    python benchmarks/render_1000.py --quick    # one run

The spec is generated: a stem, then residual blocks (conv, norm, relu, conv, norm, add with an
identity skip, relu: 7 nodes each) in stages, then a head. It is laid out as `archspec render`
lays it out by default (``auto``: this tall network is folded into columns to fit a 16:9 page).
Goal: under 2 s in total. The interactive HTML page (``to_html``, the SVG plus its script) is
timed apart.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, ensure_repo_on_path  # noqa: E402

ensure_repo_on_path()

GOAL_S = 2.0


def spec_text(n_nodes: int = 1000) -> str:
    """A residual network of about ``n_nodes`` op nodes, in blocks, stages and skips."""
    blocks = max(1, (n_nodes - 6) // 7)
    lines = [
        "archspec: 1",
        "name: residual-1000",
        "inputs: {image: {shape: [3, 32, 32]}}",
        "blocks:",
        "  res:",
        "    params: {ch: int}",
        "    nodes:",
        "      c1: {op: conv2d, out_channels: '${ch}', kernel_size: 3, padding: 1}",
        "      n1: {op: batchnorm2d}",
        "      a1: {op: relu}",
        "      c2: {op: conv2d, out_channels: '${ch}', kernel_size: 3, padding: 1}",
        "      n2: {op: batchnorm2d}",
        "      add: {op: add, in: [n2, x]}",
        "      a2: {op: relu}",
        "nodes:",
        "  stem: {op: conv2d, in: image, out_channels: 16, kernel_size: 3, padding: 1}",
        "  stem_bn: {op: batchnorm2d}",
        "  stem_act: {op: relu}",
    ]
    per_stage = 12
    for stage in range(0, blocks, per_stage):
        lines.append(
            f"  stage{stage // per_stage}: {{block: res, ch: 16, repeat: {min(per_stage, blocks - stage)}}}"
        )
    lines += [
        "  pool: {op: global_avgpool}",
        "  fc: {op: linear, out_features: 10}",
        "  out: {op: softmax}",
        "outputs: {probs: out}",
    ]
    return "\n".join(lines) + "\n"


def run_once(text: str) -> dict[str, float]:
    from archspec.diagram import to_html, to_svg
    from archspec.diagram.adapter import to_rgraph
    from archspec.diagram.layout import layout
    from archspec.pipeline import analyse, load_text

    times: dict[str, float] = {}
    c0 = time.process_time()
    t0 = time.perf_counter()
    spec = load_text(text, name="residual-1000.yaml")
    t1 = time.perf_counter()
    graph = analyse(spec)
    t2 = time.perf_counter()
    rgraph = to_rgraph(graph, arrangement="auto")
    t3 = time.perf_counter()
    placed = layout(rgraph)
    t4 = time.perf_counter()
    svg = to_svg(rgraph, placed)
    t5 = time.perf_counter()
    times["cpu"] = time.process_time() - c0
    to_html(rgraph, placed)
    t6 = time.perf_counter()
    times.update(load=t1 - t0, analyse=t2 - t1, to_rgraph=t3 - t2, layout=t4 - t3, to_svg=t5 - t4)
    times.update(total=t5 - t0, html=t6 - t5)
    times["nodes"] = len(spec.nodes)
    times["svg_kb"] = len(svg) / 1024
    times["arrangement"] = placed.arrangement  # type: ignore[assignment]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run instead of the best of five")
    parser.add_argument("--nodes", type=int, default=1000, help="about how many op nodes (default 1000)")
    args = parser.parse_args()
    os.chdir(REPO)
    text = spec_text(args.nodes)
    runs = [run_once(text) for _ in range(1 if args.quick else 5)]
    best = min(runs, key=lambda r: r["total"])
    stages = "  ".join(f"{k} {best[k]:.3f}" for k in ("load", "analyse", "to_rgraph", "layout", "to_svg"))
    print(f"{platform.machine()}, {os.cpu_count()} cores visible, Python {platform.python_version()}")
    print(f"{int(best['nodes'])} op nodes, layout {best['arrangement']}, SVG {best['svg_kb']:.0f} KB")
    print(f"seconds: {stages}  (the HTML page on top: {best['html']:.3f})")
    verdict = "ok" if best["total"] < GOAL_S else "SLOW"
    print(
        f"total {best['total']:.3f} s (goal < {GOAL_S:.0f} s, {best['total'] / GOAL_S:.2f}× of it): {verdict}; "
        f"CPU {best['cpu']:.3f} s (what the wall time would be on an idle core)"
    )
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    assert "torch" not in sys.modules, "rendering imported torch"
    return 0 if best["total"] < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
