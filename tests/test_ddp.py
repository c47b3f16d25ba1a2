"""``torchrun`` data parallelism on CPU (gloo): two ranks with a global batch of 64 must train the
same model as one process with a batch of 64, jobs started side by side must not collide, and a
rank that dies or freezes makes the other fail with archspec's error (within the process group's
timeout), instead of hanging or printing the backend's.

Each torchrun job starts two Python processes that import torch, so these tests take tens of
seconds together on a 2-core machine; every subprocess has a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from archspec.errors import UsageError
from archspec.pipeline import analyse, load
from archspec.training.distributed import TIMEOUT_ENV, dist_timeout
from archspec.training.runner import train
from archspec.training.streams import build_streams
from tests.conftest import ROOT, csv_column, latest_weights, quiet

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
TIMEOUT = 120

# No dropout, no batch norm, no augmentation: the two runs may differ only in the order of float
# additions (a mean over 64 samples vs two means over 32 averaged by all-reduce).
SPEC = """\
archspec: 1
name: ddp-moons
inputs:
  x: {shape: [2]}
nodes:
  h: {op: linear, out_features: 32}
  a: {op: tanh}
  out: {op: linear, out_features: 2}
outputs: {logits: out}
data:
  train: {dataset: moons, split: train, batch_size: 64}
losses:
  ce: {fn: cross_entropy, stream: train, pred: logits, target: label}
training:
  optimizer: {name: adam, lr: 0.01}
  epochs: 2
"""

# Runs the ordinary CLI in each rank, then saves that rank's final parameters, so the test can
# see every rank's weights (the run itself writes only rank 0's).
RANK_DUMP = """\
import os, sys
from safetensors.torch import save_file
from archspec.training import runner

_run = runner.Trainer.run

def run(self):
    result = _run(self)
    weights = {k: v.detach().contiguous() for k, v in self.model.state_dict().items()}
    save_file(weights, os.path.join(sys.argv[1], f"rank{self.rank}-of-{self.world}.safetensors"))
    return result

runner.Trainer.run = run
from archspec.cli import main
main(sys.argv[2:])
"""


def env() -> dict[str, str]:
    out = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    out.pop("WORLD_SIZE", None)
    return out


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ddp") / "ddp.yaml"
    path.write_text(SPEC)
    return path


def train_losses(run_dir: Path) -> list[float]:
    return csv_column(run_dir / "metrics.csv", "train_loss")


@pytest.fixture(scope="module")
def one_process(spec_file) -> dict:
    """The reference: one process, batch 64: its final weights and per-epoch train losses."""
    run_dir = spec_file.parent / "one"
    result = train(analyse(load(spec_file)), quiet(run_dir))
    assert result.steps == 2 * 11  # 700 samples / 64 rounded up, 2 epochs
    return {"weights": latest_weights(run_dir), "train_loss": train_losses(run_dir)}


def assert_matches_one_process(weights: dict[str, torch.Tensor], reference: dict) -> None:
    # Tolerance: per step the two gradients differ by a few float32 ulps (relative ~1e-7) from
    # summation order; Adam divides by sqrt(v), so each update differs by about lr x 1e-7 and
    # 22 steps of lr 0.01 drift by < 1e-7 absolute. We measured <= 6e-8; 1e-5 leaves room for
    # other BLAS kernels while still catching a wrong batch split or a missing gradient
    # average, which move the weights by 1e-3 or more.
    reference = reference["weights"]
    assert weights.keys() == reference.keys()
    for k in reference:
        torch.testing.assert_close(
            weights[k], reference[k], rtol=0, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}"
        )


def test_each_rank_takes_a_disjoint_slice_of_the_global_batch(spec_file):
    spec = load(spec_file)
    single = build_streams(spec)["train"]
    ranks = [build_streams(spec, rank=r, world=2)["train"] for r in range(2)]
    assert [s.batch_size for s in ranks] == [32, 32]
    assert [s.steps_per_epoch() for s in ranks] == [single.steps_per_epoch()] * 2
    for epoch in range(2):
        assert not set(ranks[0].order(epoch).tolist()) & set(ranks[1].order(epoch).tolist())
        batches = [list(s.batches(epoch)) for s in (single, *ranks)]
        assert [len(b) for b in batches] == [single.steps_per_epoch()] * 3  # zip below drops nothing
        for (step, whole), (_, b0), (_, b1) in zip(*batches):
            together = torch.cat([b0["x"], b1["x"]])
            assert len(b0["x"]) == len(b1["x"]), step  # equal shares: the mean of means is the mean
            assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, whole["x"].tolist())), step


@pytest.fixture(scope="module")
def two_jobs(spec_file, tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Two torchrun jobs of two ranks, started side by side: "dump" also saves every rank's final
    weights (RANK_DUMP), "plain" is the ordinary CLI. One pair serves both tests below."""
    where = tmp_path_factory.mktemp("two-jobs")
    (where / "dump.py").write_text(RANK_DUMP)
    commands = {
        "dump": [*TORCHRUN, str(where / "dump.py"), str(where), "train"],
        "plain": [*TORCHRUN, "-m", "archspec", "train"],  # archspec/__main__.py: torchrun -m archspec works
    }
    jobs = {
        name: subprocess.Popen(
            [*command, str(spec_file), "--run-dir", str(where / name), "--no-progress"],
            cwd=where,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, command in commands.items()
    }
    done = {}
    for name, job in jobs.items():
        out, err = job.communicate(timeout=TIMEOUT)
        done[name] = (where / name, subprocess.CompletedProcess(job.args, job.returncode, out, err))
    return done


def test_two_ranks_train_the_same_weights_as_one_process_with_the_same_global_batch(two_jobs, one_process):
    run_dir, done = two_jobs["dump"]
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (load_file(str(run_dir.parent / f"rank{r}-of-2.safetensors")) for r in range(2))
    saved = latest_weights(run_dir)
    assert rank0.keys() == rank1.keys() == saved.keys() == one_process["weights"].keys()
    for k in rank0:
        assert torch.equal(rank0[k], rank1[k]), f"ranks disagree on {k}"
        assert torch.equal(saved[k], rank0[k]), f"the checkpoint is not rank 0's {k}"
    assert_matches_one_process(saved, one_process)
    # the logged epoch loss is the mean over both ranks' halves, so early stopping and plateau
    # cuts (which may watch train_loss) see what one process would see, on every rank
    assert train_losses(run_dir) == pytest.approx(one_process["train_loss"], rel=1e-6)


def test_two_jobs_started_together_pick_their_own_ports(two_jobs, one_process):
    for run_dir, done in two_jobs.values():
        assert done.returncode == 0, done.stderr[-3000:]
        assert_matches_one_process(latest_weights(run_dir), one_process)


# --- a rank that freezes or dies -----------------------------------------------------------------
# Two ranks started as torchrun would start them (its environment variables), without torchrun
# itself: its agent stops the survivor as soon as one worker fails, before the survivor could
# say why (the job still fails instead of hanging, which these tests also show for the ranks
# themselves). A short ARCHSPEC_DIST_TIMEOUT keeps the frozen case quick.


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ranks(spec_file: Path, run_dir: Path, timeout: str = "3") -> list[subprocess.Popen]:
    base = dict(env(), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    base[TIMEOUT_ENV] = timeout
    command = [sys.executable, "-m", "archspec", "train", str(spec_file), "--run-dir", str(run_dir)]
    command += ["--no-progress", "--checkpoint-every", "1", "--set", "training.epochs=100000"]
    return [
        subprocess.Popen(
            command,
            env=dict(base, RANK=str(r), LOCAL_RANK=str(r)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=run_dir.parent,
        )
        for r in range(2)
    ]


def wait_until_training(ranks: list[subprocess.Popen], run_dir: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not (run_dir / "checkpoints" / "latest").exists():  # both ranks have taken a step
        for rank in ranks:
            assert rank.poll() is None, rank.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the ranks never started training"
        time.sleep(0.1)


def survivor_error(ranks: list[subprocess.Popen], stop: signal.Signals) -> str:
    """Send ``stop`` to rank 1; rank 0's stderr once it has exited (it must, within TIMEOUT)."""
    try:
        os.kill(ranks[1].pid, stop)
        _, err = ranks[0].communicate(timeout=TIMEOUT)
        assert ranks[0].returncode == 3, err[-3000:]
        return err
    finally:
        for rank in ranks:
            if rank.poll() is None:
                rank.kill()
            rank.communicate()


def test_a_frozen_rank_makes_the_other_fail_within_the_timeout_naming_it(spec_file, tmp_path):
    run_dir = tmp_path / "frozen"
    ranks = start_ranks(spec_file, run_dir)
    wait_until_training(ranks, run_dir)
    err = survivor_error(ranks, signal.SIGSTOP)
    assert (
        "error: rank 0 of 2: rank 1 did not answer within 3 s (it is frozen, stopped or far too slow); stopping this rank too ("
        in err
    )
    assert "(hint: a rank that does not answer is given up on after ARCHSPEC_DIST_TIMEOUT=3 seconds)" in err
    assert "internal error" not in err and "Traceback" not in err


def test_a_dead_ranks_survivor_prints_our_error_not_the_backends(spec_file, tmp_path):
    run_dir = tmp_path / "dead"
    ranks = start_ranks(spec_file, run_dir, timeout="60")
    wait_until_training(ranks, run_dir)
    err = survivor_error(ranks, signal.SIGKILL)
    assert (
        "error: rank 0 of 2: rank 1 closed its connection (it crashed or was killed); stopping this rank too ("
        in err
    )
    assert "internal error" not in err and "Traceback" not in err


def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, "soon")
    with pytest.raises(
        UsageError, match="ARCHSPEC_DIST_TIMEOUT must be a number of seconds greater than 0, got 'soon'"
    ):
        dist_timeout()
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    assert dist_timeout() == 2.5
