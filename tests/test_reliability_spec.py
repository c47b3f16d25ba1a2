"""Reliability of the spec side: hostile YAML, limits, names that never import code, determinism.

Each test proves one promise of docs/reliability.md; where tests/test_loader.py, test_spec.py
or test_fuzz.py already prove one, the document points there instead of a copy here. Tests
marked ``slow`` are skipped unless asked for (``-m slow`` or ``ARCHSPEC_SLOW=1``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import yaml

from archspec.errors import ArchSpecError, SpecErrors
from archspec.lang.expand import MAX_NODES, MAX_REPEAT
from archspec.lang.loader import MAX_EXPANDED_NODES
from archspec.pipeline import analyse, load_text
from tests.conftest import EXAMPLES, ROOT, invoke
from tests.test_loader import BILLION_LAUGHS

HEAD = "archspec: 1\ninputs:\n  x: {shape: [4]}\nnodes:\n"
PACKAGE = ROOT / "archspec"


def validate_cli(tmp_path, content: str | bytes, name: str = "spec.yaml"):
    """``archspec validate`` on a file holding ``content`` (which must not crash the CLI);
    returns (exit code, output, click result)."""
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = invoke("validate", path)
    return result.exit_code, result.output, result


def assert_clean_failure(result, output: str) -> None:
    """A domain error: click exited on purpose with a non-zero code, and (checked again here,
    since ``output`` may have been post-processed) no traceback and no 'internal error'."""
    assert isinstance(result.exception, SystemExit) and result.exit_code != 0, result.exception
    assert "Traceback" not in output
    assert "internal error" not in output


# --- 1. no object construction from YAML ------------------------------------------------------

UNSAFE_YAML = re.compile(
    r"yaml\.(load|load_all|unsafe_load|unsafe_load_all|full_load|full_load_all)\s*\("
    r"|Loader\s*=\s*yaml\.(Loader|FullLoader|UnsafeLoader)\b"
    r"|yaml\.(Unsafe|Full)?Loader\s*\("
)


def test_no_module_in_the_package_calls_an_unsafe_yaml_loader():
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNSAFE_YAML.search(line)
    ]
    assert offenders == []


def test_the_unsafe_yaml_pattern_catches_what_it_must():
    for line in ["yaml.load(text)", "yaml.load(t, Loader=yaml.Loader)", "yaml.unsafe_load(t)",
                 "yaml.full_load(t)", "yaml.load_all(t)", "x = yaml.parse(t, Loader=yaml.FullLoader)",
                 "Loader=yaml.UnsafeLoader"]:  # fmt: skip
        assert UNSAFE_YAML.search(line), line
    for line in ["yaml.safe_load(t)", "yaml.parse(t, Loader=yaml.SafeLoader)", "yaml.safe_dump(d)"]:
        assert not UNSAFE_YAML.search(line), line


def test_validate_refuses_a_python_tag_with_a_located_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    code, output, result = validate_cli(
        tmp_path, f'archspec: 1\na: !!python/object/apply:os.system ["touch {marker}"]\n'
    )
    assert code == 2
    assert f"{tmp_path / 'spec.yaml'}:2:4: tag '!!python/object/apply:os.system' is not allowed" in output
    assert not marker.exists()
    assert_clean_failure(result, output)


# --- 2 and 3. bombs and limits ----------------------------------------------------------------


def test_billion_laughs_through_validate_is_refused(tmp_path):
    # that it is refused while composing, with little memory: test_loader.py
    assert len(BILLION_LAUGHS.encode()) < 400 and BILLION_LAUGHS.count("&") == 9
    code, output, result = validate_cli(tmp_path, BILLION_LAUGHS)
    assert code == 2
    assert f"the document has more than {MAX_EXPANDED_NODES:,} nodes once aliases are expanded" in output
    assert_clean_failure(result, output)


def test_a_spec_with_anchors_aliases_and_merge_keys_still_validates(tmp_path):
    text = HEAD + "  a: &lin {op: linear, out_features: 8}\n  b: *lin\n  c: {<<: *lin, out_features: 2}\n"
    code, output, _ = validate_cli(tmp_path, text)
    assert code == 0, output
    assert "ok (3 nodes" in output


def test_a_file_over_the_size_limit_fails_through_validate_before_it_is_parsed(tmp_path, monkeypatch):
    monkeypatch.setattr(yaml, "parse", parse_nothing)
    code, output, result = validate_cli(tmp_path, b"#" * (5 * 1024 * 1024 + 1))
    assert code == 2 and "the file is larger than the limit of 5,242,880 bytes" in output
    assert_clean_failure(result, output)


def test_100000_nested_brackets_fail_through_validate_without_a_crash(tmp_path, monkeypatch):
    parsed = []
    monkeypatch.setattr(
        yaml, "parse", lambda text, Loader: parsed.append(text) or real_parse(text, Loader=Loader)
    )
    code, output, result = validate_cli(tmp_path, "[" * 100_000)
    assert code == 2 and "spec.yaml:1:101: nesting deeper than 100 levels" in output
    assert_clean_failure(result, output)
    assert [len(text) for text in parsed] == [101]  # the parser never reads past the limit


real_parse = yaml.parse


def parse_nothing(text, Loader):  # noqa: N803 (PyYAML's spelling)
    raise AssertionError("the YAML parser ran")


def test_repeat_chains_beyond_the_node_limit_are_refused_with_one_located_error():
    entries = MAX_NODES // MAX_REPEAT + 1  # 11 x repeat 10000 = 110,000 nodes
    text = HEAD + "".join(f"  r{i}: {{op: relu, repeat: {MAX_REPEAT}}}\n" for i in range(entries))
    with pytest.raises(SpecErrors) as info:
        load_text(text, name="spec.yaml")
    assert [str(e) for e in info.value.errors] == [
        f"spec.yaml:{4 + entries}:3: nodes.r{entries - 1}: the spec expands to more than {MAX_NODES} nodes (hint: lower a repeat count)"
    ]


def test_a_repeated_block_beyond_the_node_limit_gives_one_error():
    text = textwrap.dedent(f"""\
        archspec: 1
        inputs: {{x: {{shape: [4]}}}}
        blocks:
          b:
            nodes:
              r: {{op: relu, repeat: {MAX_REPEAT}}}
        nodes:
          n: {{block: b, repeat: {MAX_REPEAT}}}
        """)
    with pytest.raises(SpecErrors) as info:
        load_text(text, name="spec.yaml")
    assert len(info.value.errors) == 1


def test_a_repeat_over_its_own_limit_is_refused_at_once():
    with pytest.raises(SpecErrors) as info:
        load_text(HEAD + f"  r: {{op: relu, repeat: {MAX_REPEAT + 1}}}\n", name="spec.yaml")
    assert [str(e) for e in info.value.errors] == [
        f"spec.yaml:5:25: nodes.r.repeat: repeat must be an integer from 0 to {MAX_REPEAT}, got {MAX_REPEAT + 1}"
    ]


@pytest.mark.slow
def test_a_file_with_too_many_literal_nodes_is_refused():
    # slow: PyYAML's pure-Python parser needs ~4 s to read 2 MB of mappings
    text = HEAD + "".join(f"  a{i}: {{op: relu}}\n" for i in range(MAX_EXPANDED_NODES // 4 + 1))
    with pytest.raises(ArchSpecError, match=f"more than {MAX_EXPANDED_NODES:,} nodes"):
        load_text(text, name="spec.yaml")


# --- 4. only archspec errors escape -------------------------------------------------------------

VALID = HEAD + "  a: {op: linear, out_features: 4}\n"
REGRESSIONS = {
    "5000-digit integer": (
        HEAD + "  a: {op: linear, out_features: " + "7" * 5000 + "}\n",
        "integer with 5000 digits is too long",
    ),
    "deep nesting": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nesting deeper than 100 levels"),
    "a list as a key": (
        HEAD + "  ? [a]\n  : {op: relu}\n",
        "a mapping key must be a plain value, got a list",
    ),
    "a number as a key": (
        HEAD + "  1: {op: relu}\n",
        "5:3: nodes.1: invalid name '1' (hint: names use letters, digits and _, and do not start with a digit)",
    ),
    "binary garbage": (bytes(range(256)) * 8, "the file is not UTF-8 text (byte 0x80 at offset 128)"),
    "an empty file": (b"", "a spec must be a YAML mapping at the top level, got an empty document"),
    "only a comment": ("# nothing\n", "got an empty document"),
    "a tab indent": (HEAD + "\ta: {op: relu}\n", "YAML indents with spaces only: replace the tab by spaces"),
    "a NUL byte": (HEAD + "  a: {op: relu}\x00\n", "unacceptable character #x0000"),
    "a lone surrogate": (HEAD.encode() + b"  a: {op: \xed\xa0\x80}\n", "the file is not UTF-8 text"),
    "two documents": (VALID + "---\n" + VALID, "a spec file must hold exactly one YAML document"),
}
FINE = {
    "a BOM": ("\ufeff" + VALID).encode(),
    "CRLF line ends": VALID.replace("\n", "\r\n"),
    "a BOM and CRLF": ("\ufeff" + VALID.replace("\n", "\r\n")).encode(),
}


def _pipeline(content: str | bytes) -> None:
    analyse(load_text(content, name="spec.yaml"))  # type: ignore[arg-type]  # the loader takes bytes too


@pytest.mark.parametrize("case", list(REGRESSIONS))
def test_regression_inputs_give_an_archspec_error_through_the_pipeline(case):
    content, message = REGRESSIONS[case]
    with pytest.raises(ArchSpecError) as info:
        _pipeline(content)
    assert message in str(info.value)


@pytest.mark.parametrize("case", list(REGRESSIONS))
def test_regression_inputs_exit_2_through_validate_with_a_message_and_no_traceback(tmp_path, case):
    content, message = REGRESSIONS[case]
    code, output, result = validate_cli(tmp_path, content)
    assert code == 2, output
    assert message in output
    assert_clean_failure(result, output)


@pytest.mark.parametrize("case", list(FINE))
def test_a_bom_and_crlf_are_fine_through_the_pipeline_and_validate(tmp_path, case):
    _pipeline(FINE[case])
    code, output, _ = validate_cli(tmp_path, FINE[case])
    assert code == 0 and "ok (1 nodes, 20 params" in output


@pytest.mark.slow
def test_the_hypothesis_fuzz_passes_10000_cases_per_property():
    env = {**os.environ, "ARCHSPEC_FUZZ_EXAMPLES": "10000"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "4 passed" in proc.stdout


# --- 5. duplicate keys and the YAML 1.1 table, through validate -------------------------------

DUPLICATES = {
    "top level": ("archspec: 1\nname: a\nname: b\n", "3:1: duplicate key 'name' (first defined on line 2)"),
    "inside a node": (
        HEAD + "  a:\n    op: relu\n    op: linear\n",
        "7:5: duplicate key 'op' (first defined on line 6)",
    ),
    "in a flow mapping": (
        HEAD + "  a: {op: relu, op: relu}\n",
        "5:17: duplicate key 'op' (first defined on line 5)",
    ),
    "deep in training": (
        VALID + "training:\n  optimizer:\n    name: adam\n    lr: 0.1\n    lr: 0.2\n",
        "10:5: duplicate key 'lr' (first defined on line 9)",
    ),
}


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_duplicate_keys_at_any_depth_name_both_lines_through_validate(tmp_path, case):
    text, message = DUPLICATES[case]
    code, output, result = validate_cli(tmp_path, text)
    assert code == 2
    assert f"{tmp_path / 'spec.yaml'}:{message}" in output
    assert_clean_failure(result, output)


def test_yaml_1_1_numbers_and_names_read_as_yaml_1_2():
    spec = load_text(
        "name: no\n" + VALID + "training: {optimizer: {name: adam, lr: 1e-3}}\n", name="spec.yaml"
    )
    assert spec.name == "no"
    assert spec.training["optimizer"]["lr"] == 0.001 and isinstance(spec.training["optimizer"]["lr"], float)


YAML_11 = {
    "yes as a bool": (
        "bias: yes",
        "5:42: nodes.a.bias: expected true or false, got 'yes' (hint: archspec reads YAML 1.2: write true or false)",
    ),
    "sexagesimal": (
        "out_features: 12:30",
        "5:33: nodes.a.out_features: expected an integer, got '12:30' (hint: this looks like a YAML 1.1 sexagesimal number: quote it or write a plain number)",
    ),
    "octal": (
        "out_features: 010",
        "5:33: nodes.a.out_features: expected an integer, got '010' (hint: numbers with a leading zero are ambiguous (octal in YAML 1.1): drop the zero)",
    ),
}


@pytest.mark.parametrize("case", list(YAML_11))
def test_yaml_1_1_surprises_are_located_errors_through_validate(tmp_path, case):
    arg, message = YAML_11[case]
    args = arg if "out_features" in arg else f"out_features: 4, {arg}"
    code, output, result = validate_cli(tmp_path, HEAD + f"  a: {{op: linear, {args}}}\n")
    assert code == 2
    assert output.splitlines()[0] == f"{tmp_path / 'spec.yaml'}:{message}"
    assert_clean_failure(result, output)


# --- 6. names never import code ---------------------------------------------------------------

NAME_PROBE = r"""
import json, sys
from archspec.errors import ArchSpecError
from archspec.pipeline import analyse, load_text
from archspec.lang.loader import loads
from archspec.lang.validate import validate
import archspec.lang.expand, archspec.graph.dag, archspec.graph.shapes, archspec.lang.overrides

HEAD = "archspec: 1\ninputs:\n  x: {shape: [4]}\n"
LIN = "nodes:\n  a: {op: linear, out_features: 3}\n"
DATA = "data:\n  t: {dataset: digits, fields: {x: flat, y: label}}\n"
LOSS = "losses:\n  l: {fn: cross_entropy, stream: t, pred: output, target: y}\n"
cases = []
for name in ["os.system", "builtins.eval", "logging.os.system", "torch.load", "subprocess.Popen", "archspec_evil"]:
    cases += [
        ("op", HEAD + f"nodes:\n  a: {{op: {name}}}\n"),
        ("init", HEAD + f"init: {{weight: {name}}}\n" + LIN),
        ("node init", HEAD + f"nodes:\n  a: {{op: linear, out_features: 3, init: {{weight: {name}}}}}\n"),
        ("optimizer", HEAD + LIN + f"training: {{optimizer: {{name: {name}, lr: 0.1}}}}\n"),
        ("schedule", HEAD + LIN + f"training: {{schedule: {{name: {name}}}}}\n"),
        ("loss", HEAD + LIN + DATA + f"losses:\n  l: {{fn: {name}, stream: t, pred: output, target: y}}\n"),
        ("dataset", HEAD + LIN + f"data:\n  t: {{dataset: {name}}}\n" + LOSS),
        ("metric", HEAD + LIN + DATA + LOSS + f"training: {{metrics: [{name}]}}\n"),
        ("block", HEAD + f"nodes:\n  a: {{block: {name}}}\n"),
    ]
analyse(load_text(HEAD + LIN, name="spec.yaml"))  # whatever validating imports, once
before = set(sys.modules)
refused, accepted = {}, []
for what, text in cases:
    try:
        analyse(load_text(text, name="spec.yaml"))
        accepted.append(what)
    except ArchSpecError as exc:
        refused.setdefault(what, []).append(str(exc).splitlines()[0])
after = set(sys.modules)
print(json.dumps({"new_modules": sorted(after - before), "all_modules": sorted(after), "refused": refused, "accepted": sorted(set(accepted))}))
"""


def test_names_in_a_spec_are_refused_or_inert_and_never_import_a_module(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ARCHSPEC_PLUGINS"}
    proc = subprocess.run([sys.executable, "-c", NAME_PROBE], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert not {"torch", "archspec_evil"} & set(report["all_modules"])  # validate never imports torch
    # After one valid spec has been validated (which imports jsonschema and whatever it pulls in
    # here), the hostile names may import only archspec's own modules and stdlib helpers, and
    # never a module they name: the check does not depend on which optional packages are installed.
    new = {m.split(".")[0] for m in report["new_modules"]}
    assert not {"logging", "subprocess", "builtins", "os"} & new
    assert new <= {"archspec"} | (set(sys.stdlib_module_names) - {"logging", "subprocess"}), new
    assert report["accepted"] == []  # every registry name is checked by validate, without torch
    refused = report["refused"]
    for what in ("op", "init", "node init", "optimizer", "schedule", "block", "dataset", "loss", "metric"):
        assert len(refused[what]) == 6, (what, refused[what])
    assert any("unknown op 'os.system'" in m for m in refused["op"])
    assert any("unknown value 'builtins.eval'" in m for m in refused["init"])
    assert any("unknown value 'torch.load'" in m for m in refused["optimizer"])


# --- 7. determinism -----------------------------------------------------------------------------

DETERMINISM_PROBE = r"""
import hashlib, json, sys
from archspec.compiler.compile import compile_model
from archspec.pipeline import analyse, load
from archspec.diagram.adapter import to_rgraph
from archspec.diagram.svg import to_svg

out = {}
for path in sys.argv[1:]:
    graph = analyse(load(path))
    model = compile_model(graph)
    sd = model.state_dict()
    digest = hashlib.sha256()
    for k, v in sd.items():
        digest.update(k.encode()); digest.update(str(v.dtype).encode()); digest.update(v.contiguous().numpy().tobytes())
    out[path] = {
        "nodes": list(graph.spec.nodes),
        "params": [n for n, _ in model.named_parameters()],
        "state_dict": digest.hexdigest(),
        "svg": hashlib.sha256(to_svg(to_rgraph(graph)).encode()).hexdigest(),
        "code": hashlib.sha256(model.code.encode()).hexdigest(),
    }
print(json.dumps(out))
"""


def test_the_same_spec_gives_the_same_nodes_weights_and_svg_in_two_processes():
    results = []
    for seed in ("1", "2"):  # different hash seeds: no set or dict-of-str order may leak through
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run([sys.executable, "-c", DETERMINISM_PROBE, *map(str, EXAMPLES)], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(proc.stdout))
    assert results[0] == results[1]
    assert all(r["nodes"] and r["params"] for r in results[0].values())
