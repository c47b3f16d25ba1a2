"""The loop's state is one typed object that checkpoints save and restore, and the run options are
read by the trainer but never changed (a derived copy carries the settled values)."""

from __future__ import annotations

import copy
from dataclasses import asdict

from archspec.pipeline import analyse, load_text
from archspec.training.loop_state import LoopState
from archspec.training.runner import Trainer, train
from archspec.training.session import resume_run
from tests.conftest import csv_column, latest_checkpoint_of, quiet

SPEC = """\
archspec: 1
name: moons
inputs:
  x: {shape: [2]}
nodes:
  h: {op: linear, out_features: 8}
  a: {op: tanh}
  out: {op: linear, out_features: 2}
outputs: {logits: out}
data:
  train: {dataset: moons, split: train, batch_size: 64, limit: 256}
  val: {dataset: moons, split: val, role: val, limit: 64}
losses:
  ce: {fn: cross_entropy, stream: train, pred: logits, target: label}
training:
  optimizer: {name: adam, lr: 0.01}
  epochs: 2
  max_steps: 6
  checkpoint_every: 2
"""

# A checkpoint's loop part as it was written before LoopState existed (no "micro" counter yet).
OLD_FORMAT = {
    "counters": {"step": 40, "epoch": 1, "epoch_step": 18, "bad_epochs": 2, "stopped": False},
    "best": 0.5,
    "positions": {"unlabelled": [3, 7]},
    "epoch_sums": {"loss": 4.5, "_count": 9.0},
}


def graph():
    return analyse(load_text(SPEC, name="moons.yaml"))


def test_a_loop_state_comes_back_equal_from_its_state_dict():
    state = LoopState(step=7, epoch=2, epoch_step=3, micro=14, positions={"u": (1, 2)}, best=0.25)
    state.add_step({"loss": 1.5, "loss_ce": 1.5})
    state.add_step({"loss": 0.5, "loss_ce": 0.5})
    back = LoopState()
    back.load_state_dict(copy.deepcopy(state.state_dict()))
    assert back == state
    assert back.epoch_means() == {"loss": 1.0, "loss_ce": 1.0}


def test_a_loop_state_saves_plain_values_that_a_weights_only_load_reads():
    saved = LoopState(positions={"u": (1, 2)}, best=0.25).state_dict()
    assert saved["positions"] == {"u": [1, 2]}

    def leaves(x):
        if isinstance(x, dict):
            return [leaf for v in x.values() for leaf in leaves(v)]
        return [leaf for v in x for leaf in leaves(v)] if isinstance(x, list) else [x]

    assert {type(v) for v in leaves(saved)} <= {int, float, bool, type(None)}


def test_a_checkpoint_written_before_the_loop_state_class_still_loads():
    state = LoopState()
    state.load_state_dict(copy.deepcopy(OLD_FORMAT))
    assert state == LoopState(
        step=40,
        epoch=1,
        epoch_step=18,
        micro=0,
        positions={"unlabelled": (3, 7)},
        best=0.5,
        bad_epochs=2,
        epoch_sums={"loss": 4.5},
        epoch_count=9,
    )
    again = state.state_dict()
    assert again == {**OLD_FORMAT, "counters": {**OLD_FORMAT["counters"], "micro": 0, "seconds": 0.0}}


def test_the_last_checkpoint_holds_the_loop_state_the_trainer_ended_with(tmp_path):
    trainer = Trainer(graph(), quiet(tmp_path / "run"))
    trainer.run()
    _, saved = latest_checkpoint_of(tmp_path / "run")
    restored = LoopState()
    restored.load_state_dict(saved)
    assert restored == trainer.loop
    assert (trainer.loop.step, trainer.loop.epoch) == (6, 1)


def test_a_run_honours_the_specs_max_steps_without_changing_the_options_it_was_given(tmp_path):
    options = quiet(tmp_path / "run")
    before = asdict(options)
    result = train(graph(), options)
    assert result.steps == 6  # training.max_steps, settled in the trainer's own copy
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("step-*"))[-1].startswith(
        "step-00000006"
    )
    assert asdict(options) == before


def test_resuming_does_not_change_the_options_it_was_given(tmp_path):
    train(graph(), quiet(tmp_path / "run", max_steps=2))
    options = quiet(tmp_path / "elsewhere")
    before = asdict(options)
    result = resume_run(tmp_path / "run", options)
    assert result.run_dir == tmp_path / "run" and result.steps == 6
    assert asdict(options) == before


def test_the_seconds_column_counts_the_training_time_before_a_resume_too(tmp_path):
    run_dir = tmp_path / "run"
    train(graph(), quiet(run_dir, max_steps=2))  # stops after its step-2 checkpoint, mid-epoch
    _, saved = latest_checkpoint_of(run_dir)
    before = saved["counters"]["seconds"]
    assert before > 0
    resume_run(run_dir, quiet(run_dir))
    first_epoch_seconds = csv_column(run_dir / "metrics.csv", "seconds")[0]
    assert first_epoch_seconds >= before
