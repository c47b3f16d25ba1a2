"""PyYAML's syntax errors in plain words, located at the line to edit: each case is the shipped
MLP example with one line mistyped the way people mistype YAML."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec.errors import LoadError
from archspec.lang.loader import loads
from tests.conftest import ROOT

MLP = (ROOT / "examples" / "mlp.yaml").read_text()
LINES = MLP.splitlines()


def mistyped(line: str, typed: str) -> str:
    """The MLP spec with its one line ``line`` written as ``typed``."""
    assert MLP.count(f"\n{line}\n") == 1, line
    return MLP.replace(f"\n{line}\n", f"\n{typed}\n")


CASES = {
    "a line indented more than its siblings": (
        mistyped("  act:    {op: relu}", "    act:    {op: relu}"),
        "mlp.yaml:12:5: invalid YAML: line 12 is indented more than line 11 above it (4 spaces, not 2) "
        "(hint: indent it by 2 spaces like line 11, or put it under a key that ends with ':')",
    ),
    "a line indented less than its siblings": (
        mistyped("  act:    {op: relu}", " act:    {op: relu}"),
        "mlp.yaml:12:2: invalid YAML: line 12 is indented less than line 11 above it (1 space, not 2), "
        "and lines up with nothing above it (hint: indent it by 2 spaces like line 11, or not at all like line 10)",
    ),
    "a nested key indented less than its siblings": (
        mistyped("  optimizer: {name: adam, lr: 0.003}", "  optimizer:\n    name: adam\n   lr: 0.003"),
        "mlp.yaml:24:4: invalid YAML: line 24 is indented less than line 23 above it (3 spaces, not 4), "
        "and lines up with nothing above it (hint: indent it by 4 spaces like line 23, or by 2 spaces like line 22)",
    ),
    "a nested key indented more, read as more of the value above": (
        mistyped("  optimizer: {name: adam, lr: 0.003}", "  optimizer:\n    name: adam\n      lr: 0.003"),
        "mlp.yaml:24:7: invalid YAML: line 24 is indented more than line 23 above it (6 spaces, not 4), "
        "so YAML reads it as more of that line's value (hint: if it is the next key, indent it by 4 spaces like line 23)",
    ),
    "a key without its colon, read as more of the line below": (
        mistyped("  optimizer: {name: adam, lr: 0.003}", "  optimizer:\n    name adam\n    lr: 0.003"),
        "mlp.yaml:23:5: invalid YAML: line 23 has no ':', so YAML reads it and line 24 as one value "
        "(hint: add ':' after the key on line 23, or remove that line)",
    ),
    "no space after the colon": (
        mistyped("  epochs: 30", "  epochs:30"),
        "mlp.yaml:23:3: invalid YAML: 'epochs:30' has no space after ':', so YAML reads it as one string, "
        "not a key and its value (hint: put a space after the colon: epochs: 30)",
    ),
    "a first nested key without the space after its colon": (
        mistyped("  optimizer: {name: adam, lr: 0.003}", "  optimizer:\n    name:adam\n    lr: 0.003"),
        "mlp.yaml:23:5: invalid YAML: 'name:adam' has no space after ':', so YAML reads it as one string, "
        "not a key and its value (hint: put a space after the colon: name: adam)",
    ),
    "a second ':' in a key's text, not an indentation": (  # found by the typing fuzz below
        mistyped(
            "  logits: {op: linear, out_features: 10, init: {weight: xavier_uniform}}",
            "  logi# {op: linear, out_features: 10, init: {weight: xavier_uniform}}",
        ),
        "mlp.yaml:13:34: invalid YAML: a ':' where YAML cannot start a value "
        "(hint: quote the value if the ':' belongs to it, or put the next key on a line of its own)",
    ),
    "no colon at all": (
        mistyped("  epochs: 30", "  epochs 30"),
        "mlp.yaml:23:3: invalid YAML: 'epochs 30' is not 'key: value', where a key was expected "
        "(hint: write the key, a colon and a space before the value (key: value); in a list, start the item with '- ')",
    ),
    "key: value: value on one line": (
        mistyped("  epochs: 30", "  epochs: 30: 40"),
        "mlp.yaml:23:13: invalid YAML: a second ': ' on one line: '30: 40' cannot be a value "
        "(hint: quote the value if the ':' belongs to it (epochs: \"30: 40\"), or put the next key on a line of its own)",
    ),
    "a tab as indentation": (
        mistyped("  epochs: 30", "\tepochs: 30"),
        "mlp.yaml:23:1: invalid YAML: a tab in the indentation of line 23 "
        "(hint: YAML indents with spaces only: replace the tab by spaces)",
    ),
    "a tab after the colon": (
        mistyped("  epochs: 30", "  epochs:\t30"),
        "mlp.yaml:23:10: invalid YAML: a tab where YAML expects a space (hint: replace the tab by a space)",
    ),
    "an unclosed double quote": (
        mistyped("name: mlp", 'name: "mlp'),
        'mlp.yaml:4:7: invalid YAML: the quote " opened on line 4 is never closed '
        '(hint: add the closing " at the end of the value (write \\" for a " inside double quotes))',
    ),
    "an unclosed single quote": (
        mistyped("name: mlp", "name: 'mlp"),
        "mlp.yaml:4:7: invalid YAML: the quote ' opened on line 4 is never closed "
        "(hint: add the closing ' at the end of the value (write '' for a ' inside single quotes))",
    ),
    "text after a closing quote": (
        mistyped("name: mlp", 'name: "mlp" small'),
        "mlp.yaml:4:13: invalid YAML: text after the closing quote of a value "
        "(hint: put the whole value inside the quotes, or remove what follows them)",
    ),
    "an unclosed bracket at the end": (
        mistyped("  metrics: [accuracy]", "  metrics: [accuracy"),
        "mlp.yaml:24:12: invalid YAML: the '[' on line 24 is never closed (hint: add ']' at the end of its value)",
    ),
    "an unclosed brace in the middle": (
        mistyped("  act:    {op: relu}", "  act:    {op: relu"),
        "mlp.yaml:12:11: invalid YAML: the '{' on line 12 is never closed (hint: add '}' at the end of its value)",
    ),
    "a missing comma in braces": (
        mistyped("  act:    {op: relu}", "  act:    {op: relu in: hidden}"),
        "mlp.yaml:12:23: invalid YAML: a ':' inside {...} where ',' or '}' was expected "
        "(hint: separate the entries with commas ({a: 1, b: 2}), and quote a value that holds ': ')",
    ),
    "a bracket that closes nothing": (
        mistyped("  metrics: [accuracy]", "  metrics: [accuracy]]"),
        "mlp.yaml:24:22: invalid YAML: a ']' that closes nothing (hint: remove it, or add the bracket it should close)",
    ),
    "a list item among keys": (
        mistyped("  epochs: 30", "  - epochs: 30"),
        "mlp.yaml:23:3: invalid YAML: a list item '-' among the keys of a mapping "
        "(hint: a list is the value of a key: write 'key:' on a line of its own and the items under it, indented)",
    ),
    "a reserved first character": (
        mistyped("name: mlp", "name: @mlp"),
        "mlp.yaml:4:7: invalid YAML: a plain value cannot start with '@': YAML reserves it "
        '(hint: quote the value: "@mlp")',
    ),
    "a reserved first character inside a flow mapping": (
        mistyped("  optimizer: {name: adam, lr: 0.003}", "  optimizer: {name: @adam, lr: 0.003}"),
        "mlp.yaml:22:21: invalid YAML: a plain value cannot start with '@': YAML reserves it "
        '(hint: quote the value: "@adam")',
    ),
    "a reserved first character inside a flow list": (
        mistyped("  metrics: [accuracy]", "  metrics: [`accuracy`, f1]"),
        "mlp.yaml:24:13: invalid YAML: a plain value cannot start with '`': YAML reserves it "
        '(hint: quote the value: "`accuracy`")',
    ),
    "a backslash escape in double quotes": (
        mistyped("name: mlp", 'name: "C:\\mlp"'),
        "mlp.yaml:4:10: invalid YAML: a backslash in double quotes starts an escape, and this one is not a YAML escape "
        "(hint: write \\\\ for a backslash, or use single quotes, which keep backslashes as they are)",
    ),
    "an alias without its anchor": (
        mistyped("  bias: zeros", "  bias: *zeros"),
        "mlp.yaml:9:9: alias '*zeros' has no anchor '&zeros' before it",
    ),
    "a duplicate key": (
        mistyped("  epochs: 30", "  epochs: 30\n  epochs: 3"),
        "mlp.yaml:24:3: duplicate key 'epochs' (first defined on line 23)",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_yaml_mistake_is_explained_at_the_line_to_edit(case):
    text, message = CASES[case]
    with pytest.raises(LoadError) as info:
        loads(text, "mlp.yaml")
    assert str(info.value) == message


def test_the_mlp_itself_loads():
    assert loads(MLP, "mlp.yaml").data["name"] == "mlp"


def test_an_unrecognised_syntax_error_keeps_pyyamls_words():
    with pytest.raises(LoadError) as info:
        loads("a: |x\n", "spec.yaml")
    assert str(info.value) == (
        "spec.yaml:1:5: invalid YAML: expected chomping or indentation indicators, but found 'x' "
        "(while scanning a block scalar)"
    )


@settings(max_examples=300, deadline=None)
@given(
    row=st.integers(0, len(LINES) - 1),
    at=st.integers(0, 40),
    typed=st.sampled_from(
        [" ", "  ", "\t", ":", ": ", '"', "'", "[", "]", "{", "}", ",", "-", "- ", "@", "\\", "#"]
    ),
    remove=st.integers(0, 3),
)
def test_any_mistyped_line_gives_a_spec_or_an_error_located_inside_the_file(row, at, typed, remove):
    line = LINES[row]
    at = min(at, len(line))
    text = "\n".join([*LINES[:row], line[:at] + typed + line[at + remove :], *LINES[row + 1 :]]) + "\n"
    try:
        loads(text, "mlp.yaml")
    except LoadError as exc:
        assert not exc.message.startswith("could not load the file"), exc.message
        assert exc.loc.line is not None and 1 <= exc.loc.line <= len(LINES) + 1, str(exc)
        assert exc.loc.col is not None and exc.loc.col >= 1, str(exc)
        assert not re.search(r"\((\d+) spaces?, not \1\)", exc.message), exc.message  # never "4, not 4"
