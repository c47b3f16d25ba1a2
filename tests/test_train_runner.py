"""The training runner end to end on tiny problems: optimisers, parameter groups, schedules,
clipping, accumulation, early stopping, overrides, the run directory, the evaluate/predict
commands and the runner's located errors. Each test trains for at most a few hundred steps
of a 2-16-2 network on ``moons`` (a second or two)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from archspec.compiler.compile import compile_model
from archspec.errors import CheckpointError, SpecError
from archspec.pipeline import analyse, load_text
from archspec.training.optim import build_optimizer, build_schedule
from archspec.training.runner import RunResult, Trainer, train
from archspec.training.session import start_run
from tests.conftest import csv_column, invoke, latest_weights, quiet

MOONS = """\
archspec: 1
name: moons
inputs:
  x: {shape: [2]}
nodes:
  h: {op: linear, out_features: 16}
  a: {op: tanh}
  out: {op: linear, out_features: 2}
outputs: {logits: out}
parts: {body: [h], head: [out]}
data:
  train: {dataset: moons, split: train, batch_size: 32}
  val: {dataset: moons, split: val, role: val}
  test: {dataset: moons, split: test, role: test}
losses:
  ce: {fn: cross_entropy, stream: train, pred: logits, target: label}
training:
  optimizer: {name: adam, lr: 0.01}
  epochs: 2
"""
MOONS_TRAIN, MOONS_TEST, STEPS_PER_EPOCH = 700, 150, 22  # 700 / 32 rounded up


def graph_of(*overrides: str, text: str = MOONS):
    return analyse(load_text(text, name="moons.yaml", overrides=list(overrides)))


def run(tmp_path: Path, *overrides: str, **kw) -> RunResult:
    return train(graph_of(*overrides), quiet(tmp_path / "run", **kw))


def step_losses(run_dir: Path) -> list[float]:
    return csv_column(run_dir / "steps.csv", "loss")


def params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# -- optimisers ----------------------------------------------------------------------------------

OPTIMISERS = {
    "sgd": ("{name: sgd, lr: 0.1, momentum: 0.9, nesterov: true}", torch.optim.SGD),
    "adagrad": ("{name: adagrad, lr: 0.1}", torch.optim.Adagrad),
    "rmsprop": ("{name: rmsprop, lr: 0.01, alpha: 0.9}", torch.optim.RMSprop),
    "adadelta": ("{name: adadelta, lr: 1.0}", torch.optim.Adadelta),
    "adam": ("{name: adam, lr: 0.01, betas: [0.9, 0.99]}", torch.optim.Adam),
    "adamw": ("{name: adamw, lr: 0.01, weight_decay: 0.01}", torch.optim.AdamW),
    "adamax": ("{name: adamax, lr: 0.02}", torch.optim.Adamax),
}


@pytest.mark.parametrize("name", list(OPTIMISERS))
def test_every_optimiser_takes_steps_that_lower_the_loss(tmp_path, name):
    config, cls = OPTIMISERS[name]
    graph = graph_of(f"training.optimizer={config}", "training.epochs=3")
    trainer = Trainer(graph, quiet(tmp_path / "run"))
    assert type(trainer.optimizer) is cls
    if name == "sgd":
        assert (
            trainer.optimizer.param_groups[0]["momentum"] == 0.9
            and trainer.optimizer.param_groups[0]["nesterov"]
        )
    result = trainer.run()
    assert result.steps == 3 * STEPS_PER_EPOCH
    losses = step_losses(tmp_path / "run")
    first, last = np.mean(losses[:STEPS_PER_EPOCH]), np.mean(losses[-STEPS_PER_EPOCH:])
    assert last < 0.9 * first, f"{name}: mean loss {first:.4f} in epoch 1, {last:.4f} in epoch 3"
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_each_parameter_group_gets_its_own_learning_rate():
    graph = graph_of()
    model = compile_model(graph)
    config = {
        "name": "sgd",
        "lr": 0.1,
        "momentum": 0.5,
        "groups": [{"params": "body", "lr": 0.001}, {"params": "out.w*", "lr": 0.02, "momentum": 0.0}],
    }
    opt = build_optimizer(model, config, graph.spec.parts)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [({names[id(p)] for p in g["params"]}, g["lr"], g["momentum"]) for g in opt.param_groups]
    assert groups == [
        ({"h.weight", "h.bias"}, 0.001, 0.5),
        ({"out.weight"}, 0.02, 0.0),
        ({"out.bias"}, 0.1, 0.5),
    ]


def test_a_part_with_a_zero_learning_rate_stays_where_it_started(tmp_path):
    graph = graph_of(
        "training.optimizer={name: adam, lr: 0.01, groups: [{params: body, lr: 0.0}]}", "training.epochs=1"
    )
    trainer = Trainer(graph, quiet(tmp_path / "run"))
    before = params(trainer.model)
    trainer.run()
    after = params(trainer.model)
    assert torch.equal(before["h.weight"], after["h.weight"]) and torch.equal(
        before["h.bias"], after["h.bias"]
    )
    assert not torch.equal(before["out.weight"], after["out.weight"])


# -- schedules -----------------------------------------------------------------------------------


def lrs(config: dict, total: int, base: float = 1.0) -> list[float]:
    """The lr each of ``total`` optimiser steps uses under ``config``."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    schedule = build_schedule(opt, config, total)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    return out


def test_the_step_schedule_multiplies_the_lr_by_gamma_every_step_size_steps():
    assert lrs({"name": "step", "step_size": 2, "gamma": 0.5}, 6) == pytest.approx(
        [1, 1, 0.5, 0.5, 0.25, 0.25]
    )


def test_the_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    got = lrs({"name": "cosine", "warmup": 4}, 14, base=0.1)
    assert got[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert got[4:] == pytest.approx([0.1 * 0.5 * (1 + math.cos(math.pi * t / 10)) for t in range(10)])
    assert got[-1] < 0.003


def test_the_one_cycle_schedule_rises_to_max_lr_and_anneals_far_below_it():
    got = lrs({"name": "one_cycle", "max_lr": 0.5}, 100, base=0.01)
    assert got[0] == pytest.approx(0.5 / 25)  # OneCycleLR's div_factor
    assert max(got) == pytest.approx(0.5) and 25 <= got.index(max(got)) <= 35  # peak at 30 %
    assert got[-1] < 1e-4


def test_the_runner_steps_the_schedule_once_per_optimiser_step(tmp_path):
    result = run(
        tmp_path,
        f"training.schedule={{name: step, step_size: {STEPS_PER_EPOCH}, gamma: 0.1}}",
        "training.optimizer.lr=0.5",
    )
    assert [row["lr"] for row in result.history] == pytest.approx([0.05, 0.005])


def test_the_plateau_schedule_cuts_the_lr_when_the_monitored_metric_stalls(tmp_path):
    # lr 1e-6 cannot move val_accuracy: every epoch after the first is a stall, and with
    # patience 0 each stall halves the lr the next epoch trains with (a row shows its own lr)
    result = run(
        tmp_path,
        "training.schedule={name: plateau, factor: 0.5, patience: 0}",
        "training.optimizer={name: sgd, lr: 1.0e-6}",
        "training.epochs=4",
    )
    assert [row["val_accuracy"] for row in result.history] == [result.history[0]["val_accuracy"]] * 4
    assert [row["lr"] for row in result.history] == pytest.approx([1e-6, 1e-6, 5e-7, 2.5e-7], rel=1e-9, abs=0)


def test_the_plateau_schedule_follows_the_direction_of_the_monitored_metric(tmp_path):
    # accuracy is better when higher: a rising val_accuracy must not cut the lr
    trainer = Trainer(graph_of("training.schedule={name: plateau}"), quiet(tmp_path / "run"))
    assert trainer._monitor() == ("val_accuracy", "max")
    assert trainer.schedule.mode == "max"
    trainer = Trainer(
        graph_of("training.schedule={name: plateau}", "training.early_stopping={metric: val_loss}"),
        quiet(tmp_path / "run"),
    )
    assert trainer.schedule.mode == "min"


# -- clipping, accumulation, early stopping ------------------------------------------------------


def one_step(
    tmp_path: Path, name: str, *overrides: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Parameters before and after exactly one optimiser step."""
    trainer = Trainer(graph_of(*overrides), quiet(tmp_path / name, max_steps=1))
    before = params(trainer.model)
    result = trainer.run()
    assert result.steps == 1
    return before, params(trainer.model)


def test_gradient_clipping_bounds_the_norm_of_an_sgd_step(tmp_path):
    before, after = one_step(
        tmp_path, "clip", "training.optimizer={name: sgd, lr: 1.0}", "training.grad_clip=0.001"
    )
    norm = torch.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in before))
    assert float(norm) == pytest.approx(0.001, rel=1e-4)  # lr 1 x the clipped gradient norm
    before, after = one_step(tmp_path, "free", "training.optimizer={name: sgd, lr: 1.0}")
    assert float(torch.sqrt(sum(((after[k] - before[k]) ** 2).sum() for k in before))) > 0.01


def test_accumulating_two_batches_of_32_is_one_step_on_a_batch_of_64(tmp_path):
    sgd = "training.optimizer={name: sgd, lr: 0.5}"
    start, big = one_step(tmp_path, "big", sgd, "data.train.batch_size=64")
    start2, accumulated = one_step(tmp_path, "acc", sgd, "data.train.batch_size=32", "training.accumulate=2")
    for k in start:
        assert torch.equal(start[k], start2[k])
        assert not torch.equal(start[k], big[k])
        torch.testing.assert_close(accumulated[k], big[k], rtol=1e-5, atol=1e-7)


def test_early_stopping_stops_when_the_metric_does_not_improve(tmp_path):
    # a zero lr (allowed per group; the optimiser's own lr must be positive) freezes the metric
    frozen = 'training.optimizer={name: sgd, lr: 0.1, groups: [{params: "*", lr: 0}]}'
    result = run(
        tmp_path, frozen, "training.epochs=10", "training.early_stopping={metric: val_accuracy, patience: 1}"
    )
    assert result.stopped_early
    assert result.epochs == 2 and len(result.history) == 2 and result.steps == 2 * STEPS_PER_EPOCH


# -- runs on disk, overrides and the CLI ---------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, RunResult]:
    """A run started as the CLI starts one: from a file, with --set overrides."""
    root = tmp_path_factory.mktemp("session")
    spec = root / "moons.yaml"
    spec.write_text(MOONS)
    result = start_run(str(spec), ["training.epochs=3", "training.optimizer.lr=0.05"], quiet(root / "run"))
    return root / "run", result


def test_set_overrides_reach_the_run_and_are_recorded(finished_run):
    run_dir, result = finished_run
    assert result.epochs == 3 and result.steps == 3 * STEPS_PER_EPOCH
    assert [row["lr"] for row in result.history] == [0.05] * 3
    assert json.loads((run_dir / "run.json").read_text())["overrides"] == [
        "training.epochs=3",
        "training.optimizer.lr=0.05",
    ]
    assert "epochs: 3" in (run_dir / "resolved.yaml").read_text()
    assert (run_dir / "spec.yaml").read_text() == MOONS  # the text as written; run.json holds the rest


def test_a_run_directory_holds_the_spec_logs_curves_and_checkpoints(finished_run):
    run_dir, _ = finished_run
    for name in (
        "spec.yaml",
        "run.json",
        "metrics.csv",
        "steps.csv",
        "curves.png",
        "checkpoints/latest",
        "checkpoints/best",
    ):
        assert (run_dir / name).is_file(), name
    for pointer in ("latest", "best"):
        assert (
            run_dir
            / "checkpoints"
            / (run_dir / "checkpoints" / pointer).read_text().strip()
            / "model.safetensors"
        ).is_file()
    assert (run_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"step", "lr", "train_loss", "val_accuracy"} <= set(rows[0])
    assert len(step_losses(run_dir)) == 3 * STEPS_PER_EPOCH


def test_archspec_evaluate_reports_the_test_and_val_metrics(finished_run):
    run_dir, run = finished_run
    result = invoke("evaluate", str(run_dir), "--format", "json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert set(metrics) == {"test_accuracy", "val_accuracy", "test_loss", "val_loss"}
    assert 0.75 < metrics["test_accuracy"] <= 1.0 and 0.75 < metrics["val_accuracy"] <= 1.0
    assert 0 < metrics["val_loss"] < 0.7  # well below ln 2, chance for two classes
    # evaluate scores the best checkpoint, the one with the best val_accuracy the run logged
    assert metrics["val_accuracy"] == pytest.approx(max(row["val_accuracy"] for row in run.history))


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_archspec_predict_writes_one_row_of_outputs_per_test_sample(
    finished_run, suffix, tmp_path, monkeypatch
):
    run_dir, _ = finished_run
    monkeypatch.chdir(tmp_path)
    result = invoke("predict", str(run_dir), "-o", f"out{suffix}")
    assert result.exit_code == 0, result.output
    assert result.output == f"wrote out{suffix}\n"
    if suffix == ".npz":
        with np.load("out.npz") as arrays:
            assert list(arrays) == ["logits"] and arrays["logits"].shape == (MOONS_TEST, 2)
    else:
        lines = Path("out.csv").read_text().splitlines()
        assert lines[0] == "logits_0,logits_1" and len(lines) == 1 + MOONS_TEST
        assert np.loadtxt("out.csv", delimiter=",", skiprows=1).shape == (MOONS_TEST, 2)


# -- located errors ------------------------------------------------------------------------------


def test_a_stream_field_that_the_source_lacks_is_a_located_error(tmp_path):
    text = MOONS.replace(
        "{dataset: moons, split: train, batch_size: 32}",
        "{dataset: moons, split: train, batch_size: 32, fields: {x: xy, label: label}}",
    )
    with pytest.raises(SpecError) as info:
        Trainer(graph_of(text=text), quiet(tmp_path / "run"))
    assert (
        str(info.value)
        == "moons.yaml:12:69: data.train.fields.x: stream 'train' has no field 'xy' (hint: did you mean 'x'?)"
    )


def test_a_loss_reading_an_unknown_output_is_a_located_error(tmp_path):
    text = MOONS.replace("pred: logits", "pred: logit")
    with pytest.raises(SpecError) as info:
        Trainer(graph_of(text=text), quiet(tmp_path / "run"))
    assert (
        str(info.value)
        == "moons.yaml:16:48: losses.ce.pred: loss 'ce' reads unknown output 'logit' (hint: did you mean 'logits'?)"
    )


def test_epoch_metrics_are_mirrored_to_tensorboard_when_it_is_installed(tmp_path):
    pytest.importorskip("tensorboard")
    spec = (
        "archspec: 1\ninputs: {x: {shape: [2]}}\nnodes:\n  fc: {op: linear, out_features: 2}\n"
        "data:\n  train: {dataset: moons}\n  val: {dataset: moons, split: val, role: val}\n"
        "losses:\n  ce: {fn: cross_entropy, target: label}\ntraining: {epochs: 2}\n"
    )
    train(analyse(load_text(spec)), quiet(tmp_path / "run"))
    (events,) = (tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*")
    assert events.stat().st_size > 0


AE_SPEC = """\
archspec: 1
inputs: {x: {shape: [2]}}
parts: {encoder: [enc], decoder: [dec]}
nodes:
  enc: {op: linear, out_features: 8}
  act: {op: tanh}
  dec: {op: linear, out_features: 2}
data:
  train: {dataset: moons}
losses:
  rec: {fn: mse, pred: output, target: x}
training: {epochs: 1}
"""

CLS_SPEC = """\
archspec: 1
inputs: {x: {shape: [2]}}
parts: {encoder: [feat]}
nodes:
  feat: {op: linear, out_features: WIDTH}
  act: {op: tanh}
  head: {op: linear, out_features: 2}
data:
  train: {dataset: moons}
losses:
  ce: {fn: cross_entropy, pred: output, target: label}
training: {epochs: 1, init_from: {encoder: {run: RUN, part: encoder}}, freeze: [encoder]}
"""


def test_a_part_initialised_from_an_earlier_run_is_copied_and_frozen_or_refused_when_shapes_differ(tmp_path):
    train(analyse(load_text(AE_SPEC)), quiet(tmp_path / "ae"))
    ae_weights = latest_weights(tmp_path / "ae")
    good = CLS_SPEC.replace("WIDTH", "8").replace("RUN", str(tmp_path / "ae"))
    train(analyse(load_text(good)), quiet(tmp_path / "cls"))
    cls_weights = latest_weights(tmp_path / "cls")
    for name in ("weight", "bias"):  # copied, then frozen through a whole epoch
        assert torch.equal(cls_weights[f"feat.{name}"], ae_weights[f"enc.{name}"]), name
    bad = CLS_SPEC.replace("WIDTH", "16").replace("RUN", str(tmp_path / "ae"))
    with pytest.raises(
        CheckpointError,
        match=r"'feat\.(weight|bias)' has shape \[8(, 2)?\] in the saved weights but \[16(, 2)?\] in this spec",
    ):
        train(analyse(load_text(bad)), quiet(tmp_path / "cls2"))


DENOISE = """\
archspec: 1
inputs: {image: {shape: [1, 8, 8]}}
nodes:
  flat: {op: flatten}
  z: {op: linear, out_features: 16}
  out: {op: linear, out_features: 64}
  back: {op: reshape, shape: [1, 8, 8]}
data:
  train: {dataset: digits, fields: {image: image}, augment: [{hflip: {p: 1.0}}, {noise: 0.5}]}
losses:
  rec: {fn: mse, pred: output, target: image}
training: {epochs: 1}
"""


def test_a_denoising_target_gets_the_inputs_flips_but_not_its_noise(tmp_path):
    import archspec
    from archspec.pipeline import load_text
    from archspec.training.runner import Trainer

    trainer = Trainer(archspec.analyse(load_text(DENOISE)), quiet(tmp_path / "run"))
    raw = next(trainer.streams["train"].batches(0))[1]
    inputs, targets = trainer._prepare("train", raw)
    flipped = raw["image"].flip(-1)
    assert torch.equal(targets["image"], flipped)  # same geometric transform, no noise
    noise = inputs["image"] - flipped
    assert 0.4 < float(noise.std()) < 0.6  # the model sees the noisy version
    no_noise = DENOISE.replace(", {noise: 0.5}", "")
    plain = Trainer(archspec.analyse(load_text(no_noise)), quiet(tmp_path / "r2"))
    inputs, targets = plain._prepare("train", raw)
    assert targets is inputs and torch.equal(inputs["image"], flipped)
