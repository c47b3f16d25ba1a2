"""The ``archspec`` command line: a thin layer over the pipeline stages.

Exit codes: 0 ok, 1 usage error, 2 spec error, 3 runtime failure. Domain errors are caught once,
here, and turned into text and an exit code. Commands that need no tensors (``validate``,
``schema``, ``ops``, ``render``) never import torch: torch-using modules are imported inside the
commands that need them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from archspec.errors import ArchSpecError, SpecError

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


def _error_text(exc: ArchSpecError) -> str:
    if isinstance(exc, SpecError):
        return str(exc)
    return f"error: {exc}"


# -- shared options, defined once --------------------------------------------------------------

def format_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output for people (text) or tools (json).")(fn)


def set_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec value, e.g. --set training.optimizer.lr=0.01 (repeatable).")(fn)


spec_argument = click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="archspec")
def cli() -> None:
    """archspec: declarative YAML neural-network architectures for PyTorch.

    Describe a network as a YAML graph; archspec validates it, infers every tensor shape,
    compiles it to an ordinary torch.nn.Module, trains it and draws it.

    \b
    Start here:
      archspec init mynet --template mlp      write a starter spec
      archspec validate mynet.yaml            check it (no torch needed)
      archspec summary mynet.yaml             shapes, parameters, MACs per node
      archspec train mynet.yaml               train it on the data it names
    """


# -- validate ------------------------------------------------------------------------------------

@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False), metavar="SPEC...")
@click.option("--shapes/--no-shapes", default=True, show_default=True, help="Also infer and check every tensor shape (no torch needed).")
@format_option
@set_option
def validate(files: Sequence[str], shapes: bool, fmt: str, overrides: Sequence[str]) -> None:
    """Check spec files: schema, blocks, references, the graph and (by default) shapes.

    Reports every error, each as FILE:LINE:COL: YAML.PATH: message (hint), sorted by position.
    Exits 0 when every file is valid, 2 otherwise.
    """
    from archspec.validate_cmd import validate_files

    start = time.perf_counter()
    results = validate_files(files, shapes=shapes, overrides=overrides)
    elapsed = time.perf_counter() - start
    bad = sum(1 for r in results if not r["ok"])
    if fmt == "json":
        click.echo(json.dumps({"ok": bad == 0, "seconds": round(elapsed, 4), "files": results}, indent=2))
    else:
        for r in results:
            _echo_result(r)
        click.echo(f"validated {len(results)} file(s) in {elapsed:.2f} s: {len(results) - bad} ok, {bad} invalid", err=True)
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
    from archspec.spec.schema import schema_text

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
        raise click.UsageError(f"unknown op {name!r}" + (f" ({suggest_op(name)})" if suggest_op(name) else ""))
    chosen = [CATALOGUE[name]] if name else [CATALOGUE[k] for k in sorted(CATALOGUE)]
    if fmt == "json":
        click.echo(json.dumps({op.name: {"family": op.family, "doc": op.doc, "inputs": op.input_range(), "args": op.args_schema()} for op in chosen}, indent=2))
        return
    for op in chosen:
        lo, hi = op.input_range()
        arity = str(lo) if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"
        click.echo(f"{op.name:<22} {op.family:<11} in:{arity:<4} {op.doc.splitlines()[0] if op.doc else ''}")
        if name:
            for arg_name, arg in op.args.items():
                default = "required" if arg.required else f"default {arg.default!r}"
                click.echo(f"    {arg_name:<18} {default:<22} {arg.doc}")


@cli.command()
@spec_argument
@format_option
@set_option
def summary(spec_file: str, fmt: str, overrides: Sequence[str]) -> None:
    """Per-node output shapes, parameters and MACs, with totals — without allocating weights.

    Shapes are per sample (N is the batch). MACs are multiply-accumulates per sample, an
    estimate of compute (FLOPs are about twice the MACs).
    """
    from archspec.pipeline import analyse, load
    from archspec.summary import summarise, summary_table

    rows = summarise(analyse(load(spec_file, overrides)))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(summary_table(rows))


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="archspec")


if __name__ == "__main__":  # pragma: no cover
    main()
