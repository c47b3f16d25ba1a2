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
@click.option(
    "--allow-opaque",
    is_flag=True,
    help="Embed a sub-module no op expresses as an op of a plugin written beside the spec "
    "(OUT_plugin.py, which imports the module's class: enable it with --plugin to use the spec).",
)
def import_cmd(
    target: str,
    out_file: str,
    inputs: Sequence[str],
    kwargs: Sequence[str],
    weights_dir: str | None,
    flat: bool,
    allow_opaque: bool,
) -> None:
    """Turn the PyTorch model TARGET into a spec, and its weights into an artefact.

    TARGET is package.module:Name or file.py:Name: a class or factory (called with --kwargs)
    or an nn.Module instance.

    \b
    WARNING: this imports and runs TARGET's Python code (its constructor and a traced
    forward). Use it only on code you trust, as with torch.load(weights_only=False). It is
    the one archspec command that executes user code.

    \b
    With --allow-opaque, a sub-module that no op expresses (a custom op, data-dependent
    control flow) becomes an op of the plugin OUT_plugin.py written beside the spec; it
    imports the module's class (a file.py TARGET: it runs that file). The spec names it
    under requires.plugins but never loads it: enable it yourself, with its folder on
    PYTHONPATH:  archspec --plugin OUT_plugin validate OUT.yaml
    An existing OUT_plugin.py that import did not write is never overwritten.

    \b
    Examples:
      archspec import mymodels.py:ResNet --input x=3,32,32 -o resnet.yaml
      archspec import mypkg.nets:make_mlp --kwargs hidden=64 --input 16 -o mlp.yaml --weights build/mlp
      archspec import mymodels.py:GatedNet --input 16 -o gated.yaml --allow-opaque
    """
    from archspec.cli._common import check_output
    from archspec.fileio import write_atomic_many
    from archspec.importer import Constructions, import_model
    from archspec.importer.opaque import plugin_name
    from archspec.importer.target import load_target, parse_inputs, parse_kwargs

    check_output(out_file, "--out", (".yaml", ".yml"))
    name = Path(out_file).stem
    plugin_file = Path(out_file).with_name(f"{plugin_name(name)}.py")
    if allow_opaque:
        _check_plugin_file(plugin_file)
    shapes = parse_inputs(inputs)
    constructions = Constructions() if allow_opaque else None
    module = load_target(target, parse_kwargs(kwargs), constructions)
    imported = import_model(
        module,
        shapes,
        name=name,
        source=target,
        blocks=not flat,
        allow_opaque=allow_opaque,
        constructions=constructions,
    )
    Path(out_file).parent.mkdir(parents=True, exist_ok=True)  # check_output allowed a new folder
    files = [(out_file, imported.text.encode("utf-8"))]
    if imported.opaque:  # the spec names its plugin: a failed write leaves neither file
        files.append((plugin_file, imported.plugin_source(out_file).encode("utf-8")))
    write_atomic_many(files)
    click.echo(f"wrote {out_file} ({imported.lines} lines, {imported.params:,} parameters)")
    if imported.opaque:
        ops = ", ".join(f"{op.name} ({op.cls.__name__})" for op in imported.opaque)
        click.echo(f"wrote {plugin_file} (the plugin {imported.plugin}: {ops})")
    if weights_dir:
        path = imported.save_weights(weights_dir)
        click.echo(f"wrote {os.fspath(path)}")


def _check_plugin_file(path: Path) -> None:
    """Refuse, before any work, to overwrite a file that import did not write."""
    from archspec.errors import UsageError
    from archspec.importer.opaque import PLUGIN_MARK

    if not path.exists():
        return
    try:
        first = path.read_text(encoding="utf-8").splitlines()[:1]
    except (OSError, UnicodeDecodeError):
        first = []
    if not first or not first[0].startswith(PLUGIN_MARK):
        raise UsageError(
            f"{path} exists and was not written by archspec import; it is left alone "
            "(the plugin is named after the spec: choose another -o, or move the file)"
        )
