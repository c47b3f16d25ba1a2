"""The HTML page and the live preview in a real browser: Playwright driving the system Chromium.

.ci/run installs both (the pip package through the ``dev`` extra, ``chromium`` through apt),
so in CI (``CI`` set) a missing browser fails these tests; elsewhere they skip. One browser
for the module, a fresh page per test.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from archspec.diagram import to_html
from archspec.diagram.adapter import to_rgraph
from archspec.diagram.serve import Preview, PreviewServer
from archspec.pipeline import analyse, load, load_text
from tests.conftest import ROOT
from tests.test_render import chain_with_skips

CHROMIUM = os.environ.get("ARCHSPEC_CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run should have installed it")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def box(self, nid: str) -> dict:
        """A node's box on screen, and its 1:1 size from the SVG."""
        return self.page.evaluate(
            """id => { const g = [...document.querySelectorAll('#view > svg g.node')].find(n => n.dataset.id === id);
                 const r = g.querySelector('rect.box'), b = r.getBoundingClientRect();
                 return {x: b.x, y: b.y, w: b.width, h: b.height, w1: r.width.baseVal.value,
                         visible: getComputedStyle(g).display !== 'none'}; }""",
            nid,
        )


def _page_file(tmp_path: Path, name: str, html: str) -> str:
    path = tmp_path / f"{name}.html"
    path.write_text(html, encoding="utf-8")
    return path.as_uri()


def _example_html(name: str) -> str:
    g = to_rgraph(analyse(load(ROOT / "examples" / f"{name}.yaml")), arrangement="auto")
    return to_html(g)


def _blocks_1000() -> str:
    """About 1,000 op nodes in residual blocks and stages (the render benchmark's spec)."""
    lines = [
        "archspec: 1",
        "name: residual-1000",
        "inputs: {image: {shape: [3, 16, 16]}}",
        "blocks:",
        "  res:",
        "    params: {ch: int}",
        "    nodes:",
        '      c1: {op: conv2d, out_channels: "${ch}", kernel_size: 3, padding: 1}',
        "      n1: {op: batchnorm2d}",
        "      a1: {op: relu}",
        '      c2: {op: conv2d, out_channels: "${ch}", kernel_size: 3, padding: 1}',
        "      n2: {op: batchnorm2d}",
        "      add: {op: add, in: [n2, x]}",
        "      a2: {op: relu}",
        "nodes:",
        "  stem: {op: conv2d, in: image, out_channels: 8, kernel_size: 3, padding: 1}",
    ]
    lines += [f"  stage{k}: {{block: res, ch: 8, repeat: 12}}" for k in range(12)]
    lines += ["  pool: {op: global_avgpool}", "  fc: {op: linear, out_features: 10}", "outputs: {y: fc}"]
    return "\n".join(lines) + "\n"


PAGES = {
    "unet": lambda: _example_html("unet"),
    "resnet18": lambda: _example_html("resnet18"),
    "chain_1000": lambda: to_html(chain_with_skips(1000)),
    "blocks_1000": lambda: to_html(to_rgraph(analyse(load_text(_blocks_1000())), arrangement="auto")),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_page_opens_at_1_to_1_with_boxes_in_view_and_no_console_errors(browser, tmp_path, name):
    page = Page(browser, _page_file(tmp_path, name, PAGES[name]()))
    on_screen = page.page.evaluate(
        """() => [...document.querySelectorAll('#view > svg g.node rect.box, #view > svg g.cluster.collapsed rect')].filter(r => {
             const b = r.getBoundingClientRect();
             return b.width > 0 && b.right > 0 && b.bottom > 0 && b.left < innerWidth && b.top < innerHeight;
           }).map(r => r.getBoundingClientRect().width / r.width.baseVal.value)"""
    )
    assert on_screen, "nothing is drawn in the first screenful"
    assert min(on_screen) >= 0.9, f"boxes are drawn at {min(on_screen):.2f} of their size"
    first_input = page.page.evaluate("document.querySelector('g.node.family-input, g.node').dataset.id")
    box = page.box(first_input)
    assert box["x"] >= 0 and box["x"] + box["w"] <= VIEWPORT["width"] and 0 <= box["y"] < VIEWPORT["height"]
    assert page.errors == []


def test_big_drawings_start_with_their_innermost_blocks_collapsed(browser, tmp_path):
    page = Page(browser, _page_file(tmp_path, "blocks", PAGES["blocks_1000"]()))
    collapsed = page.page.evaluate("window.archspec.state().collapsed")
    assert "stage0.0" in collapsed and "stage0" not in collapsed
    assert not page.box("stage0.0.c1")["visible"]
    assert page.errors == []


def test_clicking_a_block_label_collapses_and_expands_it(browser, tmp_path):
    page = Page(browser, _page_file(tmp_path, "unet", PAGES["unet"]()))
    label = page.page.locator('g.cluster-label[data-id="enc1"] text').first
    assert page.box("enc1.c1")["visible"]
    label.click()
    assert not page.box("enc1.c1")["visible"] and not page.box("enc1.a2")["visible"]
    assert page.box("down1")["visible"]
    assert "collapsed" in page.page.locator('g.cluster[data-id="enc1"]').get_attribute("class")
    label.click()
    assert page.box("enc1.c1")["visible"]
    assert page.errors == []


def test_the_search_box_centres_the_node_it_finds(browser, tmp_path):
    page = Page(browser, _page_file(tmp_path, "unet", PAGES["unet"]()))
    page.page.fill("#search", "dec1.c2")
    page.page.press("#search", "Enter")
    box = page.box("dec1.c2")
    view = page.page.evaluate(
        "(() => { const b = document.getElementById('view').getBoundingClientRect();"
        " return {x: b.x + b.width / 2, y: b.y + b.height / 2}; })()"
    )
    assert box["x"] + box["w"] / 2 == pytest.approx(view["x"], abs=2)
    assert box["y"] + box["h"] / 2 == pytest.approx(view["y"], abs=2)
    assert box["w"] / box["w1"] >= 0.9
    assert "found" in page.page.locator('g.node[data-id="dec1.c2"]').get_attribute("class")


def test_search_expands_the_collapsed_block_that_hides_the_node(browser, tmp_path):
    page = Page(browser, _page_file(tmp_path, "blocks", PAGES["blocks_1000"]()))
    assert not page.box("stage7.3.c2")["visible"]
    page.page.fill("#search", "stage7.3.c2")
    page.page.press("#search", "Enter")
    assert page.box("stage7.3.c2")["visible"]


def test_the_tooltip_shows_arguments_shapes_and_the_spec_line(browser, tmp_path):
    page = Page(browser, _page_file(tmp_path, "unet", PAGES["unet"]()))
    page.page.locator('g.node[data-id="enc1.c1"]').hover()
    tip = page.page.locator("#tip").inner_text()
    assert "unet.yaml:13" in tip
    assert "args: out_channels=16, kernel_size=3, padding=1" in tip
    assert "in shapes: 1×32×32" in tip and "MACs: 147,456" in tip


def test_the_legend_stays_put_when_the_drawing_moves(browser, tmp_path):
    page = Page(browser, _page_file(tmp_path, "unet", PAGES["unet"]()))
    before = page.page.locator("#legend").bounding_box()
    page.page.mouse.move(600, 400)
    page.page.mouse.wheel(0, 400)  # zoom out
    page.page.mouse.down()
    page.page.mouse.move(500, 300)
    page.page.mouse.up()
    assert page.page.locator("#legend").bounding_box() == before
    assert page.page.evaluate("window.archspec.state().scale") < 1


# --- the live preview ---------------------------------------------------------------------------


def test_the_live_preview_redraws_after_a_save_and_shows_errors_over_the_last_drawing(browser, tmp_path):
    spec = tmp_path / "net.yaml"
    shutil.copy(ROOT / "examples" / "mlp.yaml", spec)
    with PreviewServer(Preview(spec), port=0) as server:
        assert server.url.startswith("http://127.0.0.1:")
        page = Page(browser, server.url)
        page.page.wait_for_selector('g.node[data-id="hidden"]')
        spec.write_text(spec.read_text().replace("out_features: 128", "out_features: 129"), encoding="utf-8")
        page.page.wait_for_function(
            "document.querySelector('#view svg').textContent.includes('→129')", timeout=5000
        )
        spec.write_text(spec.read_text().replace("nodes:", "nodez:"), encoding="utf-8")
        page.page.wait_for_selector("#error", state="visible", timeout=5000)
        error = page.page.locator("#error").inner_text()
        assert "net.yaml:" in error and "unknown key 'nodez'" in error
        assert page.page.evaluate("document.getElementById('view').classList.contains('stale')")
        assert page.page.locator('g.node[data-id="hidden"]').count() == 1  # the last good drawing stays
        spec.write_text(spec.read_text().replace("nodez:", "nodes:"), encoding="utf-8")
        page.page.wait_for_selector("#error", state="hidden", timeout=5000)
        assert page.errors == []


def test_a_spec_broken_from_the_start_is_served_as_its_errors(browser, tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text(
        textwrap.dedent("""\
        archspec: 1
        inputs: {x: {shape: [4]}}
        nodes:
          fc: {op: linear, in: y, out_features: 2}
        outputs: {out: fc}
    """),
        encoding="utf-8",
    )
    with PreviewServer(Preview(spec), port=0) as server:
        page = Page(browser, server.url)
        assert "broken.yaml:4" in page.page.locator("#error").inner_text()
        assert page.errors == []
