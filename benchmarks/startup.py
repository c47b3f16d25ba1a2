"""Time the whole process of ``archspec validate examples/mlp.yaml`` against a bare interpreter.

Each command is a fresh process, run round-robin (so a busy spell hits every command alike)
after one warm-up round:

* ``python -c pass`` and ``python -c "import torch"``: the floor and what torch alone costs;
* ``archspec validate examples/mlp.yaml`` (the installed console script) and ``python -m
  archspec validate ...`` (``python -m archspec.cli`` where there is no ``archspec/__main__``);
* the library alone, ``validate_files`` without the CLI, to show what the CLI layer adds.

It prints the median wall time with its spread, the median CPU time (user + system, which a busy
machine inflates less), ratios to ``python -c pass`` and to ``import torch``, and the load
average before and after. Goal: validate in <= 0.35 s on a quiet machine.

The warm-up round runs with PYTHONDONTWRITEBYTECODE unset, so archspec's ``__pycache__`` holds
bytecode as in any installed copy; ``--no-bytecode`` keeps the variable as it is (where it is
set, every run then compiles archspec's sources again).

    python benchmarks/startup.py            # 15 rounds
    python benchmarks/startup.py --quick    # 2 rounds (numbers mean nothing)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, fmt_time  # noqa: E402

GOAL_S = 0.35
SPEC = "examples/mlp.yaml"
LIBRARY = f"from archspec.pipeline import validate_files; assert validate_files([{SPEC!r}])[0]['ok']"


def commands() -> dict[str, list[str]]:
    py = sys.executable
    found = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import torch'": [py, "-c", "import torch"],
        "library: validate_files()": [py, "-c", LIBRARY],
    }
    script = shutil.which("archspec", path=os.path.dirname(py)) or shutil.which("archspec")
    if script:
        found[f"archspec validate {SPEC}"] = [script, "validate", SPEC]
    else:
        print("note: no archspec console script found (pip install -e .); skipping it")
    main = "archspec" if os.path.exists(os.path.join(REPO, "archspec", "__main__.py")) else "archspec.cli"
    found[f"python -m {main} validate {SPEC}"] = [py, "-m", main, "validate", SPEC]
    return found


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run; fails loudly if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: two rounds")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-bytecode", action="store_true", help="leave PYTHONDONTWRITEBYTECODE as it is")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    if not args.no_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmds = commands()
    print(f"Python {sys.version.split()[0]} on {os.cpu_count()} cores; load average before: {load()}")
    print(f"PYTHONDONTWRITEBYTECODE {'set' if env.get('PYTHONDONTWRITEBYTECODE') else 'unset'} for the runs")
    for argv_ in cmds.values():  # warm-up: file cache, and bytecode written where allowed
        run_once(argv_, env)
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    cpus: dict[str, list[float]] = {name: [] for name in cmds}
    for r in range(rounds):
        names = list(cmds) if r % 2 == 0 else list(cmds)[::-1]
        for name in names:
            wall, cpu = run_once(cmds[name], env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"load average after: {load()}; {rounds} rounds\n")

    floor = statistics.median(walls["python -c pass"])
    torch_s = statistics.median(walls["python -c 'import torch'"])
    width = max(map(len, cmds))
    print(
        f"{'command':<{width}}  {'wall median':>11}  {'(min - max)':>21}  {'cpu median':>10}  {'/ pass':>6}  {'/ torch':>7}"
    )
    for name in cmds:
        w = statistics.median(walls[name])
        spread = f"({fmt_time(min(walls[name]))} - {fmt_time(max(walls[name]))})"
        print(
            f"{name:<{width}}  {fmt_time(w):>11}  {spread:>21}  {fmt_time(statistics.median(cpus[name])):>10}"
            f"  {w / floor:6.1f}  {w / torch_s:7.2f}"
        )
    library = statistics.median(walls["library: validate_files()"])
    for name in cmds:
        if "validate " in name:
            w = statistics.median(walls[name])
            verdict = "met" if w <= GOAL_S else "missed (on a busy machine, compare the ratios)"
            print(
                f"\n{name}: {fmt_time(w)}, goal {GOAL_S} s: {verdict}; the CLI layer adds {fmt_time(w - library)}"
            )
    if args.quick:
        print("\n(--quick: smoke mode, numbers mean nothing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
