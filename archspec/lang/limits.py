"""How far a spec may expand: the node, visit, block-depth and ``repeat`` limits, checked cheaply.

:func:`overflow` counts ``repeat`` values (literal, or expressions whose inputs are known)
through blocks before anything is built, so a hostile spec is refused in milliseconds; expansion
enforces the exact limits again as it goes, counting every instance it visits, valid or not.

Two totals are counted: the op nodes the spec expands to (MAX_NODES), and the work of expanding
it (MAX_VISITS): every op node and every block instance at every depth, since a chain of 32
nested one-entry blocks costs 33 visits for its one node.

The count evaluates only what a size can depend on (:class:`_Reads`): a block's size is
memoised by the values of the names its ``repeat`` counts read, and a repeated block instance
whose size-deciding parameters read ``index`` is counted copy by copy, stopping as soon as the
total passes MAX_NODES.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from archspec.errors import ExpandError, Location
from archspec.lang.expr import ExprError, has_expr, substitute
from archspec.lang.keys import NODE_KEYS, NodeKey
from archspec.lang.loader import Document

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_COUNT_STEPS",
    "MAX_NODES",
    "MAX_REPEAT",
    "MAX_VISITS",
    "overflow",
    "repeat_error",
    "too_many",
    "too_many_visits",
]

MAX_NODES = 100_000
MAX_VISITS = (
    200_000  # op nodes and block instances at every depth: each node may sit in an instance of its own
)
MAX_BLOCK_DEPTH = 32
MAX_REPEAT = 10_000
MAX_COUNT_STEPS = 50_000  # the up-front count's work: entries, copies, 8 characters of ${...} evaluated
_CHARS_PER_STEP = 8

_REPEAT = NodeKey.REPEAT.value
_BLOCK = NodeKey.BLOCK.value
_IF = NodeKey.IF.value
_EXPR = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


Size = tuple[int, int]  # (op nodes, visits: op nodes and block instances at every depth)
_NOTHING: Size = (0, 0)


class _TooInvolved(Exception):
    """The count needed more than MAX_COUNT_STEPS steps."""


def overflow(doc: Document, env: Mapping[str, Any]) -> ExpandError | None:
    """The error when the spec passes MAX_NODES or MAX_VISITS, counted up front (None: it fits,
    as far as known).

    ``repeat`` counts and ``if:`` conditions written as expressions are evaluated where their
    inputs are known here: the spec's ``params`` (``env``) and the block parameters of each
    instance (given values and defaults, for each ``index`` of a repeated instance when they
    read it); a ``repeat`` that cannot be evaluated counts as 1, an ``if:`` as true. An entry
    left out (``if: false``, ``repeat: 0``) counts 0, as expansion builds nothing for it; every
    other entry counts at least 1. The count takes at most
    MAX_COUNT_STEPS steps (each entry and copy counted is one, each expression evaluated one more
    per 8 characters); a spec that needs more (many thousand block copies with
    different repeat counts) is refused too.
    """
    count = _Count(doc.data.get("blocks") or {}, env)
    nodes = visits = 0
    for key, raw in (doc.data.get("nodes") or {}).items():
        try:
            more_nodes, more_visits = count.size(raw, env, ())
        except _TooInvolved:
            return ExpandError(
                f"the spec's repeat counts take more than {MAX_COUNT_STEPS} steps to count",
                loc=doc.loc(("nodes", key), key=True),
                hint="give fewer block instances different repeat counts",
            )
        nodes, visits = nodes + more_nodes, visits + more_visits
        if nodes > MAX_NODES:
            return too_many(doc.loc(("nodes", key), key=True), ())
        if visits > MAX_VISITS:
            return too_many_visits(doc.loc(("nodes", key), key=True), ())
    return None


class _Count:
    """Sizes of entries and of blocks (memoised by block and the parameter values they read)."""

    def __init__(self, blocks: Mapping[str, Any], globals_: Mapping[str, Any]) -> None:
        self.blocks, self.globals = blocks, {k: v for k, v in globals_.items() if k != "index"}
        self.reads = _Reads(blocks)
        self.sizes: dict[tuple[str, str], Size] = {}
        self.steps = 0

    def step(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_COUNT_STEPS:
            raise _TooInvolved

    def value(self, value: Any, env: Mapping[str, Any]) -> Any:
        """``value`` with its expressions evaluated (None when one cannot be), paid for in steps."""
        chars = _expr_chars(value)
        if not chars:
            return value
        self.step(1 + chars // _CHARS_PER_STEP)
        try:
            return substitute(value, env)
        except ExprError:
            return None

    def repeat(self, value: Any, env: Mapping[str, Any]) -> int:
        """A ``repeat`` count as the pre-count takes it: evaluated if it can be (0 included), else 1."""
        value = self.value(value, env)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 1

    def enabled(self, raw: Mapping[str, Any], env: Mapping[str, Any]) -> bool:
        """Whether an entry's ``if:`` may be true (false only when it evaluates to false)."""
        return _IF not in raw or self.value(raw[_IF], env) is not False

    def size(self, raw: Any, env: Mapping[str, Any], stack: tuple[str, ...]) -> Size:
        """The op nodes ``raw`` expands to and the visits that takes (each capped just above its limit)."""
        self.step()
        if not isinstance(raw, Mapping):
            return (1, 1)
        if not self.enabled(raw, env):
            return _NOTHING
        repeat = self.repeat(raw.get(_REPEAT, 1), env)
        if repeat == 0:
            return _NOTHING
        if _BLOCK not in raw or len(stack) >= MAX_BLOCK_DEPTH:
            return _capped(repeat, repeat)
        if "index" not in self.reads.instance(raw):
            nodes, visits = self.copy(raw, env, stack)
            return _capped(repeat * nodes, repeat * visits)
        nodes = visits = 0
        for i in range(repeat):  # the copies differ: count each, until a total is too large
            if i:
                self.step()
            more_nodes, more_visits = self.copy(raw, {**env, "index": i}, stack)
            nodes, visits = nodes + more_nodes, visits + more_visits
            if nodes > MAX_NODES or visits > MAX_VISITS:
                break
        return _capped(nodes, visits)

    def copy(self, raw: Mapping[str, Any], env: Mapping[str, Any], stack: tuple[str, ...]) -> Size:
        """The size of one copy of a block instance, the instance's own visit included (one node
        when its block is unknown or uses itself)."""
        name = self.value(raw[_BLOCK], env)
        block = self.blocks.get(name) if isinstance(name, str) else None
        if not isinstance(block, Mapping) or name in stack:
            return (1, 1)
        params = self.reads.params(name)
        inner = self.block_env(block, raw, env, params)
        key = (name, repr([inner[p] for p in params]))
        if key not in self.sizes:
            self.sizes[key] = self.block_size(block, inner, stack + (name,))
        nodes, visits = self.sizes[key]
        return nodes, visits + 1

    def block_size(self, block: Mapping[str, Any], env: Mapping[str, Any], stack: tuple[str, ...]) -> Size:
        """What one instance's nodes expand to: at least one node, as an instance that builds
        nothing still counts as one."""
        entries = block.get("nodes") or {}
        nodes = visits = 0
        for raw in entries.values() if isinstance(entries, Mapping) else ():
            more_nodes, more_visits = self.size(raw, env, stack)
            nodes, visits = nodes + more_nodes, visits + more_visits
            if nodes > MAX_NODES or visits > MAX_VISITS:
                break
        return _capped(max(nodes, 1), visits)

    def block_env(
        self,
        block: Mapping[str, Any],
        raw: Mapping[str, Any],
        env: Mapping[str, Any],
        params: tuple[str, ...],
    ) -> dict[str, Any]:
        """What the block's repeat counts see in this instance: the globals and the parameters
        they read, given values first and then defaults, as expansion evaluates them (a value
        that fails is None here: errors are expansion's to report)."""
        inner = dict(self.globals)
        for key in params:
            if key in raw:
                inner[key] = self.value(raw[key], env)
        declared = block["params"] if params else {}
        for key in params:
            if key not in raw:
                decl = declared[key]
                inner[key] = self.value(decl.get("default"), inner) if isinstance(decl, Mapping) else None
        return inner


class _Reads:
    """Which names a size can depend on, found once per block and per entry from the text of
    its ``${...}`` (every word in them: a superset, which costs only evaluations)."""

    def __init__(self, blocks: Mapping[str, Any]) -> None:
        self.blocks = blocks
        self._block: dict[str, frozenset[str]] = {}
        self._instance: dict[int, frozenset[str]] = {}
        self._params: dict[tuple[str, bool], tuple[str, ...]] = {}

    def block(self, name: str, depth: int = 0) -> frozenset[str]:
        """The names of its scope (globals, parameters) that block ``name``'s size reads."""
        block = self.blocks.get(name)
        nodes = block.get("nodes") if isinstance(block, Mapping) else None
        nodes = nodes if isinstance(nodes, Mapping) else {}
        if depth > MAX_BLOCK_DEPTH:  # deeper than expansion goes: every word it holds
            return frozenset(n for raw in nodes.values() for n in _names(raw))
        if name not in self._block:
            self._block[name] = frozenset()  # while being found: a block that uses itself reads no more
            reads: set[str] = set()
            for raw in nodes.values():
                if isinstance(raw, Mapping):
                    reads.update(
                        _names(raw.get(_REPEAT)), _names(raw.get(_IF)), self.instance(raw, depth + 1)
                    )
            self._block[name] = frozenset(reads)
        return self._block[name]

    def instance(self, raw: Mapping[str, Any], depth: int = 0) -> frozenset[str]:
        """The names of the enclosing scope (``index`` among them) that one copy's size reads."""
        if _BLOCK not in raw:
            return frozenset()
        if id(raw) not in self._instance:
            name = raw[_BLOCK]
            if isinstance(name, str) and not has_expr(name):
                given = [raw[p] for p in self.params(name, depth) if p in raw]
            else:  # which block it is depends on its scope: any given value may decide its size
                given = [name, *(v for k, v in raw.items() if k not in NODE_KEYS)]
            self._instance[id(raw)] = frozenset(n for value in given for n in _names(value))
        return self._instance[id(raw)]

    def params(self, name: str, depth: int = 0) -> tuple[str, ...]:
        """The parameters of block ``name`` that its size reads, with those their defaults
        read, in declared order (the same for every instance: found once per block)."""
        key = (name, depth > MAX_BLOCK_DEPTH)  # past that depth, block() reads every word
        if key not in self._params:
            block = self.blocks.get(name)
            declared = block.get("params") if isinstance(block, Mapping) else None
            declared = declared if isinstance(declared, Mapping) else {}
            needed = set(self.block(name, depth)) & set(declared)
            todo = list(needed)
            while todo:
                decl = declared[todo.pop()]
                if isinstance(decl, Mapping):
                    more = set(_names(decl.get("default"))) & set(declared) - needed
                    needed |= more
                    todo.extend(more)
            self._params[key] = tuple(p for p in declared if p in needed)
        return self._params[key]


def _capped(nodes: int, visits: int) -> Size:
    """A size with each total capped just above its limit (so products stay small numbers)."""
    return min(nodes, MAX_NODES + 1), min(visits, MAX_VISITS + 1)


def _expr_chars(value: Any) -> int:
    """Characters of the strings holding ``${...}`` in a value (0: it has no expression)."""
    if isinstance(value, list):
        return sum(_expr_chars(v) for v in value)
    if isinstance(value, Mapping):
        return sum(_expr_chars(v) for v in value.values())
    return len(value) if has_expr(value) else 0


def _names(value: Any) -> Iterator[str]:
    """Every word inside the ``${...}`` of a value (a superset of the names it reads)."""
    if isinstance(value, str):
        for text in _EXPR.findall(value):
            yield from _NAME.findall(text)
    elif isinstance(value, list):
        for item in value:
            yield from _names(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _names(item)


def too_many(loc: Location, via: tuple[Location, ...]) -> ExpandError:
    return ExpandError(
        f"the spec expands to more than {MAX_NODES} nodes", loc=loc, hint="lower a repeat count", via=via
    )


def too_many_visits(loc: Location, via: tuple[Location, ...]) -> ExpandError:
    return ExpandError(
        f"the spec expands through more than {MAX_VISITS} block instances and nodes",
        loc=loc,
        hint="nest fewer blocks inside repeated ones, or lower a repeat count",
        via=via,
    )


def repeat_error(value: Any, doc: Document, path: tuple) -> ExpandError | None:
    """The error for a ``repeat`` count outside 0..MAX_REPEAT (None: it is fine; 0 passes the
    node's input through)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REPEAT:
        return None
    return ExpandError(
        f"repeat must be an integer from 0 to {MAX_REPEAT}, got {value!r}",
        loc=doc.loc(path + (NodeKey.REPEAT.value,)),
    )
