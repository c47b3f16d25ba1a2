"""Front-end scaling: load_text -> analyse -> compile_model on generated 1,000- and 10,000-node specs.

The generated spec is YAML text: a ``stem`` linear, then alternately a residual block
(``res``: linear, relu, linear, add with the block input ``x``, relu = 5 nodes) and an explicit
``linear``/``relu`` pair, until the node count is reached, then a ``head``. Every node is
written out (no ``repeat``), so YAML parsing and validation scale with the node count too.

Per stage (best of a few runs, after a warm-up on a tiny spec, with torch already imported):

- load      ``archspec.load_text`` (YAML with positions, schema validation, block expansion)
- analyse   ``archspec.analyse`` (networkx DAG checks + torch-free shape inference)
- compile   ``archspec.compiler.compile.compile_model`` (nn.Modules, init, torch.fx graph + codegen)

The growth ratio 10k/1k should be near 10 (linear). Goal: the whole pipeline <= 2 s at 10,000
nodes. ``analyse`` is also timed in a fresh subprocess that never imports torch (checked via
``sys.modules``). With ``--profile`` (automatic when the goal is missed) cProfile prints the top
functions of each stage at 10k nodes.

    python benchmarks/compile_scaling.py            # full (about 1 minute)
    python benchmarks/compile_scaling.py --quick    # 100 and 1,000 nodes, one run each
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, ensure_repo_on_path, fmt_time  # noqa: E402

ensure_repo_on_path()

GOAL_SECONDS = 2.0
STAGES = ("load", "analyse", "compile")


def spec_text(n_nodes: int, width: int = 16) -> str:
    """A spec of about ``n_nodes`` op nodes (exact count: ``len(load_text(...).nodes)``)."""
    lines = [
        "archspec: 1",
        f"name: chain-{n_nodes}",
        "inputs:",
        f"  x: {{shape: [{width}]}}",
        "blocks:",
        "  res:",
        "    params: {w: int}",
        "    nodes:",
        "      l1:  {op: linear, out_features: '${w}'}",
        "      r1:  {op: relu}",
        "      l2:  {op: linear, out_features: '${w}'}",
        "      add: {op: add, in: [l2, x]}",
        "      r2:  {op: relu}",
        "nodes:",
        f"  stem: {{op: linear, in: x, out_features: {width}}}",
    ]
    count, i = 2, 0  # stem and head
    while count < n_nodes:
        if i % 2 == 0:
            lines.append(f"  b{i}: {{block: res, w: {width}}}")
            count += 5
        else:
            lines.append(f"  l{i}: {{op: linear, out_features: {width}}}")
            lines.append(f"  a{i}: {{op: relu}}")
            count += 2
        i += 1
    lines.append("  head: {op: linear, out_features: 4}")
    lines.append("outputs: {y: head}")
    return "\n".join(lines) + "\n"


def run_pipeline(text: str, name: str):
    import archspec
    from archspec.compiler.compile import compile_model

    t0 = time.perf_counter()
    spec = archspec.load_text(text, name)
    t1 = time.perf_counter()
    graph = archspec.analyse(spec)
    t2 = time.perf_counter()
    model = compile_model(graph, seed=0)
    t3 = time.perf_counter()
    return {"load": t1 - t0, "analyse": t2 - t1, "compile": t3 - t2}, spec, model


def time_sizes(sizes: list[int], runs: int) -> dict[int, dict]:
    results = {}
    for n in sizes:
        text = spec_text(n)
        best: dict[str, float] = {}
        for _ in range(runs):
            times, spec, model = run_pipeline(text, f"chain_{n}.yaml")
            best = {k: min(v, best.get(k, v)) for k, v in times.items()}
            nodes, lines, fx_nodes = len(spec.nodes), text.count("\n"), len(model.graph.nodes)
            del spec, model
        best["total"] = sum(best[s] for s in STAGES)
        results[n] = {"times": best, "nodes": nodes, "lines": lines, "fx_nodes": fx_nodes}
        t = best
        print(
            f"  {nodes:>6,} nodes ({lines:,} YAML lines): load {fmt_time(t['load']):>9s}  analyse {fmt_time(t['analyse']):>9s}"
            f"  compile {fmt_time(t['compile']):>9s}  total {fmt_time(t['total']):>9s}",
            flush=True,
        )
    return results


_TORCH_FREE_CHILD = r"""
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/benchmarks"]
import archspec
from compile_scaling import spec_text
archspec.analyse(archspec.load_text(spec_text(50), "warm.yaml"))
text = spec_text(int(sys.argv[2]))
best = {}
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter(); spec = archspec.load_text(text, "x.yaml")
    t1 = time.perf_counter(); graph = archspec.analyse(spec); t2 = time.perf_counter()
    best = {"load": min(t1 - t0, best.get("load", 9e9)), "analyse": min(t2 - t1, best.get("analyse", 9e9))}
print(json.dumps({**best, "torch_imported": "torch" in sys.modules, "nodes": len(spec.nodes)}))
"""


def torch_free_analyse(n: int, runs: int) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-c", _TORCH_FREE_CHILD, REPO, str(n), str(runs)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"torch-free child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_stages(n: int, top: int) -> None:
    import archspec
    from archspec.compiler.compile import compile_model

    text = spec_text(n)
    steps = (
        ("load", lambda _: archspec.load_text(text, "p.yaml")),
        ("analyse", archspec.analyse),
        ("compile", lambda g: compile_model(g, seed=0)),
    )
    value = None
    for stage, fn in steps:
        prof = cProfile.Profile()
        prof.enable()
        value = fn(value)
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime")
        total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
        print(
            f"\n  cProfile, {stage} at {n:,} nodes ({total:.2f} s of own time under the profiler), top {top} by own time:"
        )
        stats.print_stats(top)
        body = out.getvalue()
        start = body.find("   ncalls")
        print("\n".join("    " + line for line in body[start:].rstrip().splitlines()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: 100 and 1,000 nodes, one run, no profile"
    )
    parser.add_argument(
        "--profile", action="store_true", help="always print cProfile hotspots at the large size"
    )
    parser.add_argument("--top", type=int, default=12, help="rows per cProfile table")
    args = parser.parse_args(argv)
    small, large = (100, 1_000) if args.quick else (1_000, 10_000)
    runs_small, runs_large = (1, 1) if args.quick else (3, 2)

    import torch  # imported up front: its 1-2 s import is not part of any stage

    torch.set_num_threads(1)
    import archspec

    run_pipeline(spec_text(50), "warmup.yaml")  # one-time costs: schema validators, op modules
    print(
        f"compile_scaling: torch {torch.__version__}, {os.cpu_count()} cores, best of {runs_small}/{runs_large} runs"
    )
    res = time_sizes([small], runs_small)
    res.update(time_sizes([large], runs_large))
    a, b = res[small], res[large]
    scale = b["nodes"] / a["nodes"]
    print(
        f"growth {large:,}/{small:,} ({scale:.1f}x the nodes): "
        + "  ".join(f"{s} {b['times'][s] / a['times'][s]:.1f}x" for s in (*STAGES, "total"))
    )
    print(
        f"  per node at {b['nodes']:,}: "
        + "  ".join(f"{s} {fmt_time(b['times'][s] / b['nodes'])}" for s in (*STAGES, "total"))
    )
    tf = torch_free_analyse(large, runs_large)
    print(
        f"torch-free process, {tf['nodes']:,} nodes: load {fmt_time(tf['load'])}, analyse {fmt_time(tf['analyse'])},"
        f" torch imported: {tf['torch_imported']}"
    )
    total = b["times"]["total"]
    if not args.quick:
        verdict = "ok" if total <= GOAL_SECONDS else "ABOVE GOAL"
        print(f"goal: whole pipeline <= {GOAL_SECONDS:.0f} s at {large:,} nodes: {total:.2f} s  {verdict}")
    else:
        print("(--quick: smoke mode; the goal applies to 10,000 nodes)")
    if args.profile or (not args.quick and total > GOAL_SECONDS):
        profile_stages(large, args.top)
    del archspec
    return 0


if __name__ == "__main__":
    sys.exit(main())
