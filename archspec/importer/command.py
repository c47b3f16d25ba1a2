"""``archspec import``: the command, a thin layer over :func:`archspec.importer.import_model`.

Register it in the CLI's lazy command table (``archspec/cli/__init__.py``)::

    "import": _C("archspec.importer.command", "import_cmd",
                 "Turn a PyTorch model into a spec (+ its weights). Runs the model's code."),
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

__all__ = ["import_cmd"]


@click.command("import")
@click.argument("target")
@click.option(
    "-o",
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The spec file to write (.yaml).",
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="NAME=C,H,W",
    help="Per-sample shape of a forward argument, the batch left out (repeat per input).",
)
@click.option("--kwargs", "kwargs", multiple=True, metavar="K=V", help="Argument for the class or factory.")
@click.option(
    "--weights",
    "weights_dir",
    type=click.Path(file_okay=False),
    help="Also write the model's weights under the spec's names: an artefact directory.",
)
@click.option("--flat", is_flag=True, help="Keep every node at the top level (no blocks).")
def import_cmd(
    target: str,
    out_file: str,
    inputs: Sequence[str],
    kwargs: Sequence[str],
    weights_dir: str | None,
    flat: bool,
) -> None:
    """Turn the PyTorch model TARGET into a spec, and its weights into an artefact.

    TARGET is package.module:Name or file.py:Name: a class or factory (called with --kwargs)
    or an nn.Module instance.

    \b
    WARNING: this imports and runs TARGET's Python code (its constructor and a traced
    forward). Use it only on code you trust, as with torch.load(weights_only=False). It is
    the one archspec command that executes user code.

    \b
    Examples:
      archspec import mymodels.py:ResNet --input x=3,32,32 -o resnet.yaml
      archspec import mypkg.nets:make_mlp --kwargs hidden=64 --input 16 -o mlp.yaml --weights build/mlp
    """
    from archspec.cli._common import check_output
    from archspec.importer import import_model
    from archspec.importer.target import load_target, parse_inputs, parse_kwargs

    check_output(out_file, "--out", (".yaml", ".yml"))
    shapes = parse_inputs(inputs)
    module = load_target(target, parse_kwargs(kwargs))
    name = Path(out_file).stem
    imported = import_model(module, shapes, name=name, source=target, blocks=not flat)
    Path(out_file).write_text(imported.text, encoding="utf-8")
    click.echo(f"wrote {out_file} ({imported.lines} lines, {imported.params:,} parameters)")
    if weights_dir:
        path = imported.save_weights(weights_dir)
        click.echo(f"wrote {os.fspath(path)}")
