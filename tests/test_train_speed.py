"""The runner's hot path and cadences, counted rather than timed: host syncs per step, fsyncs
per run, curves.png redraws, spec fingerprints, permutations of an auxiliary stream. No test
here reads a clock; benchmarks/runner_speed.py measures the time these counts stand for."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from archspec.errors import CheckpointError, TrainingError
from archspec.pipeline import analyse, load
from archspec.training import plots, resume
from archspec.training import runner as runner_mod
from archspec.training.checkpoint import latest_checkpoint, load_checkpoint
from archspec.training.runner import Trainer
from archspec.training.streams import Stream
from tests.conftest import quiet

SPEC = """\
archspec: 1
name: speed
inputs:
  x: {shape: [4]}
nodes:
  h: {op: linear, out_features: 8}
  r: {op: relu}
  a: {op: linear, out_features: 3}
outputs: {logits: a}
data:
  t: {npz: data.npz, split: all, batch_size: 8, shuffle: false}
  u: {npz: more.npz, split: all, batch_size: 8}
  v: {npz: val.npz, split: all, batch_size: 16, role: val}
losses:
  LOSSES
training: {optimizer: {name: sgd, lr: LR}, epochs: EPOCHS, metrics: [accuracy]TRAINING}
"""
CE = "ce: {fn: cross_entropy, stream: t, pred: logits, target: y}"
AUX = CE + "\n  aux: {fn: mse, stream: u, pred: logits, target: z, weight: 0.5}"


def _project(
    tmp_path: Path, *, losses: str = CE, lr: str = "0.1", epochs: int = 3, training: str = "", nan_row=None
) -> Path:
    rng = np.random.RandomState(0)
    x = rng.randn(32, 4).astype("float32")
    if nan_row is not None:
        x[nan_row, 2] = np.nan
    np.savez(tmp_path / "data.npz", x=x, y=np.arange(32) % 3)
    np.savez(tmp_path / "val.npz", x=x, y=np.arange(32) % 3)  # the same rows, as another source
    np.savez(
        tmp_path / "more.npz", x=rng.randn(100, 4).astype("float32"), z=rng.randn(100, 3).astype("float32")
    )
    text = SPEC.replace("LOSSES", losses).replace("LR", lr).replace("EPOCHS", str(epochs))
    (tmp_path / "spec.yaml").write_text(text.replace("TRAINING", training))
    return tmp_path / "spec.yaml"


def _trainer(spec: Path, run: str = "run", **kw) -> Trainer:
    return Trainer(analyse(load(spec)), quiet(spec.parent / run, **kw))


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    def wrap(self, fn):
        def counted(*args, **kwargs):
            self.calls += 1
            return fn(*args, **kwargs)

        return counted


@pytest.fixture
def syncs(monkeypatch):
    """Counts every way a tensor's value reaches Python (each is a host sync on a GPU)."""
    counts = {name: _Counter() for name in ("item", "tolist", "__bool__", "__float__")}
    for name, counter in counts.items():
        monkeypatch.setattr(torch.Tensor, name, counter.wrap(getattr(torch.Tensor, name)))
    return counts


def test_an_epoch_reads_its_losses_back_in_one_host_sync(tmp_path, monkeypatch, syncs):
    monkeypatch.setattr(runner_mod, "SYNC_SECONDS", float("inf"))
    trainer = _trainer(_project(tmp_path), checkpoint_seconds=1e9)
    steps = trainer.streams["t"].steps_per_epoch()
    means = trainer._train_epoch(0, trainer.streams["t"], tmp_path / "run" / "checkpoints")
    assert steps == 4 and trainer.loop.step == steps
    assert {k: c.calls for k, c in syncs.items()} == {"item": 0, "tolist": 1, "__bool__": 0, "__float__": 0}
    assert trainer.host_syncs == 1
    assert set(means) == {"loss", "loss_ce"} and means["loss"] == means["loss_ce"]


def test_a_unit_weight_term_is_the_total_itself_and_other_weights_multiply(tmp_path):
    trainer = _trainer(_project(tmp_path, losses=AUX))
    batches = {name: trainer.streams[name].batch(0, 0) for name in ("t", "u")}
    outputs = {name: trainer.forward(b) for name, b in batches.items()}
    total, terms = trainer.objective.compute(trainer.model, outputs, batches, 0, check=False)
    assert torch.equal(total, terms["ce"] + terms["aux"] * 0.5)
    single = _trainer(_project(tmp_path / "..", losses=CE), run="single")
    total, terms = single.objective.compute(single.model, outputs, batches, 0, check=False)
    assert total is terms["ce"]


def test_a_nan_found_at_a_later_sync_names_its_step_and_never_reaches_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(runner_mod, "SYNC_SECONDS", float("inf"))  # one sync per epoch
    spec = _project(tmp_path, nan_row=20)  # the third batch of the first epoch (step 2)
    trainer = _trainer(spec, checkpoint_seconds=1e9)
    with pytest.raises(TrainingError) as info:
        trainer.run()
    assert str(info.value).startswith("loss term 'ce' (cross_entropy) is nan at step 2; stopping")
    assert trainer.loop.step > 3  # the loop ran on to its sync point (the epoch's end) ...
    root = tmp_path / "run" / "checkpoints"
    assert latest_checkpoint(root) is None  # ... which checked the losses before anything was written
    steps = tmp_path / "run" / "steps.csv"
    assert not steps.exists() or "nan" not in steps.read_text()


def test_a_run_with_the_default_cadence_fsyncs_its_last_state_once(tmp_path, monkeypatch):
    fsyncs = _Counter()
    monkeypatch.setattr(os, "fsync", fsyncs.wrap(os.fsync))
    saves = _Counter()
    monkeypatch.setattr(runner_mod, "save_checkpoint", saves.wrap(runner_mod.save_checkpoint))
    trainer = _trainer(_project(tmp_path, epochs=6))
    assert trainer.opt.checkpoint_seconds == runner_mod.CHECKPOINT_SECONDS == 60.0
    result = trainer.run()
    assert result.epochs == 6 and len(result.history) == 6
    best = max(range(6), key=lambda i: result.history[i]["v_accuracy"])  # first of the best
    written = 1 if best == 5 else 2  # the last state, and the best one kept in memory since
    assert saves.calls == written
    # spec.yaml and resolved.yaml (one each, and their directory once); per checkpoint its 2
    # files, their directory and checkpoints/, then each pointer it moves and checkpoints/ once
    pointers = 2 if best == 5 else 1 + 1  # latest and best, on one checkpoint or on two
    assert fsyncs.calls == 3 + 4 * written + pointers + written
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 7


def test_the_best_kept_in_memory_is_the_best_an_every_epoch_run_writes(tmp_path):
    # early stopping monitors the training loss, highest first: the first epoch is the best
    spec = _project(tmp_path, epochs=4, training=", early_stopping: {metric: train_loss, mode: max}")
    lazy = _trainer(spec, run="lazy", checkpoint_seconds=1e9)
    lazy.run()
    eager = _trainer(spec, run="eager", checkpoint_seconds=0)
    eager.run()
    for run in ("lazy", "eager"):
        assert latest_checkpoint(tmp_path / run / "checkpoints", "best").name == "step-00000004-000000"
    a = load_checkpoint(latest_checkpoint(tmp_path / "lazy" / "checkpoints", "best"))[0]
    b = load_checkpoint(latest_checkpoint(tmp_path / "eager" / "checkpoints", "best"))[0]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    a = load_checkpoint(latest_checkpoint(tmp_path / "lazy" / "checkpoints"))[0]
    b = load_checkpoint(latest_checkpoint(tmp_path / "eager" / "checkpoints"))[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_curves_are_drawn_once_at_the_end_of_a_short_run(tmp_path, monkeypatch):
    draws = _Counter()
    monkeypatch.setattr(plots, "plot_history", draws.wrap(lambda *a, **k: None))
    _trainer(_project(tmp_path, epochs=5)).run()
    assert draws.calls == 1


def test_curves_are_redrawn_during_a_run_only_after_plot_seconds(tmp_path, monkeypatch):
    draws = _Counter()
    monkeypatch.setattr(plots, "plot_history", draws.wrap(lambda *a, **k: None))
    monkeypatch.setattr(runner_mod, "PLOT_SECONDS", 0.0)
    _trainer(_project(tmp_path, epochs=5)).run()
    assert draws.calls == 5 + 1  # after every epoch, and at the end


def test_no_plots_draws_no_curves_and_keeps_the_numbers(tmp_path, monkeypatch):
    draws = _Counter()
    monkeypatch.setattr(plots, "plot_history", draws.wrap(lambda *a, **k: None))
    monkeypatch.setattr(runner_mod, "PLOT_SECONDS", 0.0)
    _trainer(_project(tmp_path, epochs=3), plots=False).run()
    assert draws.calls == 0
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 1 + 3


def test_the_step_loop_calls_the_loss_directly_and_gets_the_checked_losss_values(tmp_path, monkeypatch):
    """The bound torch call (``losses.fast_loss``) replaces the checked one in every training
    step and validation batch, and the weights it trains and the validation losses it reports
    are bitwise those of the checked one."""
    from archspec.training import losses

    calls = {}
    for run in ("fast", "checked"):
        counter = _Counter()
        monkeypatch.setitem(losses.LOSSES, "cross_entropy", counter.wrap(losses.LOSSES["cross_entropy"]))
        trainer = _trainer(_project(tmp_path, losses=AUX), run)
        if run == "checked":
            trainer.objective.fast = {}  # every term through LOSSES[...] with its checks
            trainer._step = trainer._train_step  # (the lean step bound the fast calls when built)
        history = trainer.run().history
        calls[run] = (counter.calls, trainer.loop.step, trainer.model.state_dict(), history)
        monkeypatch.undo()
    (fast_calls, steps, wa, ha), (checked_calls, steps_b, wb, hb) = calls["fast"], calls["checked"]
    assert steps == steps_b > 0
    assert fast_calls == 0
    assert checked_calls == steps + 3  # and one validation batch in each of the 3 epochs
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r["v_loss"] for r in ha] == [r["v_loss"] for r in hb]


def test_the_spec_fingerprint_is_computed_once_per_run(tmp_path, monkeypatch):
    dumps, saves = _Counter(), _Counter()
    monkeypatch.setattr(runner_mod, "resolved_fingerprint", dumps.wrap(resume.resolved_fingerprint))
    monkeypatch.setattr(runner_mod, "save_checkpoint", saves.wrap(runner_mod.save_checkpoint))
    _trainer(_project(tmp_path, epochs=3), checkpoint_seconds=0).run()
    assert saves.calls == 12  # checkpoint_seconds: 0 saves after every one of the 12 steps
    assert dumps.calls == 1


def test_a_run_fingerprinted_by_the_pure_python_emitter_still_resumes(tmp_path, monkeypatch):
    """The fingerprint's YAML goes through libyaml's emitter where PyYAML has it (4x faster).
    The two emitters write some data differently (an empty mapping key: ``? ''`` against
    ``'':``), and a run started by an archspec that used the pure-Python one, or on a machine
    whose PyYAML lacks libyaml, must still resume. Here the resuming side's emitter is one that
    writes every spec differently (an explicit ``---``), so only the fallback can match."""
    from archspec.lang import loader

    class Different(yaml.SafeDumper):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "explicit_start": True})

    spec = _project(tmp_path, epochs=2)
    with monkeypatch.context() as m:  # the first epoch, fingerprinted by the pure-Python emitter
        m.setattr(loader, "_DUMPER", yaml.SafeDumper)
        _trainer(spec, max_steps=4).run()
    monkeypatch.setattr(loader, "_DUMPER", Different)
    data = _trainer(spec).spec.doc.data
    assert resume.dumps(data) != resume.dumps(data, pure=True)
    resumed = _trainer(spec, resume=True)
    resumed.run()
    assert resumed.loop.epoch == 2
    spec.write_text(spec.read_text().replace("lr: 0.1", "lr: 0.2"))
    with pytest.raises(CheckpointError, match="was trained from another spec"):
        _trainer(spec, resume=True).run()


def test_an_auxiliary_stream_is_permuted_once_per_pass_not_once_per_step(tmp_path, monkeypatch):
    draws = _Counter()
    monkeypatch.setattr(Stream, "_draw_order", draws.wrap(Stream._draw_order))
    trainer = _trainer(_project(tmp_path, losses=AUX, epochs=4), checkpoint_seconds=1e9)
    trainer.run()
    primary, aux = trainer.streams["t"], trainer.streams["u"]
    steps = 4 * primary.steps_per_epoch()  # 16 steps read 16 of u's 13 batches a pass: 2 passes
    assert -(-steps // aux.steps_per_epoch()) == 2
    assert draws.calls == 4 + 2  # t: one per epoch; u: one per pass (evaluation reads v in order)


def test_a_run_without_test_streams_reads_no_checkpoint_back_at_its_end(tmp_path, monkeypatch):
    from archspec.training import checkpoint

    loads = _Counter()
    monkeypatch.setattr(checkpoint, "load_checkpoint", loads.wrap(checkpoint.load_checkpoint))
    result = _trainer(_project(tmp_path, epochs=2)).run()
    assert loads.calls == 0
    assert result.checkpoint is not None and result.checkpoint.name.startswith("step-")
    assert result.checkpoint_rule.startswith("best by ")


SCHEDULED_ONE = "ce: {fn: cross_entropy, stream: t, pred: logits, target: y, weight: '${min(1, step / 4)}'}"
SCHEDULED_AUX = (
    CE + "\n  aux: {fn: mse, stream: u, pred: logits, target: z, weight: '${0.5 * min(1, step / 6)}'}"
)
TWO_TERMS_ONE_STREAM = (
    "ce: {fn: cross_entropy, stream: t, pred: logits, target: y}\n"
    "  fit: {fn: mse, stream: t, pred: logits, target: z, weight: 0.25}"
)


@pytest.mark.parametrize(
    ("losses", "training"),
    [
        (CE, ""),
        (TWO_TERMS_ONE_STREAM, ""),
        (CE, ", schedule: {name: cosine, warmup: 3}"),
        (AUX, ""),
        (AUX, "TWO_INPUTS"),
        (SCHEDULED_ONE, ""),
        (SCHEDULED_AUX, ""),
    ],
    ids=[
        "one term",
        "two weighted terms",
        "a schedule",
        "two streams (semi-supervised)",
        "two inputs",
        "a scheduled weight",
        "a scheduled weight on a second stream",
    ],
)
def test_the_lean_step_trains_bitwise_what_the_general_step_trains(tmp_path, losses, training):
    def project(where: Path) -> Path:
        where.mkdir()
        spec = _project(where, losses=losses, training="" if training == "TWO_INPUTS" else training, epochs=3)
        rng = np.random.RandomState(1)
        z = rng.randn(32, 3).astype("float32")
        np.savez(where / "data.npz", **{**np.load(where / "data.npz"), "z": z})
        if training == "TWO_INPUTS":  # x and w, each through its own layer, added
            for name in ("data", "val", "more"):
                arrays = dict(np.load(where / f"{name}.npz"))
                arrays["w"] = rng.randn(len(arrays["x"]), 2).astype("float32")
                np.savez(where / f"{name}.npz", **arrays)
            text = spec.read_text().replace("  x: {shape: [4]}", "  x: {shape: [4]}\n  w: {shape: [2]}")
            text = text.replace(
                "  h: {op: linear, out_features: 8}",
                "  hx: {op: linear, out_features: 8, in: x}\n"
                "  hw: {op: linear, out_features: 8, in: w}\n"
                "  h: {op: add, in: [hx, hw]}",
            )
            spec.write_text(text)
        return spec

    lean = _trainer(project(tmp_path / "a"))
    general = _trainer(project(tmp_path / "b"))
    assert lean._step != lean._train_step  # the plain case takes the lean step
    general._step = general._train_step
    ha, hb = lean.run().history, general.run().history
    wa, wb = lean.model.state_dict(), general.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    untimed = [[{k: v for k, v in row.items() if k != "seconds"} for row in h] for h in (ha, hb)]
    assert untimed[0] == untimed[1]  # metrics.csv's numbers, train_weighted_<term> included
    assert (tmp_path / "a" / "run" / "steps.csv").read_text() == (
        tmp_path / "b" / "run" / "steps.csv"
    ).read_text()


def test_a_scheduled_weight_is_worked_out_once_per_step(tmp_path, monkeypatch):
    """The step that uses the weight keeps it with the step's losses, so the read-back's
    ``train_weighted_<term>`` columns do not evaluate the schedule a second time."""
    from archspec.training.objective import LossTerm

    evaluations = _Counter()
    real = LossTerm.weight_at

    def counted(term, *args):
        if isinstance(term.weight, str):
            evaluations.calls += 1
        return real(term, *args)

    monkeypatch.setattr(LossTerm, "weight_at", counted)
    trainer = _trainer(_project(tmp_path, losses=SCHEDULED_AUX, epochs=3))
    result = trainer.run()
    steps = trainer.loop.step
    assert steps == 12 and evaluations.calls == steps  # (v has no z: its loss is ce's alone)
    rows = result.history
    assert all(abs(r["train_weighted_ce"] + r["train_weighted_aux"] - r["train_loss"]) < 1e-5 for r in rows)


def test_a_semi_supervised_run_stopped_mid_epoch_resumes_to_the_same_weights_and_logs(tmp_path):
    """The lean step with a second stream and a scheduled weight: the unlabelled stream's
    position and the schedule come back from the checkpoint exactly."""
    spec = _project(tmp_path, losses=SCHEDULED_AUX, epochs=3)
    whole = _trainer(spec, "whole")
    assert whole._step != whole._train_step
    whole.run()
    first = _trainer(spec, "split", max_steps=7)
    first.run()
    assert (first.loop.step, first.loop.epoch_step) == (7, 3)  # 7 of 12 steps: mid-epoch 2
    resumed = _trainer(spec, "split", resume=True)
    resumed.run()
    wa, wb = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (tmp_path / "whole" / "steps.csv").read_text() == (tmp_path / "split" / "steps.csv").read_text()


@pytest.mark.parametrize(
    ("losses", "training"),
    [
        (CE, ", grad_clip: 1.0"),
        (CE, ", accumulate: 2"),
        (CE + "\n  decay: {fn: l2, params: '*', weight: 0.001}", ""),
    ],
    ids=["clipping", "accumulation", "a penalty"],
)
def test_anything_but_the_plain_case_takes_the_general_step(tmp_path, losses, training):
    trainer = _trainer(_project(tmp_path, losses=losses, training=training))
    assert trainer._step == trainer._train_step
