"""What every renderer shares: fonts, text measurement, colours per family and edge kind.

Text is set in a monospace stack, so one advance per character (0.6 em, rounded up to 0.62 em
for fonts that run a little wide) measures it; wide East Asian characters count twice.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

FONT_FAMILY = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"
TITLE_PX = 12.0  # bold first line of a box
LINE_PX = 11.0  # detail lines
CLUSTER_PX = 11.0
EM_ADVANCE = 0.62  # width of one monospace character, in em
MAX_CHARS = 44  # longer lines are cut with an ellipsis (the full text stays in data-*)

BOX_PAD_X = 10.0
BOX_PAD_TOP = 7.0
BOX_PAD_BOTTOM = 7.0
TITLE_LEAD = 15.0  # baseline-to-baseline after the title
LINE_LEAD = 14.0
MIN_BOX_W = 64.0

# family -> (fill, stroke)
FAMILY_COLOURS: dict[str, tuple[str, str]] = {
    "input": ("#eef2f7", "#475569"),
    "dense": ("#dfeafe", "#2563eb"),
    "conv": ("#e3f3e7", "#2f855a"),
    "pool": ("#dcf5f1", "#0d9488"),
    "norm": ("#efe6fd", "#7c3aed"),
    "activation": ("#fdf3d6", "#b7791f"),
    "dropout": ("#f1f0ee", "#78716c"),
    "merge": ("#fde4e8", "#be185d"),
    "shape": ("#e0f4f8", "#0e7490"),
    "recurrent": ("#fbe7f3", "#c0267d"),
    "attention": ("#e4e7fd", "#4338ca"),
    "feature": ("#fbf6cf", "#a16207"),
    "embedding": ("#f8e6fc", "#a21caf"),
    "block": ("#f3f5f8", "#64748b"),
    "output": ("#e6e9ee", "#1e293b"),
    "loss": ("#fde2e2", "#b91c1c"),
}
DEFAULT_COLOURS = ("#f4f4f5", "#71717a")

# edge kind -> (stroke, dash pattern or "")
EDGE_STYLES: dict[str, tuple[str, str]] = {
    "data": ("#4b5563", ""),
    "skip": ("#4f7bd9", "6 4"),
    "loss": ("#c53030", "2 3"),
}
HIGHLIGHT_COLOURS: dict[str, str] = {
    "added": "#16a34a",
    "changed": "#f59e0b",
    "removed": "#dc2626",
    "unchanged": "#94a3b8",
}


def colours(family: str) -> tuple[str, str]:
    return FAMILY_COLOURS.get(family, DEFAULT_COLOURS)


def edge_style(kind: str) -> tuple[str, str]:
    return EDGE_STYLES.get(kind, EDGE_STYLES["data"])


def _units(ch: str) -> float:
    if unicodedata.combining(ch):
        return 0.0
    return 2.0 if unicodedata.east_asian_width(ch) in ("W", "F") else 1.0


def text_width(text: str, px: float) -> float:
    """Estimated rendered width of ``text`` at ``px`` font size."""
    return sum(_units(c) for c in text) * px * EM_ADVANCE


def clip(text: str, max_chars: int = MAX_CHARS) -> str:
    """``text`` cut to ``max_chars`` characters, ending in an ellipsis when cut."""
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def baselines(n_lines: int) -> list[float]:
    """Baselines of the title and each detail line, measured from the top of the box."""
    first = BOX_PAD_TOP + TITLE_PX * 0.9
    return [first] + [first + TITLE_LEAD + LINE_LEAD * i for i in range(n_lines)]


def box_size(title: str, lines: list[str]) -> tuple[float, float]:
    """Width and height of a node box that holds its (clipped) title and lines."""
    widths = [text_width(clip(title), TITLE_PX)] + [text_width(clip(s), LINE_PX) for s in lines]
    w = max(MIN_BOX_W, max(widths) + 2 * BOX_PAD_X)
    h = baselines(len(lines))[-1] + 3.0 + BOX_PAD_BOTTOM
    return float(round(w)), float(round(h))


# --- themes -----------------------------------------------------------------------------------

THEMES = ("light", "dark")
_CLUSTER_FILLS = {"block": ("#f6f8fb", "#edf1f6"), "part": ("#fffbeb", "#fef3c7")}
_CLUSTER_STROKES = {"block": "#c7d0dc", "part": "#d9b95c"}


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def mix(a: str, b: str, t: float) -> str:
    """``a`` moved a share ``t`` of the way to ``b``."""
    return _hex(tuple(x + (y - x) * t for x, y in zip(_rgb(a), _rgb(b), strict=True)))


def grey(colour: str) -> str:
    """The grey of the same luminance (Rec. 709), for print."""
    r, g, b = _rgb(colour)
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return _hex((y, y, y))


@dataclass(frozen=True)
class Palette:
    """Every colour a diagram uses, for one theme (``light`` or ``dark``), in colour or grey."""

    theme: str = "light"
    greyscale: bool = False

    def _c(self, light: str, dark: str | None = None) -> str:
        colour = light if self.theme == "light" else (dark if dark is not None else _darken(light))
        return grey(colour) if self.greyscale else colour

    @property
    def background(self) -> str:
        return self._c("#ffffff", "#0b1120")

    @property
    def text(self) -> str:
        return self._c("#0f172a", "#e5e7eb")

    @property
    def subtext(self) -> str:
        return self._c("#334155", "#cbd5e1")

    @property
    def muted(self) -> str:
        return self._c("#64748b", "#94a3b8")

    @property
    def frame(self) -> str:
        return self._c("#e2e8f0", "#334155")

    def family(self, family: str) -> tuple[str, str]:
        fill, stroke = colours(family)
        if self.theme == "dark":
            fill, stroke = mix("#111827", stroke, 0.28), mix(stroke, "#ffffff", 0.35)
        return self._g(fill), self._g(stroke)

    def _g(self, colour: str) -> str:
        return grey(colour) if self.greyscale else colour

    def edge(self, kind: str) -> tuple[str, str]:
        colour, dash = edge_style(kind)
        return (self._c(colour, mix(colour, "#ffffff", 0.35)), dash)

    def highlight(self, mark: str) -> str:
        return self._c(HIGHLIGHT_COLOURS[mark], HIGHLIGHT_COLOURS[mark])

    def cluster(self, kind: str, depth: int) -> tuple[str, str]:
        """(fill, stroke) of a cluster of ``kind`` (block or part) at nesting ``depth``."""
        fill = _CLUSTER_FILLS.get(kind, _CLUSTER_FILLS["block"])[depth % 2]
        stroke = _CLUSTER_STROKES.get(kind, _CLUSTER_STROKES["block"])
        if self.theme == "dark":
            base = "#1e293b" if kind != "part" else "#3b2f0b"
            fill, stroke = mix(base, "#0b1120", 0.35 * (depth % 2)), mix(stroke, "#0b1120", 0.35)
        return self._g(fill), self._g(stroke)


def _darken(colour: str) -> str:
    return mix(colour, "#0b1120", 0.8)


def palette(theme: str = "light", greyscale: bool = False) -> Palette:
    """The palette of ``theme``; raises :class:`ValueError` for an unknown theme."""
    if theme not in THEMES:
        raise ValueError(f"theme must be one of {', '.join(THEMES)}, got {theme!r}")
    return Palette(theme, greyscale)
