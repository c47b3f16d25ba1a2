"""An image folder trains through a DataLoader (images decoded by workers as batches are read),
with the numbers of the in-memory path: the same weights whatever ``workers`` is, and an exact
resume mid-epoch. Pinned memory is asked for only when the model is on CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from archspec.pipeline import analyse, load
from archspec.training import runner as runner_mod
from archspec.training.runner import Trainer
from archspec.training.streams import build_streams
from tests.conftest import quiet

PIL = pytest.importorskip("PIL.Image")

SPEC = """\
archspec: 1
name: folder
inputs:
  x: {shape: [1, 8, 8]}
nodes:
  f: {op: flatten}
  h: {op: linear, out_features: 16}
  r: {op: relu}
  d: {op: dropout, p: 0.1}
  a: {op: linear, out_features: 2}
outputs: {logits: a}
data:
  train: {images: shapes, fields: {x: image, label: label}, batch_size: 16, workers: WORKERS, augment: [hflip]}
losses:
  ce: {fn: cross_entropy, stream: train, pred: logits, target: label}
training: {optimizer: {name: adam, lr: 0.03}, epochs: 6, seed: 5}
"""


def _folder(root: Path) -> None:
    """Two classes told apart by where the bright bar is: rows (across) or columns (down)."""
    rng = np.random.RandomState(0)
    for label, name in enumerate(("across", "down")):
        (root / name).mkdir(parents=True)
        for i in range(40):
            img = rng.randint(0, 60, (8, 8)).astype(np.uint8)
            k = rng.randint(8)
            if label == 0:
                img[k, :] = 255
            else:
                img[:, k] = 255
            PIL.fromarray(img, mode="L").save(root / name / f"{i:03d}.png")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder") / "shapes"
    _folder(root)
    return root


def _spec(tmp_path: Path, images: Path, workers: int) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "shapes").symlink_to(images, target_is_directory=True)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("WORKERS", str(workers)))
    return tmp_path / "spec.yaml"


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_an_image_folder_trains_through_a_dataloader_with_workers(tmp_path, images):
    trainer = Trainer(analyse(load(_spec(tmp_path, images, 2))), quiet(tmp_path / "run"))
    files = trainer.streams["train"].files
    assert files is not None and "x" not in trainer.streams["train"].tensors  # nothing decoded up front
    assert files.loader.num_workers == 2 and files.loader.persistent_workers
    assert files.loader.pin_memory is False  # the CPU: nothing to pin for
    history = trainer.run().history
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]


def test_workers_do_not_change_the_numbers(tmp_path, images):
    runs = {}
    for workers in (0, 2):
        spec = _spec(tmp_path / str(workers), images, workers)
        trainer = Trainer(analyse(load(spec)), quiet(spec.parent / "run"))
        trainer.run()
        runs[workers] = _weights(trainer)
    assert runs[0].keys() == runs[2].keys()
    assert all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_the_folder_path_trains_exactly_as_the_images_held_in_memory(tmp_path, images):
    spec = _spec(tmp_path, images, 2)
    lazy = Trainer(analyse(load(spec)), quiet(tmp_path / "lazy"))
    lazy.run()
    eager = Trainer(analyse(load(spec)), quiet(tmp_path / "eager"))
    memory = build_streams(eager.spec)["train"]  # the in-memory path: every image decoded up front
    assert memory.files is None
    eager.streams["train"].tensors, eager.streams["train"].files = memory.tensors, None
    eager.run()
    assert all(torch.equal(v, _weights(eager)[k]) for k, v in _weights(lazy).items())


def test_a_run_resumed_mid_epoch_ends_with_the_uninterrupted_runs_weights(tmp_path, images):
    spec = _spec(tmp_path, images, 2)
    whole = Trainer(analyse(load(spec)), quiet(tmp_path / "whole"))
    whole.run()
    Trainer(analyse(load(spec)), quiet(tmp_path / "cut", max_steps=7)).run()  # 5 steps an epoch
    resumed = Trainer(analyse(load(spec)), quiet(tmp_path / "cut", resume=True))
    resumed.run()
    assert resumed.loop.step == whole.loop.step == 30
    assert all(torch.equal(v, _weights(resumed)[k]) for k, v in _weights(whole).items())


def test_pinned_memory_is_asked_for_only_when_the_model_is_on_cuda(tmp_path, images, monkeypatch):
    spec = _spec(tmp_path, images, 0)
    pinned = build_streams(analyse(load(spec)).spec, lazy_files=True, pin_memory=True)["train"]
    assert pinned.files.loader.pin_memory is True

    seen: dict[str, object] = {}

    class Stop(Exception):
        pass

    def streams(spec, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(runner_mod, "build_streams", streams)
    for device, pin in (("cuda", True), ("cpu", False)):
        monkeypatch.setattr(runner_mod, "resolve_device", lambda _, d=device: torch.device(d))
        with pytest.raises(Stop):
            Trainer(analyse(load(spec)), quiet(tmp_path / "run"))
        assert seen["pin_memory"] is pin and seen["lazy_files"] is True


def test_predict_reads_an_image_folder_through_its_loader_with_the_eager_paths_outputs(
    tmp_path, images, monkeypatch
):
    import archspec.data
    from archspec.api import predict, train
    from archspec.training.session import load_run

    spec = _spec(tmp_path, images, 0).read_text().replace("epochs: 6", "epochs: 1")
    (tmp_path / "spec.yaml").write_text(spec)
    train(tmp_path / "spec.yaml", run_dir=tmp_path / "run", device="cpu", plots=False)

    def no_eager_read(*args, **kwargs):
        raise AssertionError("predict decoded the whole folder up front")

    with monkeypatch.context() as m:
        m.setattr(archspec.data, "read_image_folder", no_eager_read)
        lazy = dict(np.load(predict(tmp_path / "run", tmp_path / "p.npz", stream="train", device="cpu")))
    # the reference: every image decoded up front, the model run on all of them at once
    graph, model = load_run(tmp_path / "run", device="cpu")
    eager = build_streams(analyse(load(tmp_path / "spec.yaml")).spec, roles=("train",))["train"]
    with torch.no_grad():
        expected = model.eval()(eager.tensors["x"]).numpy()
    assert list(lazy) == ["logits"] and np.allclose(lazy["logits"], expected, atol=1e-6)
