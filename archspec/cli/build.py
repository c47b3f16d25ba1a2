"""Commands that build the torch model: ``compile``, ``export``, ``check-init``.

``export`` and ``check-init`` take a spec, a training run or an artefact; what a path is and the
model it holds is :func:`archspec.sources.open_source`'s answer, shared with the Python API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import click

from archspec.cli._common import (
    check_output,
    format_option,
    seed_option,
    set_option,
    source_argument,
    spec_argument,
)

_EXPORT_SUFFIXES = {
    ".pt": "torchscript",
    ".pt2": "exported-program",
    ".onnx": "onnx",
    ".safetensors": "safetensors",
}
_SUFFIX_OF = {fmt: suffix for suffix, fmt in _EXPORT_SUFFIXES.items()}


@click.command("compile")
@spec_argument
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Artefact directory [default: build/<spec name>].",
)
@click.option(
    "--emit-python",
    "emit_path",
    type=click.Path(dir_okay=False),
    help="Also write a standalone PyTorch file (no archspec import).",
)
@seed_option
@set_option
def compile_cmd(
    spec_file: str, out_dir: str | None, emit_path: str | None, seed: int | None, overrides: Sequence[str]
) -> None:
    """Compile SPEC to a pickle-free artefact: model.safetensors (spec embedded) + spec.yaml.

    \b
    Examples:
      archspec compile examples/unet.yaml -o build/unet
      archspec compile examples/mlp.yaml --emit-python mlp_model.py
    """
    from archspec.fileio import path_component
    from archspec.pipeline import analyse, load

    check_output(emit_path, "--emit-python", (".py",))
    if out_dir is not None:
        check_output(os.path.join(out_dir, "model.safetensors"), "--out")
    graph = analyse(load(spec_file, overrides))  # a bad spec fails here, before torch is imported
    from archspec.compiler.artifact import save_artifact
    from archspec.compiler.compile import compile_model

    model = compile_model(graph, seed=seed)
    source = None
    if emit_path:  # before anything is written: a model emit cannot write leaves no artefact
        from archspec.compiler.emit import emit_python

        source = emit_python(model, graph)
    path = save_artifact(model, graph, out_dir or os.path.join("build", path_component(graph.spec.name)))
    click.echo(f"wrote {path} ({sum(p.numel() for p in model.parameters()):,} parameters)")
    if source is not None:
        from archspec.fileio import write_atomic

        Path(emit_path).parent.mkdir(parents=True, exist_ok=True)  # check_output allowed a new folder
        write_atomic(emit_path, source.encode("utf-8"))
        click.echo(f"wrote {emit_path}")


@click.command()
@source_argument
@click.option(
    "-f",
    "--to",
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["torchscript", "exported-program", "onnx", "safetensors"]),
    help="What to write.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="The file to write (.pt, .pt2, .onnx, .safetensors).",
)
@click.option("--part", help="Export only this named part (e.g. an encoder).")
@seed_option
@set_option
def export(
    source: str, fmt: str, output: str, part: str | None, seed: int | None, overrides: Sequence[str]
) -> None:
    """Export a model, or one part of it, for inference without archspec.

    SOURCE is a spec (freshly initialised weights), a training run directory (its best
    checkpoint) or an artefact written by `archspec compile`. The model is exported in eval
    mode and checked against the eager model before the file is written.

    \b
    Examples:
      archspec export runs/unet --to torchscript -o unet.pt
      archspec export examples/autoencoder.yaml --to exported-program --part encoder -o encoder.pt2
    """
    from archspec.sources import open_source

    _check_export_output(output, fmt)
    model, graph = open_source(source, overrides, seed)  # checks a spec before importing torch
    from archspec.compiler.export import export_model

    result = export_model(model, graph, fmt, output, part=part)
    click.echo(f"wrote {result.path} ({result.fmt}, {result.how})")


def _check_export_output(output: str, fmt: str) -> None:
    """A writable file whose suffix, when it names a format, names the one asked for."""
    check_output(output, "--output")
    suffix = os.path.splitext(output)[1].lower()
    meant = _EXPORT_SUFFIXES.get(suffix)
    if meant is not None and fmt != meant:
        raise click.BadParameter(
            f"{output!r} names a {suffix} file, but --to is {fmt} (use --to {meant}, or a {_SUFFIX_OF[fmt]} file name)",
            param_hint="--output",
        )


@click.command("check-init")
@source_argument
@click.option(
    "--batch",
    type=click.IntRange(min=2),
    default=64,
    show_default=True,
    help="Standard-normal samples to push through.",
)
@seed_option
@format_option
@set_option
def check_init(source: str, batch: int, seed: int | None, fmt: str, overrides: Sequence[str]) -> None:
    """Push a standard-normal batch through the initialised network and report per-layer statistics.

    Activation mean/std and dead units per node, gradient norms per parameter, and warnings for
    vanishing or exploding signals and gradients, dead units and symmetric (constant) weights.
    Exits 0 even with warnings; read them, or use --format json in CI.

    \b
    Examples:
      archspec check-init net.yaml
      archspec check-init runs/net --format json
    """
    from archspec.sources import open_source

    model, graph = open_source(source, overrides, seed)  # checks a spec before importing torch
    from archspec.compiler.diagnostics import check_init as diagnose

    report = diagnose(model, graph, batch=batch, seed=seed or 0)
    click.echo(json.dumps(report.to_dict(), indent=2) if fmt == "json" else report.to_text())
