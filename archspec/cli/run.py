"""Commands that run tensors through a trained or training model: ``train``, ``evaluate``,
``predict``. ``--device auto`` means what :func:`archspec.devices.auto_device` says for all three."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import click

from archspec.cli._common import (
    OptionalArgument,
    RunDirPath,
    SpecPath,
    check_output,
    device_option,
    format_option,
    set_option,
)


def _log(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@click.argument("spec_file", metavar="[SPEC]", required=False, type=SpecPath(), cls=OptionalArgument)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Where the run is written [default: runs/<spec name>, or runs/<spec name>-2, ... if taken].",
)
@click.option(
    "--resume",
    "resume_dir",
    metavar="RUN_DIR",
    type=RunDirPath(),
    help="Continue the run in this directory exactly where it stopped.",
)
@device_option
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many optimiser steps.")
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=1),
    help="Also checkpoint every N optimiser steps (besides the default: at most once a minute, see training.checkpoint_seconds, plus the run's end).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on a terminal."
)
@click.option(
    "--plots/--no-plots", default=True, show_default=True, help="Draw curves.png (needs matplotlib)."
)
@click.option("--detect-anomaly", is_flag=True, help="Name the first op that produced a NaN/Inf (slow).")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads for torch (small models often train fastest on 1).",
)
@set_option
def train(
    spec_file: str | None,
    run_dir: str | None,
    resume_dir: str | None,
    device: str,
    max_steps: int | None,
    checkpoint_every: int | None,
    progress: bool,
    plots: bool,
    detect_anomaly: bool,
    threads: int | None,
    overrides: Sequence[str],
) -> None:
    """Train SPEC on the data, losses and training settings it names.

    \b
    Examples:
      archspec train examples/mlp.yaml
      archspec train examples/cnn.yaml --set training.epochs=3 --run-dir runs/cnn-quick
      archspec train --resume runs/cnn-quick
    """
    from archspec.devices import check_device

    if resume_dir and (overrides or spec_file):
        raise click.UsageError(
            "--resume continues a run with its own spec: drop SPEC and --set (they would make it another run)"
        )
    if not (resume_dir or spec_file):
        raise click.UsageError("give a SPEC to train, or --resume RUN_DIR")
    if run_dir is not None:
        check_output(os.path.join(run_dir, "run.json"), "--run-dir")
    check_device(device)
    if threads:
        import torch

        torch.set_num_threads(threads)
    run = {
        "device": device,
        "max_steps": max_steps,
        "checkpoint_every": checkpoint_every,
        "progress": progress,
        "plots": plots,
        "detect_anomaly": detect_anomaly,
    }
    result = _resume(resume_dir, run) if resume_dir else _start(spec_file or "", run_dir, overrides, run)
    if int(os.environ.get("RANK", "0")) == 0:
        _echo_trained(result)


def _resume(resume_dir: str, run: dict[str, Any]) -> Any:
    from archspec.api import resume

    return resume(resume_dir, log=_log, **run)


def _start(spec_file: str, run_dir: str | None, overrides: Sequence[str], run: dict[str, Any]) -> Any:
    from archspec.api import train

    if not run_dir and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise click.UsageError("under torchrun, give every rank the same --run-dir")
    return train(spec_file, run_dir=run_dir, overrides=overrides, log=_log, **run)


def _echo_trained(result: Any) -> None:
    """The run's last scores and its test scores, as the epoch lines show them: without the
    ``<stream>_weighted_<term>`` columns (metrics.csv and curves.png have those)."""
    shown = ", ".join(
        f"{k} {v:.4g}"
        for k, v in result.metrics.items()
        if not k.startswith("train_") and "_weighted_" not in k and k not in ("lr", "seconds")
    )
    click.echo(f"run saved to {result.run_dir} ({result.steps} steps){': ' + shown if shown else ''}")
    if result.checkpoint is not None:
        click.echo(f"evaluate and predict use the {result.checkpoint_rule} checkpoint: {result.checkpoint}")
    tested = {k: v for k, v in (result.test_metrics or {}).items() if "_weighted_" not in k}
    if tested:
        click.echo("test: " + ", ".join(f"{k} {v:.4g}" for k, v in tested.items()))
    click.echo(f"next: archspec evaluate {result.run_dir}")


@click.command()
@click.argument("run_dir", type=RunDirPath())
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["test", "val", "train"]),
    default=("test", "val"),
    show_default=True,
    help="Evaluate the streams with these roles (repeatable).",
)
@device_option
@format_option
def evaluate(run_dir: str, roles: Sequence[str], device: str, fmt: str) -> None:
    """Metrics of a trained run's best checkpoint on its test and validation streams, and for
    each classification output per-class precision, recall and F1 and a confusion-matrix PNG.

    \b
    Examples:
      archspec evaluate runs/mynet
      archspec evaluate runs/mynet --role train --format json
    """
    from archspec.devices import check_device
    from archspec.training.session import evaluate_run

    check_device(device)
    reports: list[Any] = []
    metrics = evaluate_run(run_dir, roles, device=device, reports=reports, log=_log)
    if fmt == "json":
        click.echo(json.dumps(metrics, indent=2))
        return
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        click.echo(f"{k:<{width}}  {v:.4f}")
    for report in reports:  # per-class statistics on stderr: stdout stays "key value" lines
        _log("\n".join(report.lines()))
        _log(f"confusion matrix: {run_dir}/confusion-{report.stream}-{report.output}.png")


@click.command()
@click.argument("run_dir", type=RunDirPath())
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write outputs: .npz (one array per output) or .csv (one column per value).",
)
@click.option(
    "--stream",
    help="Predict on this stream of the spec [default: the test stream, else val, else the first].",
)
@click.option(
    "--inputs", type=click.Path(dir_okay=False, exists=True), help="An .npz with one array per model input."
)
@click.option(
    "--classes",
    is_flag=True,
    help="Also write each classification output's predicted class and probabilities.",
)
@click.option(
    "--id", "id_field", metavar="FIELD", help="Copy this field of the stream (or --inputs array) first."
)
@device_option
def predict(
    run_dir: str,
    output: str,
    stream: str | None,
    inputs: str | None,
    classes: bool,
    id_field: str | None,
    device: str,
) -> None:
    """Run a trained run's best checkpoint and save its outputs (NPZ arrays or CSV columns).

    \b
    Examples:
      archspec predict runs/mynet -o predictions.npz
      archspec predict runs/mynet --stream val -o val.csv
      archspec predict runs/mynet --inputs mine.npz -o out.npz
      archspec predict runs/mynet --classes --id id -o predictions.csv
    """
    from archspec.devices import check_device
    from archspec.training.session import predict_run

    if stream is not None and inputs is not None:
        raise click.UsageError("give --stream or --inputs, not both")
    check_output(output, "--output", (".npz", ".csv"))
    check_device(device)
    path = predict_run(
        run_dir,
        output,
        stream=stream,
        inputs=inputs,
        device=device,
        log=_log,
        classes=classes,
        id_field=id_field,
    )
    click.echo(f"wrote {path}")
