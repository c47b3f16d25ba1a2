"""PNG and PDF from our own SVG through cairosvg: a pure-pip route (``pip install
"archspec[diagrams]"``) that draws exactly what the SVG shows, with no Graphviz.

cairosvg is imported only when a file is written, so the rest of the package never needs it.
It draws through the cairo library, which desktop systems and the ``chromium`` package carry.
"""

from __future__ import annotations

from pathlib import Path

from archspec.errors import RunError

__all__ = ["CAIROSVG_MISSING", "have_cairosvg", "svg_to_file"]

CAIROSVG_MISSING = (
    'PNG and PDF need cairosvg (pip install "archspec[diagrams]") or Graphviz '
    "(Debian/Ubuntu: apt-get install graphviz, macOS: brew install graphviz); "
    ".svg and .html need neither"
)
RASTER_FORMATS = ("png", "pdf")


def have_cairosvg() -> bool:
    """Whether cairosvg and the cairo library it draws with can be loaded."""
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def svg_to_file(svg: str, out_path: str | Path, fmt: str, *, scale: float = 2.0) -> Path:
    """Write ``svg`` as ``fmt`` (``png`` at ``scale`` pixels per SVG unit, or ``pdf``).

    Raises :class:`RunError` when cairosvg is missing or the format is not png or pdf.
    """
    if fmt not in RASTER_FORMATS:
        raise RunError(f"cairosvg writes png or pdf, got {fmt!r}")
    try:
        import cairosvg
    except (ImportError, OSError) as e:
        raise RunError(CAIROSVG_MISSING) from e
    out = Path(out_path)
    data = svg.encode("utf-8")
    if fmt == "png":
        cairosvg.svg2png(bytestring=data, write_to=str(out), scale=scale)
    else:
        cairosvg.svg2pdf(bytestring=data, write_to=str(out))
    return out
