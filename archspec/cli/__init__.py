"""The ``archspec`` command line: a thin layer over the Python API.

The group is bare; each command lives in a small module of its group — :mod:`.check` (validate,
schema, ops, summary, expand, init), :mod:`.build` (compile, export, check-init), :mod:`.draw` (render,
diff), :mod:`.run` (train, evaluate, predict) — imported only when the command runs, so
``archspec validate`` imports neither torch nor the compiler, trainer or renderer. Shared options,
path types and the one place errors become exit codes are in :mod:`._common`.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from archspec.cli._common import ArchSpecGroup, LazyCommand

__all__ = ["COMMANDS", "cli", "main"]

_C = LazyCommand
COMMANDS: dict[str, LazyCommand] = {
    "validate": _C("archspec.cli.check", "validate", "Check spec files: schema, references, graph, shapes (no torch)."),
    "schema": _C("archspec.cli.check", "schema", "Print the JSON Schema of the spec format (for editors and CI)."),
    "ops": _C("archspec.cli.check", "ops", "List the op catalogue, or show one op's arguments."),
    "summary": _C("archspec.cli.check", "summary", "Per-node shapes, parameters and MACs, with totals (no torch)."),
    "expand": _C("archspec.cli.check", "expand", "Print the resolved spec: blocks, repeat, if, params and --set applied (no torch)."),
    "init": _C("archspec.cli.check", "init", "Write a commented starter spec (linear, mlp, cnn, autoencoder, unet)."),
    "compile": _C("archspec.cli.build", "compile_cmd", "Compile a spec to a safetensors artefact and/or PyTorch source."),
    "export": _C("archspec.cli.build", "export", "Export a model or one part: TorchScript, exported program, ONNX."),
    "check-init": _C("archspec.cli.build", "check_init", "Activation and gradient statistics of the initialised network."),
    "render": _C("archspec.cli.draw", "render", "Draw the architecture: SVG, HTML, DOT, Mermaid (no torch)."),
    "diff": _C("archspec.cli.draw", "diff", "Compare two specs: nodes added, removed, changed; parameter delta."),
    "train": _C("archspec.cli.run", "train", "Train SPEC on the data, losses and training settings it names."),
    "evaluate": _C("archspec.cli.run", "evaluate", "Metrics of a trained run on its test and validation streams."),
    "predict": _C("archspec.cli.run", "predict", "Save a trained run's outputs on a stream or your inputs (NPZ or CSV)."),
    "import": _C("archspec.importer.command", "import_cmd", "Turn a PyTorch model into a spec and its weights (runs the model's code: trusted code only)."),
    "sweep": _C("archspec.sweep.command", "sweep", "Search hyperparameters and architectures (Optuna); invalid designs never train."),
}  # fmt: skip


@click.group(
    name="archspec",
    cls=ArchSpecGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="archspec")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    metavar="NAME",
    help="Enable a plugin (an installed 'archspec.ops' entry point or a module) that adds ops. Plugins run Python code: enable only those you trust. Also: ARCHSPEC_PLUGINS=a,b.",
)
def cli(plugins: Sequence[str]) -> None:
    """archspec: declarative YAML neural-network architectures for PyTorch.

    Describe a network as a YAML graph; archspec validates it, infers every tensor shape,
    compiles it to an ordinary torch.nn.Module, trains it and draws it.

    \b
    Start here:
      archspec init mynet --template mlp      write a starter spec
      archspec validate mynet.yaml            check it (no torch needed)
      archspec summary mynet.yaml             shapes, parameters, MACs per node
      archspec train mynet.yaml               train it on the data it names
      archspec render mynet.yaml -o net.svg   draw it (no torch needed)

    \b
    Shell completion (bash; zsh and fish alike):
      eval "$(_ARCHSPEC_COMPLETE=bash_source archspec)"
    """
    from archspec.plugins import enabled_from_env, load_plugins

    names = [*plugins, *enabled_from_env()]
    if names:
        load_plugins(names)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point (``archspec``, ``python -m archspec``)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="archspec")
