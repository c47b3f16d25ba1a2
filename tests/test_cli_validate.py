"""``archspec validate``, ``schema`` and ``ops`` through click's runner, and torch-free startup."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from archspec.lang.schema import schema_text
from tests.conftest import EXAMPLES, ROOT, invoke

BAD = "archspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  a: {op: relu}\n  b: {op: relu, in: c}\n"


def test_validate_accepts_every_example_and_reports_the_time():
    result = invoke("validate", *map(str, EXAMPLES))
    assert result.exit_code == 0, result.output
    assert f"validated {len(EXAMPLES)} file(s) in" in result.output


def test_validate_exits_2_with_located_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = invoke("validate", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:5:21: nodes.b.in: unknown node 'c' (hint: known here: a, b, x)" in result.output


def test_validate_reports_a_node_s_bad_argument_and_its_unknown_in_together(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "archspec: 1\ninputs: {x: {shape: [4]}}\nnodes:\n  a: {op: relu}\n  b: {op: linear, out_features: 0, in: c}\n"
    )
    result = invoke("validate", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:5:33: nodes.b.out_features: expected at least 1, got 0\n" in result.output
    assert f"{bad}:5:40: nodes.b.in: unknown node 'c' (hint: known here: a, b, x)\n" in result.output


def test_validate_json_lists_errors_with_positions(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = invoke("validate", "--format", "json", str(bad))
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    (error,) = report["files"][0]["errors"]
    assert (error["line"], error["column"], error["path"]) == (5, 21, "nodes.b.in")
    assert error["hint"] == "known here: a, b, x"


def test_a_missing_file_is_a_spec_error_not_a_traceback(tmp_path):
    result = invoke("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml: no such file" in result.output
    assert "Traceback" not in result.output


def test_usage_errors_exit_1():
    assert invoke("validate").exit_code == 1
    assert invoke("no-such-command").exit_code == 1


def test_help_lists_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("validate", "schema", "ops"):
        assert command in result.output


def test_checked_in_schema_is_up_to_date():
    path = ROOT / "schemas" / "archspec.schema.json"
    assert path.read_text() == schema_text(), "regenerate: archspec schema -o schemas/archspec.schema.json"


def test_examples_validate_against_the_editor_schema():
    from jsonschema import Draft202012Validator

    from archspec.lang.loader import load_document

    validator = Draft202012Validator(json.loads(schema_text()))
    for path in EXAMPLES:
        errors = list(validator.iter_errors(load_document(path).data))
        assert not errors, (path, [e.message for e in errors])


def test_validate_schema_and_ops_import_neither_torch_nor_networkx_nor_matplotlib():
    # networkx costs 0.1 s to import, more than validating a spec: Graph.dag builds it on demand
    code = (
        "import sys\n"
        "from archspec.cli import main\n"
        "for argv in (['validate', *sys.argv[1:]], ['schema'], ['ops']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
        "heavy = {'torch', 'networkx', 'matplotlib'} & set(sys.modules)\n"
        "assert not heavy, f'imported {heavy}'\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, EXAMPLES)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr


def test_ops_lists_the_catalogue_and_explains_one_op():
    result = invoke("ops")
    assert result.exit_code == 0 and "conv2d" in result.output
    result = invoke("ops", "linear")
    assert "out_features" in result.output
    assert invoke("ops", "linaer").exit_code == 1


def test_summary_prints_totals_and_json_has_per_node_rows():
    path = str(ROOT / "examples" / "resnet18.yaml")
    result = invoke("summary", path)
    assert result.exit_code == 0
    assert "total: 11,689,512 parameters" in result.output
    data = json.loads(invoke("summary", path, "--format", "json").stdout)
    assert data["total_params"] == 11_689_512
    assert sum(r["params"] for r in data["rows"]) == 11_689_512


def test_the_code_is_linted_and_formatted():
    version = subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True)
    if version.returncode != 0:
        raise AssertionError("ruff is missing: install the dev extra (pip install -e '.[dev]')")
    pinned = re.search(r'"ruff==([^"]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert version.stdout.split() == ["ruff", pinned], (
        f"the dev extra pins ruff {pinned}: pip install -e '.[dev]'"
    )
    for command in (["check"], ["format", "--check"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "archspec", "tests", "benchmarks", "docs"],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
