"""``summary`` counts, checked against the compiled torch module (the oracle)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import archspec
from archspec.graph.summary import summarise, summary_table
from archspec.lang.model import param_matches

EXAMPLES = sorted(Path(__file__).resolve().parent.parent.joinpath("examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_parameter_and_buffer_counts_match_the_compiled_module(path):
    graph = archspec.analyse(archspec.load(path))
    model = archspec.build(graph, seed=0)
    s = summarise(graph)
    assert s["total_params"] == sum(p.numel() for p in model.parameters())
    assert s["buffers"] == sum(b.numel() for b in model.buffers())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_frozen_parameters_are_the_ones_the_runner_freezes(path):
    spec = archspec.load(path)
    graph = archspec.analyse(spec)
    model = archspec.build(graph, seed=0)
    patterns = spec.training.get("freeze") or []
    frozen = sum(
        p.numel()
        for n, p in model.named_parameters()
        if any(param_matches(n, pat, spec.parts) for pat in patterns)
    )
    s = summarise(graph)
    assert s["frozen_params"] == frozen
    assert s["trainable_params"] == s["total_params"] - frozen


def test_the_table_splits_trainable_frozen_and_buffers_like_keras():
    path = next(p for p in EXAMPLES if p.stem == "pretrained_encoder")
    table = summary_table(summarise(archspec.analyse(archspec.load(path))))
    assert "total: 5,906 parameters (1,226 trainable, 4,680 frozen), 5,760 MACs per sample" in table


def test_batch_norm_running_statistics_count_as_buffers_not_parameters():
    spec = archspec.load_text(
        "archspec: 1\nname: bn\ninputs: {x: {shape: [3, 8, 8]}}\n"
        "nodes:\n  bn: {op: batchnorm2d, in: x}\n  bn2: {op: batchnorm2d, in: bn, track_running_stats: false}\n"
        "outputs: {y: bn2}\n"
    )
    s = summarise(archspec.analyse(spec))
    model = archspec.build(spec)
    # 2 x (weight + bias) of 3 channels; running mean and variance of 3, and a step counter
    assert (s["total_params"], s["buffers"]) == (12, 7)
    assert s["buffers"] == sum(b.numel() for b in model.buffers())
    assert isinstance(model.bn.num_batches_tracked, torch.Tensor)
