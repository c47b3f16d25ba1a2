"""Commands that read specs without torch: ``validate``, ``schema``, ``ops``, ``summary``, ``expand``,
``init``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from archspec.cli._common import (
    EXIT_SPEC,
    SpecPath,
    check_output,
    format_option,
    set_option,
    shapes_option,
    spec_argument,
)
from archspec.errors import printable


@click.command()
@click.argument("files", nargs=-1, required=True, type=SpecPath(), metavar="SPEC...")
@shapes_option("Also infer and check every tensor shape (no torch needed).")
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
    """One file's lines; control characters (from a file name, say) are shown escaped."""
    for w in r["warnings"]:
        click.echo(printable(w["text"]))
    if r["ok"]:
        stats = r.get("stats") or {}
        extra = f", {stats['params']:,} params, {stats['macs']:,} MACs" if "params" in stats else ""
        click.echo(printable(f"{r['file']}: ok ({stats.get('nodes', 0)} nodes{extra})"))
    else:
        for e in r["errors"]:
            click.echo(printable(e["text"]))


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def schema(output: str | None) -> None:
    """Print the JSON Schema of the spec format (for editors and CI).

    Add '# yaml-language-server: $schema=PATH' at the top of a spec for completion and inline
    errors in editors that use yaml-language-server (VS Code's YAML extension, Neovim, ...).
    """
    from archspec.lang.schema import schema_text

    check_output(output, "--output")
    text = schema_text()
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        click.echo(text, nl=False)


@click.command()
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
        click.echo(json.dumps({op.name: _op_json(op) for op in chosen}, indent=2))
        return
    for op in chosen:
        _echo_op(op, with_args=name is not None)


def _op_json(op: Any) -> dict[str, Any]:
    return {"family": op.family, "doc": op.doc, "inputs": op.input_range(), "args": op.args_schema()}


def _echo_op(op: Any, *, with_args: bool) -> None:
    lo, hi = op.input_range()
    arity = str(lo) if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"
    click.echo(f"{op.name:<22} {op.family:<11} in:{arity:<4} {op.doc.splitlines()[0] if op.doc else ''}")
    if with_args:
        for arg_name, arg in op.args.items():
            default = "required" if arg.required else f"default {arg.default!r}"
            click.echo(f"    {arg_name:<18} {default:<22} {arg.doc}")


@click.command()
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
    click.echo(json.dumps(rows, indent=2) if fmt == "json" else summary_table(rows))


@click.command()
@spec_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Print the resolved spec as YAML or JSON.",
)
@set_option
def expand(spec_file: str, fmt: str, overrides: Sequence[str]) -> None:
    """Print the resolved spec: blocks, repeat, if, params, scale and --set applied.

    The output is itself a spec that compiles to the same model, with the same node ids and
    parameter names: each block instance becomes a parameterless block of its resolved nodes,
    each repeat keeps its copies' literal values, every in: is written out (docs/spec.md).

    \b
    Examples:
      archspec expand net.yaml
      archspec expand net.yaml --set scale.width=0.5 --format json
    """
    from archspec.lang.resolved import resolved_text
    from archspec.pipeline import analyse, load

    spec = load(spec_file, overrides)
    analyse(spec)
    click.echo(resolved_text(spec, fmt), nl=False)


@click.command()
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
