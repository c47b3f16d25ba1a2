"""The expression hints list the functions docs/spec.md lists, and say where shape() may be used."""

from __future__ import annotations

import re

import pytest

from archspec.errors import SpecError
from archspec.lang.expr import _FUNCS, FUNCTIONS_TEXT, ExprError, evaluate
from archspec.lang.params import global_env
from archspec.pipeline import load_text
from tests.conftest import ROOT


def _docs_functions() -> list[str]:
    text = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    match = re.search(r"the functions `([a-z\s]+)`", text)
    assert match, "docs/spec.md no longer lists the expression functions"
    return match.group(1).split()


def test_the_hint_lists_exactly_the_functions_the_docs_list_and_the_evaluator_knows():
    env = global_env({})
    known = [*_FUNCS, *(k[5:] for k in env if k.startswith("__fn_"))]
    assert sorted(known) == sorted(_docs_functions())
    listed = ", ".join(_docs_functions())
    assert FUNCTIONS_TEXT.split(", and in op arguments ") == [listed, "shape, channels"]
    with pytest.raises(ExprError) as err:
        evaluate("sqrt(4)", env)
    assert err.value.hint == f"the functions are {FUNCTIONS_TEXT}"
    with pytest.raises(ExprError) as err:
        evaluate("{1: 2}", env)
    assert err.value.hint == f"use numbers, parameter names, arithmetic and the functions {FUNCTIONS_TEXT}"


def test_shape_functions_outside_op_arguments_say_where_they_may_be_used():
    text = """\
archspec: 1
inputs: {x: {shape: [4]}}
nodes:
  z: {op: relu, if: "${channels(x) > 1}"}
  y: {op: linear, out_features: "${mx(2, 3)}"}
"""
    with pytest.raises(SpecError) as err:
        load_text(text, name="s.yaml")
    assert str(err.value).splitlines() == [
        "s.yaml:4:21: nodes.z.if: unknown function 'channels' (hint: channels() reads inferred shapes: "
        "only op arguments may use it, not block parameters, if: or repeat:)",
        "s.yaml:5:33: nodes.y.out_features: unknown function 'mx' (hint: did you mean 'max'?)",
    ]


def test_shape_in_a_block_parameter_is_one_error_with_no_type_error_on_top():
    """The parameter's type is not checked once its expression failed (neither when given nor
    as a default): the node that reads it as out_features adds nothing either."""
    text = """\
archspec: 1
inputs: {x: {shape: [4]}}
blocks:
  dense:
    params: {n: int, m: {type: int, default: "${channels(x)}"}}
    nodes:
      fc: {op: linear, out_features: "${n}"}
      out: {op: linear, out_features: "${m}"}
nodes:
  body: {block: dense, n: "${shape(missing)[0]}"}
"""
    with pytest.raises(SpecError) as err:
        load_text(text, name="s.yaml")
    hint = "reads inferred shapes: only op arguments may use it, not block parameters, if: or repeat:)"
    assert str(err.value).splitlines() == [
        f"s.yaml:5:46: blocks.dense.params.m.default: unknown function 'channels' (hint: channels() {hint}",
        f"s.yaml:10:27: nodes.body.n: unknown function 'shape' (hint: shape() {hint}",
    ]
