"""Property tests: whatever the input, the pipeline gives a result or an ArchSpecError.

The mutations start from the real examples (so they reach deep into expansion, the graph and
shape inference) and from random YAML. ``ARCHSPEC_FUZZ_EXAMPLES`` raises the budget for a
long run (e.g. 10000 in the slow job); hostile expressions (huge values, complex numbers,
runaway repeats) get a fifth of it, at least 30.
"""

from __future__ import annotations

import contextlib
import copy
import os

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archspec.errors import ArchSpecError
from archspec.lang.loader import load_document
from archspec.pipeline import analyse, load_text
from tests.conftest import EXAMPLES, data_paths

BUDGET = int(os.environ.get("ARCHSPEC_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=BUDGET, deadline=None, suppress_health_check=list(HealthCheck))

DOCS = [load_document(p).data for p in EXAMPLES]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["x", "image", "enc1", "relu", "conv2d", "${ch * 2}", "${bad(", "-1", "[]", "in", "op"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _mutate(data, path, value, action):
    data = copy.deepcopy(data)
    if not path:
        return value if action == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "rename" and isinstance(parent, dict):
        parent[str(value)[:10]] = parent.pop(last)
    else:
        parent[last] = value
    return data


def _check(text: str) -> None:
    with contextlib.suppress(ArchSpecError):
        analyse(load_text(text, name="fuzz.yaml"))


@FUZZ
@given(
    doc=st.sampled_from(DOCS),
    data=st.data(),
    value=values,
    action=st.sampled_from(["replace", "delete", "rename"]),
)
def test_mutated_examples_give_a_spec_or_an_archspec_error(doc, data, value, action):
    paths = list(data_paths(doc))
    path = data.draw(st.sampled_from(paths))
    mutated = _mutate(doc, path, value, action)
    _check(yaml.safe_dump(mutated, sort_keys=False))


@FUZZ
@given(
    doc=st.sampled_from([p.read_text() for p in EXAMPLES]),
    cut=st.integers(0, 4000),
    junk=st.text(max_size=20),
)
def test_truncated_and_spliced_spec_text_never_crashes(doc, cut, junk):
    cut = min(cut, len(doc))
    _check(doc[:cut] + junk + doc[cut:][: len(doc) // 3])


@FUZZ
@given(value=values)
def test_random_yaml_documents_never_crash(value):
    _check(yaml.safe_dump({"archspec": 1, "inputs": {"x": {"shape": [4]}}, "nodes": value}))
    _check(yaml.safe_dump(value))


# --- hostile expressions (issue 16): huge values, complex numbers, runaway repeats ---------------

ATOMS = [
    "1",
    "-8",
    "0.5",
    "3",
    "10000",
    "10**15",
    "'ab'",
    '"%0100000000d"',
    '"%.99999999f"',
    "[1, 2]",
    "index",
]
OPS = ["+", "-", "*", "/", "//", "%", "**", " if 1 else ", " and "]
hostile = st.builds(
    lambda parts, ops: "${" + "".join(a + o for a, o in zip(parts, [*ops, ""])) + "}",
    st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4),
    st.lists(st.sampled_from(OPS), min_size=3, max_size=3),
) | st.sampled_from(
    [
        '${"%0100000000d" % 1}',
        "${(-8)**0.5}",
        "${round(5, -10**9)}",
        "${[1, 2] + [3]}",
        "${float('nan')}",
        "${10000}",
        "${'x' + 'y'}",
    ]
)


def _nodes(data):
    """Every (path, node mapping) under nodes: and blocks: of a spec."""
    for path in data_paths(data):
        node = data
        for part in path:
            node = node[part]
        if isinstance(node, dict) and ("op" in node or "block" in node):
            yield path, node


@settings(max_examples=max(BUDGET // 5, 30), deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=st.sampled_from(DOCS), data=st.data(), expr=hostile, key=st.sampled_from(["repeat", "value"]))
def test_hostile_expressions_in_examples_give_a_spec_or_an_archspec_error(doc, data, expr, key):
    doc = copy.deepcopy(doc)
    nodes = list(_nodes(doc))
    if not nodes:
        return
    path, node = data.draw(st.sampled_from(nodes))
    if key == "repeat":
        node["repeat"] = expr
    else:
        target = data.draw(st.sampled_from([k for k in node if k not in ("op", "block")] or ["op"]))
        node[target] = expr
    _check(yaml.safe_dump(doc, sort_keys=False))
