"""Commands that draw specs, without torch: ``render`` and ``diff``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from archspec.cli._common import check_output, format_option, set_option, spec_argument, write_text

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


@click.command()
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
    check_output(output, "--output")
    if fmt in ("png", "pdf") and output is None:
        raise click.UsageError(f"--format {fmt} writes a file: add --output FILE")
    graph = analyse(load(spec_file, overrides), shapes=shapes)
    g = to_rgraph(graph, depth=depth, part=part, direction=direction.upper(), shapes=shapes, losses=losses)
    if fmt in ("png", "pdf"):
        dot_to_file(to_dot(g), output, fmt)
        click.echo(f"wrote {output}", err=True)
        return
    write_text({"svg": to_svg, "html": to_html, "dot": to_dot, "mermaid": to_mermaid}[fmt](g), output)


@click.command()
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
        check_output(output, "--output")
    old, new = (analyse(load(f, overrides), shapes=shapes) for f in (old_file, new_file))
    result = diff_specs(old, new)
    click.echo(json.dumps(result, indent=2) if fmt == "json" else diff_text(result))
    if output is not None:
        from archspec.diagram import to_html, to_svg

        g = diff_rgraph(old, new, depth=depth, shapes=shapes)
        write_text((to_svg if _diagram_format(None, output) == "svg" else to_html)(g), output)
