"""How far a spec may expand: the node, block-depth and ``repeat`` limits, checked cheaply.

:func:`overflow` counts ``repeat`` values (literal, or expressions whose inputs are known)
through blocks before anything is built, so a hostile spec is refused in milliseconds; expansion
enforces the exact limit again as it goes, counting every instance it visits, valid or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspec.errors import ExpandError, Location
from archspec.lang.expr import ExprError, has_expr, substitute
from archspec.lang.keys import NodeKey
from archspec.lang.loader import Document

__all__ = ["MAX_BLOCK_DEPTH", "MAX_NODES", "MAX_REPEAT", "overflow", "repeat_error", "too_many"]

MAX_NODES = 100_000
MAX_BLOCK_DEPTH = 32
MAX_REPEAT = 10_000


def overflow(doc: Document, env: Mapping[str, Any]) -> str | None:
    """The top-level node at which the spec passes MAX_NODES, counted up front (None: it fits).

    ``repeat`` counts written as expressions are evaluated where their inputs are known here:
    the spec's ``params`` (``env``) and the block parameters of each instance (given values and
    defaults, ``index`` taken as 0); one that cannot be evaluated counts as 1. Every entry counts
    at least 1, and after MAX_NODES steps the rest count 1 each, so this costs ~MAX_NODES steps at most.
    """
    count = _Count(doc, doc.data.get("blocks") or {})
    total = 0
    for key, raw in (doc.data.get("nodes") or {}).items():
        total += count.size(raw, env, ())
        if total > MAX_NODES:
            return key
    return None


class _Count:
    """Sizes of entries and of blocks (memoised by block and parameter values)."""

    def __init__(self, doc: Document, blocks: Mapping[str, Any]) -> None:
        self.doc, self.blocks = doc, blocks
        self.sizes: dict[tuple[str, str], int] = {}
        self.steps = 0

    def size(self, raw: Any, env: Mapping[str, Any], stack: tuple[str, ...]) -> int:
        """How many op nodes ``raw`` expands to (at least 1; capped just above MAX_NODES)."""
        self.steps += 1
        if not isinstance(raw, Mapping) or self.steps > MAX_NODES:
            return 1  # past MAX_NODES steps the pre-count gives up: expansion counts exactly
        repeat = _repeat(raw.get(NodeKey.REPEAT.value, 1), env)
        name = raw.get(NodeKey.BLOCK.value)
        block = self.blocks.get(name) if isinstance(name, str) else None
        if not isinstance(block, Mapping) or name in stack or len(stack) >= MAX_BLOCK_DEPTH:
            return repeat
        inner = self._block_env(name, block, raw, {**env, "index": 0})
        key = (name, repr(sorted(inner.items())))
        if key not in self.sizes:
            self.sizes[key] = self._block_size(block, inner, stack + (name,))
        return min(repeat * self.sizes[key], MAX_NODES + 1)

    def _block_size(self, block: Mapping[str, Any], env: Mapping[str, Any], stack: tuple[str, ...]) -> int:
        nodes = block.get("nodes") or {}
        total = 0
        for raw in nodes.values() if isinstance(nodes, Mapping) else ():
            total += self.size(raw, env, stack)
            if total > MAX_NODES:
                break
        return min(max(total, 1), MAX_NODES + 1)

    def _block_env(
        self, name: str, block: Mapping[str, Any], raw: Mapping[str, Any], env: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What expressions inside this instance see: the globals and the parameters, as far as
        they can be evaluated (errors are expansion's to report)."""
        from archspec.lang.errorlog import ErrorLog, Reporter
        from archspec.lang.params import block_params

        globals_ = {k: v for k, v in env.items() if k != "index"}
        rep = Reporter(self.doc, ErrorLog())
        params = block_params(rep, name, block, raw, dict(env), globals_, ("nodes",))
        return {**globals_, **(params or {})}


def _repeat(value: Any, env: Mapping[str, Any]) -> int:
    """A ``repeat`` count as the pre-count takes it: evaluated if it can be, else 1."""
    if has_expr(value):
        try:
            value = substitute(value, env)
        except ExprError:
            return 1
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def too_many(loc: Location, via: tuple[Location, ...]) -> ExpandError:
    return ExpandError(
        f"the spec expands to more than {MAX_NODES} nodes", loc=loc, hint="lower a repeat count", via=via
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
