"""``archspec render`` and ``archspec diff`` through the CLI."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import EXAMPLES, ROOT, invoke


@pytest.mark.parametrize("suffix", [".svg", ".html", ".dot", ".mmd"])
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_renders_in_every_text_format(tmp_path, path, suffix):
    out = tmp_path / f"net{suffix}"
    result = invoke("render", str(path), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if suffix == ".svg":
        ET.fromstring(text)
    assert len(text) > 200


def test_render_options_and_errors(tmp_path):
    unet = str(ROOT / "examples" / "unet.yaml")
    full = invoke("render", unet).output
    collapsed = invoke("render", unet, "--depth", "0").output
    assert full.count('class="node') > collapsed.count('class="node')
    assert "\nflowchart LR\n" in invoke("render", unet, "--direction", "LR", "--format", "mermaid").output
    assert invoke("render", unet, "--part", "encoder").exit_code == 0
    bad_part = invoke("render", unet, "--part", "encodr")
    assert bad_part.exit_code == 2
    assert f"{unet}:20:3: parts: unknown part 'encodr' (hint: did you mean 'encoder'?)" in bad_part.output


def test_render_and_diff_tell_the_format_from_the_suffix_as_the_api_does(tmp_path):
    unet = str(ROOT / "examples" / "unet.yaml")
    bmp = str(tmp_path / "x.bmp")
    refusal = (
        f"Error: Invalid value for --output: cannot tell the diagram format from {bmp!r}: use a suffix "
        "(.dot, .gv, .htm, .html, .mermaid, .mmd, .pdf, .png, .svg) or give the format\n"
    )
    for args in (("render", unet), ("diff", unet, unet)):
        result = invoke(*args, "-o", bmp)
        assert result.exit_code == 1 and result.output.endswith(refusal), result.output
    assert invoke("render", unet, "-o", str(tmp_path / "x.mermaid")).exit_code == 0
    assert "\nflowchart TB\n" in (tmp_path / "x.mermaid").read_text()


def test_png_without_cairosvg_or_graphviz_says_how_to_install_either(tmp_path, monkeypatch):
    from archspec.diagram import raster

    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(raster, "have_cairosvg", lambda: False)
    result = invoke("render", str(ROOT / "examples" / "mlp.yaml"), "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 3
    assert "pip install 'archspec[diagrams]'" in result.output and "apt-get install graphviz" in result.output
    assert not (tmp_path / "x.png").exists()


def test_png_through_cairosvg_needs_no_system_graphviz(tmp_path, monkeypatch):
    pytest.importorskip("cairosvg")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = tmp_path / "unet.png"
    result = invoke("render", str(ROOT / "examples" / "unet.yaml"), "-o", str(out), "--layout", "u", "--grey")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_render_options_reach_the_drawing(tmp_path):
    unet = str(ROOT / "examples" / "unet.yaml")
    column, u = (invoke("render", unet, "--layout", name).output for name in ("column", "u"))
    assert column != u
    dark = invoke("render", unet, "--theme", "dark").output
    assert dark != invoke("render", unet).output
    assert invoke("render", unet, "--serve", "-o", str(tmp_path / "x.svg")).exit_code == 1


def test_render_draws_a_spec_whose_shapes_do_not_check_with_no_shapes(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "archspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  c: {op: conv2d, out_channels: 3, kernel_size: 3}\n"
    )
    assert invoke("render", str(spec)).exit_code == 2
    assert invoke("render", str(spec), "--no-shapes").exit_code == 0


def test_diff_reports_changes_as_text_json_and_a_highlighted_diagram(tmp_path):
    old = ROOT / "examples" / "mlp.yaml"
    new = tmp_path / "mlp2.yaml"
    new.write_text(old.read_text().replace("out_features: 128", "out_features: 256"))
    text = invoke("diff", str(old), str(new))
    assert text.exit_code == 0 and "hidden" in text.output
    data = json.loads(invoke("diff", str(old), str(new), "--format", "json").output)
    assert data["params"]["new"] > data["params"]["old"]
    out = tmp_path / "d.svg"
    assert invoke("diff", str(old), str(new), "-o", str(out)).exit_code == 0
    assert "highlight-changed" in out.read_text()
