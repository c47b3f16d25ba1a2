"""``archspec sweep`` costs: rejecting an invalid candidate, and the per-trial overhead.

1. Rejection: ``check_candidate`` (load with the trial's ``--set`` items, validate, expand,
   infer shapes, check ``expect:``) on an over-budget candidate of ``examples/sweep_mlp.yaml``,
   timed in a process that has not imported torch, which it checks stays so. Goal: < 50 ms.
2. Overhead: the same candidates trained by ``run_sweep`` (SQLite storage in the sweep
   directory, static check, progress, results.csv, best.yaml; no plots) and by a hand-written
   Optuna loop (an in-memory study whose objective calls ``archspec.train`` with the same
   ``--set`` items). Both use Optuna's RandomSampler with the same seed, so they draw the same
   values; no pruner on either side. Sides alternate A B B A; the figure is the median of the
   per-round ratios of wall time, sweep / hand. Goal: <= 1.05.

    python benchmarks/sweep_overhead.py            # about 2 minutes on 2 cores
    python benchmarks/sweep_overhead.py --quick    # smoke mode
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, ensure_repo_on_path, fmt_time, machine, paired_ratio

ensure_repo_on_path()

SPEC = str(Path(REPO) / "examples" / "sweep_mlp.yaml")
SMALL = ["data.train.limit=512", "data.val.limit=256", "data.test.limit=64", "training.epochs=3"]
BIG = ["params.width=256", "params.depth=3"]  # 147k parameters, over the 20k budget


def time_rejection(repeats: int) -> None:
    from archspec.errors import SpecError
    from archspec.sweep.objective import check_candidate
    from archspec.sweep.study import SweepJob

    job = SweepJob(spec_file=SPEC, overrides=SMALL, sweep_dir=Path("unused"))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            check_candidate(job, [*SMALL, *BIG])
        except SpecError:
            pass
        else:
            raise SystemExit("the over-budget candidate was not rejected")
        times.append(time.perf_counter() - start)
    print(
        f"reject an over-budget candidate: median {fmt_time(statistics.median(times))} over {repeats} (goal < 50 ms)"
    )
    print(f"torch imported while rejecting: {'torch' in sys.modules}")


def hand_loop(trials: int, root: Path) -> None:
    import optuna

    import archspec
    from archspec.pipeline import analyse, load
    from archspec.sweep.space import read_space

    space = read_space(load(SPEC, SMALL), sampler="random", pruner="none")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=space.seed))

    def objective(trial: optuna.Trial) -> float:
        overrides = [*SMALL, *space.overrides(space.sample(trial))]
        try:
            analyse(load(SPEC, overrides))  # a hand loop would skip bad designs too
        except archspec.ArchSpecError as exc:
            raise optuna.TrialPruned() from exc
        run = archspec.train(SPEC, run_dir=root / f"{trial.number}", overrides=overrides, log=lambda _m: None)
        return max(row["val_accuracy"] for row in run.history)

    study.optimize(objective, n_trials=trials)


def sweep(trials: int, root: Path) -> None:
    from archspec.sweep import run_sweep

    run_sweep(
        SPEC, trials=trials, sweep_dir=root, overrides=SMALL, sampler="random", pruner="none",
        plots=False, log=lambda _m: None,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds, trials = (1, 2) if args.quick else (6, 10)
    time_rejection(3 if args.quick else 50)

    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(machine())
    hand_times, sweep_times = [], []
    for r in range(rounds):
        order = (
            [("hand", hand_loop), ("sweep", sweep)] if r % 2 == 0 else [("sweep", sweep), ("hand", hand_loop)]
        )
        for name, fn in order:
            root = Path(tempfile.mkdtemp(prefix=f"sweep-bench-{name}-"))
            start = time.perf_counter()
            fn(trials, root)
            (hand_times if name == "hand" else sweep_times).append(time.perf_counter() - start)
            shutil.rmtree(root, ignore_errors=True)
    median, q1, q3 = paired_ratio(sweep_times, hand_times)
    per_trial = statistics.median(s - h for s, h in zip(sweep_times, hand_times)) / trials
    print(
        f"{trials} trials: sweep {fmt_time(statistics.median(sweep_times))}, hand loop {fmt_time(statistics.median(hand_times))}; "
        f"sweep/hand {median:.3f} (IQR {q1:.3f}-{q3:.3f}), {per_trial * 1e3:+.0f} ms per trial (goal <= 1.05)"
    )


if __name__ == "__main__":
    main()
