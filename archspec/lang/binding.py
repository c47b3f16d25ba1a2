"""Binding: how nodes connect, as lazy references in their scope.

A node's ``in:`` (a name, a list, or for a block instance a mapping of its inputs), the default
when it has none (the previous node, or the scope's only input), a block instance's inputs bound
to the block's declared ``inputs``, and the :class:`~archspec.lang.namespace.Entry` that a node's
or an instance's name then stands for (its default output and named outputs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archspec.errors import GraphError
from archspec.lang.errorlog import Reporter
from archspec.lang.keys import NodeKey
from archspec.lang.model import Ref
from archspec.lang.namespace import Entry, LazyRef, Namespace

__all__ = [
    "bind_block_inputs",
    "block_input_names",
    "default_input",
    "instance_entry",
    "node_inputs",
    "op_entry",
]

Inputs = list[LazyRef] | dict[str, LazyRef]
Path = tuple[str | int, ...]
_BLOCK = NodeKey.BLOCK.value
_IN = NodeKey.IN.value


def node_inputs(rep: Reporter, raw: Mapping[str, Any], ns: Namespace, path: Path) -> Inputs | None:
    """The node's ``in:`` as lazy references (None: not written, the default applies)."""
    value = raw.get(_IN)
    if value is None:
        return None
    at = path + (_IN,)
    if isinstance(value, str):
        return [LazyRef(value, ns, rep.loc(at))]
    if isinstance(value, list):
        return [LazyRef(str(v), ns, rep.loc(at + (i,))) for i, v in enumerate(value)]
    return {k: LazyRef(str(v), ns, rep.loc(at + (k,))) for k, v in value.items()}


def default_input(rep: Reporter, ns: Namespace, path: Path, in_block: bool) -> list[LazyRef] | None:
    """A node without ``in:`` reads the previous node, else the scope's first input (None: reported).

    At the top level the first node may only default to an input when there is exactly one.
    """
    loc = rep.loc(path, key=True)
    if ns.last is not None:
        return [LazyRef(ns.last, ns, loc)]
    if len(ns.inputs) == 1 or (ns.inputs and in_block):
        return [LazyRef(next(iter(ns.inputs)), ns, loc)]
    names = ", ".join(ns.inputs) or "none"
    rep.fail(
        GraphError(
            f"the first node needs 'in:' (inputs: {names})",
            loc=loc,
            hint="name the input it reads, e.g. in: " + (next(iter(ns.inputs), "x")),
        )
    )
    return None


def block_input_names(block: Mapping[str, Any]) -> list[str]:
    """The inputs a block declares (one called ``x`` when it declares none)."""
    return list(block.get("inputs") or ["x"])


def bind_block_inputs(
    rep: Reporter, name: str, block: Mapping[str, Any], ins: Inputs, path: Path
) -> dict[str, LazyRef] | None:
    """Each input of block ``name`` -> what the instance feeds it (None: a mismatch, reported)."""
    names = block_input_names(block)
    loc = rep.loc(path + (_IN,))
    if isinstance(ins, dict):
        return _bind_by_name(rep, name, names, ins, loc)
    if len(ins) == len(names):
        return dict(zip(names, ins))
    hint = f"name them with in: {{{', '.join(f'{n}: ...' for n in names)}}}" if len(names) > 1 else None
    rep.fail(
        GraphError(
            f"block {name!r} takes {len(names)} input(s) ({', '.join(names)}), got {len(ins)}",
            loc=loc,
            hint=hint,
        )
    )
    return None


def _bind_by_name(
    rep: Reporter, name: str, names: Sequence[str], ins: dict[str, LazyRef], loc: Any
) -> dict[str, LazyRef] | None:
    unknown = [k for k in ins if k not in names]
    missing = [k for k in names if k not in ins]
    if not unknown and not missing:
        return dict(ins)
    what = f"unknown input {unknown[0]!r}" if unknown else f"missing input {missing[0]!r}"
    rep.fail(
        GraphError(
            f"block {name!r}: {what}", loc=loc, hint=f"block {name!r} takes inputs: {', '.join(names)}"
        )
    )
    return None


def op_entry(node_id: str, outputs: Sequence[str] | None) -> Entry:
    """What an op node's name stands for: the node, or its first named output and the rest by name."""
    entry = Entry(default=Ref(node_id), node_id=node_id)
    if outputs is not None:
        entry.named = {n: Entry(default=Ref(node_id, n), node_id=node_id) for n in outputs}
        entry.default = Ref(node_id, outputs[0]) if outputs else Ref(node_id)
    return entry


def instance_entry(rep: Reporter, name: str, block: Mapping[str, Any], ns: Namespace) -> Entry:
    """What a block instance's name stands for: the block's ``outputs`` (default: its last node)."""
    outputs = block.get("outputs")
    loc = rep.loc(("blocks", name, "outputs"))
    entry = Entry(default=None, inner=ns)
    if isinstance(outputs, str):
        entry.default = LazyRef(outputs, ns, loc)
    elif isinstance(outputs, Mapping):
        for out_name, ref in outputs.items():
            out_loc = rep.loc(("blocks", name, "outputs", out_name))
            entry.named[out_name] = Entry(default=LazyRef(str(ref), ns, out_loc))
        entry.default = next(iter(entry.named.values())).default if entry.named else None
    elif ns.last is not None:
        entry.default = LazyRef(ns.last, ns, loc)
    return entry
