"""Resource limits a small hostile spec must not break (issue 16, first section).

Every expression value is bounded whatever operator made it, growth through block parameters
meets the same bound, expressions give only numbers, booleans, strings and lists, expansion
counts every instance it visits, and the commands that need torch check the spec (and the
memory its weights need) before importing or allocating anything. The tests assert outcomes —
the error, and memory measured with tracemalloc or work counted — never wall-clock time.
"""

from __future__ import annotations

import textwrap
import tracemalloc

import pytest

from archspec.errors import ShapeError, SpecErrors
from archspec.lang.expr import MAX_VALUE_SIZE, ExprError, evaluate, substitute
from archspec.pipeline import load_text
from tests.conftest import EXAMPLES, invoke, spec_errors

HEAD = "archspec: 1\ninputs:\n  x: {shape: [4]}\nnodes:\n"
SMALL = 5 * 1024 * 1024  # bytes: what refusing any of these may take, far below what building it would


def peak_bytes(fn, *args):
    """Run ``fn(*args)`` (an ArchSpecError or ExprError is fine) and return its peak traced memory."""
    tracemalloc.start()
    try:
        fn(*args)
    except (SpecErrors, ExprError):
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


# --- every expression value is bounded, whatever operator made it -------------------------------

S = "x" * 6000
HUGE = {
    '"%0100000000d" % 1': "formatting with % could make a string longer than 10,000 characters",
    '"%0900000000d" % 1': "formatting with % could make a string longer than 10,000 characters",
    '"%.100000000f" % 1.5': "formatting with % could make a string longer than 10,000 characters",
    '"%(a)0100000000d" % d': "formatting with % could make a string longer than 10,000 characters",
    '"%*d" % [100000000, 1]': "'*' widths are not allowed in % formatting",
    '"%s" % l': "formatting with % could make a string longer than 10,000 characters",
    "s + s": "a string of more than 10,000 characters is too large",
    "l + l": "a list of more than 10,000 items (nested lists and strings in full) is too large",
    "[l, l]": "a list of more than 10,000 items (nested lists and strings in full) is too large",
    "[s, s]": "a list of more than 10,000 items (nested lists and strings in full) is too large",
    '"x" * 100000000': "repeating strings or lists with * is not allowed",
    "round(5, -100000000)": "round() takes at most 30 digits, got -100000000",
    "2 ** 64 ** 2": "exponent 4096 is too large",
}
ENV = {"s": S, "l": list(range(6000)), "d": {"a": 1}}


@pytest.mark.parametrize("text", list(HUGE))
def test_an_expression_that_would_build_a_huge_value_is_refused_before_building_it(text):
    with pytest.raises(ExprError) as info:
        evaluate(text, ENV)
    assert info.value.message == HUGE[text]
    assert peak_bytes(evaluate, text, ENV) < SMALL


@pytest.mark.parametrize(
    "text, value",
    [
        ('"conv%d" % 3', "conv3"),
        ('"%05.1f" % 2.25', "002.2"),
        ('"%(a)s-%%" % d', "1-%"),
        ('s + "y"', S + "y"),
        ("[1, 2] + [3]", [1, 2, 3]),
        ("round(2.567, 2)", 2.57),
    ],
)
def test_ordinary_formatting_and_joining_still_work(text, value):
    assert evaluate(text, ENV) == value


def test_expressions_inside_a_longer_text_add_a_bounded_number_of_characters():
    with pytest.raises(ExprError) as info:
        substitute("${s}-${s}", ENV)
    assert info.value.message == "the expressions in this text add more than 10,000 characters"
    assert substitute("conv${1 + 2}_${'a'}", ENV) == "conv3_a"


def test_a_huge_percent_format_through_validate_is_one_located_error_with_little_memory(tmp_path):
    text = HEAD + "  a: {op: linear, out_features: '${\"%0100000000d\" % 1}'}\n"
    assert spec_errors(text) == [
        "spec.yaml:5:33: nodes.a.out_features: formatting with % could make a string longer than 10,000 characters"
    ]
    assert peak_bytes(load_text, text, "spec.yaml") < SMALL
    (tmp_path / "spec.yaml").write_text(text)
    result = invoke("validate", tmp_path / "spec.yaml")
    assert result.exit_code == 2 and "formatting with %" in result.output
    assert len(result.output) < 1000  # the message, not a 100 MB value


@pytest.mark.parametrize("depth", [10, 80])
def test_a_nested_list_is_measured_once_per_level_not_once_per_level_and_below(monkeypatch, depth):
    # checking the size at every level used to measure the whole list below it again: 80 deep
    # that was 3,240 measurements (2 ms) per evaluation, for every copy of a repeat
    import archspec.lang.expr as expr_module

    calls = []
    size = expr_module._size
    monkeypatch.setattr(expr_module, "_size", lambda *a: calls.append(1) or size(*a))
    text = "[" * depth + "'ab'" + "]" * depth
    assert evaluate(text, {}) == eval(text)
    assert len(calls) <= 2 * depth + 1


def test_the_size_of_a_list_shared_inside_a_value_still_counts_each_time_it_appears():
    six = list(range(6000))
    assert evaluate("[l, 1]", {"l": six}) == [six, 1]
    for text in ("[l, l]", "[[l], [l]]", "[[[l]], l]"):
        with pytest.raises(ExprError, match="a list of more than 10,000 items"):
            evaluate(text, {"l": six})


def test_an_expression_text_is_parsed_once_however_often_it_is_evaluated(monkeypatch):
    import archspec.lang.expr as expr_module

    parses = []
    parse = expr_module.ast.parse
    monkeypatch.setattr(expr_module.ast, "parse", lambda *a, **k: parses.append(1) or parse(*a, **k))
    expr_module._parse.cache_clear()
    assert [evaluate("x * 2 + index", {"x": 3, "index": i}) for i in range(1000)] == list(range(6, 1006))
    assert len(parses) == 1


# --- growth through block parameters ---------------------------------------------------------------


def nested_blocks(levels: int, param: str, expr: str, start: str) -> str:
    """``levels`` blocks, each instantiating the next with ``param: expr``; the last holds a relu."""
    lines = ["archspec: 1", "inputs: {x: {shape: [4]}}", "blocks:"]
    for k in range(levels):
        lines += [f"  b{k}:", f"    params: {{{param}: any}}", "    nodes:"]
        inner = "{op: relu}" if k == levels - 1 else f"{{block: b{k + 1}, {param}: '{expr}'}}"
        lines.append(f"      n: {inner}")
    lines += ["nodes:", f"  top: {{block: b0, {param}: {start}}}"]
    return "\n".join(lines) + "\n"


def test_a_string_doubled_through_32_nested_blocks_stops_at_the_value_limit_with_one_located_error():
    text = nested_blocks(32, "s", "${s+s}", "ab")
    errors = spec_errors(text)
    # "ab" doubled 12 times is 8,192 characters; the 13th doubling (in block b12) would pass 10,000
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "spec.yaml:55:26: blocks.b12.nodes.n.s: a string of more than 10,000 characters is too large\n"
        "  in block instance blocks.b11.nodes.n at spec.yaml:51:7\n"
    )
    assert errors[0].endswith("  in block instance nodes.top at spec.yaml:133:3")
    assert len("ab") * 2**12 <= MAX_VALUE_SIZE < len("ab") * 2**13
    assert peak_bytes(load_text, text, "spec.yaml") < SMALL


def test_a_list_nested_through_32_blocks_stops_at_the_value_limit():
    text = nested_blocks(32, "l", "${[l, l]}", "[1, 2]")
    errors = spec_errors(text)
    assert len(errors) == 1, errors
    assert "a list of more than 10,000 items (nested lists and strings in full) is too large" in errors[0]
    assert peak_bytes(load_text, text, "spec.yaml") < SMALL


# --- only numbers, booleans, strings and lists ---------------------------------------------------


@pytest.mark.parametrize("text", ["(-8) ** 0.5", "abs((-8) ** 0.5)", "[1, (-2) ** 0.5]"])
def test_a_complex_number_is_an_expression_error(text):
    with pytest.raises(ExprError, match="is a complex number"):
        evaluate(text, {})


@pytest.mark.parametrize("command", ["validate", "summary", "render"])
def test_a_complex_number_is_a_located_error_through_the_commands(tmp_path, command):
    path = tmp_path / "spec.yaml"
    path.write_text(HEAD + "  a: {op: linear, out_features: '${(-8)**0.5}'}\n")
    result = invoke(command, path)  # invoke fails on "internal error" and on a traceback
    assert result.exit_code == 2
    assert f"{path}:5:33: nodes.a.out_features: value 1.73e-16+2.83j is a complex number" in result.output


def test_nan_is_not_a_value():
    with pytest.raises(ExprError, match="value nan is not a number"):
        evaluate('float("nan")', {})


def test_a_block_parameter_whose_expression_fails_is_one_error_not_two():
    text = textwrap.dedent("""\
        archspec: 1
        inputs: {x: {shape: [4]}}
        blocks:
          b:
            params: {s: int}
            nodes:
              n: {op: relu}
        nodes:
          top: {block: b, s: '${nope}'}
        """)
    assert spec_errors(text) == ["spec.yaml:9:22: nodes.top.s: unknown name 'nope'"]


# --- expansion counts every instance, valid or not -------------------------------------------------

NESTED_REPEATS = textwrap.dedent("""\
    archspec: 1
    inputs: {x: {shape: [4]}}
    blocks:
      b1:
        nodes:
          n: {op: %s, repeat: "${%d}"}
      b2:
        nodes:
          m: {block: b1, repeat: "${%d}"}
    nodes:
      top: {block: b2, repeat: "${%d}"}
    """)


def count_visits(monkeypatch):
    """Count the sites expansion visits (each op node or block instance it starts to build)."""
    import archspec.lang.expand as expand_module

    visits = []
    one = expand_module._Walk.one
    monkeypatch.setattr(expand_module._Walk, "one", lambda self, *a: visits.append(1) or one(self, *a))
    return visits


@pytest.mark.parametrize("op, n", [("nosuch", 10000), ("relu", 1000)])
def test_nested_expression_repeats_past_the_node_limit_are_refused_before_expanding(monkeypatch, op, n):
    visits = count_visits(monkeypatch)
    errors = spec_errors(NESTED_REPEATS % (op, n, n, n))
    assert errors == [
        "spec.yaml:11:3: nodes.top: the spec expands to more than 100000 nodes (hint: lower a repeat count)"
    ]
    assert visits == []  # the pre-count evaluated the ${...} repeats: nothing was built


EVADING = textwrap.dedent("""\
    archspec: 1
    inputs: {x: {shape: [4]}}
    blocks:
      b1:
        nodes:
          n: {op: nosuch}
      b2:
        params: {r: int}
        nodes:
          m: {block: b1, repeat: "${r}"}
    nodes:
      top: {block: b2, repeat: 100, r: "${100 if index > 0 else 1}"}
    """)


def test_invalid_instances_count_toward_the_node_limit_and_expansion_stops_there(monkeypatch):
    # with the up-front count switched off, expansion's own count must stop it: the copies after
    # the first have r = 100, 9,901 instances of b1, each failing; they count, so it stops at the limit
    import archspec.lang.expand as expand_module
    import archspec.lang.limits as limits_module

    monkeypatch.setattr(expand_module, "MAX_NODES", 1000)
    monkeypatch.setattr(limits_module, "MAX_NODES", 1000)
    monkeypatch.setattr(expand_module, "overflow", lambda doc, env: None)
    visits = count_visits(monkeypatch)
    errors = spec_errors(EVADING)
    assert [e.splitlines()[0] for e in errors] == [
        "spec.yaml:6:15: blocks.b1.nodes.n.op: unknown op 'nosuch' (hint: run 'archspec ops' to list the ops)",
        "spec.yaml:10:7: blocks.b2.nodes.m: the spec expands to more than 1000 nodes (hint: lower a repeat count)",
    ]
    assert len(visits) <= 2 * 1000 + 100  # b1 instances, their nodes, the top copies: it stopped


def count_evaluations(monkeypatch):
    """Count the expressions the up-front count evaluates."""
    import archspec.lang.limits as limits_module

    calls = []
    substitute_ = limits_module.substitute
    monkeypatch.setattr(limits_module, "substitute", lambda *a: calls.append(1) or substitute_(*a))
    return calls


INDEXED = textwrap.dedent("""\
    archspec: 1
    inputs: {x: {shape: [4]}}
    blocks:
      b1:
        nodes:
          n: {op: %s}
      b2:
        params: {r: int}
        nodes:
          m: {block: b1, repeat: "${r}"}
      b3:
        params: {r: int}
        nodes:
          k: {block: b2, repeat: "${r}", r: "${100 if index > 0 else 1}"}
    nodes:
      top: {block: b3, repeat: "${1000}", r: "${100 if index > 0 else 1}"}
    """)


@pytest.mark.parametrize("op", ["nosuch", "relu"])
def test_repeat_counts_that_depend_on_index_are_counted_before_expanding(monkeypatch, op):
    # taken at index 0 this is 1,000 nodes; copy by copy it is 1 + 999 x 9,901
    visits = count_visits(monkeypatch)
    evaluations = count_evaluations(monkeypatch)
    assert spec_errors(INDEXED % op) == [
        "spec.yaml:16:3: nodes.top: the spec expands to more than 100000 nodes (hint: lower a repeat count)"
    ]
    assert visits == []  # refused before a node was built
    assert len(evaluations) < 500  # equal copies are counted once: it stopped after ~11 of 1,000


DEFAULTED = textwrap.dedent("""\
    archspec: 1
    inputs: {x: {shape: [4]}}
    blocks:
      b:
        params: {r: int, s: {type: int, default: "${r * 2}"}, tag: {type: int, default: 0}}
        nodes:
          n: {op: relu, repeat: "${s}"}
    nodes:
      top: {block: b, repeat: 10, r: "${index}", tag: "${index * 7}"}
    """)


def test_the_count_of_index_dependent_copies_is_exact_through_parameter_defaults(monkeypatch):
    # copy i repeats relu 2i times (copy 0: repeat 0, which counts 1): 1 + 2 + 4 + ... + 18 = 91
    import archspec.lang.expand as expand_module
    import archspec.lang.limits as limits_module

    monkeypatch.setattr(expand_module, "MAX_NODES", 91)
    monkeypatch.setattr(limits_module, "MAX_NODES", 91)
    assert spec_errors(DEFAULTED) == []
    monkeypatch.setattr(expand_module, "MAX_NODES", 90)
    monkeypatch.setattr(limits_module, "MAX_NODES", 90)
    visits = count_visits(monkeypatch)
    assert spec_errors(DEFAULTED) == [
        "spec.yaml:9:3: nodes.top: the spec expands to more than 90 nodes (hint: lower a repeat count)"
    ]
    assert visits == []


def test_a_parameter_that_no_repeat_reads_is_not_evaluated_copy_by_copy(monkeypatch):
    evaluations = count_evaluations(monkeypatch)
    text = DEFAULTED.replace('r: "${index}", tag: "${index * 7}"', 'r: 3, tag: "${index * 7}"')
    text = text.replace("repeat: 10,", "repeat: 1000,")
    assert spec_errors(text, shapes=False) == []
    assert len(evaluations) < 10  # tag reads index but decides no size: b is counted once


def test_the_count_pays_for_long_expressions_in_steps(monkeypatch):
    # 1 for the entry, then per copy: 1 (after the first), 2 + 2 for r and s (8 characters
    # each: 1 + 8 // 8), 1 for relu and 1 for its repeat: 1 + 10 * 6 + 9 = 70 steps
    import archspec.lang.limits as limits_module

    monkeypatch.setattr(limits_module, "MAX_COUNT_STEPS", 70)
    assert spec_errors(DEFAULTED, shapes=False) == []
    padded = DEFAULTED.replace('repeat: "${s}"', 'repeat: "${s + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0}"')
    assert spec_errors(padded, shapes=False) == [
        "spec.yaml:9:3: nodes.top: the spec's repeat counts take more than 70 steps to count "
        "(hint: give fewer block instances different repeat counts)"
    ]


def test_a_count_that_needs_too_many_steps_is_refused_with_its_own_error(monkeypatch):
    import archspec.lang.limits as limits_module

    monkeypatch.setattr(limits_module, "MAX_COUNT_STEPS", 5)
    visits = count_visits(monkeypatch)
    assert spec_errors(DEFAULTED) == [
        "spec.yaml:9:3: nodes.top: the spec's repeat counts take more than 5 steps to count "
        "(hint: give fewer block instances different repeat counts)"
    ]
    assert visits == []


def test_a_spec_of_exactly_the_node_limit_in_block_instances_still_expands(monkeypatch):
    import archspec.lang.expand as expand_module
    import archspec.lang.limits as limits_module

    monkeypatch.setattr(expand_module, "MAX_NODES", 100)
    monkeypatch.setattr(limits_module, "MAX_NODES", 100)
    text = NESTED_REPEATS % ("relu", 5, 4, 5)  # 5 x 4 x 5 = 100 nodes through 25 block instances
    assert spec_errors(text) == []
    assert spec_errors(NESTED_REPEATS % ("relu", 5, 4, 6)) == [
        "spec.yaml:11:3: nodes.top: the spec expands to more than 100 nodes (hint: lower a repeat count)"
    ]


# --- the work of expanding is bounded too: block instances at every depth count ---------------------


def one_entry_chain(depth: int, tops: int, repeat: int, op: str = "relu") -> str:
    """``tops`` top-level nodes, each ``repeat`` copies of a chain of ``depth`` nested one-entry blocks."""
    lines = ["archspec: 1", "inputs: {x: {shape: [4]}}", "blocks:"]
    for k in range(depth):
        inner = f"{{op: {op}}}" if k == depth - 1 else f"{{block: b{k + 1}}}"
        lines += [f"  b{k}:", "    nodes:", f"      n: {inner}"]
    lines += ["nodes:", *(f"  t{i}: {{block: b0, repeat: {repeat}}}" for i in range(tops))]
    return "\n".join(lines) + "\n"


def refuse_visits(monkeypatch):
    """Fail the test at the first site expansion starts to build."""
    import archspec.lang.expand as expand_module

    monkeypatch.setattr(expand_module._Walk, "one", lambda *a: pytest.fail("it started expanding"))


def set_limits(monkeypatch, **limits):
    import archspec.lang.expand as expand_module
    import archspec.lang.limits as limits_module

    for name, value in limits.items():
        monkeypatch.setattr(expand_module, name, value)
        monkeypatch.setattr(limits_module, name, value)


def test_nodes_deep_in_nested_blocks_within_the_node_limit_are_refused_for_their_visits(monkeypatch):
    # exactly 100,000 nodes, but each sits 32 block instances deep: 3.3 million visits (minutes)
    refuse_visits(monkeypatch)
    assert spec_errors(one_entry_chain(32, 10, 10000)) == [
        "spec.yaml:101:3: nodes.t0: the spec expands through more than 200000 block instances and nodes "
        "(hint: nest fewer blocks inside repeated ones, or lower a repeat count)"
    ]


def test_every_node_may_sit_in_a_block_instance_of_its_own_at_the_node_limit():
    from archspec.lang.limits import MAX_NODES, MAX_VISITS, overflow
    from archspec.lang.loader import loads

    assert MAX_VISITS == 2 * MAX_NODES
    fits = loads(one_entry_chain(1, 10, 10000), "spec.yaml")  # 100,000 nodes in 100,000 instances
    assert overflow(fits, {}) is None
    deeper = loads(one_entry_chain(2, 10, 10000), "spec.yaml")  # 30,000 visits per top-level node
    assert str(overflow(deeper, {})).startswith(
        "spec.yaml:17:3: nodes.t6: the spec expands through more than 200000 block instances and nodes"
    )


def test_the_visit_limit_is_exact_up_front_and_during_expansion(monkeypatch):
    # a copy of the chain is 32 instances and 1 node: 33 visits
    set_limits(monkeypatch, MAX_VISITS=66)
    assert spec_errors(one_entry_chain(32, 1, 2)) == []
    error = (
        "spec.yaml:101:3: nodes.t0: the spec expands through more than 66 block instances and nodes "
        "(hint: nest fewer blocks inside repeated ones, or lower a repeat count)"
    )
    assert spec_errors(one_entry_chain(32, 1, 3)) == [error]
    # with the up-front count switched off, expansion's own count stops at the limit
    import archspec.lang.expand as expand_module

    monkeypatch.setattr(expand_module, "overflow", lambda doc, env: None)
    set_limits(monkeypatch, MAX_VISITS=50)
    visits = count_visits(monkeypatch)
    errors = spec_errors(one_entry_chain(32, 1, 3, op="nosuch"))
    # visit 51 would be the second copy's 18th instance (of b17, in b16): refused before it starts
    assert [e.splitlines()[0] for e in errors] == [
        "spec.yaml:54:7: blocks.b16.nodes.n: the spec expands through more than 50 block instances and nodes "
        "(hint: nest fewer blocks inside repeated ones, or lower a repeat count)",
        "spec.yaml:99:15: blocks.b31.nodes.n.op: unknown op 'nosuch' (hint: run 'archspec ops' to list the ops)",
    ]
    assert len(visits) == 50


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_the_up_front_count_of_every_example_is_its_expansion(monkeypatch, example):
    from archspec.lang.include import resolve_includes
    from archspec.lang.limits import _Count
    from archspec.lang.loader import load_document
    from archspec.lang.params import global_env
    from archspec.lang.validate import validate
    from archspec.pipeline import load

    doc = resolve_includes(validate(load_document(example)), validate)
    env = global_env(doc.data)
    count = _Count(doc.data.get("blocks") or {}, env)
    sizes = [count.size(raw, env, ()) for raw in (doc.data.get("nodes") or {}).values()]
    visits = count_visits(monkeypatch)
    spec = load(example)
    assert (sum(n for n, _ in sizes), sum(v for _, v in sizes)) == (len(spec.nodes), len(visits))
    assert len(visits) < 2 * len(spec.nodes) < 1000  # realistic nets: far below either limit


def test_each_location_in_a_block_is_looked_up_once_however_many_copies_expand(monkeypatch):
    # the lookup walks the --set items and the marks; per copy and level it cost more than the rest
    from archspec.lang.loader import Document

    lookups = []
    loc = Document.loc
    monkeypatch.setattr(Document, "loc", lambda self, *a, **k: lookups.append(1) or loc(self, *a, **k))
    assert spec_errors(one_entry_chain(8, 1, 1000), shapes=False) == []
    assert len(lookups) < 100  # 8,000 instances and 1,000 nodes


LEFT_OUT = textwrap.dedent("""\
    archspec: 1
    inputs: {x: {shape: [4]}}
    blocks:
      b:
        params: {on: bool}
        nodes:
          n: {op: relu, repeat: 10, if: "${on}"}
    nodes:
      top: {block: b, repeat: 10, on: "${index < 5}"}
      none: {op: relu, repeat: 0}
      off: {block: b, on: true, if: false}
    """)


def test_entries_left_out_by_if_or_repeat_0_count_nothing_up_front(monkeypatch):
    # copies 0-4 build 10 relus each; copies 5-9 build nothing inside and count 1 each; none
    # and off build nothing: 55 nodes (counting if: as true and repeat: 0 as 1 it was 102)
    set_limits(monkeypatch, MAX_NODES=55)
    assert spec_errors(LEFT_OUT) == []
    set_limits(monkeypatch, MAX_NODES=54)
    refuse_visits(monkeypatch)
    assert spec_errors(LEFT_OUT) == [
        "spec.yaml:9:3: nodes.top: the spec expands to more than 54 nodes (hint: lower a repeat count)"
    ]


# --- weights that cannot fit are refused before torch allocates them --------------------------------

TERABYTES = HEAD.replace("[4]", "[2000000]") + "  a: {op: linear, out_features: 2000000}\n"  # 4e12 weights


def test_a_spec_whose_weights_need_16_tb_is_refused_by_compile_before_building(monkeypatch):
    import archspec.compiler.compile as compile_module

    monkeypatch.setattr(compile_module, "build_modules", lambda *a, **k: pytest.fail("it built modules"))
    graph = analysed_text(TERABYTES)
    with pytest.raises(ShapeError) as info:
        compile_module.compile_model(graph)
    assert str(info.value).startswith(
        "spec.yaml:5:3: nodes.a: the weights need 14.6 TiB (4,000,002,000,000 parameters and buffer elements at 4 bytes), more than this machine's"
    )
    assert "(hint: the largest node, 'a' (linear), holds 4,000,002,000,000; make it smaller)" in str(
        info.value
    )


def test_the_weights_check_compares_against_the_memory_it_is_given():
    from archspec.graph.memory import check_weights_fit, weight_bytes

    graph = analysed_text(HEAD + "  a: {op: linear, out_features: 10}\n")  # 50 parameters
    assert weight_bytes(graph) == 200
    check_weights_fit(graph, memory=200)
    with pytest.raises(ShapeError, match=r"the weights need 200 bytes \(50 parameters"):
        check_weights_fit(graph, memory=199)


def test_compile_of_a_16_tb_spec_exits_2_with_the_located_error(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(TERABYTES)
    result = invoke("compile", path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert f"{path}:5:3: nodes.a: the weights need 14.6 TiB" in result.output
    assert not (tmp_path / "out").exists()


def test_an_artefact_whose_embedded_spec_wants_more_weights_than_it_holds_is_refused_before_building(
    tmp_path, monkeypatch
):
    from safetensors import safe_open
    from safetensors.torch import save_file

    import archspec.compiler.compile as compile_module
    from archspec.compiler.artifact import load_artifact, save_artifact
    from archspec.errors import CheckpointError

    small = HEAD + "  a: {op: linear, out_features: 2}\n"
    graph = analysed_text(small)
    file = save_artifact(compile_module.compile_model(graph), graph, tmp_path / "art")
    with safe_open(str(file), framework="pt") as f:
        tensors, metadata = {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())  # noqa: SIM118
    metadata["archspec_spec"] = TERABYTES
    save_file(tensors, str(file), metadata=metadata)
    monkeypatch.setattr(compile_module, "build_modules", lambda *a, **k: pytest.fail("it built modules"))
    with pytest.raises(CheckpointError) as info:
        load_artifact(tmp_path / "art")
    assert str(info.value) == (
        f"{file}: the embedded spec builds 4,000,002,000,000 parameters and buffer elements, "
        "but the file holds only 10 (a tampered or mismatched artefact)"
    )


def analysed_text(text: str):
    from archspec.pipeline import analyse

    return analyse(load_text(text, name="spec.yaml"))


# --- a bad spec fails before torch is imported ---------------------------------------------------------

PROBE = """\
import sys
from archspec.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="archspec")
except SystemExit as exc:
    print("exit", exc.code, "torch imported:", "torch" in sys.modules)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["compile", "{spec}", "-o", "{out}"],
        ["export", "{spec}", "--to", "onnx", "-o", "{out}.onnx"],
        ["check-init", "{spec}"],
        ["train", "{spec}", "--run-dir", "{out}"],
    ],
)
def test_a_bad_spec_fails_before_torch_is_imported(tmp_path, args):
    import subprocess
    import sys

    from tests.conftest import ROOT

    spec = tmp_path / "bad.yaml"
    spec.write_text(HEAD + "  a: {op: linear, out_features: '${nope}'}\n")
    argv = [a.format(spec=spec, out=tmp_path / "out") for a in args]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "unknown name 'nope'" in proc.stderr, proc.stderr
    assert proc.stdout.strip() == "exit 2 torch imported: False", proc.stdout + proc.stderr
