"""The ``archspec`` command line: a thin layer over the pipeline stages.

Exit codes: 0 ok, 1 usage error, 2 spec error, 3 runtime failure. Domain errors are caught once,
here, and turned into text and an exit code. Commands that need no tensors (``validate``,
``schema``, ``ops``, ``render``) never import torch: torch-using modules are imported inside the
commands that need them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from archspec.errors import ArchSpecError, SpecError
from archspec.plugins import enabled_from_env, load_plugins

EXIT_OK, EXIT_USAGE, EXIT_SPEC, EXIT_RUNTIME = 0, 1, 2, 3


class _Group(click.Group):
    """Maps usage errors to exit code 1 and archspec errors to their own codes."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EXIT_USAGE
            raise
        except ArchSpecError as exc:
            click.echo(_error_text(exc), err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # `archspec ops | head`: the reader left; nothing more to say
            _silence_stdout()
            ctx.exit(EXIT_OK)
        except OSError as exc:  # a file the OS refused: say which and why, not a traceback
            click.echo(f"error: {_os_error_text(exc)}", err=True)
            ctx.exit(EXIT_RUNTIME)
        except Exception as exc:  # a bug in archspec or torch: say so plainly, keep the details on request
            if os.environ.get("ARCHSPEC_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n(this is a bug in archspec; rerun with ARCHSPEC_DEBUG=1 for the traceback and please report it)",
                err=True,
            )
            ctx.exit(EXIT_RUNTIME)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _os_error_text(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    text = f"{where}: {reason}" if where else reason
    if isinstance(exc, PermissionError):
        text += " (hint: choose a path you can write, e.g. in your home or project directory)"
    return text


def _error_text(exc: ArchSpecError) -> str:
    if isinstance(exc, SpecError):
        return str(exc)
    return f"error: {exc}"


# -- shared options, defined once --------------------------------------------------------------


def format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output for people (text) or tools (json).",
    )(fn)


def _check_overrides(ctx: click.Context, param: click.Parameter, items: Sequence[str]) -> Sequence[str]:
    """``--set`` must be KEY=VALUE with a dotted KEY: a malformed one is a usage error (exit 1)."""
    from archspec.lang.overrides import parse_override

    for item in items:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(
                f"{item!r} is not KEY=VALUE (e.g. --set training.optimizer.lr=0.01)", ctx, param
            )
        if any(not part.strip() for part in key.split(".")):
            raise click.BadParameter(
                f"{item!r}: the key {key!r} has an empty part (write dotted keys like training.optimizer.lr)",
                ctx,
                param,
            )
        try:
            parse_override(item)
        except SpecError as exc:
            raise click.BadParameter(f"{item!r}: {exc.message}", ctx, param) from None
    return items


def set_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        callback=_check_overrides,
        help="Override a spec value, e.g. --set training.optimizer.lr=0.01 (repeatable).",
    )(fn)


class SpecPath(click.Path):
    """A spec file; a directory gets a message that says what to give instead."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and os.path.isdir(value):
            if _is_run_dir(value):
                self.fail(
                    f"{value!r} is a training run, not a spec; continue it with: archspec train --resume {value}",
                    param,
                    ctx,
                )
            self.fail(
                f"{value!r} is a directory; give a spec file (e.g. {os.path.join(value, '*.yaml')})",
                param,
                ctx,
            )
        return super().convert(value, param, ctx)


class _OptionalArgument(click.Argument):
    """An optional argument shown as [NAME] in usage lines but named NAME in error messages."""

    def get_error_hint(self, ctx: click.Context | None) -> str:
        return f"'{(self.metavar or self.name or '').strip('[]')}'"


def _is_run_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "spec.yaml")) and (
        os.path.isdir(os.path.join(path, "checkpoints")) or os.path.isfile(os.path.join(path, "run.json"))
    )


class RunDirPath(click.Path):
    """A training run directory, as ``archspec train`` wrote it."""

    name = "run directory"

    def __init__(self) -> None:
        super().__init__(file_okay=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = str(value)
        if not os.path.exists(path):
            self.fail(
                f"{path!r} does not exist (a run directory is what `archspec train --run-dir DIR` writes)",
                param,
                ctx,
            )
        if not os.path.isdir(path):
            if path.endswith((".yaml", ".yml")):
                self.fail(
                    f"{path!r} is a spec, not a training run; train it first: archspec train {path}",
                    param,
                    ctx,
                )
            self.fail(f"{path!r} is a file, not a run directory", param, ctx)
        if not os.path.isfile(os.path.join(path, "spec.yaml")):
            runs = sorted(d for d in os.listdir(path) if _is_run_dir(os.path.join(path, d)))
            hint = (
                f"; runs in it: {', '.join(os.path.join(path, d) for d in runs[:5])}"
                + (", ..." if len(runs) > 5 else "")
                if runs
                else ""
            )
            hint = hint or "; a run directory is what `archspec train` writes (runs/<spec name> by default)"
            self.fail(f"{path!r} is not a training run (no spec.yaml){hint}", param, ctx)
        return super().convert(value, param, ctx)


def _check_output(path: str | None, param_hint: str, suffixes: Sequence[str] = ()) -> None:
    """Refuse, before any work, an output path that cannot be written or has the wrong suffix."""
    if path is None:
        return
    if suffixes and os.path.splitext(path)[1].lower() not in suffixes:
        raise click.BadParameter(
            f"{path!r}: the file name must end in {' or '.join(suffixes)}", param_hint=param_hint
        )
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise click.BadParameter(
            f"cannot write {path!r}: {parent!r} is a file, not a directory", param_hint=param_hint
        )
    if not os.access(parent, os.W_OK):
        raise click.BadParameter(
            f"cannot write {path!r}: no permission to write in {parent!r}", param_hint=param_hint
        )


def _check_device(device: str) -> None:
    """An explicit --device that this machine lacks fails before any work (exit 3)."""
    if device in ("auto", "cpu"):
        return
    import torch

    from archspec.errors import RunError

    if device == "cuda" and not torch.cuda.is_available():
        raise RunError(
            f"--device cuda: torch {torch.__version__} sees no CUDA device here (hint: use --device cpu, or auto to pick what is there)"
        )
    mps = getattr(torch.backends, "mps", None)
    if device == "mps" and (mps is None or not mps.is_available()):
        raise RunError(
            f"--device mps: torch {torch.__version__} sees no Apple MPS device here (hint: use --device cpu, or auto to pick what is there)"
        )


spec_argument = click.argument("spec_file", metavar="SPEC", type=SpecPath())


@click.group(
    name="archspec",
    cls=_Group,
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
    """
    names = [*plugins, *enabled_from_env()]
    if names:
        load_plugins(names)


# -- validate ------------------------------------------------------------------------------------


@cli.command(short_help="Check spec files: schema, references, graph, shapes (no torch).")
@click.argument("files", nargs=-1, required=True, type=SpecPath(), metavar="SPEC...")
@click.option(
    "--shapes/--no-shapes",
    default=True,
    show_default=True,
    help="Also infer and check every tensor shape (no torch needed).",
)
@format_option
@set_option
def validate(files: Sequence[str], shapes: bool, fmt: str, overrides: Sequence[str]) -> None:
    """Check spec files: schema, blocks, references, the graph and (by default) shapes.

    Reports every error, each as FILE:LINE:COL: YAML.PATH: message (hint), sorted by position.
    Exits 0 when every file is valid, 2 otherwise.

    \b
    Examples:
      archspec validate net.yaml
      archspec validate examples/*.yaml --format json
      archspec validate net.yaml --set nodes.fc.out_features=20
    """
    from archspec.pipeline import validate_files

    start = time.perf_counter()
    results = validate_files(files, shapes=shapes, overrides=overrides)
    elapsed = time.perf_counter() - start
    bad = sum(1 for r in results if not r["ok"])
    if fmt == "json":
        click.echo(json.dumps({"ok": bad == 0, "seconds": round(elapsed, 4), "files": results}, indent=2))
    else:
        for r in results:
            _echo_result(r)
        click.echo(
            f"validated {len(results)} file(s) in {elapsed:.2f} s: {len(results) - bad} ok, {bad} invalid",
            err=True,
        )
    if bad:
        sys.exit(EXIT_SPEC)


def _echo_result(r: dict[str, Any]) -> None:
    for w in r["warnings"]:
        click.echo(w["text"])
    if r["ok"]:
        stats = r.get("stats") or {}
        extra = f", {stats['params']:,} params, {stats['macs']:,} MACs" if "params" in stats else ""
        click.echo(f"{r['file']}: ok ({stats.get('nodes', 0)} nodes{extra})")
    else:
        for e in r["errors"]:
            click.echo(e["text"])


# -- schema and ops ------------------------------------------------------------------------------


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of the spec format (for editors and CI).

    Add '# yaml-language-server: $schema=PATH' at the top of a spec for completion and inline
    errors in editors that use yaml-language-server (VS Code's YAML extension, Neovim, ...).
    """
    from archspec.lang.schema import schema_text

    _check_output(output, "--output")
    text = schema_text()
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("name", required=False)
@format_option
def ops(name: str | None, fmt: str) -> None:
    """List the op catalogue, or show one op's arguments."""
    from archspec.ops import CATALOGUE, suggest_op

    if name is not None and name not in CATALOGUE:
        raise click.UsageError(
            f"unknown op {name!r}" + (f" ({suggest_op(name)})" if suggest_op(name) else "")
        )
    chosen = [CATALOGUE[name]] if name else [CATALOGUE[k] for k in sorted(CATALOGUE)]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    op.name: {
                        "family": op.family,
                        "doc": op.doc,
                        "inputs": op.input_range(),
                        "args": op.args_schema(),
                    }
                    for op in chosen
                },
                indent=2,
            )
        )
        return
    for op in chosen:
        lo, hi = op.input_range()
        arity = str(lo) if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"
        click.echo(f"{op.name:<22} {op.family:<11} in:{arity:<4} {op.doc.splitlines()[0] if op.doc else ''}")
        if name:
            for arg_name, arg in op.args.items():
                default = "required" if arg.required else f"default {arg.default!r}"
                click.echo(f"    {arg_name:<18} {default:<22} {arg.doc}")


@cli.command(short_help="Per-node shapes, parameters and MACs, with totals (no torch).")
@spec_argument
@format_option
@set_option
def summary(spec_file: str, fmt: str, overrides: Sequence[str]) -> None:
    """Per-node output shapes, parameters and MACs, with totals — without allocating weights.

    Shapes are per sample (N is the batch). MACs are multiply-accumulates per sample, an
    estimate of compute (FLOPs are about twice the MACs).

    \b
    Examples:
      archspec summary net.yaml
      archspec summary net.yaml --set nodes.hidden.out_features=256
    """
    from archspec.graph.summary import summarise, summary_table
    from archspec.pipeline import analyse, load

    rows = summarise(analyse(load(spec_file, overrides)))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(summary_table(rows))


@cli.command(short_help="Write a commented starter spec (linear, mlp, cnn, autoencoder, unet).")
@click.argument("name")
@click.option(
    "-t",
    "--template",
    default="mlp",
    show_default=True,
    help="Starter architecture: linear, mlp, cnn, autoencoder, unet.",
)
@click.option(
    "-d",
    "--directory",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where to write NAME.yaml.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(name: str, template: str, directory: str, force: bool) -> None:
    """Write NAME.yaml, a commented starter spec that validates and trains as it is.

    The file starts with the editor-schema line, so editors with yaml-language-server complete
    keys and op arguments; archspec.schema.json is written next to it.

    \b
    Examples:
      archspec init mynet
      archspec init segmenter --template unet -d specs/
    """
    from archspec.lang.templates import write_template

    path = write_template(name, template, directory=directory, force=force)
    click.echo(f"wrote {path}")
    click.echo(f"next: archspec validate {path} && archspec train {path}")


# -- compile, export, check-init -----------------------------------------------------------------


def _model_and_graph(source: str, overrides: Sequence[str], seed: int | None) -> tuple[Any, Any]:
    """A SPEC compiles fresh (seeded); a training run or an artefact loads its trained weights."""
    if os.path.isdir(source) and (_is_run_dir(source) or os.path.isdir(os.path.join(source, "checkpoints"))):
        if overrides:
            raise click.UsageError("--set applies to a SPEC, not to a trained run")
        from archspec.training.session import load_run

        graph, model = load_run(source)
        return model, graph
    if os.path.isdir(source) and not os.path.isfile(os.path.join(source, "model.safetensors")):
        raise click.BadParameter(
            f"{source!r} is a directory but neither a training run (no spec.yaml) nor an artefact of `archspec compile` (no model.safetensors)",
            param_hint="SPEC|RUN|ARTEFACT",
        )
    if os.path.isdir(source) or source.endswith(".safetensors"):
        if overrides:
            raise click.UsageError("--set applies to a SPEC, not to a saved artefact")
        from archspec.compiler.artifact import load_artifact

        return load_artifact(source)
    from archspec.compiler.compile import compile_model
    from archspec.pipeline import analyse, load

    graph = analyse(load(source, overrides))
    return compile_model(graph, seed=seed), graph


seed_option = click.option("--seed", type=int, help="Initialisation seed [default: the spec's seed].")


@cli.command("compile", short_help="Compile a spec to a safetensors artefact and/or PyTorch source.")
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
    from archspec.compiler.artifact import save_artifact
    from archspec.compiler.compile import compile_model
    from archspec.pipeline import analyse, load

    _check_output(emit_path, "--emit-python", (".py",))
    if out_dir is not None:
        _check_output(os.path.join(out_dir, "model.safetensors"), "--out")
    graph = analyse(load(spec_file, overrides))
    model = compile_model(graph, seed=seed)
    path = save_artifact(model, graph, out_dir or os.path.join("build", graph.spec.name))
    click.echo(f"wrote {path} ({sum(p.numel() for p in model.parameters()):,} parameters)")
    if emit_path:
        from archspec.compiler.emit import emit_python

        with open(emit_path, "w", encoding="utf-8") as fh:
            fh.write(emit_python(model, graph))
        click.echo(f"wrote {emit_path}")


@cli.command(short_help="Export a model or one part: TorchScript, exported program, ONNX.")
@click.argument("source", metavar="SPEC|RUN|ARTEFACT", type=click.Path(exists=True))
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
    from archspec.compiler.export import export_model

    _check_output(output, "--output")
    suffix = os.path.splitext(output)[1].lower()
    meant = _EXPORT_SUFFIXES.get(suffix)
    if meant is not None and fmt not in meant:
        raise click.BadParameter(
            f"{output!r} names a {suffix} file, but --to is {fmt} (use --to {meant[0]}, or a {_SUFFIX_OF[fmt]} file name)",
            param_hint="--output",
        )
    model, graph = _model_and_graph(source, overrides, seed)
    _check_part(part, graph.spec)
    result = export_model(model, graph, fmt, output, part=part)
    click.echo(f"wrote {result.path} ({result.fmt}, {result.how})")


_EXPORT_SUFFIXES = {
    ".pt": ("torchscript",),
    ".pt2": ("exported-program",),
    ".onnx": ("onnx",),
    ".safetensors": ("safetensors",),
}
_SUFFIX_OF = {
    "torchscript": ".pt",
    "exported-program": ".pt2",
    "onnx": ".onnx",
    "safetensors": ".safetensors",
}


def _check_part(part: str | None, spec: Any) -> None:
    if part is None or part in spec.parts:
        return
    from archspec.errors import did_you_mean

    hint = did_you_mean(part, spec.parts)
    if spec.parts:
        raise click.BadParameter(
            f"unknown part {part!r}" + (f" ({hint})" if hint else "") + f"; parts: {', '.join(spec.parts)}",
            param_hint="--part",
        )
    raise click.BadParameter(
        f"unknown part {part!r}: this spec declares no parts: (see docs/spec.md, parts)", param_hint="--part"
    )


@cli.command("check-init", short_help="Activation and gradient statistics of the initialised network.")
@click.argument("source", metavar="SPEC|RUN|ARTEFACT", type=click.Path(exists=True))
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
def check_init_cmd(source: str, batch: int, seed: int | None, fmt: str, overrides: Sequence[str]) -> None:
    """Push a standard-normal batch through the initialised network and report per-layer statistics.

    Activation mean/std and dead units per node, gradient norms per parameter, and warnings for
    vanishing or exploding signals and gradients, dead units and symmetric (constant) weights.
    Exits 0 even with warnings; read them, or use --format json in CI.

    \b
    Examples:
      archspec check-init net.yaml
      archspec check-init runs/net --format json
    """
    from archspec.compiler.diagnostics import check_init

    model, graph = _model_and_graph(source, overrides, seed)
    report = check_init(model, graph, batch=batch, seed=seed or 0)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.to_text())


# -- render and diff -----------------------------------------------------------------------------

_DIAGRAM_SUFFIXES = {
    ".svg": "svg",
    ".html": "html",
    ".htm": "html",
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".png": "png",
    ".pdf": "pdf",
}


def depth_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--depth",
        type=click.IntRange(min=0),
        help="Draw block instances nested deeper than this as one box each (0: every top-level block is one box).",
    )(fn)


def _diagram_format(fmt: str | None, output: str | None) -> str:
    if fmt is not None:
        return fmt
    if output is None:
        return "svg"
    suffix = "." + output.rsplit(".", 1)[-1].lower() if "." in output else ""
    if suffix not in _DIAGRAM_SUFFIXES:
        raise click.BadParameter(
            f"cannot tell the format from {output!r}; use one of {', '.join(_DIAGRAM_SUFFIXES)} or --format",
            param_hint="--output",
        )
    return _DIAGRAM_SUFFIXES[suffix]


def _write_text(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
        return
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(f"wrote {output}", err=True)


@cli.command(short_help="Draw the architecture: SVG, HTML, DOT, Mermaid (no torch).")
@spec_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write to a file; its suffix picks the format (.svg .html .dot .mmd .png .pdf). Default: SVG on stdout.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["svg", "html", "dot", "mermaid", "png", "pdf"]),
    help="Output format (default: from --output's suffix, else svg). png and pdf need Graphviz.",
)
@depth_option
@click.option("--part", help="Draw only this part's nodes; what it reads is drawn as inputs.")
@click.option(
    "--direction",
    type=click.Choice(["TB", "LR"], case_sensitive=False),
    default="TB",
    show_default=True,
    help="Top to bottom or left to right.",
)
@click.option(
    "--shapes/--no-shapes",
    default=True,
    show_default=True,
    help="Infer and show shapes and parameter counts (--no-shapes draws a spec whose shapes do not check yet).",
)
@click.option(
    "--losses/--no-losses", default=True, show_default=True, help="Draw the loss terms and their targets."
)
@set_option
def render(
    spec_file: str,
    output: str | None,
    fmt: str | None,
    depth: int | None,
    part: str | None,
    direction: str,
    shapes: bool,
    losses: bool,
    overrides: Sequence[str],
) -> None:
    """Draw the architecture: SVG, HTML (pan, zoom, details on hover), DOT or Mermaid — no torch.

    \b
    Examples:
    archspec render net.yaml -o net.svg
    archspec render net.yaml -o net.html --depth 1
    archspec render net.yaml --format mermaid --part encoder
    """
    from archspec.diagram import dot_to_file, to_dot, to_html, to_mermaid, to_svg
    from archspec.diagram.adapter import to_rgraph
    from archspec.pipeline import analyse, load

    fmt = _diagram_format(fmt, output)
    _check_output(output, "--output")
    spec = load(spec_file, overrides)
    if part is not None and part not in spec.parts:
        raise click.BadParameter(
            f"unknown part {part!r} (parts: {', '.join(spec.parts) or 'none'})", param_hint="--part"
        )
    graph = analyse(spec, shapes=shapes)
    g = to_rgraph(graph, depth=depth, part=part, direction=direction.upper(), shapes=shapes, losses=losses)
    if fmt in ("png", "pdf"):
        if output is None:
            raise click.UsageError(f"--format {fmt} writes a file: add --output FILE")
        dot_to_file(to_dot(g), output, fmt)
        click.echo(f"wrote {output}", err=True)
        return
    _write_text({"svg": to_svg, "html": to_html, "dot": to_dot, "mermaid": to_mermaid}[fmt](g), output)


@cli.command(short_help="Compare two specs: nodes added, removed, changed; parameter delta.")
@click.argument("old_file", metavar="OLD", type=click.Path(dir_okay=False))
@click.argument("new_file", metavar="NEW", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Also draw NEW with added and changed nodes highlighted and removed ones faded (.svg or .html).",
)
@depth_option
@click.option(
    "--shapes/--no-shapes", default=True, show_default=True, help="Compare shapes and parameter counts too."
)
@format_option
@set_option
def diff(
    old_file: str,
    new_file: str,
    output: str | None,
    depth: int | None,
    shapes: bool,
    fmt: str,
    overrides: Sequence[str],
) -> None:
    """Compare two specs: nodes added, removed and changed (op, arguments, inputs, shapes,
    parameters) and the change in total parameters. Overrides apply to both.

    \b
    Examples:
      archspec diff old.yaml new.yaml
      archspec diff old.yaml new.yaml -o changes.html
    """
    from archspec.diagram.diff import diff_rgraph, diff_specs, diff_text
    from archspec.pipeline import analyse, load

    if output is not None:
        if _diagram_format(None, output) not in ("svg", "html"):
            raise click.BadParameter("the diff diagram is written as .svg or .html", param_hint="--output")
        _check_output(output, "--output")

    old, new = (analyse(load(f, overrides), shapes=shapes) for f in (old_file, new_file))
    result = diff_specs(old, new)
    click.echo(json.dumps(result, indent=2) if fmt == "json" else diff_text(result))
    if output is not None:
        from archspec.diagram import to_html, to_svg

        kind = _diagram_format(None, output)
        g = diff_rgraph(old, new, depth=depth, shapes=shapes)
        _write_text((to_svg if kind == "svg" else to_html)(g), output)


device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda", "mps"]),
    default="auto",
    show_default=True,
    help="Where to run.",
)


@cli.command()
@click.argument("spec_file", metavar="[SPEC]", required=False, type=SpecPath(), cls=_OptionalArgument)
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
    help="Also checkpoint every N steps (default: every epoch).",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar on a terminal."
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
    from dataclasses import replace
    from pathlib import Path

    from archspec.training.runner import RunOptions
    from archspec.training.session import resume_run, start_run

    if run_dir is not None:
        _check_output(os.path.join(run_dir, "run.json"), "--run-dir")
    _check_device(device)
    if threads:
        import torch

        torch.set_num_threads(threads)
    options = RunOptions(
        run_dir=Path(run_dir or "."),
        device=device,
        progress=progress,
        checkpoint_every=checkpoint_every,
        max_steps=max_steps,
        detect_anomaly=detect_anomaly,
        log=lambda m: click.echo(m, err=True),
    )
    if resume_dir:
        if overrides or spec_file:
            raise click.UsageError(
                "--resume continues a run with its own spec: drop SPEC and --set (they would make it another run)"
            )
        result = resume_run(Path(resume_dir), options)
    elif spec_file:
        if not run_dir and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise click.UsageError("under torchrun, give every rank the same --run-dir")
        result = start_run(spec_file, overrides, replace(options, run_dir=Path(run_dir) if run_dir else None))
    else:
        raise click.UsageError("give a SPEC to train, or --resume RUN_DIR")
    if int(os.environ.get("RANK", "0")) != 0:
        return
    shown = ", ".join(
        f"{k} {v:.4g}"
        for k, v in result.metrics.items()
        if not k.startswith("train_") and k not in ("lr", "seconds")
    )
    click.echo(f"run saved to {result.run_dir} ({result.steps} steps){': ' + shown if shown else ''}")
    click.echo(f"next: archspec evaluate {result.run_dir}")


@cli.command(short_help="Metrics of a trained run on its test and validation streams.")
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
    """Metrics of a trained run's best checkpoint on its test and validation streams.

    \b
    Examples:
      archspec evaluate runs/mynet
      archspec evaluate runs/mynet --role train --format json
    """
    from archspec.training.session import evaluate_run

    _check_device(device)
    metrics = evaluate_run(run_dir, roles, device="cpu" if device == "auto" else device)
    if fmt == "json":
        click.echo(json.dumps(metrics, indent=2))
    elif not metrics:
        click.echo(
            f"no metrics: the {'/'.join(roles)} streams of {run_dir} name no metric that fits their outputs",
            err=True,
        )
    else:
        width = max(len(k) for k in metrics)
        for k, v in metrics.items():
            click.echo(f"{k:<{width}}  {v:.4f}")


@cli.command(short_help="Save a trained run's outputs on a stream or your inputs (NPZ or CSV).")
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
@device_option
def predict(run_dir: str, output: str, stream: str | None, inputs: str | None, device: str) -> None:
    """Run a trained run's best checkpoint and save its outputs (NPZ arrays or CSV columns).

    \b
    Examples:
      archspec predict runs/mynet -o predictions.npz
      archspec predict runs/mynet --stream val -o val.csv
      archspec predict runs/mynet --inputs mine.npz -o out.npz
    """
    from archspec.training.session import predict_run

    if stream is not None and inputs is not None:
        raise click.UsageError("give --stream or --inputs, not both")
    _check_output(output, "--output", (".npz", ".csv"))
    _check_device(device)
    path = predict_run(
        run_dir,
        output,
        stream=stream,
        inputs=inputs,
        device="cpu" if device == "auto" else device,
        log=lambda m: click.echo(m, err=True),
    )
    click.echo(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="archspec")


if __name__ == "__main__":  # pragma: no cover
    main()
