"""What a diagram says about losses, how it looks in each theme, and PNG/PDF through cairosvg.

cairosvg is in the ``diagrams`` extra (and ``dev``); the tests that convert skip without it.
"""

from __future__ import annotations

import io
import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

from archspec.api import ApiError, render
from archspec.diagram import to_svg
from archspec.diagram._style import palette
from archspec.diagram.adapter import OBJECTIVE, to_rgraph
from archspec.diagram.raster import CAIROSVG_MISSING, have_cairosvg, svg_to_file
from archspec.errors import RunError
from archspec.pipeline import analyse, load, load_text
from tests.conftest import ROOT
from tests.test_render import SVG, parse

SCHEDULED = textwrap.dedent("""\
    archspec: 1
    inputs: {x: {shape: [2]}}
    parts: {body: [fc1, act]}
    nodes:
      fc1: {op: linear, in: x, out_features: 8}
      act: {op: relu}
      fc2: {op: linear, out_features: 2}
    outputs: {y: fc2}
    data:
      train: {dataset: moons, split: train}
    losses:
      ce: {fn: cross_entropy, stream: train, pred: y, target: label, weight: "${min(1.0, step / 200)}"}
      l2: {fn: l2, params: "*", weight: 1.0e-4}
      l1: {fn: l1, params: "body.*", weight: 1.0e-5}
""")

needs_cairosvg = pytest.mark.skipif(not have_cairosvg(), reason="cairosvg is not installed")


def _rgraph(text: str = SCHEDULED):
    return to_rgraph(analyse(load_text(text, name="sched.yaml")))


# --- losses as the graph sees them ---------------------------------------------------------------


def test_a_scheduled_weight_is_drawn_as_lambda_with_the_expression_in_the_tooltip():
    g = _rgraph()
    ce = next(n for n in g.nodes if n.id == "loss:ce")
    assert ce.lines == ["cross_entropy ×λ(step) on train"]
    assert ce.info["weight"] == "${min(1.0, step / 200)}"
    assert ce.info["at"] == "sched.yaml:12"
    svg = to_svg(g)
    assert "${" not in "".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text"))
    node = next(el for el in ET.fromstring(svg).iter(f"{SVG}g") if el.get("data-id") == "loss:ce")
    assert json.loads(node.get("data-info"))["weight"] == "${min(1.0, step / 200)}"
    assert "weight: ${min(1.0, step / 200)}" in node.find(f"{SVG}title").text


def test_penalties_hang_from_what_they_act_on_and_one_box_sums_the_objective():
    g = _rgraph()
    edges = {(e.src, e.dst): e for e in g.edges}
    assert edges[("fc2", "loss:l2")].label == "all params"  # a global penalty is attached too
    assert edges[("act", "loss:l1")].label == "body.*"
    into = sorted(e.src for e in g.edges if e.dst == OBJECTIVE)
    assert into == ["loss:ce", "loss:l1", "loss:l2"]
    total = next(n for n in g.nodes if n.id == OBJECTIVE)
    assert (total.title, total.family) == ("objective", "loss")
    assert total.lines == ["λ(step)·ce + 0.0001·l2 + 1e-05·l1"]
    assert total.info["objective"] == "${min(1.0, step / 200)} · ce + 0.0001 · l2 + 1e-05 · l1"
    assert not any(n.id == OBJECTIVE for n in to_rgraph(analyse(load_text(SCHEDULED)), losses=False).nodes)


def test_op_tooltips_carry_every_argument_shapes_params_macs_and_the_spec_line():
    g = to_rgraph(analyse(load(ROOT / "examples" / "unet.yaml")))
    c1 = next(n for n in g.nodes if n.id == "enc1.c1")
    assert c1.info["op"] == "conv2d"
    assert c1.info["args"] == "out_channels=16, kernel_size=3, padding=1"
    assert c1.info["in shapes"] == "1×32×32" and c1.info["out shape"] == "16×32×32"
    assert c1.info["params"] == "160" and c1.info["MACs"] == "147,456"
    assert c1.info["at"].endswith("unet.yaml:13")  # the block's node line, where the op is written


LIBRARY = textwrap.dedent("""\
    archspec: 1
    inputs: {x: {shape: [4]}}
    blocks:
      dense:
        params: {n: int}
        nodes:
          fc: {op: linear, out_features: "${n}"}
          act: {op: relu}
    nodes:
      body: {block: dense, n: 8}
""")


def test_a_render_of_a_relative_spec_path_names_it_and_its_includes_relative(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "dense.yaml").write_text(LIBRARY)
    (tmp_path / "net.yaml").write_text(
        "archspec: 1\ninclude: [lib/dense.yaml]\ninputs: {x: {shape: [4]}}\n"
        "nodes:\n  body: {block: dense, n: 8}\n  head: {op: linear, out_features: 2}\n"
    )
    monkeypatch.chdir(tmp_path)
    svg = render("net.yaml", "net.svg")
    places = {
        g.get("data-id"): json.loads(g.get("data-info"))["at"]
        for g in ET.fromstring(svg).iter(f"{SVG}g")
        if "node" in g.get("class", "").split()
    }
    assert places == {
        "x": "net.yaml:3",
        "body.fc": "lib/dense.yaml:7",
        "body.act": "lib/dense.yaml:8",
        "head": "net.yaml:6",
        "output:output": "net.yaml:1",
    }


# --- themes ---------------------------------------------------------------------------------------


def _fills(svg: str) -> set[str]:
    return {el.get("fill") for el in ET.fromstring(svg).iter() if el.get("fill", "").startswith("#")}


def test_dark_theme_has_a_dark_background_and_light_text():
    svg = to_svg(_rgraph(), theme="dark")
    root = ET.fromstring(svg)
    bg = root.find(f"{SVG}rect[@class='background']").get("fill")
    title = next(t for t in root.iter(f"{SVG}text") if t.get("class") == "node-title").get("fill")
    assert _luma(bg) < 40 < 180 < _luma(title)


def test_greyscale_uses_only_greys_and_keeps_edge_kinds_apart_by_dashes():
    svg = to_svg(_rgraph(), greyscale=True)
    assert all(f[1:3] == f[3:5] == f[5:7] for f in _fills(svg))
    dashes = {el.get("class"): el.get("stroke-dasharray") for el in ET.fromstring(svg).iter(f"{SVG}path")}
    assert dashes["edge edge-data"] is None and dashes["edge edge-loss"]


def test_an_unknown_theme_is_refused():
    with pytest.raises(ValueError, match="theme must be one of light, dark, got 'sepia'"):
        palette("sepia")
    with pytest.raises(ApiError, match="unknown theme 'sepia'; themes: light, dark"):
        render(ROOT / "examples" / "mlp.yaml", theme="sepia")


def _luma(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# --- cairosvg -----------------------------------------------------------------------------------


def test_labels_have_no_paint_order_halo_that_converters_draw_over_the_text():
    svg = to_svg(_rgraph())
    assert "paint-order" not in svg


@needs_cairosvg
def test_cluster_labels_survive_conversion_to_png():
    """The label's text is drawn over its backing rectangle: dark pixels inside the label."""
    from PIL import Image

    g = to_rgraph(analyse(load(ROOT / "examples" / "unet.yaml")))
    svg = to_svg(g)
    png = io.BytesIO()
    import cairosvg

    cairosvg.svg2png(bytestring=svg.encode(), write_to=png, scale=1.0)
    image = Image.open(png).convert("L")
    labels = [el for el in ET.fromstring(svg).iter(f"{SVG}g") if el.get("class") == "cluster-label"]
    assert labels
    for el in labels:
        rect = el.find(f"{SVG}rect")
        x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        crop = image.crop((int(x), int(y), int(x + w), int(y + h)))
        dark = sum(crop.histogram()[:140])
        assert dark > 10, f"label {el.get('data-id')} has no text pixels"


@needs_cairosvg
@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_png_and_pdf_are_written_by_cairosvg_without_graphviz(tmp_path, monkeypatch, fmt, magic):
    monkeypatch.setattr("shutil.which", lambda name: None)  # no Graphviz anywhere
    out = tmp_path / f"unet.{fmt}"
    assert render(ROOT / "examples" / "unet.yaml", out, theme="dark") == str(out)
    assert out.read_bytes().startswith(magic)


def test_without_cairosvg_the_error_says_what_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_cairosvg(name, *args, **kwargs):
        if name == "cairosvg":
            raise ImportError("no cairosvg here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cairosvg)
    with pytest.raises(RunError) as info:
        svg_to_file("<svg/>", tmp_path / "x.png", "png")
    assert str(info.value) == CAIROSVG_MISSING
    assert parse(to_svg(_rgraph())).boxes  # the SVG itself needs nothing


@needs_cairosvg
def test_the_diagrams_page_python_example_runs(tmp_path, monkeypatch):
    import re

    text = (ROOT / "docs" / "diagrams.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace('"examples/', f'"{ROOT}/examples/'), "diagrams.md", "exec"), {})
    for made in ("unet.svg", "resnet.html", "unet.pdf", "mlp.png"):
        assert (tmp_path / made).stat().st_size > 1000, made
