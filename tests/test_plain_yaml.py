"""Specs are plain YAML: every spec we ship or document reads the same with stock tools.

Editors (yaml-language-server), linters (pre-commit's check-yaml) and users' scripts
(``yaml.safe_load``) read our files with their own parsers. These tests read them the same way:
each shipped spec with ``check-jsonschema`` against our schema, as an editor validates it, and
each spec and docs snippet with ``yaml.safe_load``, compared with what archspec's loader reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from archspec.errors import LoadError
from archspec.lang.loader import loads
from archspec.lang.templates import TEMPLATES, write_template
from tests.conftest import EXAMPLES, ROOT

SCHEMA = ROOT / "schemas" / "archspec.schema.json"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _yaml_blocks(path: Path) -> list[tuple[str, str]]:
    """Each ```yaml block of a Markdown file as (``file:line``, text)."""
    text = path.read_text()
    return [
        (f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 2}", m.group(1))
        for m in re.finditer(r"```yaml\n(.*?)```", text, re.S)
    ]


SNIPPETS = [block for doc in DOCS for block in _yaml_blocks(doc)]


TEMPLATE_FILES = sorted((ROOT / "archspec" / "templates").glob("*.yaml"))


def _rendered_templates(directory: Path) -> list[Path]:
    return [write_template(name, name, directory=directory) for name in TEMPLATES]


def _documented_specs(directory: Path) -> list[Path]:
    """The complete specs among the docs snippets (not outlines with ``...``), as files."""
    paths = []
    for n, (_, text) in enumerate(SNIPPETS):
        if re.match(r"(#.*\n)*archspec: 1\n", text) and "..." not in text:
            paths.append(directory / f"documented_{n}.yaml")
            paths[-1].write_text(text)
    return paths


def assert_same_data(text: str, name: str) -> None:
    """``yaml.safe_load`` and archspec read ``text`` to identical data (types included)."""
    ours = loads(text, name).data
    theirs = yaml.safe_load(text)
    assert json.dumps(theirs) == json.dumps(ours), name


def test_every_shipped_spec_passes_check_jsonschema_as_editors_validate_it(tmp_path):
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is in the dev extra")
    documented = _documented_specs(tmp_path)
    specs = [*EXAMPLES, *TEMPLATE_FILES, *_rendered_templates(tmp_path), *documented]
    assert len(EXAMPLES) >= 14 and len(TEMPLATES) >= 5 and len(documented) >= 4
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(SCHEMA), *map(str, specs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_check_jsonschema_refuses_an_unquoted_expression_as_every_yaml_tool_does(tmp_path):
    pytest.importorskip("check_jsonschema", reason="check-jsonschema is in the dev extra")
    path = tmp_path / "old.yaml"
    path.write_text("archspec: 1\nnodes:\n  c: {op: conv2d, out_channels: ${ch}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(SCHEMA), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(path.read_text())
    with pytest.raises(LoadError, match=r'quote the expression: out_channels: "\$\{ch\}"'):
        loads(path.read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_reads_the_same_with_yaml_safe_load(path):
    assert_same_data(path.read_text(), path.name)


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_every_template_file_as_shipped_reads_the_same_with_yaml_safe_load(path):
    assert_same_data(path.read_text(), path.name)


def test_every_init_template_reads_the_same_with_yaml_safe_load(tmp_path):
    for path in _rendered_templates(tmp_path):
        assert_same_data(path.read_text(), path.name)


@pytest.mark.parametrize(("where", "text"), SNIPPETS, ids=[where for where, _ in SNIPPETS])
def test_every_yaml_snippet_in_the_docs_reads_the_same_with_yaml_safe_load(where, text):
    if all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
        assert yaml.safe_load(text) is None  # a comment only, such as the $schema line
        return
    assert_same_data(text, where)


def test_the_docs_snippets_are_found():
    assert len(SNIPPETS) >= 30
    assert any("README.md" in where for where, _ in SNIPPETS)


def test_the_unquoted_expression_error_in_the_spec_reference_is_what_the_loader_says():
    shown = re.search(
        r"`(invalid YAML: unquoted expression .*?)`\.", (ROOT / "docs" / "spec.md").read_text(), re.S
    )
    with pytest.raises(LoadError) as info:
        loads("a: {op: conv2d, out_channels: ${ch}}\n")
    err = info.value
    assert " ".join(shown.group(1).split()) == f"{err.message} (hint: {err.hint})"
