"""Training-runner speed: archspec's training loop vs a minimal hand-written loop (and Lightning).

Models: ``examples/mlp.yaml`` (64-128-10 on the digits) and ``examples/cnn.yaml``, each compiled
from its spec; both sides start from the same weights, train on the same tensors (the built-in
``digits`` training split, 1,258 samples) with batch 64 and Adam, one torch thread.

Four comparisons, each a series of interleaved rounds (A B, then B A, ...) after a warm-up; a
figure is the median of the per-round ratios with its interquartile range, for wall time and
for the process's CPU time (``time.process_time``: on a shared machine other jobs inflate the
wall time of whichever side they land on; CPU time suffers less). The load average is printed
before and after.

1. **step loop** (goal >= 0.97): one epoch of ``Trainer._train_epoch`` (batching, forward, the
   objective, backward, optimiser step, steps.csv rows, the loss values read back once per
   epoch) against a hand epoch (permutation, index, forward, ``cross_entropy``, ``zero_grad``,
   backward, ``step``, ``loss.item()``). No augmentation, no validation stream.
2. **whole run** (goal >= 0.9): ``Trainer.run()`` of E epochs with its validation stream,
   accuracy, checkpoints at the default cadence, metrics.csv/steps.csv and curves.png, against
   a hand run of E epochs that evaluates accuracy on the same validation split after each epoch,
   writes a CSV row per epoch and ``torch.save``s the weights on a new best and at the end.
   Four pairings: the hand run as written and with its saves made durable (temporary file,
   fsync, rename, directory fsync: what archspec does for every checkpoint and pointer), against
   the runner with and without curves.png (``--no-plots``). Construction (reading data,
   compiling both sides' models) is outside the timing on both sides.
3. **Lightning** (goal: the runner's steps per second >= 2x Lightning's): E epochs of the
   runner's step loop against one ``Trainer.fit(max_epochs=E)`` with a new Lightning
   ``Trainer`` per fit (as each run gets), no validation, logger, checkpoints or progress bar
   on either side, when Lightning is installed (``pip install -e .[bench]``); otherwise printed
   as skipped.
4. **semi-supervised** (MLP, goal <= 1.05): a runner step that also draws a batch from a
   60,000-sample unlabelled stream (an ``mse`` term on the same output) over the supervised-only
   runner step; and the same semi-supervised epoch against a hand loop doing the same work, so
   the runner's own overhead is separated from the second forward/backward every such step pays.

    python benchmarks/runner_speed.py                 # about 3 minutes on 2 cores
    python benchmarks/runner_speed.py --rounds 40     # more rounds, tighter spread
    python benchmarks/runner_speed.py --quick         # smoke mode (numbers mean nothing)
    python benchmarks/runner_speed.py --profile       # cProfile the runner's epochs too
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import dataclasses
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, ensure_repo_on_path, fmt_time, machine  # noqa: E402

ensure_repo_on_path()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402

from archspec.compiler.compile import compile_model  # noqa: E402
from archspec.pipeline import analyse, load  # noqa: E402
from archspec.training.runner import RunOptions, Trainer  # noqa: E402

GOALS = {"step": 0.97, "run": 0.9, "lightning": 2.0, "semi": 1.05}
BATCH = 64
LR = {"mlp": 3e-3, "cnn": 2e-3}
SEMI_WEIGHT = 0.1


# -- measuring --------------------------------------------------------------------------------


def interleaved(
    fns: Sequence[Callable[[], object]], *, rounds: int, warmup: int
) -> tuple[list[list[float]], list[list[float]]]:
    """(wall, cpu) seconds per call of each function, alternating AB, BA, ... ``rounds`` times."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        for i in range(len(fns)) if r % 2 == 0 else reversed(range(len(fns))):
            w0, c0 = time.perf_counter(), time.process_time()
            fns[i]()
            cpu[i].append(time.process_time() - c0)
            wall[i].append(time.perf_counter() - w0)
    return wall, cpu


def ratio(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """Median of per-round ratios num/den, and its quartiles."""
    ratios = sorted(a / b for a, b in zip(num, den, strict=True) if b > 0)
    q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
    return statistics.median(ratios), q[0], q[2]


def spread(samples: list[float], per: int = 1) -> str:
    s = sorted(x / per for x in samples)
    return f"{fmt_time(statistics.median(s))} ({fmt_time(s[0])}-{fmt_time(s[-1])})"


def report(label: str, goal_key: str, a: str, b: str, wall, cpu, *, per: int, speed: bool) -> None:
    """Print each side's median (min-max) per ``per`` units, then per round either the speed of
    ``b`` over that of ``a`` (time a / time b, goal >=) or the time of ``b`` over that of ``a``
    (goal <=), for wall and CPU time."""
    (wa, wb), (ca, cb) = wall, cpu
    print(f"  {label}")
    print(f"    {a:<22} wall {spread(wa, per)}  cpu {spread(ca, per)}")
    print(f"    {b:<22} wall {spread(wb, per)}  cpu {spread(cb, per)}")
    goal = GOALS[goal_key]
    for kind, x, y in (("wall", wa, wb), ("cpu", ca, cb)):
        med, lo, hi = ratio(x, y) if speed else ratio(y, x)
        ok = med >= goal if speed else med <= goal
        sign = ">=" if speed else "<="
        print(
            f"    {kind:<4} ratio {med:.3f} (IQR {lo:.3f}-{hi:.3f}); goal {sign} {goal}: {'met' if ok else 'MISSED'}"
        )


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


# -- the specs --------------------------------------------------------------------------------


def bench_spec(model: str, *, val: bool, epochs: int = 1_000_000, semi: bool = False) -> dict:
    """examples/<model>.yaml: its training stream (no augmentation), batch 64, Adam; with its
    validation stream and accuracy when ``val``; with an unlabelled stream when ``semi``."""
    spec = yaml.safe_load(Path(REPO, "examples", f"{model}.yaml").read_text())
    train = {k: v for k, v in spec["data"]["train"].items() if k != "augment"}
    data = {"train": {**train, "batch_size": BATCH}}
    if val:
        data["val"] = spec["data"]["val"]
    if semi:
        data["unl"] = {"npz": "unlabelled.npz", "split": "all", "batch_size": BATCH}
        spec["losses"]["aux"] = {
            "fn": "mse",
            "stream": "unl",
            "pred": "logits",
            "target": "z",
            "weight": SEMI_WEIGHT,
        }
    spec["data"] = data
    spec["training"] = {"optimizer": {"name": "adam", "lr": LR[model]}, "epochs": epochs}
    if val:
        spec["training"]["metrics"] = ["accuracy"]
    return spec


def trainer_for(spec: dict, where: Path, run: str) -> Trainer:
    path = where / f"{run}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return Trainer(
        analyse(load(path)), RunOptions(run_dir=where / run, device="cpu", progress=False, log=lambda s: None)
    )


# -- the sides ----------------------------------------------------------------------------------


class RunnerEpochs:
    """One ``_train_epoch`` per call (the step loop)."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer, self.epoch = trainer, 0
        self.stream = trainer.streams["train"]
        trainer.opt.run_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self) -> None:
        self.trainer.loop.epoch_step = 0
        self.trainer._train_epoch(self.epoch, self.stream, self.trainer.opt.run_dir / "checkpoints")
        self.epoch += 1


class HandEpochs:
    """A minimal hand loop on the runner's model (a copy of its weights) and tensors."""

    def __init__(self, trainer: Trainer, lr: float, unlabelled: dict | None = None) -> None:
        self.model = compile_model(trainer.graph)
        self.model.load_state_dict(trainer.model.state_dict())
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        stream = trainer.streams["train"]
        self.x, self.y = stream.tensors["image"], stream.tensors["label"]
        self.gen = torch.Generator().manual_seed(0)
        self.unl = unlabelled
        self.unl_perm, self.unl_at = None, 0
        self.running = 0.0

    def _unlabelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.unl["image"])
        if self.unl_perm is None or self.unl_at + BATCH > n:
            self.unl_perm, self.unl_at = torch.randperm(n, generator=self.gen), 0
        idx = self.unl_perm[self.unl_at : self.unl_at + BATCH]
        self.unl_at += BATCH
        return self.unl["image"][idx], self.unl["z"][idx]

    def __call__(self) -> None:
        self.model.train()
        perm = torch.randperm(len(self.y), generator=self.gen)
        for i in range(0, len(perm), BATCH):
            idx = perm[i : i + BATCH]
            loss = F.cross_entropy(self.model(self.x[idx]), self.y[idx])
            if self.unl is not None:
                ux, uz = self._unlabelled()
                loss = loss + SEMI_WEIGHT * F.mse_loss(self.model(ux), uz)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.running += loss.item()


class HandRun:
    """E epochs of the hand loop with what a careful script adds: accuracy on the validation
    split after each epoch, a CSV row, ``torch.save`` of the weights on a new best and at the end
    (``durable``: each save written to a temporary file, fsynced, renamed and its directory
    fsynced, as archspec writes checkpoints). The hand loops (and their compiled models) are
    built before the rounds start, as the runner's trainers are."""

    def __init__(
        self, trainer: Trainer, lr: float, epochs: int, out: Path, count: int, durable: bool
    ) -> None:
        self.epochs, self.out, self.durable = epochs, out, durable
        self.hands = [HandEpochs(trainer, lr) for _ in range(count)]
        val = trainer.streams["val"]
        self.vx, self.vy = val.tensors["image"], val.tensors["label"]

    def save(self, state: dict, path: Path) -> None:
        if not self.durable:
            torch.save(state, path)
            return
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def __call__(self) -> None:
        hand = self.hands.pop()
        self.out.mkdir(parents=True, exist_ok=True)
        best = -1.0
        with open(self.out / "metrics.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["epoch", "train_loss", "val_accuracy"])
            for epoch in range(self.epochs):
                hand.running = 0.0
                hand()
                hand.model.eval()
                with torch.no_grad():
                    acc = (hand.model(self.vx).argmax(1) == self.vy).float().mean().item()
                writer.writerow([epoch + 1, hand.running, acc])
                if acc > best:
                    best = acc
                    self.save(hand.model.state_dict(), self.out / "best.pt")
        self.save(hand.model.state_dict(), self.out / "last.pt")


class RunnerRun:
    """A fresh ``Trainer.run()`` per call; the trainers are built before the rounds start."""

    def __init__(self, spec: dict, where: Path, count: int, name: str) -> None:
        self.trainers = [trainer_for(spec, where, f"{name}-{i}") for i in range(count)]

    def __call__(self) -> None:
        self.trainers.pop().run()


def lightning_epochs(
    trainer: Trainer, lr: float, epochs: int
) -> Callable[[], None] | None:  # pragma: no cover
    """A Lightning fit of ``epochs`` epochs per call (a new ``Trainer`` each time, as a run gets)
    on the same model and tensors, or None without Lightning."""
    try:
        import lightning as L
    except ImportError:
        try:
            import pytorch_lightning as L
        except ImportError:
            return None
    from torch.utils.data import DataLoader, TensorDataset

    model = compile_model(trainer.graph)
    model.load_state_dict(trainer.model.state_dict())

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def training_step(self, batch, _):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=lr)

    stream = trainer.streams["train"]
    data = DataLoader(
        TensorDataset(stream.tensors["image"], stream.tensors["label"]), batch_size=BATCH, shuffle=True
    )
    module = Module()

    def fit() -> None:
        L.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        ).fit(module, data)

    return fit


# -- the comparisons ----------------------------------------------------------------------------


def step_loop(model: str, where: Path, rounds: int, warmup: int) -> RunnerEpochs:
    runner = RunnerEpochs(trainer_for(bench_spec(model, val=False), where, f"{model}-steps"))
    hand = HandEpochs(runner.trainer, LR[model])
    steps = runner.stream.steps_per_epoch()
    wall, cpu = interleaved([hand, runner], rounds=rounds, warmup=warmup)
    report(
        f"step loop ({steps} steps a sample), time per step",
        "step",
        "hand loop",
        "runner _train_epoch",
        wall,
        cpu,
        per=steps,
        speed=True,
    )
    print("    (ratio: runner steps/s over hand steps/s)")
    return runner


def whole_run(model: str, where: Path, rounds: int, warmup: int, epochs: int) -> None:
    """Three sides: the hand run, ``run()`` as a user gets it (curves.png drawn once at the end),
    and ``run()`` with the drawing left out, so the figure's fixed cost shows on its own."""
    spec = bench_spec(model, val=True, epochs=epochs)
    count = rounds + warmup
    runner = RunnerRun(spec, where, count, f"{model}-run")
    bare = RunnerRun(spec, where, count, f"{model}-bare")
    for trainer in bare.trainers:  # as `archspec train --no-plots`
        trainer.opt = dataclasses.replace(trainer.opt, plots=False)
    first = runner.trainers[0]
    hand = HandRun(first, LR[model], epochs, where / f"{model}-hand", count, durable=False)
    durable = HandRun(first, LR[model], epochs, where / f"{model}-durable", count, durable=True)

    wall, cpu = interleaved([hand, durable, runner, bare], rounds=rounds, warmup=warmup)
    sides = (
        (
            f"whole run ({epochs} epochs with validation, checkpoints, logs, curves.png)",
            0,
            "hand run",
            2,
            "runner run()",
        ),
        (
            "same, hand saves made durable (fsynced as archspec's are)",
            1,
            "hand run, durable",
            2,
            "runner run()",
        ),
        ("same, runner with --no-plots (no curves.png)", 0, "hand run", 3, "runner run(), no plots"),
        ("same, both durable, no plots", 1, "hand run, durable", 3, "runner run(), no plots"),
    )
    for label, a, a_name, b, b_name in sides:
        report(label, "run", a_name, b_name, (wall[a], wall[b]), (cpu[a], cpu[b]), per=1, speed=True)
    print("    (ratio: hand time over runner time)")


def lightning(model: str, runner: RunnerEpochs, rounds: int, epochs: int) -> None:
    light = lightning_epochs(runner.trainer, LR[model], epochs)
    if light is None:
        print(
            "  lightning: skipped (neither lightning nor pytorch_lightning is installed: pip install -e .[bench])"
        )
        return
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):  # pragma: no cover
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="(lightning|pytorch_lightning).*")  # pragma: no cover

    def runner_epochs() -> None:  # pragma: no cover
        for _ in range(epochs):
            runner()

    wall, cpu = interleaved([light, runner_epochs], rounds=max(rounds // 2, 3), warmup=1)  # pragma: no cover
    report(  # pragma: no cover
        f"lightning Trainer.fit vs the runner's step loop, {epochs} epochs (no validation or checkpoints on either side)",
        "lightning",
        "lightning fit",
        "runner epochs",
        wall,
        cpu,
        per=epochs * runner.stream.steps_per_epoch(),
        speed=True,
    )


def semi_supervised(where: Path, rounds: int, warmup: int, size: int) -> None:
    rng = np.random.RandomState(0)
    np.savez(
        where / "unlabelled.npz",
        image=rng.rand(size, 64).astype("float32") * 16,
        z=np.zeros((size, 10), dtype="float32"),
    )
    sup = RunnerEpochs(trainer_for(bench_spec("mlp", val=False), where, "sup"))
    semi = RunnerEpochs(trainer_for(bench_spec("mlp", val=False, semi=True), where, "semi"))
    unl = semi.trainer.streams["unl"].tensors
    hand = HandEpochs(semi.trainer, LR["mlp"], unlabelled={"image": unl["image"], "z": unl["z"]})
    steps = sup.stream.steps_per_epoch()
    wall, cpu = interleaved([sup, semi, hand], rounds=rounds, warmup=warmup)
    report(
        f"semi-supervised step (+ a batch from a {size:,}-sample unlabelled stream) over supervised-only step",
        "semi",
        "runner, supervised",
        "runner, semi-supervised",
        (wall[0], wall[1]),
        (cpu[0], cpu[1]),
        per=steps,
        speed=False,
    )
    print("    (ratio: semi time over supervised time: includes the second forward/backward)")
    h_wall, h_cpu = ratio(wall[2], wall[1]), ratio(cpu[2], cpu[1])
    print(
        f"    runner semi / hand semi (steps/s): wall {h_wall[0]:.3f} (IQR {h_wall[1]:.3f}-{h_wall[2]:.3f}), "
        f"cpu {h_cpu[0]:.3f} (IQR {h_cpu[1]:.3f}-{h_cpu[2]:.3f}); hand semi {spread(wall[2], steps)}/step"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few rounds")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of a whole run (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--only", choices=["mlp", "cnn"], help="one model only")
    parser.add_argument("--profile", action="store_true", help="cProfile the runner's epochs too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds, warmup = (2, 1) if args.quick else (args.rounds, 2)
    print(machine())
    print(f"load average before: {load_avg()}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for model in [args.only] if args.only else ["mlp", "cnn"]:
            print(
                f"\n{model}: examples/{model}.yaml, digits train (1,258 samples), batch {BATCH}, Adam, {rounds} rounds"
            )
            runner = step_loop(model, where, rounds, warmup)
            whole_run(model, where, max(rounds // 2, 2), 1, 2 if args.quick else args.epochs)
            lightning(model, runner, rounds, 2 if args.quick else args.epochs)
            if args.profile:
                profile(runner, 3 if args.quick else 20)
        if args.only in (None, "mlp"):
            print("\nmlp, semi-supervised")
            semi_supervised(where, rounds, warmup, 2_000 if args.quick else 60_000)
    print(f"\nload average after: {load_avg()}; {time.perf_counter() - started:.0f} s")


def profile(runner: RunnerEpochs, epochs: int) -> None:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(epochs):
        runner()
    prof.disable()
    print(f"\ncProfile of {epochs} runner epochs (top 15 by own time):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
