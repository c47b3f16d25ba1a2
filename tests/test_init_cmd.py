"""``archspec init`` writes starter specs that validate as written."""

from __future__ import annotations

import json

import pytest

from archspec.lang.templates import TEMPLATES
from archspec.pipeline import analyse, load
from tests.conftest import invoke


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_writes_a_valid_spec_with_the_editor_schema_line(tmp_path, template):
    result = invoke("init", "net", "--template", template, "-d", str(tmp_path))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "net.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=archspec.schema.json")
    assert json.loads((tmp_path / "archspec.schema.json").read_text())["title"] == "archspec spec"
    graph = analyse(load(tmp_path / "net.yaml"))
    assert graph.spec.name == "net" and graph.spec.losses


def test_init_refuses_to_overwrite_and_names_templates(tmp_path):
    assert invoke("init", "net", "-d", str(tmp_path)).exit_code == 0
    again = invoke("init", "net", "-d", str(tmp_path))
    assert again.exit_code == 1 and "already exists (use --force to overwrite)" in again.output
    bad = invoke("init", "x", "-t", "unett", "-d", str(tmp_path))
    assert bad.exit_code == 1 and "unknown template 'unett' (did you mean 'unet'?)" in bad.output
