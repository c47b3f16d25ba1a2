"""Mistakes a user meets only when a run reads its data: each one is a located error that names
the stream, field or key and says how to fix it, never a torch error or an "internal error"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archspec.cli import cli

HEAD = """archspec: 1
name: t
inputs:
  x: {shape: [4]}
nodes:
  h: {op: linear, out_features: 3}
outputs: {y: h}
data:
"""
LOSS = "losses:\n  ce: {fn: cross_entropy, stream: train, pred: y, target: label}\n"
TRAINING = "training: {epochs: 1, batch_size: 8}\n"


def train(tmp_path: Path, data: str, *, head: str = HEAD, losses: str = LOSS, training: str = TRAINING):
    """`archspec train` on a spec with the given ``data:`` entries; returns (exit code, output)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(head + data + losses + training)
    result = CliRunner().invoke(
        cli, ["train", str(spec), "--run-dir", str(tmp_path / "run"), "--no-progress"]
    )
    assert "internal error" not in result.output and "Traceback" not in result.output, result.output
    return result.exit_code, result.output.strip()


def npz(tmp_path: Path, name: str = "d.npz", n: int = 40, width: int = 4, label=None, x=None) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, width)).astype(np.float32) if x is None else x
    label = rng.integers(0, 3, n) if label is None else label
    np.savez(tmp_path / name, x=x, label=label)
    return tmp_path / name


# -- model inputs: shape and dtype checked before the first forward ------------------------------


def test_an_npz_input_of_the_wrong_per_sample_shape_names_the_stream_field_and_both_shapes(tmp_path):
    npz(tmp_path, width=5)
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n")
    assert code == 3
    assert out == (
        f"error: {tmp_path}/spec.yaml:9:3: data.train: stream 'train' gives model input 'x' a per-sample shape "
        "of [5], but inputs.x.shape is [4] (hint: give 'x' as an array of shape [N, 4], or change inputs.x.shape)"
    )


def test_a_csv_input_of_the_wrong_width_is_located_at_its_fields_entry(tmp_path):
    rows = "\n".join(f"{i},1,2,3,4,{i % 3}" for i in range(20))
    (tmp_path / "d.csv").write_text("a,b,c,d,e,lab\n" + rows + "\n")
    code, out = train(
        tmp_path, "  train: {csv: d.csv, split: all, fields: {x: [a, b, c, d, e], label: lab}}\n"
    )
    assert code == 3
    assert out.startswith(
        f"error: {tmp_path}/spec.yaml:9:47: data.train.fields.x: stream 'train' gives model input 'x' a per-sample shape of [5]"
    )


def test_a_validation_stream_of_the_wrong_shape_fails_before_training(tmp_path):
    npz(tmp_path)
    npz(tmp_path, "v.npz", width=6)
    code, out = train(
        tmp_path, "  train: {npz: d.npz, split: all}\n  v: {npz: v.npz, split: all, role: val}\n"
    )
    assert code == 3
    assert (
        "data.v: stream 'v' gives model input 'x' a per-sample shape of [6], but inputs.x.shape is [4]" in out
    )
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_validation_stream_without_a_model_input_is_a_spec_error(tmp_path):
    npz(tmp_path)
    code, out = train(
        tmp_path,
        "  train: {npz: d.npz}\n  v: {npz: d.npz, role: val, fields: {label: label}}\n",
    )
    assert code == 2
    assert out == (
        f"{tmp_path}/spec.yaml:10:3: data.v: stream 'v' does not provide model input 'x' "
        "(hint: map it with fields: {x: <field>}; the stream has label)"
    )


def test_float_data_for_an_integer_input_is_a_data_error_with_a_hint(tmp_path):
    npz(tmp_path)
    head = HEAD.replace("x: {shape: [4]}", "x: {shape: [4], dtype: int64}").replace(
        "  h: {op: linear",
        "  e: {op: embedding, num_embeddings: 10, embedding_dim: 2}\n  f: {op: flatten}\n  h: {op: linear",
    )
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n", head=head)
    assert code == 3
    assert out == (
        f"error: {tmp_path}/spec.yaml:11:3: data.train: stream 'train' gives model input 'x' float values, but "
        "inputs.x.dtype is int64 (hint: store the field as integers, or declare inputs.x.dtype: float32)"
    )


def test_an_index_past_an_embedding_table_names_the_node_and_its_size(tmp_path):
    npz(tmp_path, x=np.full((40, 4), 12))
    head = HEAD.replace("x: {shape: [4]}", "x: {shape: [4], dtype: int64}").replace(
        "  h: {op: linear",
        "  e: {op: embedding, num_embeddings: 10, embedding_dim: 2}\n  f: {op: flatten}\n  h: {op: linear",
    )
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n", head=head)
    assert code == 3
    assert out == (
        f"error: {tmp_path}/spec.yaml:11:3: data.train: stream 'train' gives model input 'x' the index 12, but node "
        "'e' (embedding) has num_embeddings: 10, so indices must be in 0..9 (hint: raise nodes.e.num_embeddings "
        "to at least 13, or re-index the data)"
    )


def test_integer_data_for_a_float_input_is_converted_as_predict_does(tmp_path):
    npz(tmp_path, x=np.random.default_rng(1).integers(0, 5, (40, 4)))
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n")
    assert code == 0, out


def test_an_array_of_strings_names_the_stream_and_field(tmp_path):
    npz(tmp_path, label=np.array(["cat"] * 40))
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n")
    assert code == 3
    assert out == (
        f"error: {tmp_path}/spec.yaml:9:3: data.train: stream 'train' field 'label' holds <U3 values; archspec "
        "trains on numbers (hint: store it as float32 for features, or int64 for class labels)"
    )


def _image_folder(tmp_path: Path, odd: tuple[int, int] = (12, 10)) -> None:
    image = pytest.importorskip("PIL.Image")
    for cls, arrays in {
        "a": [np.zeros((8, 8), np.uint8), np.zeros((*odd, 3), np.uint8)],
        "b": [np.zeros((8, 8, 4), np.uint8)],
    }.items():
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i, arr in enumerate(arrays):
            image.fromarray(arr).save(tmp_path / "imgs" / cls / f"{i}.png")


def _image_head(shape: str) -> str:
    return HEAD.replace("x: {shape: [4]}", f"x: {{shape: {shape}}}").replace(
        "  h: {op: linear", "  f: {op: flatten}\n  h: {op: linear"
    )


@pytest.mark.parametrize("shape", ["[1, 8, 8]", "[3, 6, 6]"])
def test_an_image_folder_of_mixed_sizes_and_channels_is_fitted_to_the_input(tmp_path, shape):
    _image_folder(tmp_path)
    data = "  train: {images: imgs, split: all, fields: {x: image, label: label}}\n"
    code, out = train(tmp_path, data, head=_image_head(shape))
    assert code == 0, out


def test_an_image_input_that_is_not_1_or_3_channels_names_both_shapes(tmp_path):
    _image_folder(tmp_path, odd=(8, 8))
    data = "  train: {images: imgs, split: all, fields: {x: image, label: label}}\n"
    code, out = train(tmp_path, data, head=_image_head("[2, 8, 8]"))
    assert code == 3
    assert (
        "gives model input 'x' a per-sample shape of [3, " in out and "but inputs.x.shape is [2, 8, 8]" in out
    )
    assert (
        "(hint: an image folder is resized to the input's [C, H, W] when C is 1 (grayscale) or 3 (RGB)" in out
    )


# -- targets: loss and metrics -----------------------------------------------------------------


def test_a_target_of_the_wrong_shape_for_the_loss_is_located_at_the_term(tmp_path):
    npz(tmp_path, label=np.zeros((40, 2), np.int64))
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n")
    assert code == 3
    assert out == (
        f"error: {tmp_path}/spec.yaml:11:59: losses.ce.target: loss term 'ce' on stream 'train', target 'label': "
        "cross_entropy needs class-index targets of shape [N] for pred [N, 3] (or class probabilities of the "
        "pred's shape), got [N, 2] (hint: check which field data.train gives as 'label', or choose a loss that fits it)"
    )


def test_a_fractional_target_for_cross_entropy_is_located_at_the_term(tmp_path):
    npz(tmp_path, label=np.linspace(0, 1, 40).astype(np.float32))
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n")
    assert code == 3
    assert out.startswith(
        f"error: {tmp_path}/spec.yaml:11:59: losses.ce.target: loss term 'ce' on stream 'train', target 'label': "
    )
    assert "cross_entropy needs whole-number class indices as targets, got fractional values (hint:" in out


def test_a_metric_that_cannot_read_a_validation_field_names_stream_output_and_field(tmp_path):
    npz(tmp_path)
    npz(tmp_path, "v.npz", label=np.zeros((40, 2), np.int64))
    training = "training: {epochs: 1, batch_size: 8, metrics: [accuracy]}\n"
    code, out = train(
        tmp_path,
        "  train: {npz: d.npz, split: all}\n  v: {npz: v.npz, split: all, role: val}\n",
        training=training,
    )
    assert code == 3
    assert out.endswith(
        f"error: {tmp_path}/spec.yaml:13:47: training.metrics: stream 'v', output 'y' against field 'label': "
        "metric 'accuracy': target [N, 2] does not fit pred [N, 3] (hint: pick metrics that fit this output in "
        "training.metrics, or give the field the shape the output's loss takes)"
    )


# -- sizes: limit, splits, empty streams, small streams ------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["{npz: d.npz, split: all, limit: 0}", "{dataset: moons, limit: 0, fields: {x: x, label: label}}"],
)
def test_limit_zero_is_a_spec_error_at_the_limit(tmp_path, source):
    npz(tmp_path)
    code, out = train(tmp_path, f"  train: {source}\n")
    assert code == 2
    line = f"  train: {source}"
    col = line.index("limit: 0") + len("limit: ") + 1
    assert out == (
        f"{tmp_path}/spec.yaml:9:{col}: data.train.limit: limit must be a positive integer, got 0 "
        "(hint: limit keeps the first N samples of the split; remove it to keep them all)"
    )


def test_a_limit_past_a_datasets_size_is_located_with_the_size_in_the_hint(tmp_path):
    head = HEAD.replace("[4]", "[2]")
    code, out = train(tmp_path, "  train: {dataset: moons, limit: 5000}\n", head=head)
    assert code == 2
    assert out == (
        f"{tmp_path}/spec.yaml:9:34: data.train.limit: limit 5000 is more than the 700 samples in dataset "
        "'moons', split 'train' (hint: use limit: 700 or less, or raise the dataset's n in options:)"
    )


def test_a_misspelt_dataset_option_is_located_at_the_option(tmp_path):
    head = HEAD.replace("[4]", "[2]")
    code, out = train(tmp_path, "  train: {dataset: moons, options: {nosie: 0.1}}\n", head=head)
    assert code == 2
    assert out == (
        f"{tmp_path}/spec.yaml:9:37: data.train.options.nosie: dataset 'moons' has no option 'nosie' "
        "(did you mean 'noise'?); options are 'n', 'noise'"
    )


def test_split_fractions_that_do_not_add_up_are_located_at_splits(tmp_path):
    npz(tmp_path)
    code, out = train(tmp_path, "  train: {npz: d.npz, splits: {train: 0.5, val: 0.2}}\n")
    assert code == 2
    assert out == (
        f"{tmp_path}/spec.yaml:9:31: data.train.splits: split fractions must add up to 1, got 0.7 "
        "from {'train': 0.5, 'val': 0.2}"
    )


def test_a_split_that_splits_does_not_name_is_located_at_split(tmp_path):
    npz(tmp_path)
    code, out = train(tmp_path, "  train: {npz: d.npz, split: test, splits: {train: 0.5, val: 0.5}}\n")
    assert code == 2
    assert out == (
        f"{tmp_path}/spec.yaml:9:30: data.train.split: stream 'train' has no split 'test'; splits are "
        "'train', 'val', 'all' (hint: name a split of splits:, or use split: all)"
    )


@pytest.mark.parametrize("role", ["train", "val"])
def test_a_split_left_empty_by_too_few_samples_names_the_stream(tmp_path, role):
    npz(tmp_path)
    npz(tmp_path, "small.npz", n=3)
    if role == "train":
        data = "  train: {npz: small.npz, split: test, splits: {train: 0.9, test: 0.1}}\n"
        line, stream = 9, "train"
    else:
        data = "  train: {npz: d.npz, split: all}\n  v: {npz: small.npz, split: test, splits: {train: 0.9, test: 0.1}, role: val}\n"
        line, stream = 10, "v"
    code, out = train(tmp_path, data)
    assert code == 3
    assert out == (
        f"error: {tmp_path}/spec.yaml:{line}:3: data.{stream}: stream {stream!r} has no samples: split 'test' of "
        "its 3 samples is empty (hint: give it a larger fraction in splits:, add data, or use split: all)"
    )


def test_a_stream_smaller_than_its_batch_size_trains_on_one_short_batch(tmp_path):
    npz(tmp_path, n=3)
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n")
    assert code == 0, out
    assert "(1 steps)" in out


# -- init_from -------------------------------------------------------------------------------------


def test_init_from_an_unknown_part_is_a_located_spec_error(tmp_path):
    npz(tmp_path)
    head = HEAD.replace("nodes:", "parts: {body: [h]}\nnodes:")
    training = "training: {epochs: 1, batch_size: 8, init_from: {bdy: {run: nowhere}}}\n"
    code, out = train(tmp_path, "  train: {npz: d.npz, split: all}\n", head=head, training=training)
    assert code == 2
    assert (
        out
        == f"{tmp_path}/spec.yaml:13:50: training.init_from.bdy: init_from names unknown part 'bdy' (hint: did you mean 'body'?)"
    )
