"""A seeded mutation fuzz: every mutated spec gives a result or an ArchSpecError, nothing else.

The seeds are the shipped examples and the hostile specs of issue 16; each case applies one to
three deterministic mutations (change, delete, duplicate or rename a key; a value of the wrong
type, a huge integer, deep nesting, unicode and control characters, a bad reference, a random
``${...}`` fragment; or a cut, a splice, a duplicated or re-indented line of the text) and runs
the result through load -> validate -> expand -> shapes, the checks ``train`` makes first, the
SVG drawing (which must parse as XML) and, for one clean case in 5 with small weights, the compiler.
Every other exception is collected with its case number and spec, and the test fails listing
them. Case ``i`` is the same on every run (``random.Random(i)``), so a failure reproduces with
``mutated_case(i)``. Each case is bounded by the limits the code has (file size, nesting, nodes,
expression values, weights that must fit in memory).

The default suite runs 200 cases; the ``slow`` job runs ``ARCHSPEC_MUTATION_CASES`` (default
10,000): ``pytest -m slow tests/test_mutation_fuzz.py``.
"""

from __future__ import annotations

import copy
import os
import random
import textwrap
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest
import yaml

from archspec.errors import ArchSpecError
from tests.conftest import EXAMPLES, data_paths, spec_errors
from tests.test_bounds import INDEXED

SLOW_CASES = int(os.environ.get("ARCHSPEC_MUTATION_CASES", "10000"))
QUICK_CASES = 200
COMPILE_EVERY = 5  # of the cases that analyse cleanly (about one in ten does)
COMPILE_MAX_PARAMS = 2_000_000  # elements: compiling more is slow, not more telling


# --- seeds: the examples and the hostile specs of issue 16 ------------------------------------------

HEAD = "archspec: 1\ninputs:\n  x: {shape: [4]}\nnodes:\n"


def _nested_blocks(levels: int, param: str, expr: str, start: str) -> str:
    lines = ["archspec: 1", "inputs: {x: {shape: [4]}}", "blocks:"]
    for k in range(levels):
        lines += [f"  b{k}:", f"    params: {{{param}: any}}", "    nodes:"]
        inner = "{op: relu}" if k == levels - 1 else f"{{block: b{k + 1}, {param}: '{expr}'}}"
        lines.append(f"      n: {inner}")
    lines += ["nodes:", f"  top: {{block: b0, {param}: {start}}}"]
    return "\n".join(lines) + "\n"


THREE_REPEATS = """\
archspec: 1
inputs: {x: {shape: [4]}}
blocks:
  b1:
    nodes:
      n: {op: nosuch, repeat: "${10000}"}
  b2:
    nodes:
      m: {block: b1, repeat: "${10000}"}
nodes:
  top: {block: b2, repeat: "${10000}"}
"""

HOSTILE = {
    "percent-format": HEAD + "  a: {op: linear, out_features: '${\"%0100000000d\" % 1}'}\n",
    "doubling-through-blocks": _nested_blocks(32, "s", "${s+s}", "ab"),
    "list-through-blocks": _nested_blocks(32, "l", "${[l, l]}", "[1, 2]"),
    "complex-number": HEAD + "  a: {op: linear, out_features: '${(-8)**0.5}'}\n",
    "nested-repeat-invalid": THREE_REPEATS,
    "index-repeats": INDEXED % "relu",  # the spec, as tests/test_bounds.py refuses it
    "huge-weights": HEAD.replace("[4]", "[2000000]") + "  a: {op: linear, out_features: 2000000}\n",
    "keyword-ids": HEAD + "  class: {op: relu}\n  import: {op: relu, in: class}\n",
    "trailing-newline-id": HEAD + '  "h\\n": {op: relu}\n',
    "control-characters": 'archspec: 1\ndescription: "title\\e]0;pwned\\a"\ninputs:\n  x: {shape: [4]}\n'
    'nodes:\n  a: {op: relu, doc: "bell\\x07"}\n',
    "name-escapes": "archspec: 1\nname: ../../x\ninputs:\n  x: {shape: [4]}\nnodes:\n  a: {op: relu}\n",
}


def _seeds() -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in EXAMPLES] + [(f"hostile:{k}", v) for k, v in HOSTILE.items()]


SEEDS = _seeds()


# --- mutations -------------------------------------------------------------------------------------

WEIRD_TEXT = [
    "",
    " ",
    "é",
    "名前",
    "🙂",
    "a\u0301",
    "\u202eevil",
    "zero\u200bwidth",
    "\u00a0",
    "line\u2028sep",
    "１２",
    "tab\there",
    "nl\n",
    "esc\x1b[2J",
    "nul\x00",
    "del\x7f",
    "nel\x85",
    "../../x",
    "/abs/path",
    "a.b.c",
    "class",
    "import",
    "lambda",
    "None",
    "in",
    "self",
    "torch",
    "op",
    "x" * 300,
]
HUGE_INTS = [10**6, 10**9, 10**12, 2**31, 2**63, 10**18, 10**30, 10**99, -1, -(10**9), 0]
BAD_REFS = ["nosuch", "x.y.z", "enc1.", ".", "", "0", "layer.99999", "x.0", "in", "self", "../x", "a b"]
EXPR_ATOMS = [
    "1",
    "-8",
    "0.5",
    "10000",
    "10**15",
    "2**64",
    "'ab'",
    '"%0100000000d"',
    '"%.99999999f"',
    '"%*d"',
    "[1, 2]",
    "index",
    "ch",
    "x",
    "shape(x)",
    "channels(x)",
    "width(8)",
    "depth(3)",
    "round(5, -10**9)",
    "__import__('os')",
    "x.__class__",
    "(lambda: 1)()",
    "[i for i in [1]]",
    "{1: 2}",
    "float('nan')",
    "float('inf')",
    "max()",
    "min(1)",
    "int('9' * 99)",
]
EXPR_OPS = ["+", "-", "*", "/", "//", "%", "**", " if 1 else ", " and ", " or ", " < ", "[", "(", ",", ""]
TEXT_JUNK = [
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "&a ",
    "*a",
    "!!python/object:os.system ",
    "'",
    '"',
    "\t",
    "#",
    "\x00",
    "?",
]


def _expr(rng: random.Random) -> str:
    parts = [rng.choice(EXPR_ATOMS) + rng.choice(EXPR_OPS) for _ in range(rng.randint(1, 4))]
    body = "".join(parts)
    if rng.random() < 0.7:
        body = body.rstrip("+-*/%<,[( ").removesuffix(" if 1 else").removesuffix(" and").removesuffix(" or")
    return "${" + body + "}" if rng.random() < 0.9 else "conv${" + body + "}_x"


def _value(rng: random.Random, old: object = None) -> object:
    """A value of some other kind than ``old``, or a hostile one."""
    kind = rng.choice(
        ["int", "float", "str", "list", "dict", "bool", "null", "huge", "expr", "weird", "deep"]
    )
    if kind == "int":
        return rng.randint(-5, 70)
    if kind == "float":
        return rng.choice([0.0, -1.5, 1e-300, 1e300, float("inf"), float("nan"), 0.1])
    if kind == "str":
        return rng.choice(["relu", "linear", "conv2d", "x", "image", "enc1", "same", "mean", "adam", "true"])
    if kind == "list":
        return [_value(rng) for _ in range(rng.randint(0, 3))] if rng.random() < 0.5 else [old, old]
    if kind == "dict":
        return {rng.choice(["op", "in", "shape", "a", "block", "repeat"]): _value(rng) for _ in range(2)}
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "huge":
        return rng.choice(HUGE_INTS)
    if kind == "expr":
        return _expr(rng)
    if kind == "weird":
        return rng.choice(WEIRD_TEXT)
    return _deep(rng, old)


def _deep(rng: random.Random, inner: object) -> object:
    for _ in range(rng.choice([5, 30, 99, 120])):
        inner = [inner] if rng.random() < 0.5 else {"k": inner}
    return inner


def _parent(data: object, path: tuple) -> object:
    for part in path[:-1]:
        data = data[part]  # type: ignore[index]
    return data


def _mutate_data(data: dict, rng: random.Random) -> tuple[object, str]:
    """One mutation of the parsed spec, and what it was."""
    paths = [p for p in data_paths(data) if p]
    if not paths:
        return _value(rng), "replaced the document"
    path = rng.choice(paths)
    parent, last = _parent(data, path), path[-1]
    old = parent[last]
    kind = rng.choice(
        [
            "change",
            "delete",
            "duplicate",
            "rename",
            "wrong-type",
            "huge",
            "deep",
            "unicode",
            "ref",
            "expr",
            "swap",
        ]
    )
    if kind == "delete":
        del parent[last]
    elif kind == "duplicate" and isinstance(parent, dict):
        parent[f"{last}_{rng.randint(0, 9)}" if rng.random() < 0.5 else rng.choice(WEIRD_TEXT)] = (
            copy.deepcopy(old)
        )
    elif kind == "duplicate":
        parent.insert(last, copy.deepcopy(old))
    elif kind == "rename" and isinstance(parent, dict):
        parent[rng.choice(WEIRD_TEXT + BAD_REFS + [str(last).upper(), "repeat", "block", "op"])] = parent.pop(
            last
        )
    elif kind == "huge":
        parent[last] = rng.choice(HUGE_INTS)
    elif kind == "deep":
        parent[last] = _deep(rng, old)
    elif kind == "unicode":
        parent[last] = (old if isinstance(old, str) else "") + rng.choice(WEIRD_TEXT)
    elif kind == "ref":
        target = rng.choice(["in", "share", "outputs", "block", "op"])
        if isinstance(old, dict):
            old[target] = rng.choice(BAD_REFS) if rng.random() < 0.8 else [rng.choice(BAD_REFS)]
        else:
            parent[last] = rng.choice(BAD_REFS)
    elif kind == "expr":
        if isinstance(old, dict) and rng.random() < 0.5:
            old[rng.choice(["repeat", "if", "in", "op", "block", "out_features", "channels"])] = _expr(rng)
        else:
            parent[last] = _expr(rng)
    elif kind == "swap":
        other = rng.choice(paths)
        try:
            other_parent = _parent(data, other)
            parent[last], other_parent[other[-1]] = other_parent[other[-1]], old
        except (KeyError, IndexError, TypeError):
            parent[last] = _value(rng, old)
    else:  # change, wrong-type, or a rename/duplicate where the parent cannot take one
        parent[last] = _value(rng, old)
    return data, f"{kind} at {'.'.join(map(str, path))}"


def _mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """One mutation of the spec's text, and what it was."""
    lines = text.splitlines(keepends=True) or [""]
    i = rng.randrange(len(lines))
    kind = rng.choice(["cut", "splice", "duplicate-line", "delete-line", "indent"])
    if kind == "cut":
        at = rng.randrange(len(text) + 1)
        return text[:at], f"cut at {at}"
    if kind == "splice":
        at = rng.randrange(len(text) + 1)
        junk = "".join(rng.choice(TEXT_JUNK + WEIRD_TEXT) for _ in range(rng.randint(1, 3)))
        return text[:at] + junk + text[at:], f"splice {junk!r} at {at}"
    if kind == "duplicate-line":
        lines.insert(i, lines[i])
    elif kind == "delete-line":
        del lines[i]
    else:
        lines[i] = rng.choice(["", " ", "  ", "\t", "      "]) + lines[i].lstrip(" ")
    return "".join(lines), f"{kind} {i + 1}"


@dataclass
class Case:
    number: int
    seed: str
    text: str
    mutations: list[str] = field(default_factory=list)


def mutated_case(number: int) -> Case:
    """Case ``number``: seed ``number`` (in turn) and one to three mutations, the same on every run."""
    rng = random.Random(number)
    name, text = SEEDS[number % len(SEEDS)]  # every seed in turn
    case = Case(number, name, text)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    for _ in range(rng.choice([1, 1, 2, 3])):
        if isinstance(data, dict) and rng.random() < 0.75:
            data, what = _mutate_data(data, rng)
            case.text = _dump(data)
        else:
            case.text, what = _mutate_text(case.text, rng)
            data = None
        case.mutations.append(what)
    return case


def _dump(data: object) -> str:
    try:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError):
        return repr(data)


# --- the pipeline each case goes through ------------------------------------------------------------


def run_case(case: Case) -> str:
    """Load, validate, expand, infer shapes, make train's first checks, check the weights fit in
    memory, draw; compile one case in 5 whose weights are small."""
    from archspec.api import render
    from archspec.graph.memory import check_weights_fit
    from archspec.lang.runcheck import training_errors
    from archspec.pipeline import analyse, load_text

    spec = load_text(case.text, name="fuzz.yaml")
    training_errors(spec)
    graph = analyse(spec)
    check_weights_fit(graph)  # what compile checks first, without torch
    ET.fromstring(render(graph))  # the SVG is well-formed XML
    if case.number % COMPILE_EVERY == 0:
        from archspec.graph.shapes import totals

        sizes = totals(graph)
        if sizes["params"] + sizes["buffers"] <= COMPILE_MAX_PARAMS:
            from archspec.compiler.compile import compile_model

            compile_model(graph)
            return "compiled"
    return "result"


def fuzz(cases: range) -> tuple[list[str], dict[str, int]]:
    """Run the cases; the non-archspec exceptions as messages, and how the cases ended."""
    failures: list[str] = []
    outcomes = {"result": 0, "compiled": 0, "archspec error": 0, "other exception": 0}
    for number in cases:
        case = mutated_case(number)
        try:
            outcomes[run_case(case)] += 1
        except ArchSpecError:
            outcomes["archspec error"] += 1
        except Exception as exc:  # noqa: BLE001 - what the fuzz is looking for
            outcomes["other exception"] += 1
            where = traceback.extract_tb(exc.__traceback__)[-1]
            failures.append(
                f"case {number} ({case.seed}; {', '.join(case.mutations)}): {type(exc).__name__}: {exc}"
                f" at {where.filename}:{where.lineno}\n--- spec ---\n{case.text[:2000]}\n--- end ---"
            )
    return failures, outcomes


def _check(cases: range) -> None:
    failures, outcomes = fuzz(cases)
    print(f"{len(cases)} cases: {outcomes}")
    assert not failures, f"{len(failures)} non-archspec exceptions:\n\n" + "\n\n".join(failures[:20])


def test_mutation_cases_are_deterministic_and_mutate():
    first, again = mutated_case(7), mutated_case(7)
    assert (first.seed, first.text, first.mutations) == (again.seed, again.text, again.mutations)
    cases = [mutated_case(i) for i in range(50)]
    assert sum(c.text != dict(SEEDS)[c.seed] for c in cases) >= 45
    assert {c.seed for c in cases} >= {f"hostile:{k}" for k in HOSTILE}


def test_every_hostile_seed_gives_a_result_or_an_archspec_error():
    failures, outcomes = fuzz_seeds()
    assert not failures, "\n\n".join(failures)
    assert outcomes["archspec error"] == len(HOSTILE)  # each of them is refused


def fuzz_seeds() -> tuple[list[str], dict[str, int]]:
    failures: list[str] = []
    outcomes = {"result": 0, "compiled": 0, "archspec error": 0}
    for name, text in HOSTILE.items():
        try:
            outcomes[run_case(Case(0, f"hostile:{name}", text))] += 1
        except ArchSpecError:
            outcomes["archspec error"] += 1
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    return failures, outcomes


# --- what the fuzz found, each as a regular test ------------------------------------------------------


def test_a_block_name_expression_that_gives_a_list_is_an_unknown_block():
    # case 9213 of the first 10,000-case run: TypeError: unhashable type: 'list' in expand
    text = textwrap.dedent("""\
        archspec: 1
        inputs: {x: {shape: [4]}}
        blocks:
          b:
            params: {l: any}
            nodes:
              n: {op: relu}
        nodes:
          top: {block: "${[1, 2]}", l: 1}
          other: {block: b, l: "${[1]}"}
        """)
    assert spec_errors(text) == ["spec.yaml:9:16: nodes.top.block: unknown block [1, 2] (hint: blocks: b)"]


def test_200_mutated_specs_give_a_result_or_an_archspec_error():
    _check(range(QUICK_CASES))


@pytest.mark.slow
def test_the_mutation_fuzz_of_10000_specs_finds_no_other_exception():
    _check(range(SLOW_CASES))
