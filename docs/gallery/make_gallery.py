"""Render the gallery of example diagrams: ``python docs/gallery/make_gallery.py``.

Writes one SVG per entry next to this script and a PNG of each: through cairosvg when it is
installed (``pip install "archspec[diagrams]"``, the same route as ``archspec render -o x.png``),
else through ``rsvg-convert`` when that is on the PATH. With Playwright and Chromium installed it
also takes a screenshot of the interactive HTML page as a browser shows it.

It works from the checkout's root and names each spec as ``examples/NAME.yaml``, so the
tooltips' ``file:line`` read the same whichever checkout made the gallery.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from archspec.diagram import to_html, to_svg
from archspec.diagram.adapter import to_rgraph
from archspec.diagram.diff import diff_rgraph
from archspec.diagram.raster import have_cairosvg, svg_to_file
from archspec.pipeline import analyse, load

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
EXAMPLES = Path("examples")  # relative to ROOT, the working directory main() moves to
PNG_ZOOM = 1.0  # pixels per SVG unit; 1 keeps each PNG small
CHROMIUM = "/usr/bin/chromium"

#: file stem -> (example, keyword arguments of to_rgraph, keyword arguments of to_svg)
GALLERY: dict[str, tuple[str, dict, dict]] = {
    "unet_u": ("unet.yaml", {"arrangement": "auto"}, {}),
    "unet_u_depth0": ("unet.yaml", {"arrangement": "auto", "depth": 0}, {}),
    "resnet18_fold": ("resnet18.yaml", {"arrangement": "auto"}, {}),
    "semi_supervised_ae_dark": ("semi_supervised_ae.yaml", {"arrangement": "auto"}, {"theme": "dark"}),
    "regularised_mlp_grey": ("regularised_mlp.yaml", {"arrangement": "auto"}, {"greyscale": True}),
    "unet": ("unet.yaml", {}, {}),
    "unet_depth0": ("unet.yaml", {"depth": 0}, {}),
    "resnet18_depth1": ("resnet18.yaml", {"depth": 1}, {}),
    "resnet18": ("resnet18.yaml", {}, {}),
    "two_branch": ("two_branch.yaml", {}, {}),
    "autoencoder": ("autoencoder.yaml", {}, {}),
    "autoencoder_part_encoder": ("autoencoder.yaml", {"part": "encoder"}, {}),
}
#: file stem -> (old example, new example) drawn as `archspec diff OLD NEW -o STEM.svg` draws them
DIFFS: dict[str, tuple[str, str]] = {
    "diff_mlp_regularised": ("mlp.yaml", "regularised_mlp.yaml"),
}
#: file stem -> (example, what to do on the page before the screenshot)
PAGES: dict[str, tuple[str, str]] = {
    "unet_page": ("unet.yaml", "enc1.c1"),
}


def render(stem: str, example: str, graph_kw: dict, svg_kw: dict, rsvg: str | None) -> None:
    write(stem, to_svg(to_rgraph(analyse(load(EXAMPLES / example)), **graph_kw), **svg_kw), rsvg)


def render_diff(stem: str, old: str, new: str, rsvg: str | None) -> None:
    graphs = (analyse(load(EXAMPLES / name)) for name in (old, new))
    write(stem, to_svg(diff_rgraph(*graphs)), rsvg)


def write(stem: str, svg: str, rsvg: str | None) -> None:
    """``stem``.svg next to this script, and its PNG."""
    svg_path = HERE / f"{stem}.svg"
    svg_path.write_text(svg, encoding="utf-8")
    print(f"wrote {svg_path.relative_to(ROOT)} ({len(svg) // 1024} KB)")
    png_path = svg_path.with_suffix(".png")
    if have_cairosvg():
        svg_to_file(svg, png_path, "png", scale=PNG_ZOOM)
    elif rsvg is not None:
        subprocess.run([rsvg, "--zoom", str(PNG_ZOOM), "-o", str(png_path), str(svg_path)], check=True)
    else:
        return
    _shrink(png_path)
    print(f"wrote {png_path.relative_to(ROOT)} ({png_path.stat().st_size // 1024} KB)")


def screenshot(stem: str, example: str, hover: str) -> None:
    """The HTML page in Chromium at 1280×800, hovering one box to show its tooltip."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("playwright not installed: no page screenshots")
        return
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM}: no page screenshots")
        return
    page_html = to_html(to_rgraph(analyse(load(EXAMPLES / example)), arrangement="auto"))
    png_path = HERE / f"{stem}.png"
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        html_path = Path(tmp) / "page.html"
        html_path.write_text(page_html, encoding="utf-8")
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(html_path.as_uri())
        page.locator(f'#view > svg g.node[data-id="{hover}"]').hover()
        page.screenshot(path=str(png_path))
        browser.close()
    _shrink(png_path)
    print(f"wrote {png_path.relative_to(ROOT)} ({png_path.stat().st_size // 1024} KB)")


def _shrink(png_path: Path) -> None:
    """Re-save as a 256-colour palette PNG when Pillow is installed (diagrams use few colours;
    this makes the files about three times smaller)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png_path) as im:
        small = im.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    small.save(png_path, optimize=True)


def main() -> int:
    os.chdir(ROOT)
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None and not have_cairosvg():
        print("neither cairosvg nor rsvg-convert found: writing SVG only (pip install cairosvg)")
    for stem, (example, graph_kw, svg_kw) in GALLERY.items():
        render(stem, example, graph_kw, svg_kw, rsvg)
    for stem, (old, new) in DIFFS.items():
        render_diff(stem, old, new, rsvg)
    for stem, (example, hover) in PAGES.items():
        screenshot(stem, example, hover)
    return 0


if __name__ == "__main__":
    sys.exit(main())
