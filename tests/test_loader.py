"""Stage 1: the safe, bounded YAML loader (archspec.lang.loader)."""

from __future__ import annotations

import math
import tracemalloc
from unittest import mock

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec.errors import LoadError, Location
from archspec.lang import loader
from archspec.lang.loader import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    Document,
    load_document,
    loads,
)


def load_error(text: str | bytes) -> LoadError:
    with pytest.raises(LoadError) as info:
        loads(text, "spec.yaml")
    return info.value


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

NORMAL_SPEC = """\
archspec: 1
defaults: &defaults
  activation: relu
  bias: true
nodes:
  enc1:
    <<: *defaults
    op: conv2d
    out_channels: 16
  enc2:
    <<: *defaults
    op: conv2d
    bias: false
train:
  optimizer: {name: adam, lr: 1.0e-3}
  shapes: [&shape [1, 3, 32, 32], *shape]
"""


# --- plain loading and marks -----------------------------------------------------------------


def test_a_normal_spec_with_anchors_and_merge_keys_loads_to_plain_data():
    doc = loads(NORMAL_SPEC, "spec.yaml")
    assert isinstance(doc, Document)
    assert doc.file == "spec.yaml"
    assert doc.data["nodes"]["enc1"] == {
        "activation": "relu",
        "bias": True,
        "op": "conv2d",
        "out_channels": 16,
    }
    assert doc.data["nodes"]["enc2"] == {"activation": "relu", "bias": False, "op": "conv2d"}
    assert doc.data["train"]["optimizer"]["lr"] == 0.001
    assert doc.data["train"]["shapes"] == [[1, 3, 32, 32], [1, 3, 32, 32]]


def test_aliased_values_are_fresh_objects_per_path():
    doc = loads(NORMAL_SPEC)
    first, second = doc.data["train"]["shapes"]
    assert first == second and first is not second


def test_mapping_order_is_kept():
    assert list(loads("z: 1\na: 2\nm: 3\n").data) == ["z", "a", "m"]


def test_marks_of_nested_values_and_keys_are_one_based():
    doc = loads("model:\n  layers:\n    - conv: {k: 3}\n    - relu\n")
    assert doc.marks[()] == (1, 1)
    assert doc.key_marks[("model",)] == (1, 1)
    assert doc.marks[("model", "layers")] == (3, 5)
    assert doc.key_marks[("model", "layers")] == (2, 3)
    assert doc.marks[("model", "layers", 0)] == (3, 7)
    assert doc.marks[("model", "layers", 0, "conv", "k")] == (3, 17)
    assert doc.key_marks[("model", "layers", 0, "conv", "k")] == (3, 14)
    assert doc.marks[("model", "layers", 1)] == (4, 7)


def test_every_path_an_alias_expands_to_has_a_mark():
    doc = loads("base: &b {x: [1, 2]}\nuse: *b\n")
    assert doc.marks[("use",)] == (2, 6)
    assert doc.marks[("use", "x")] == (1, 14)
    assert doc.marks[("use", "x", 1)] == (1, 18)
    assert doc.key_marks[("use", "x")] == (1, 11)


def test_merged_keys_point_at_their_definition_and_explicit_keys_at_theirs():
    doc = loads(NORMAL_SPEC)
    assert doc.marks[("nodes", "enc2", "activation")] == (3, 15)
    assert doc.marks[("nodes", "enc2", "bias")] == (13, 11)


def test_loc_falls_back_to_the_nearest_marked_ancestor_but_keeps_the_full_path():
    doc = loads("a:\n  b: 1\n", "spec.yaml")
    assert doc.loc(("a", "b")) == Location("spec.yaml", 2, 6, ("a", "b"))
    assert doc.loc(("a", "b"), key=True) == Location("spec.yaml", 2, 3, ("a", "b"))
    assert doc.loc(("a", "missing", 0)) == Location("spec.yaml", 2, 3, ("a", "missing", 0))
    assert doc.loc(()) == Location("spec.yaml", 1, 1, ())


def test_load_document_reads_a_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"a: 1\n")
    doc = load_document(path)
    assert doc.data == {"a": 1}
    assert doc.file == str(path)


def test_a_missing_file_is_a_load_error(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(LoadError) as info:
        load_document(path)
    assert info.value.message == "no such file"
    assert info.value.loc.file == str(path)


def test_a_directory_is_a_load_error(tmp_path):
    with pytest.raises(LoadError, match="is a directory"):
        load_document(tmp_path)


# --- limits and safety -----------------------------------------------------------------------


def test_billion_laughs_is_rejected_with_little_memory():
    assert len(BILLION_LAUGHS.encode()) < 400
    tracemalloc.start()
    err = load_error(BILLION_LAUGHS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert err.message == f"the document has more than {MAX_EXPANDED_NODES:,} nodes once aliases are expanded"
    assert peak < 20 * 1024 * 1024  # counted while composing: not one of the 10**9 values is built


def test_a_deep_alias_tree_just_under_the_limit_still_loads():
    doc = loads("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: &b [*a, *a, *a, *a, *a]\nc: [*b, *b]\n")
    assert len(doc.data["c"]) == 2
    assert doc.marks[("c", 1, 4, 9)] == (1, 35)


def test_100000_nested_brackets_give_a_nesting_error_not_a_recursion_error():
    err = load_error("[" * 100_000)
    assert err.message == f"nesting deeper than {MAX_DEPTH} levels"
    assert (err.loc.line, err.loc.col) == (1, 101)


@pytest.fixture
def parsed_texts(monkeypatch) -> list[str]:
    """The texts the loader hands to PyYAML's parser, in order."""
    texts: list[str] = []

    def parse(stream, Loader):  # noqa: N803 (PyYAML's spelling)
        texts.append(stream)
        return real_parse(stream, Loader=Loader)

    real_parse = yaml.parse
    monkeypatch.setattr(loader.yaml, "parse", parse)
    return texts


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[" * 100_000, (1, 101)),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", (1, 103)),  # the top mapping is a level too
        ("x:\n  y:\n    - " + "[" * 300, (3, 104)),
        ("a: [" + "[1, " * 200, (1, 397)),
    ],
)
def test_deep_flow_nesting_is_refused_before_the_parser_reads_past_the_limit(parsed_texts, text, where):
    # PyYAML's scanner is quadratic in pending flow levels: reading 100,000 brackets to the
    # limit took a second; the loader parses only the text up to the bracket past the limit
    err = load_error(text)
    assert (err.message, (err.loc.line, err.loc.col)) == (f"nesting deeper than {MAX_DEPTH} levels", where)
    assert len(parsed_texts) == 1 and text.startswith(parsed_texts[0])
    assert parsed_texts[0].count("[") == MAX_DEPTH + 1


def test_a_spec_with_many_shallow_brackets_is_parsed_once_whole(parsed_texts):
    text = "nodes:\n" + "".join(
        f"  n{i}: {{op: linear, in: [n{i - 1}], shape: [[1, 2], [3]]}}\n" for i in range(200)
    )
    assert len(loads(text).data["nodes"]) == 200
    assert parsed_texts == [text]


def test_brackets_inside_quotes_and_comments_do_not_count_as_nesting(parsed_texts):
    text = "a: '" + "[" * 200 + "'\nb: \"" + "{" * 200 + '"  # ' + "[" * 200 + "\n"
    assert loads(text).data == {"a": "[" * 200, "b": "{" * 200}
    assert parsed_texts == [text]


# Pieces that can change what PyYAML's lookahead decides (':' makes a key, '@' and tabs fail,
# quotes and comments hide brackets) around enough brackets to pass the limit.
NESTING_PIECES = [
    "[",
    "[",
    "[",
    "{",
    "]",
    "}",
    ", ",
    "a",
    ": ",
    ":",
    " ",
    "\n",
    "'q",
    '"',
    "#",
    "@",
    "\t",
    "&x ",
    "*x",
    "- ",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(NESTING_PIECES), max_size=40),
    st.integers(90, 130),
    st.lists(st.sampled_from(NESTING_PIECES), max_size=40),
)
def test_the_nesting_pre_scan_gives_exactly_the_full_parse_result(before, depth, after):
    text = "".join(before) + "[" * depth + "".join(after)
    with_scan = _outcome(text)
    with mock.patch.object(loader, "_deep_flow_end", lambda text: None):
        assert with_scan == _outcome(text)


def _outcome(text: str) -> object:
    try:
        return loads(text, "spec.yaml").data
    except LoadError as exc:
        return str(exc)


def test_nesting_through_aliases_is_bounded_too():
    deep = "[" * 60 + "]" * 60
    err = load_error(
        f"a: &a {deep}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n"
    )
    assert err.message == f"nesting deeper than {MAX_DEPTH} levels (through alias '*a')"


def test_nesting_up_to_the_limit_is_fine():
    expected: list = []
    for _ in range(MAX_DEPTH - 2):
        expected = [expected]
    doc = loads("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    assert doc.data["a"] == expected


def test_a_python_tag_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "marker"
    err = load_error(f'a: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert err.message == "tag '!!python/object/apply:os.system' is not allowed"
    assert err.hint == "archspec never constructs objects from YAML; write plain values instead"
    assert (err.loc.line, err.loc.col) == (1, 4)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("a: !!python/name:os.system x\n", "!!python/name:os.system"),
        ("a: !custom {b: 1}\n", "!custom"),
        ("a: !!set {b: null}\n", "!!set"),
        ("a: !!binary aGVsbG8=\n", "!!binary"),
        ("a: ! x\n", "!"),
    ],
)
def test_any_non_core_tag_is_refused(text, tag):
    assert load_error(text).message == f"tag {tag!r} is not allowed"


def test_core_tags_are_allowed_and_convert():
    doc = loads(
        "a: !!int '12'\nb: !!float 3\nc: !!str 1.5\nd: !!bool true\ne: !!null ''\nf: !!seq [1]\ng: !!map {}\n"
    )
    assert doc.data == {"a": 12, "b": 3.0, "c": "1.5", "d": True, "e": None, "f": [1], "g": {}}


def test_a_core_tag_on_the_wrong_kind_of_node_is_an_error():
    assert load_error("a: !!seq {b: 1}\n").message == "tag '!!seq' cannot be used on a mapping"
    assert load_error("a: !!int abc\n").message == "'abc' is not a valid !!int"


def test_a_file_larger_than_the_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"[" * (MAX_BYTES + 1))
    with pytest.raises(LoadError) as info:
        load_document(path)
    assert info.value.message == f"the file is larger than the limit of {MAX_BYTES:,} bytes"


def test_a_5000_digit_integer_is_refused():
    err = load_error("a: " + "7" * 5000 + "\n")
    assert err.message == "integer with 5000 digits is too long"
    assert err.hint == "quote it if you meant a string"


def test_a_float_that_overflows_is_refused():
    assert load_error("a: 1e400\n").message == "number '1e400' is too large for a float"


# --- aliases and merge keys ------------------------------------------------------------------


def test_merge_keys_take_a_list_of_mappings_and_earlier_ones_win():
    doc = loads("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n")
    assert doc.data["c"] == {"x": 1, "y": 1, "z": 3}


def test_a_merge_key_with_an_inline_mapping_works():
    assert loads("c: {<<: {x: 1}, y: 2}\n").data == {"c": {"x": 1, "y": 2}}


def test_a_merge_key_needs_mappings():
    err = load_error("a: {<<: 5}\n")
    assert err.message == "merge key '<<' takes a mapping or a list of mappings, got an integer"


def test_a_quoted_double_angle_is_an_ordinary_key():
    assert loads("a: {'<<': 5}\n").data == {"a": {"<<": 5}}


def test_a_recursive_alias_is_an_error():
    err = load_error("a: &a [1, *a]\n")
    assert err.message == "alias '*a' is inside its own anchor (recursive aliases are not allowed)"


def test_an_undefined_alias_is_an_error_with_a_suggestion():
    err = load_error("a: &base 1\nb: *bsae\n")
    assert err.message == "alias '*bsae' has no anchor '&bsae' before it"
    assert err.hint == "did you mean 'base'?"
    assert (err.loc.line, err.loc.col) == (2, 4)


# --- keys ------------------------------------------------------------------------------------


def test_duplicate_keys_at_the_top_level_are_an_error():
    err = load_error("a: 1\nlr: 2\nlr: 3\n")
    assert str(err) == "spec.yaml:3:1: duplicate key 'lr' (first defined on line 2)"


def test_duplicate_keys_deep_inside_are_an_error():
    err = load_error("train:\n  opt:\n    lr: 1\n    wd: 0\n    lr: 2\n")
    assert err.message == "duplicate key 'lr' (first defined on line 3)"
    assert (err.loc.line, err.loc.col) == (5, 5)


def test_duplicate_keys_in_a_flow_mapping_inside_a_list_are_an_error():
    assert load_error("a: [{x: 1, x: 2}]\n").message == "duplicate key 'x' (first defined on line 1)"


def test_keys_are_the_raw_scalar_text():
    doc = loads("1: a\nnull: b\ntrue: c\n1.5: d\n'q': e\n")
    assert list(doc.data) == ["1", "null", "true", "1.5", "q"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [("? [a]\n: 1\n", "a list"), ("? {a: 1}\n: 1\n", "a mapping"), ("a: &a [1]\n? *a\n: 2\n", "a list")],
)
def test_a_collection_as_a_key_is_an_error(text, kind):
    assert load_error(text).message == f"a mapping key must be a plain value, got {kind}"


# --- scalars ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plain", "value"),
    [
        ("1e-3", 0.001),
        ("1E5", 100000.0),
        ("-2.5e+3", -2500.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("0.1", 0.1),
        (".inf", math.inf),
        ("-.inf", -math.inf),
        ("+.INF", math.inf),
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("0", 0),
        ("0x1F", 31),
        ("0o17", 15),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("null", None),
        ("Null", None),
        ("~", None),
        ("", None),
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("n", "n"),
        ("010", "010"),
        ("12:30", "12:30"),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
        ("relu", "relu"),
        (".", "."),
    ],
)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(plain, value):
    got = loads(f"v: {plain}\n").data["v"]
    assert got == value and type(got) is type(value)


def test_nan_is_a_float():
    assert math.isnan(loads("v: .nan\n").data["v"])


def test_the_yaml_1_1_gotchas_read_as_intended():
    doc = loads("lr: 1e-3\non: push\nbias: yes\nmode: 010\ntime: 12:30\n")
    assert doc.data == {"lr": 0.001, "on": "push", "bias": "yes", "mode": "010", "time": "12:30"}


@pytest.mark.parametrize("quoted", ["'1'", '"true"', "'null'", '"1e-3"', "''", "|\n  5\n"])
def test_quoted_and_block_scalars_are_always_strings(quoted):
    assert isinstance(loads(f"v: {quoted}\n").data["v"], str)


# --- document shape and encoding -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("", "an empty document"),
        ("# only a comment\n", "an empty document"),
        ("- a\n- b\n", "a list"),
        ("hello\n", "a string"),
        ("3\n", "an integer"),
        ("~\n", "null"),
    ],
)
def test_the_top_level_must_be_a_mapping(text, got):
    err = load_error(text)
    assert err.message == f"a spec must be a YAML mapping at the top level, got {got}"
    assert (err.loc.line, err.loc.col) == (1, 1)


def test_multiple_documents_are_an_error():
    err = load_error("a: 1\n---\nb: 2\n")
    assert err.message == "a spec file must hold exactly one YAML document, found a second one"
    assert err.loc.line == 2


def test_a_single_explicit_document_is_fine():
    assert loads("---\na: 1\n...\n").data == {"a": 1}


def test_a_utf8_bom_is_skipped_and_marks_ignore_it():
    doc = loads("\ufeffa: 1\n".encode())
    assert doc.data == {"a": 1}
    assert doc.marks[("a",)] == (1, 4)
    assert loads("\ufeffa: 1\n").data == {"a": 1}


def test_crlf_line_ends_work_and_count_lines_correctly():
    doc = loads(b"a: 1\r\nb:\r\n  - x\r\n  - y\r\n")
    assert doc.data == {"a": 1, "b": ["x", "y"]}
    assert doc.marks[("b", 1)] == (4, 5)


def test_a_tab_in_indentation_is_a_located_syntax_error():
    err = load_error("a:\n\tb: 1\n")
    assert str(err) == (
        "spec.yaml:2:1: invalid YAML: a tab in the indentation of line 2"
        " (hint: YAML indents with spaces only: replace the tab by spaces)"
    )


def test_an_unclosed_bracket_is_located_at_the_bracket_not_where_the_parser_gave_up():
    err = load_error("a: [1, 2\nb: 3\n")
    assert err.message == "invalid YAML: the '[' on line 1 is never closed"
    assert (err.loc.line, err.loc.col) == (1, 4)  # the '[' to close, not the ':' after 'b' on line 2


def test_a_syntax_error_pyyaml_words_alone_carries_the_problem_position():
    err = load_error("a: [1, 2]\nb: |x\n")
    assert err.message == (
        "invalid YAML: expected chomping or indentation indicators, but found 'x' (while scanning a block scalar)"
    )
    assert (err.loc.line, err.loc.col) == (2, 5)


def test_invalid_utf8_is_a_load_error():
    err = load_error(b"a: 1\nb: \xff\xfe\n")
    assert err.message == "the file is not UTF-8 text (byte 0xff at offset 8)"
    assert (err.loc.line, err.loc.col) == (2, 4)


def test_control_characters_are_a_load_error():
    err = load_error("a: b\x00c\n")
    assert err.message == "invalid YAML: unacceptable character #x0000: special characters are not allowed"
    assert (err.loc.line, err.loc.col) == (1, 5)


# --- ${...} expressions: the text is parsed as written ---------------------------------------


def test_an_unquoted_expression_in_a_flow_mapping_is_a_located_error_that_shows_the_fix():
    err = load_error("nodes:\n  c1: {op: conv2d, out_channels: ${ch}, kernel_size: 3}\n")
    assert str(err) == (
        "spec.yaml:2:34: invalid YAML: unquoted expression ${ch} inside a flow mapping {...}"
        ' (hint: quote the expression: out_channels: "${ch}")'
    )


def test_an_unquoted_expression_in_a_flow_list_shows_the_quoted_item():
    err = load_error("c: {kernel_size: [${k * 2}, 3]}\n")
    assert str(err) == (
        "spec.yaml:1:19: invalid YAML: unquoted expression ${k * 2} inside a flow sequence [...]"
        ' (hint: quote the expression: "${k * 2}")'
    )


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ("{w: ${[16, 32][index]}}", 'w: "${[16, 32][index]}"'),
        ("{name: a${k}b, x: 1}", 'name: "a${k}b"'),
        ("{name: conv ${k}}", 'name: "conv ${k}"'),
        ('{w: ${d["x"]}}', "w: '${d[\"x\"]}'"),
    ],
)
def test_the_fix_quotes_the_whole_value(value, fix):
    assert load_error(f"a: {value}\n").hint == f"quote the expression: {fix}"


def test_quoted_expressions_are_strings_to_us_and_to_any_yaml_parser():
    text = "c: {op: conv2d, out_channels: \"${ch * 2}\", kernel_size: ['${k}', 3]}\nd: ${ch}\n"
    expected = {"c": {"op": "conv2d", "out_channels": "${ch * 2}", "kernel_size": ["${k}", 3]}, "d": "${ch}"}
    assert loads(text).data == yaml.safe_load(text) == expected


def test_marks_after_a_quoted_expression_point_into_the_users_text():
    doc = loads('a: {x: "${ch}", y: 1}\n')
    assert doc.marks[("a", "x")] == (1, 8)
    assert doc.marks[("a", "y")] == (1, 20)


def test_block_scalars_with_expressions_come_back_unchanged():
    text = "description: |\n  {op: conv2d, out_channels: ${ch}}\n  width ${ch}\nnote: >\n  [${k}, ${k}]\n"
    data = loads(text).data
    assert data == yaml.safe_load(text)
    assert data == {
        "description": "{op: conv2d, out_channels: ${ch}}\nwidth ${ch}\n",
        "note": "[${k}, ${k}]\n",
    }


# --- properties ------------------------------------------------------------------------------


def assert_loads_or_load_error(source: str | bytes) -> None:
    try:
        doc = loads(source)
    except LoadError:
        return
    assert isinstance(doc, Document) and isinstance(doc.data, dict)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_a_document_or_a_load_error(text):
    assert_loads_or_load_error(text)


@settings(max_examples=300, deadline=None)
@given(st.binary())
def test_any_bytes_give_a_document_or_a_load_error(raw):
    assert_loads_or_load_error(raw)


YAML_ALPHABET = "ab:-[]{},&*!|>'\"#%@`?~\n\t 01.eE<"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=YAML_ALPHABET, max_size=60))
def test_yaml_looking_noise_gives_a_document_or_a_load_error(text):
    assert_loads_or_load_error(text)


# Values on which PyYAML's YAML 1.1 dumper and our YAML 1.2 resolver agree.
safe_scalars = (
    st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", min_size=1, max_size=12)
    | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda f: "e" not in repr(f))
    | st.booleans()
    | st.none()
)
nested = st.recursive(
    safe_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text("abcxyz", min_size=1, max_size=5), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), nested, max_size=5))
def test_safe_dump_round_trips_where_yaml_1_1_and_1_2_agree(data):
    for flow in (False, True, None):
        text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False)
        assert loads(text).data == data


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[]{}", max_size=300))
def test_the_cheap_depth_bound_is_never_below_the_flow_depth(brackets):
    depth = deepest = 0
    for ch in brackets:
        depth = depth + 1 if ch in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    assert loader._flow_depth_bound(brackets) >= min(deepest, MAX_DEPTH + 1)
