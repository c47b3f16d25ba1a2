"""Class-index targets are range-checked once, up front, on the host copy of the data; on an
accelerator the loss itself then only asserts on the device, so the step loop never reads a
value back for this check. Counted, not timed (the approach of test_train_speed.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from archspec.errors import DataError
from archspec.pipeline import analyse, load
from archspec.training import losses
from archspec.training import runner as runner_mod
from archspec.training.runner import Trainer
from tests.conftest import quiet

SPEC = """\
archspec: 1
name: labels
inputs:
  x: {shape: [4]}
nodes:
  a: {op: linear, out_features: 3}
outputs: {logits: a}
data:
  t: {npz: data.npz, split: all, batch_size: 8, shuffle: false}
  v: {npz: val.npz, split: all, batch_size: 16, role: val}
losses:
  ce: {fn: cross_entropy, stream: t, pred: logits, target: y}
training: {optimizer: {name: sgd, lr: 0.1}, epochs: 1}
"""


def _project(tmp_path: Path, *, bad_train: int | None = None, bad_val: int | None = None) -> Path:
    x = np.random.RandomState(0).randn(32, 4).astype("float32")
    y, yv = np.arange(32) % 3, np.arange(32) % 3
    if bad_train is not None:
        y[21] = bad_train
    if bad_val is not None:
        yv[5] = bad_val
    np.savez(tmp_path / "data.npz", x=x, y=y)
    np.savez(tmp_path / "val.npz", x=x, y=yv)
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path / "spec.yaml"


def _trainer(spec: Path) -> Trainer:
    return Trainer(analyse(load(spec)), quiet(spec.parent / "run", checkpoint_seconds=1e9))


def test_an_out_of_range_label_is_refused_before_the_first_step_with_the_losses_message(tmp_path):
    spec = _project(tmp_path, bad_train=3)
    with pytest.raises(DataError) as info:
        _trainer(spec)
    assert str(info.value) == (
        f"{spec}:12:60: losses.ce.target: loss term 'ce' on stream 't', target 'y': "
        "cross_entropy target holds class 3 but pred has 3 classes (0..2) "
        "(hint: check which field data.t gives as 'y', or choose a loss that fits it)"
    )


def test_a_bad_label_in_a_validation_stream_names_that_stream(tmp_path):
    spec = _project(tmp_path, bad_val=-1)
    with pytest.raises(DataError) as info:
        _trainer(spec)
    assert "loss term 'ce' on stream 'v', target 'y': cross_entropy target holds class -1" in str(info.value)


def test_on_an_accelerator_the_class_range_check_reads_nothing_back_per_step(tmp_path, monkeypatch):
    """The loss takes its accelerator path (device-side asserts) on CPU tensors here; every way a
    value reaches Python is counted: one read per epoch, the loop's own loss sync, and no more."""
    monkeypatch.setattr(losses, "_checked_on_host", lambda target: False)
    monkeypatch.setattr(runner_mod, "SYNC_SECONDS", float("inf"))
    trainer = _trainer(_project(tmp_path))
    calls = dict.fromkeys(("item", "tolist", "__bool__", "__float__", "__int__", "__index__"), 0)

    def counted(name):
        original = getattr(torch.Tensor, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        return wrapper

    for name in calls:
        monkeypatch.setattr(torch.Tensor, name, counted(name))
    trainer._train_epoch(0, trainer.streams["t"], tmp_path / "run" / "checkpoints")
    assert trainer.loop.step == 4
    assert calls == {"item": 0, "tolist": 1, "__bool__": 0, "__float__": 0, "__int__": 0, "__index__": 0}


def test_the_device_side_assert_still_refuses_a_label_the_up_front_check_never_saw(monkeypatch):
    monkeypatch.setattr(losses, "_checked_on_host", lambda target: False)
    with pytest.raises(RuntimeError, match=r"cross_entropy target holds a class outside 0\.\.9"):
        losses.LOSSES["cross_entropy"](torch.zeros(4, 10), torch.tensor([0, 1, 10, 2]), {})
    ignored = losses.LOSSES["cross_entropy"](torch.zeros(4, 10), torch.tensor([0, -100, 2, 3]), {})
    assert torch.isclose(ignored, torch.log(torch.tensor(10.0)))
