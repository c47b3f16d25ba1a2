"""Training-runner speed: archspec's training loop vs a minimal hand-written loop.

Both train the same network, ``examples/cnn.yaml`` compiled from its spec, on the same tensors
(the built-in ``digits`` training split) with batch 64 and Adam (lr 2e-3), starting from the
same weights. One sample is one epoch (20 steps) of each, interleaved A B B A ... after a
warm-up; the figure is the median of the per-round ratios of steps per second, runner / hand.
Goal: >= 0.97.

What is timed on the runner side is ``Trainer._train_epoch``: the per-step work of a real run
(stream batching, device transfer, forward, the bound objective with its finiteness check,
backward, optimiser and schedule step, the parameter finiteness check, the steps.csv row and the
loss values). Validation and checkpoints, which a run does once per epoch and which a hand loop
would have to do too, are left out: the spec keeps only its training stream, and ``run()``
(which validates and checkpoints) is not called. The spec's augmentation is dropped because the
hand loop has none. The hand loop does what a minimal loop does: a shuffled permutation per
epoch, index, forward, ``cross_entropy``, ``zero_grad``, backward, ``step`` and ``loss.item()``
for its running loss.

PyTorch Lightning's ``Trainer`` is measured the same way when ``import lightning`` works, and is
reported as skipped otherwise.

    python benchmarks/runner_speed.py            # full (about 1 minute on 2 cores)
    python benchmarks/runner_speed.py --quick    # smoke mode (seconds)
    python benchmarks/runner_speed.py --profile  # also cProfile the runner's epochs
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO, ensure_repo_on_path, fmt_time, interleaved, machine, paired_ratio  # noqa: E402

ensure_repo_on_path()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402

from archspec.compiler.compile import compile_model  # noqa: E402
from archspec.pipeline import analyse, load_text  # noqa: E402
from archspec.training.runner import RunOptions, Trainer  # noqa: E402

GOAL = 0.97
BATCH, LR = 64, 2e-3


def bench_spec() -> str:
    """examples/cnn.yaml with only its training stream, no augmentation, batch 64, Adam."""
    spec = yaml.safe_load(Path(REPO, "examples", "cnn.yaml").read_text())
    train = {k: v for k, v in spec["data"]["train"].items() if k != "augment"}
    spec["data"] = {"train": {**train, "batch_size": BATCH}}
    spec["training"] = {"optimizer": {"name": "adam", "lr": LR}, "epochs": 1_000_000}
    return yaml.safe_dump(spec, sort_keys=False)


class RunnerSide:
    def __init__(self, run_dir: Path) -> None:
        graph = analyse(load_text(bench_spec(), name="cnn-bench.yaml"))
        run_dir.mkdir(parents=True, exist_ok=True)
        self.trainer = Trainer(
            graph, RunOptions(run_dir=run_dir, device="cpu", progress=False, log=lambda s: None)
        )
        self.stream = self.trainer.streams["train"]
        self.epoch = 0

    def epoch_once(self) -> None:
        self.trainer.loop.epoch_step = 0
        self.trainer._train_epoch(self.epoch, self.stream, self.trainer.opt.run_dir / "checkpoints")
        self.epoch += 1


class HandSide:
    def __init__(self, runner: RunnerSide) -> None:
        self.model = compile_model(runner.trainer.graph)
        self.model.load_state_dict(runner.trainer.model.state_dict())
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.images = runner.stream.tensors["image"]
        self.labels = runner.stream.tensors["label"]
        self.gen = torch.Generator().manual_seed(0)
        self.running = 0.0

    def epoch_once(self) -> None:
        self.model.train()
        perm = torch.randperm(len(self.labels), generator=self.gen)
        for i in range(0, len(perm), BATCH):
            idx = perm[i : i + BATCH]
            loss = F.cross_entropy(self.model(self.images[idx]), self.labels[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.running += loss.item()


def lightning_side(runner: RunnerSide):  # pragma: no cover - only where lightning is installed
    """One Lightning epoch per call on the same model and tensors, or None without Lightning."""
    try:
        import lightning as L
    except ImportError:
        return None
    from torch.utils.data import DataLoader, TensorDataset

    model = compile_model(runner.trainer.graph)
    model.load_state_dict(runner.trainer.model.state_dict())

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def training_step(self, batch, _):
            x, y = batch
            return F.cross_entropy(self.net(x), y)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LR)

    data = DataLoader(
        TensorDataset(runner.stream.tensors["image"], runner.stream.tensors["label"]),
        batch_size=BATCH,
        shuffle=True,
    )
    module = Module()

    def epoch_once() -> None:
        trainer = L.Trainer(
            max_epochs=1,
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, data)

    return epoch_once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: a few rounds")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--profile", action="store_true", help="cProfile the runner's epochs too")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 3 if args.quick else args.rounds
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        runner = RunnerSide(Path(tmp) / "run")
        hand = HandSide(runner)
        steps = runner.stream.steps_per_epoch()
        print(
            f"examples/cnn.yaml, digits train ({runner.stream.size} samples), batch {BATCH}, Adam: {steps} steps per sample, {rounds} interleaved rounds"
        )
        run_t, hand_t = interleaved(
            [runner.epoch_once, hand.epoch_once], inner=1, repeats=rounds, warmup=1 if args.quick else 3
        )
        speed, lo, hi = paired_ratio(hand_t, run_t)  # steps/s ratio = inverse time ratio
        med_run, med_hand = sorted(run_t)[len(run_t) // 2], sorted(hand_t)[len(hand_t) // 2]
        print(f"  runner      {fmt_time(med_run / steps)}/step  {steps / med_run:7.1f} steps/s")
        print(f"  hand loop   {fmt_time(med_hand / steps)}/step  {steps / med_hand:7.1f} steps/s")
        status = "met" if speed >= GOAL else "MISSED"
        print(
            f"  runner / hand steps per second: {speed:.3f} (IQR {lo:.3f}-{hi:.3f}); goal >= {GOAL}: {status}"
        )
        lightning = lightning_side(runner)
        if lightning is None:
            print("  lightning   skipped (import lightning failed: not installed)")
        else:  # pragma: no cover
            light_t, hand2_t = interleaved(
                [lightning, hand.epoch_once], inner=1, repeats=max(rounds // 4, 3), warmup=1
            )
            ratio, lo, hi = paired_ratio(hand2_t, light_t)
            print(f"  lightning / hand steps per second: {ratio:.3f} (IQR {lo:.3f}-{hi:.3f})")
        if args.profile or (speed < GOAL and not args.quick):
            profile(runner, 5 if args.quick else 30)


def profile(runner: RunnerSide, epochs: int) -> None:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(epochs):
        runner.epoch_once()
    prof.disable()
    print(f"\ncProfile of {epochs} runner epochs (top 15 by own time):")
    pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
