"""Commands that draw specs, without torch: ``render`` and ``diff``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import click

from archspec.api import DIAGRAM_FORMATS, ApiError, diagram_format
from archspec.cli._common import (
    check_output,
    format_option,
    set_option,
    shapes_option,
    spec_argument,
    write_text,
)


def depth_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--depth",
        type=click.IntRange(min=0),
        help="Draw block instances nested deeper than this as one box each (0: every top-level block is one box).",
    )(fn)


def _diagram_format(fmt: str | None, output: str | None) -> str:
    """:func:`archspec.api.diagram_format`, its refusal worded as click's ``--output`` error."""
    try:
        return diagram_format(fmt, output)
    except ApiError as exc:
        raise click.BadParameter(str(exc), param_hint="--output") from None


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
    type=click.Choice(DIAGRAM_FORMATS),
    help="Output format (default: from --output's suffix, else svg). png and pdf use cairosvg (pip install 'archspec[diagrams]'), else Graphviz.",
)
@click.option(
    "--layout",
    type=click.Choice(["auto", "column", "u", "fold"]),
    default="auto",
    show_default=True,
    help="auto: a U for an encoder-decoder with skips, folded columns for a tall network, else one column.",
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
@click.option("--theme", type=click.Choice(["light", "dark"]), default="light", show_default=True)
@click.option(
    "--grey", "greyscale", is_flag=True, help="Print-friendly greyscale (edge kinds keep their dashes)."
)
@shapes_option(
    "Infer and show shapes and parameter counts (--no-shapes draws a spec whose shapes do not check yet)."
)
@click.option(
    "--losses/--no-losses", default=True, show_default=True, help="Draw the loss terms and their targets."
)
@click.option(
    "--serve",
    is_flag=True,
    help="Serve a live preview in the browser that redraws on every save (errors shown in place).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: the address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="With --serve.")
@set_option
def render(
    spec_file: str,
    output: str | None,
    fmt: str | None,
    layout: str,
    depth: int | None,
    part: str | None,
    direction: str,
    theme: str,
    greyscale: bool,
    shapes: bool,
    losses: bool,
    serve: bool,
    host: str,
    port: int,
    overrides: Sequence[str],
) -> None:
    """Draw the architecture: SVG, HTML (zoom, fold blocks, search, details), DOT, Mermaid,
    PNG or PDF — no torch.

    \b
    Examples:
    archspec render net.yaml -o net.svg
    archspec render net.yaml -o net.html --depth 1
    archspec render unet.yaml -o unet.pdf --layout u --grey
    archspec render net.yaml --format mermaid --part encoder
    archspec render net.yaml --serve          # live preview at http://127.0.0.1:8000
    """
    from archspec.api import render as draw

    options = {
        "depth": depth,
        "part": part,
        "direction": direction.upper(),
        "shapes": shapes,
        "losses": losses,
    }
    if serve:
        from archspec.diagram.serve import serve as serve_preview

        if output is not None or fmt is not None:
            raise click.UsageError("--serve shows the page in a browser: drop --output and --format")
        serve_preview(
            spec_file,
            host,
            port,
            overrides=overrides,
            theme=theme,
            greyscale=greyscale,
            arrangement=layout,
            **options,
        )
        return
    fmt = _diagram_format(fmt, output)
    check_output(output, "--output")
    if fmt in ("png", "pdf"):
        if output is None:
            raise click.UsageError(f"--format {fmt} writes a file: add --output FILE")
        draw(
            spec_file,
            output,
            format=fmt,
            overrides=overrides,
            layout=layout,
            theme=theme,
            greyscale=greyscale,
            **options,
        )
        click.echo(f"wrote {output}", err=True)
        return
    text = draw(
        spec_file, format=fmt, overrides=overrides, layout=layout, theme=theme, greyscale=greyscale, **options
    )
    write_text(text, output)


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
@shapes_option("Compare shapes and parameter counts too.")
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
