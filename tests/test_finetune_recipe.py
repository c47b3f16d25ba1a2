"""The fine-tuning recipe of docs/import.md, end to end through the command line: import a
backbone with its weights, replace the head, freeze the backbone, train on an image folder,
evaluate, export. The training section is read from the docs, so the recipe shown is the one run.

Oracle: the source module written by hand, holding the imported backbone weights and the trained
head, computes what the exported model computes; the backbone (batch-norm statistics included)
is after training what the source had; the head learnt (the training loss fell)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from tests.conftest import ROOT, csv_column, invoke, latest_checkpoint_of
from tests.import_refs import SmallConvNet

CLASSES = ("blue", "green", "red")  # sorted folder names: labels 0, 1, 2


def image_folder(root: Path, per_class: int = 10, size: int = 16) -> None:
    """One folder per class; each image is noise with its class's colour channel raised."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (size, size, 3))
            pixels[..., 2 - label] += 150  # blue -> B, green -> G, red -> R
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")


def recipe_training_block() -> str:
    """The YAML the docs' recipe appends to the imported spec (data, losses, training)."""
    section = (ROOT / "docs" / "import.md").read_text().split("## Fine-tuning", 1)[1]
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", section, re.S) if b.startswith("data:")]
    assert len(blocks) == 1, "docs/import.md's fine-tuning section shows one data/losses/training block"
    return blocks[0]


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def test_the_fine_tuning_recipe_trains_a_new_head_on_a_frozen_imported_backbone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image_folder(tmp_path / "images")
    source = f"{ROOT}/tests/import_refs.py:SmallConvNet"
    assert (
        invoke(
            "import", source, "--input", "x=3,16,16", "-o", "model.yaml", "--weights", "build/resnet"
        ).exit_code
        == 0
    )

    # the recipe's edits: a part for the backbone, a new head for three classes, its contract
    spec = Path("model.yaml").read_text()
    spec = edit(spec, "nodes:\n", "parts: {backbone: [conv1, bn1, conv2, bn2]}\nnodes:\n")
    spec = edit(spec, "  fc: {op: linear, out_features: 10}", "  head: {op: linear, out_features: 3}")
    spec = edit(spec, "outputs: {output: fc}", "outputs: {output: head}")
    spec = edit(spec, "  params: {equals: 1586}\n  outputs: {output: [10]}", "  outputs: {output: [3]}")
    Path("finetune.yaml").write_text(spec + recipe_training_block())

    trained = invoke("train", "finetune.yaml", "--run-dir", "runs/finetune", "--no-progress")
    assert trained.exit_code == 0, trained.output
    pretrained = load_file("build/resnet/model.safetensors")
    weights, _ = latest_checkpoint_of(tmp_path / "runs" / "finetune", "best")  # what export reads
    backbone = [k for k in weights if k.split(".")[0] in ("conv1", "bn1", "conv2", "bn2")]
    assert len(backbone) == 12  # two convolutions, two batch norms (weight, bias, 3 statistics)
    for name in backbone:  # frozen: parameters and running statistics as the source had them
        assert torch.equal(weights[name], pretrained[name]), name
    losses = csv_column(tmp_path / "runs" / "finetune" / "metrics.csv", "train_loss")
    assert len(losses) == 2 and losses[1] < losses[0], losses  # the head learnt

    evaluated = invoke("evaluate", "runs/finetune", "--format", "json")
    assert evaluated.exit_code == 0, evaluated.output
    assert 0.0 <= json.loads(evaluated.output)["val_accuracy"] <= 1.0

    exported = invoke("export", "runs/finetune", "--to", "torchscript", "-o", "finetuned.pt")
    assert exported.exit_code == 0, exported.output
    reference = SmallConvNet(classes=3).eval()
    reference.load_state_dict(
        {**pretrained, "fc.weight": weights["head.weight"], "fc.bias": weights["head.bias"]}, strict=True
    )
    x = torch.rand(4, 3, 16, 16)
    with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
        warnings.simplefilter("ignore", DeprecationWarning)
        exported_model = torch.jit.load("finetuned.pt")
    assert torch.allclose(exported_model(x), reference(x), atol=1e-5)
