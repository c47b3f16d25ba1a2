"""Render the gallery of example diagrams: ``python docs/gallery/make_gallery.py``.

Writes one SVG per entry next to this script, and a PNG of each when ``rsvg-convert`` is on
the PATH (it is only used here, to preview; archspec itself needs no system packages).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from archspec.diagram import to_svg
from archspec.diagram.adapter import to_rgraph
from archspec.pipeline import analyse, load

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"
PNG_ZOOM = 1.0  # rsvg-convert's zoom; 1 px per SVG unit keeps each PNG small

#: file stem -> (example, keyword arguments of to_rgraph)
GALLERY: dict[str, tuple[str, dict]] = {
    "unet": ("unet.yaml", {}),
    "unet_depth0": ("unet.yaml", {"depth": 0}),
    "resnet18_depth1": ("resnet18.yaml", {"depth": 1}),
    "resnet18": ("resnet18.yaml", {}),
    "two_branch": ("two_branch.yaml", {}),
    "autoencoder": ("autoencoder.yaml", {}),
    "autoencoder_part_encoder": ("autoencoder.yaml", {"part": "encoder"}),
}


def render(stem: str, example: str, kwargs: dict, rsvg: str | None) -> None:
    svg = to_svg(to_rgraph(analyse(load(EXAMPLES / example)), **kwargs))
    svg_path = HERE / f"{stem}.svg"
    svg_path.write_text(svg, encoding="utf-8")
    print(f"wrote {svg_path.relative_to(HERE.parent.parent)} ({len(svg) // 1024} KB)")
    if rsvg is None:
        return
    png_path = svg_path.with_suffix(".png")
    subprocess.run([rsvg, "--zoom", str(PNG_ZOOM), "-o", str(png_path), str(svg_path)], check=True)
    _shrink(png_path)
    print(f"wrote {png_path.relative_to(HERE.parent.parent)} ({png_path.stat().st_size // 1024} KB)")


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
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        print("rsvg-convert not found: writing SVG only (install librsvg2-bin for PNG previews)")
    for stem, (example, kwargs) in GALLERY.items():
        render(stem, example, kwargs, rsvg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
