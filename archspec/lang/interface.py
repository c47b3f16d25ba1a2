"""The spec's outside: its ``inputs`` (per-sample shapes), ``outputs`` and named ``parts``.

Inputs are read before the nodes (they open the top scope); outputs and parts are resolved
after every node is known: an output names a value like an ``in:`` does, a part lists node ids
or glob patterns over them (``enc*``), a block instance's id standing for its inner nodes.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from archspec.errors import GraphError, Location, SchemaError, did_you_mean
from archspec.lang.errorlog import Reporter
from archspec.lang.model import InputSpec, OutputSpec, Ref
from archspec.lang.namespace import LazyRef, Namespace, resolve
from archspec.lang.params import subst

__all__ = ["spec_inputs", "spec_outputs", "spec_parts"]


def spec_inputs(rep: Reporter, env: Mapping[str, Any]) -> dict[str, InputSpec]:
    """The declared inputs whose shapes are positive integers (the others are reported)."""
    data = rep.doc.data
    out: dict[str, InputSpec] = {}
    for name, raw in (data.get("inputs") or {}).items():
        spec = _input(rep, name, raw, env)
        if spec is not None:
            out[name] = spec
    if not out and "inputs" not in data:
        rep.fail(
            SchemaError(
                "missing required key 'inputs'",
                loc=Location(rep.doc.file, 1, 1),
                hint="declare per-sample input shapes, e.g. inputs: {x: {shape: [784]}}",
            )
        )
    return out


def _input(rep: Reporter, name: str, raw: Mapping[str, Any], env: Mapping[str, Any]) -> InputSpec | None:
    path = ("inputs", name, "shape")
    shape = subst(raw["shape"], env, path, rep)
    if shape is None:
        return None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        rep.fail(SchemaError(f"shape must be positive integers, got {shape!r}", loc=rep.loc(path)))
        return None
    return InputSpec(name, tuple(shape), raw.get("dtype", "float32"), rep.loc(path[:-1], key=True))


def spec_outputs(rep: Reporter, top: Namespace) -> dict[str, OutputSpec]:
    """``outputs:`` resolved in the top scope (default: one output, the last top-level node)."""
    raw_outputs = rep.doc.data.get("outputs")
    if raw_outputs is None:
        if top.last is None:
            return {}
        raw_outputs = {"output": top.last}
        locs = {"output": rep.loc(("nodes", top.last), key=True)}
    else:
        locs = {k: rep.loc(("outputs", k)) for k in raw_outputs}
    inputs = rep.doc.data.get("inputs", {})
    out: dict[str, OutputSpec] = {}
    for name, raw in raw_outputs.items():
        ref = (
            Ref(name)
            if name in inputs and raw == name
            else resolve(LazyRef(str(raw), top, locs[name]), rep.log)
        )
        if ref is not None:
            out[name] = OutputSpec(name, ref, locs[name])
    return out


def spec_parts(rep: Reporter, node_ids: Iterable[str], scope_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each part's member node ids, in declaration order; an unmatched member is reported."""
    ids, scopes = list(node_ids), list(scope_ids)
    out: dict[str, list[str]] = {}
    for name, members in (rep.doc.data.get("parts") or {}).items():
        chosen: list[str] = []
        for i, pattern in enumerate(members):
            hits = _members(str(pattern), ids)
            if not hits:
                rep.fail(
                    GraphError(
                        f"part {name!r} names unknown node {pattern!r}",
                        loc=rep.loc(("parts", name, i)),
                        hint=did_you_mean(pattern, [*ids, *scopes]),
                    )
                )
            chosen += [h for h in hits if h not in chosen]
        out[name] = chosen
    return out


def _members(pattern: str, ids: list[str]) -> list[str]:
    if any(c in pattern for c in "*?["):
        return [n for n in ids if fnmatch.fnmatchcase(n, pattern)]
    return [n for n in ids if n == pattern or n.startswith(pattern + ".")]
