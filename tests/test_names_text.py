"""Names and text (issue 16): every node id that validates compiles, ids and spec names cannot
carry a newline, a spec's name is one folder name, and control characters never reach an
output file or the terminal raw."""

from __future__ import annotations

import json
import keyword
import re

import pytest
import torch

from archspec.compiler.compile import compile_model, example_inputs
from archspec.compiler.emit import emit_python
from archspec.lang.schema import NAME, SPEC_NAME
from archspec.training.session import default_run_dir
from tests.conftest import analysed, invoke, spec_errors


def q(text: str) -> str:
    """``text`` as a YAML double-quoted scalar (JSON's string syntax is YAML's)."""
    return json.dumps(text)


def id_spec(node_id: str, input_name: str = "x") -> str:
    return f"""\
archspec: 1
name: ids
inputs:
  {input_name}: {{shape: [4]}}
nodes:
  {q(node_id)}: {{op: linear, out_features: 3, in: {input_name}}}
  {q(node_id + "_act")}: {{op: relu}}
  out: {{op: add, in: [{q(node_id)}, {q(node_id + "_act")}]}}
outputs: {{y: out}}
"""


# Keywords, soft keywords, the names generated code uses (self, torch, operator, getattr ...)
# and builtins: each must either be refused by validate or compile, run and emit.
CANDIDATES = sorted(
    {*keyword.kwlist, *keyword.softkwlist, "self", "torch", "nn", "fx", "operator", "getattr", "math"}
    | {"print", "input", "type", "id", "list", "dict", "sum", "len", "object", "super", "forward_"}
)


@pytest.mark.parametrize("node_id", CANDIDATES)
def test_every_node_id_that_validates_compiles_runs_and_emits(node_id):
    errors = spec_errors(id_spec(node_id))
    if errors:  # refused, as keywords and names starting with '_' are: fine, with a reason
        assert all("node name" in e for e in errors), errors
        return
    graph = analysed(id_spec(node_id))
    model = compile_model(graph, seed=0).eval()
    assert f"{node_id}.weight" in model.state_dict()  # the weight keys are the ids themselves
    inputs = list(example_inputs(graph).values())
    namespace: dict = {}
    exec(compile(emit_python(model, graph), "<emitted>", "exec"), namespace)  # noqa: S102 - our own output
    emitted = namespace[type(model).__name__]().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(model(*inputs), emitted(*inputs))


@pytest.mark.parametrize("name", ["class", "import", "self", "None", "in", "print"])
def test_an_input_named_like_a_keyword_or_builtin_compiles(name):
    graph = analysed(id_spec("h", input_name=name))
    model = compile_model(graph)
    assert model(torch.ones(2, 4)).shape == (2, 3)


@pytest.mark.parametrize("node_id", ["import", "class", "lambda", "None", "in"])
def test_a_keyword_node_id_is_a_located_error_with_a_hint(node_id):
    assert spec_errors(id_spec(node_id)) == [
        f"spec.yaml:6:3: nodes.{node_id}: node name {node_id!r} is a Python keyword, which cannot name "
        f"an attribute of the compiled torch module (hint: rename it, e.g. {node_id}_)"
    ]


def test_a_keyword_inside_a_block_is_refused_at_the_block_node():
    text = """\
archspec: 1
inputs:
  x: {shape: [4]}
blocks:
  b:
    nodes:
      class: {op: linear, out_features: 3}
nodes:
  enc: {block: b}
"""
    errors = spec_errors(text)
    assert len(errors) == 1 and "node name 'class' is a Python keyword" in errors[0], errors


def test_a_node_id_ending_in_a_newline_is_refused_with_its_path_escaped():
    hint = "(hint: names use letters, digits and _, and do not start with a digit)"
    assert spec_errors(id_spec("h\n")) == [
        f"spec.yaml:6:3: nodes['h\\n']: invalid name 'h\\n' {hint}",
        f"spec.yaml:7:3: nodes['h\\n_act']: invalid name 'h\\n_act' {hint}",
    ]


@pytest.mark.parametrize("schema", [NAME, SPEC_NAME], ids=["id", "spec name"])
def test_the_schema_patterns_refuse_a_trailing_newline_under_pythons_re(schema):
    # jsonschema checks "pattern" with re.search, where '$' also matches before a final newline
    assert re.search(schema["pattern"], "enc1")
    assert not re.search(schema["pattern"], "enc1\n")


# --- the spec's name is one folder name ----------------------------------------------------------


def name_spec(name: str) -> str:
    return f"archspec: 1\nname: {q(name)}\ninputs:\n  x: {{shape: [4]}}\nnodes:\n  a: {{op: relu}}\n"


@pytest.mark.parametrize(
    "name", ["../../x", "/tmp/abs", "a/b", "a\\b", "..", ".hidden", "-rf", "x\n", "", "a" * 101]
)
def test_a_spec_name_that_is_not_one_folder_name_is_a_located_error(name):
    assert spec_errors(name_spec(name)) == [
        f"spec.yaml:2:7: name: invalid spec name {name!r}: it names the folders build/<name> and runs/<name> "
        "(hint: use one folder name: letters, digits, '.', '_' and '-', starting with a letter, a digit or '_' "
        "(at most 100 characters))"
    ]


@pytest.mark.parametrize("name", ["unet-small", "v1.2_final", "_x", "3d-net", "a" * 100])
def test_ordinary_spec_names_are_fine(name):
    assert spec_errors(name_spec(name)) == []


def test_compile_with_a_name_that_escapes_writes_nothing_anywhere(tmp_path, monkeypatch):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    (work / "s.yaml").write_text(name_spec("../../x"))
    result = invoke("compile", "s.yaml")
    assert result.exit_code == 2, result.output
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "a",
        "a/b",
        "a/b/s.yaml",
    ]


@pytest.mark.parametrize("name", ["../../x", "/etc", "..", "a/../../b"])
def test_the_default_run_dir_stays_in_runs_whatever_the_name(tmp_path, name):
    root = tmp_path / "runs"
    assert default_run_dir(name, root).resolve().parent == root.resolve()


# --- control characters --------------------------------------------------------------------------


def control_spec(where: str) -> str:
    head = "archspec: 1\nname: cc\n"
    body = "inputs:\n  x: {shape: [4]}\nnodes:\n  a: {op: linear, out_features: 2"
    if where == "description":
        return head + 'description: "\\e]0;pwned\\a"\n' + body + "}\n"
    if where == "doc":
        return head + body + ', doc: "x\\x9b31my"}\n'
    return head + body + '}\nlosses:\n  l: {fn: mse, stream: t, pred: a, target: "y\\r"}\n'


@pytest.mark.parametrize(
    ("where", "position", "char", "shown"),
    [
        ("description", "3:14", "\\x1b", "'\\x1b]0;pwned\\x07'"),
        ("doc", "6:41", "\\x9b", "'x\\x9b31my'"),
        ("target", "8:44", "\\r", "'y\\r'"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "summary", "render"])
def test_a_control_character_in_any_text_is_refused_by_every_command(
    tmp_path, where, position, char, shown, command
):
    path = tmp_path / "cc.yaml"
    path.write_text(control_spec(where))
    result = invoke(command, str(path))
    assert result.exit_code == 2, result.output
    assert (
        f"{path}:{position}: control character '{char}' in {shown} (hint: names, descriptions and other text end up"
        in result.output
    )
    assert not re.search("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]", result.output), repr(result.output)


def test_tabs_and_line_breaks_in_text_are_fine_and_the_svg_is_well_formed(tmp_path):
    import xml.etree.ElementTree as ET

    path = tmp_path / "ok.yaml"
    path.write_text(
        'archspec: 1\nname: ok\ndescription: "one\\ttwo\\nthree"\ninputs:\n  x: {shape: [4]}\n'
        'nodes:\n  a: {op: linear, out_features: 2, doc: "line\\nbreak & <tag>"}\n'
    )
    result = invoke("render", str(path), "-o", str(tmp_path / "ok.svg"))
    assert result.exit_code == 0, result.output
    ET.parse(tmp_path / "ok.svg")


def test_svg_text_with_control_characters_stays_well_formed_xml():
    import xml.etree.ElementTree as ET

    from archspec.diagram import to_svg
    from archspec.diagram.model import RGraph, RNode

    nasty = "a\x00b\x1b[2J\x07\x9b\x7f\ufffe"
    svg = to_svg(
        RGraph([RNode(id="n", title=nasty, op=nasty, family="op", lines=[nasty])], [], {}, title=nasty)
    )
    ET.fromstring(svg)  # expat refuses any of these characters raw, and as references
    assert not re.search("[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\ufffe]", svg)
    assert "a\\x00b\\x1b[2J\\x07\\x9b\\x7f\\ufffe" in svg  # shown, escaped


def test_an_error_message_never_prints_a_raw_control_character(tmp_path):
    result = invoke("validate", str(tmp_path / "a\x1b]0;x\x07.yaml"))
    assert result.exit_code != 0
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "a\\x1b]0;x\\x07.yaml" in result.output, result.output


def test_a_spec_name_taken_from_the_file_name_is_one_folder_name(tmp_path):
    path = tmp_path / "my net\x1b.yaml"
    path.write_text("archspec: 1\ninputs:\n  x: {shape: [4]}\nnodes:\n  a: {op: relu}\n")
    assert analysed(path.read_text(), name=str(path)).spec.name == "my_net_"
