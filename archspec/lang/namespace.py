"""Names in scope: what a reference written in YAML means, resolved once every scope is known.

Each scope (the top level, or one block instance) is a :class:`Namespace` of inputs and
:class:`Entry` values: an op node, a block instance (with its inner scope and named outputs) or
a ``repeat`` group (whose copies are ``name.0``, ``name.1``, ... and whose plain name means its
last copy). A :class:`LazyRef` is a reference as written (``enc1.skip``, ``layer.2``,
``halves.left``); :func:`resolve` follows it to the :class:`~archspec.lang.model.Ref` of a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archspec.errors import GraphError, Location, did_you_mean
from archspec.lang.errorlog import ErrorLog
from archspec.lang.limits import MAX_BLOCK_DEPTH
from archspec.lang.model import Ref

__all__ = ["Entry", "LazyRef", "Namespace", "lookup", "resolve"]

#: How many reference hops resolution follows before calling a reference circular.
MAX_HOPS = MAX_BLOCK_DEPTH * 4


@dataclass
class LazyRef:
    """A reference written in YAML, resolved in its namespace once every scope is known."""

    raw: str
    ns: Namespace
    loc: Location


@dataclass
class Entry:
    """What a name in a scope stands for: its default value and its named sub-values."""

    default: Ref | LazyRef | None
    named: dict[str, Entry] = field(default_factory=dict)
    node_id: str | None = None  # an op node
    inner: Namespace | None = None  # a block instance: its scope
    last: Entry | None = None  # a repeat group: its last copy, what the group's name means
    failed: bool = False  # its definition had errors: references to it stay silent


@dataclass
class Namespace:
    """One scope: ids get ``prefix``; ``last`` is the latest entry (the default next input)."""

    prefix: str
    inputs: dict[str, Ref | LazyRef]
    entries: dict[str, Entry] = field(default_factory=dict)
    last: str | None = None
    via: tuple[Location, ...] = ()  # the block instances this scope is inside


def resolve(lazy: LazyRef, log: ErrorLog, hops: int = 0) -> Ref | None:
    """The value ``lazy`` names (None: an error, reported to ``log``, or a failed definition)."""
    if hops > MAX_HOPS:
        log.add(GraphError(f"reference {lazy.raw!r} refers to itself", loc=lazy.loc, via=lazy.ns.via))
        return None
    head = lazy.raw.split(".", 1)[0]
    if head in lazy.ns.inputs and head not in lazy.ns.entries:
        return _input(lazy, head, log, hops)
    entry = lookup(lazy, log)
    if entry is None or entry.failed:
        return None
    if entry.default is None:
        log.add(_no_default(lazy, entry))
        return None
    return _follow(entry.default, log, hops)


def _input(lazy: LazyRef, head: str, log: ErrorLog, hops: int) -> Ref | None:
    """A scope input: a spec input, or what the block instance bound to it."""
    if "." in lazy.raw:
        log.add(GraphError(f"input {head!r} has no outputs to select", loc=lazy.loc, via=lazy.ns.via))
        return None
    return _follow(lazy.ns.inputs[head], log, hops)


def _follow(value: Ref | LazyRef, log: ErrorLog, hops: int) -> Ref | None:
    return value if isinstance(value, Ref) else resolve(value, log, hops + 1)


def _no_default(lazy: LazyRef, entry: Entry) -> GraphError:
    return GraphError(
        f"{lazy.raw!r} has no default output",
        loc=lazy.loc,
        via=lazy.ns.via,
        hint="name one of: " + ", ".join(f"{lazy.raw}.{n}" for n in entry.named),
    )


def lookup(lazy: LazyRef, log: ErrorLog) -> Entry | None:
    """The entry ``lazy`` names, part by part (None: an unknown name, reported)."""
    parts = lazy.raw.split(".")
    entry = lazy.ns.entries.get(parts[0])
    if entry is None:
        known = [*lazy.ns.entries, *lazy.ns.inputs]
        log.add(_unknown(lazy, f"unknown node {parts[0]!r}", parts[0], known))
        return None
    for i, part in enumerate(parts[1:], start=1):
        if entry.failed:
            return entry
        nxt = _child(entry, part) or (_child(entry.last, part) if entry.last else None)
        if nxt is None:
            known = [*_children(entry), *(_children(entry.last) if entry.last else [])]
            where = ".".join(parts[:i])
            log.add(_unknown(lazy, f"{where!r} has no output or node {part!r}", part, known))
            return None
        entry = nxt
    return entry


def _unknown(lazy: LazyRef, message: str, name: str, known: list[str]) -> GraphError:
    hint = did_you_mean(name, known) or (f"known here: {', '.join(known[:12])}" if known else None)
    return GraphError(message, loc=lazy.loc, via=lazy.ns.via, hint=hint)


def _child(entry: Entry, name: str) -> Entry | None:
    """A named output, a repeat copy or an inner node of ``entry``."""
    return entry.named.get(name) or (entry.inner.entries.get(name) if entry.inner else None)


def _children(entry: Entry) -> list[str]:
    return [*entry.named, *(entry.inner.entries if entry.inner else {})]
