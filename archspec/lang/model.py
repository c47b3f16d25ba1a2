"""The expanded spec: flat nodes with stable hierarchical ids, each knowing where it came from.

This is the small IR every later stage reads (graph, shapes, compiler, render). A node's
``meta`` dict is where passes write what they learn (``shape``, ``params``, ``macs``), like an
fx ``Node.meta``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from archspec.errors import Location
from archspec.lang.loader import Document

__all__ = ["InputSpec", "Node", "OutputSpec", "Ref", "Scope", "Spec"]


@dataclass(frozen=True)
class Ref:
    """A reference to a value: a spec input, a node's output, or one named output of a node."""

    node: str
    output: str | None = None

    def __str__(self) -> str:
        return f"{self.node}.{self.output}" if self.output else self.node


@dataclass
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    loc: Location


@dataclass
class OutputSpec:
    name: str
    ref: Ref
    loc: Location


@dataclass(frozen=True)
class Scope:
    """A block instance: its flat id, the block's name and where the instance was written."""

    id: str
    block: str
    loc: Location


@dataclass
class Node:
    id: str
    op: str
    args: dict[str, Any]
    inputs: list[Ref]
    loc: Location
    arg_locs: dict[str, Location] = field(default_factory=dict)
    via: tuple[Location, ...] = ()
    scopes: tuple[Scope, ...] = ()
    init: dict[str, Any] | None = None
    share: str | None = None
    doc: str | None = None
    index: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def where(self, key: str | None = None) -> Location:
        """The location of one of this node's arguments (or of the node)."""
        return self.arg_locs.get(key, self.loc) if key else self.loc


@dataclass
class Spec:
    """A validated, expanded spec. ``nodes`` is in declaration order."""

    doc: Document
    name: str
    inputs: dict[str, InputSpec]
    nodes: dict[str, Node]
    outputs: dict[str, OutputSpec]
    parts: dict[str, list[str]]
    scopes: dict[str, Scope]
    init: dict[str, Any] | None = None
    seed: int = 0
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return self.doc.file

    @property
    def data(self) -> dict[str, Any]:
        return self.sections.get("data") or {}

    @property
    def losses(self) -> dict[str, Any]:
        return self.sections.get("losses") or {}

    @property
    def training(self) -> dict[str, Any]:
        return self.sections.get("training") or {}

    @property
    def expect(self) -> dict[str, Any]:
        return self.sections.get("expect") or {}


def param_matches(name: str, pattern: str, parts: Mapping[str, list[str]]) -> bool:
    """Does parameter ``name`` belong to part ``pattern`` or match it as a glob?

    ``training.freeze`` and optimiser ``groups`` name parameters this way.
    """
    if pattern in parts:
        return any(name.startswith(node + ".") for node in parts[pattern])
    return fnmatch.fnmatchcase(name, pattern)
