"""Every example trains on bundled or generated data and reaches the figure docs/examples.md quotes.

Each test trains a short form of an example (fewer epochs, as ``--set training.epochs=N``)
through ``start_run``, the path ``archspec train`` takes, and scores the run's best checkpoint as
``archspec evaluate`` does. Where an example encodes prior knowledge, the test also trains the
model without it (one branch alone, lambda = 0, no regularisers, no RBF features) and prints both
figures; run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from archspec.data import load_dataset
from archspec.graph.summary import summarise
from archspec.pipeline import analyse, load
from archspec.training.runner import RunResult
from archspec.training.session import evaluate_run, load_run, start_run
from tests.conftest import EXAMPLES, ROOT, invoke, quiet

EX = ROOT / "examples"
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/archspec.schema.json"


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """These models are tiny: one intra-op thread is as fast on idle cores and several times
    faster on cores shared with other jobs (two threads then spin against each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(run: Path, spec: Path | str, *overrides: str) -> tuple[RunResult, dict[str, float]]:
    """Train ``spec`` into ``run`` and evaluate its best checkpoint on the test and val streams."""
    start = time.perf_counter()
    result = start_run(str(spec), list(overrides), quiet(run))
    scores = evaluate_run(run, roles=("test", "val"))
    print(f"{Path(spec).name} {' '.join(overrides)}: {_fmt(scores)} ({time.perf_counter() - start:.1f} s)")
    return result, scores


def _fmt(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in scores.items())


def _spec_file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _weights(run: Path, prefix: str, which: str = "best") -> dict[str, torch.Tensor]:
    _, model = load_run(run, which=which)
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}


# --- every example -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_renders_through_the_cli(path, tmp_path):
    out = tmp_path / "x.svg"
    result = invoke("render", str(path), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().startswith(("<svg", "<?xml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_names_its_schema_and_the_prior_knowledge_it_encodes(path):
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert first == SCHEMA_LINE
    assert second.startswith("# ") and len(second) > 20


# --- linear models -----------------------------------------------------------------------------


def test_linear_softmax_trains_and_evaluates_through_the_cli(tmp_path):
    run = tmp_path / "run"
    spec = str(EX / "linear_softmax.yaml")
    trained = invoke("train", spec, "--run-dir", str(run), "--no-progress", "--set", "training.epochs=10")
    assert trained.exit_code == 0, trained.output
    evaluated = invoke("evaluate", str(run), "--format", "json")
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.stdout)
    print(f"linear_softmax.yaml (10 epochs): {_fmt(scores)}")
    assert scores["test_accuracy"] >= 0.93


@pytest.mark.parametrize("ridge", ["1.0e-3", "0"])
def test_the_closed_form_linear_model_reaches_90_percent(tmp_path, ridge):
    # ridge 0 guards the singular Gram matrix: four digit pixels are 0 in every image
    result, scores = _train(tmp_path / "run", EX / "linear_closed_form.yaml", f"training.ridge={ridge}")
    assert result.steps == 0  # solved, not descended
    assert scores["test_accuracy"] >= 0.90


PLAIN_LINEAR_SPIRALS = """\
    archspec: 1
    name: linear-spirals
    inputs:
      x: {shape: [2]}
    nodes:
      logits: {op: linear, out_features: 2}
    data:
      train: {dataset: spirals, split: train, batch_size: 64}
      test:  {dataset: spirals, split: test, role: test}
    losses:
      nll: {fn: cross_entropy, stream: train, target: label}
    training: {optimizer: {name: adam, lr: 0.05}, epochs: 10, metrics: [accuracy]}
"""


def test_rbf_features_let_a_linear_model_separate_spirals(tmp_path):
    _, rbf = _train(tmp_path / "rbf", EX / "rbf_linear.yaml", "training.epochs=10")
    _, plain = _train(tmp_path / "plain", _spec_file(tmp_path, "plain", PLAIN_LINEAR_SPIRALS))
    print(
        f"spirals test accuracy: RBF + linear {rbf['test_accuracy']:.3f}, linear {plain['test_accuracy']:.3f}"
    )
    assert rbf["test_accuracy"] >= 0.95
    assert plain["test_accuracy"] < 0.8


# --- learned features ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "epochs"), [("mlp", 10), ("deep_mlp", 10)])
def test_mlps_reach_95_percent_on_digits(tmp_path, name, epochs):
    _, scores = _train(tmp_path / "run", EX / f"{name}.yaml", f"training.epochs={epochs}")
    assert scores["test_accuracy"] >= 0.95


@pytest.mark.parametrize(("name", "epochs"), [("cnn", 5), ("deep_cnn", 6)])
def test_cnns_reach_97_percent_on_digits(tmp_path, name, epochs):
    _, scores = _train(tmp_path / "run", EX / f"{name}.yaml", f"training.epochs={epochs}")
    assert scores["test_accuracy"] >= 0.97


ONE_BRANCH = """\
    archspec: 1
    name: {field}-only
    inputs:
      {field}: {{shape: {shape}}}
    nodes:
      conv: {{op: {conv}, out_channels: 8, kernel_size: {k}, padding: {pad}}}
      relu: {{op: relu}}
      pool: {{op: {pool}, kernel_size: {pk}}}
      flat: {{op: flatten}}
      fc:   {{op: linear, out_features: 32}}
      act:  {{op: relu}}
      logits: {{op: linear, out_features: 4}}
    data:
      train: {{dataset: paired, split: train, fields: {{{field}: {field}, label: label}}, batch_size: 64}}
      test:  {{dataset: paired, split: test, fields: {{{field}: {field}, label: label}}, role: test}}
    losses:
      nll: {{fn: cross_entropy, stream: train, target: label}}
    training: {{optimizer: {{name: adam, lr: 0.002}}, epochs: 5, metrics: [accuracy]}}
"""
BRANCHES = {
    "image": {"shape": "[1, 16, 16]", "conv": "conv2d", "k": 3, "pad": 1, "pool": "maxpool2d", "pk": 2},
    "sound": {"shape": "[1, 64]", "conv": "conv1d", "k": 5, "pad": 2, "pool": "maxpool1d", "pk": 4},
}


def test_two_branches_beat_either_branch_alone(tmp_path):
    _, both = _train(tmp_path / "both", EX / "two_branch.yaml", "training.epochs=5")
    alone = {}
    for field, args in BRANCHES.items():
        spec = _spec_file(tmp_path, field, ONE_BRANCH.format(field=field, **args))
        alone[field] = _train(tmp_path / field, spec)[1]["test_accuracy"]
    print(
        f"paired test accuracy: both branches {both['test_accuracy']:.3f}, image alone {alone['image']:.3f}, sound alone {alone['sound']:.3f}"
    )
    assert both["test_accuracy"] >= 0.95
    assert both["test_accuracy"] > max(alone.values()) + 0.3  # each modality alone carries one bit of two


# --- autoencoders ------------------------------------------------------------------------------


def test_the_autoencoder_reconstructs_far_better_than_the_mean_image(tmp_path):
    _, scores = _train(tmp_path / "run", EX / "autoencoder.yaml", "training.epochs=15")
    train, test = load_dataset("digits", "train")["flat"], load_dataset("digits", "test")["flat"]
    baseline = float(((test - train.mean(0)) ** 2).mean())
    print(f"digits test MSE: autoencoder {scores['test_mse_recon']:.4f}, mean image {baseline:.4f}")
    assert scores["test_mse_recon"] < 0.4 * baseline


@pytest.fixture(scope="module")
def semi_supervised(tmp_path_factory) -> tuple[RunResult, dict[str, float]]:
    return _train(
        tmp_path_factory.mktemp("semi") / "run", EX / "semi_supervised_ae.yaml", "training.epochs=15"
    )


def test_semi_supervised_training_lowers_both_loss_terms(semi_supervised, tmp_path):
    result, joint = semi_supervised
    first, last = result.history[0], result.history[-1]
    for term in ("supervised", "reconstruction"):
        assert last[f"train_loss_{term}"] < 0.5 * first[f"train_loss_{term}"], term
    _, alone = _train(
        tmp_path / "alone",
        EX / "semi_supervised_ae.yaml",
        "training.epochs=15",
        "losses.reconstruction.weight=0",
    )
    print(
        f"100 labels, test accuracy: joint (lambda=1) {joint['test_accuracy_logits']:.3f}, supervised only (lambda=0) {alone['test_accuracy_logits']:.3f}"
    )
    assert min(joint["test_accuracy_logits"], alone["test_accuracy_logits"]) >= 0.75


def test_the_pretrained_encoder_is_loaded_and_stays_frozen(semi_supervised, tmp_path):
    autoencoder = tmp_path / "autoencoder"
    _train(autoencoder, EX / "autoencoder.yaml", "training.epochs=20")
    classifier = tmp_path / "classifier"
    _, scores = _train(
        classifier,
        EX / "pretrained_encoder.yaml",
        f"training.init_from.encoder.run={autoencoder}",
        "training.epochs=60",
    )
    trained = _weights(autoencoder, "enc.")
    assert len(trained) == 4  # fc1 and code, weight and bias
    for which in ("best", "latest"):
        loaded = _weights(classifier, "enc.", which)
        assert loaded.keys() == trained.keys()
        assert all(torch.equal(loaded[k], trained[k]) for k in trained), which
    joint = semi_supervised[1]["test_accuracy_logits"]
    print(
        f"100 labels, test accuracy: frozen pretrained encoder {scores['test_accuracy']:.3f}, joint training {joint:.3f}"
    )
    assert scores["test_accuracy"] >= 0.8


# --- per-pixel targets, depth, regularisation -----------------------------------------------------


def test_the_unet_segments_shapes_with_mean_iou_above_90_percent(tmp_path):
    _, scores = _train(tmp_path / "run", EX / "unet.yaml", "training.epochs=6")
    assert scores["test_iou"] >= 0.90


def test_resnet18_has_torchvisions_parameter_count():
    graph = analyse(load(EX / "resnet18.yaml"))
    assert summarise(graph)["total_params"] == 11_689_512


def test_resnet18_fits_a_fixed_batch_of_small_images(tmp_path):
    rng = np.random.default_rng(0)
    batch = tmp_path / "batch.npz"
    np.savez(
        batch, image=rng.standard_normal((16, 3, 32, 32)).astype(np.float32), label=rng.integers(0, 10, 16)
    )
    stream = f"{{npz: {batch}, split: all, batch_size: 16"
    seen = tmp_path / "seen.npz"  # the same samples, measured on purpose: one file read by two
    seen.write_bytes(batch.read_bytes())  # roles would be refused as a split leak
    val = f"{{npz: {seen}, split: all, batch_size: 16"
    result, scores = _train(
        tmp_path / "run",
        EX / "resnet18.yaml",
        "inputs.image.shape=[3, 32, 32]",
        "params.classes=10",
        "expect={}",  # the contracts pin the 224x224, 1000-class network
        f"data={{train: {stream}}}, val: {val}, role: val}}}}",
        "losses={nll: {fn: cross_entropy, stream: train, pred: logits, target: label}}",
        "training={optimizer: {name: adam, lr: 1.0e-3}, epochs: 5, metrics: [accuracy]}",
    )
    losses = [row["train_loss"] for row in result.history]
    print(
        f"resnet18 on one batch of 16 random 3x32x32 images, loss per step: {[round(v, 3) for v in losses]}"
    )
    assert result.steps == 5
    assert losses[-1] < losses[0] / 4
    assert 0.0 <= scores["val_accuracy"] <= 1.0


UNREGULARISED = [
    "nodes.drop1.p=0",
    "nodes.drop2.p=0",
    "losses.l2.weight=0",
    "losses.l1.weight=0",
    "data.train.augment=[]",
]


def _weight_norm(run: Path) -> float:
    weights = _weights(run, "", which="latest")
    return float(sum(weights[f"{n}.weight"].pow(2).sum() for n in ("fc1", "fc2", "logits")).sqrt())


def test_regularisation_shrinks_the_weights_without_costing_accuracy(tmp_path):
    figures: dict[str, dict[str, float]] = {}
    for name, overrides in (("regularised", []), ("unregularised", UNREGULARISED)):
        result, scores = _train(tmp_path / name, EX / "regularised_mlp.yaml", *overrides)
        f = figures[name] = {
            "val": scores["val_accuracy"],  # best checkpoint
            "last": result.history[-1]["val_accuracy"],
            "train": evaluate_run(tmp_path / name, roles=("train",))["train_accuracy"],
            "norm": _weight_norm(tmp_path / name),
        }
        print(
            f"{name}: val {f['val']:.3f} (last epoch {f['last']:.3f}), train {f['train']:.3f}, |W| {f['norm']:.1f}"
        )
    reg, plain = figures["regularised"], figures["unregularised"]
    assert reg["norm"] < plain["norm"]
    assert reg["val"] >= plain["val"] - 0.02
