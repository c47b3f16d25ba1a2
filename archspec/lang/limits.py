"""How far a spec may expand: the node, block-depth and ``repeat`` limits, checked cheaply.

:func:`overflow` counts literal ``repeat`` values through blocks before anything is built, so a
hostile spec is refused in milliseconds; expansion enforces the exact node limit again as it
goes (an expression ``repeat`` counts as 1 here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspec.errors import ExpandError, Location
from archspec.lang.keys import NodeKey
from archspec.lang.loader import Document

__all__ = ["MAX_BLOCK_DEPTH", "MAX_NODES", "MAX_REPEAT", "overflow", "repeat_error", "too_many"]

MAX_NODES = 100_000
MAX_BLOCK_DEPTH = 32
MAX_REPEAT = 10_000


def overflow(data: Mapping[str, Any]) -> str | None:
    """The top-level node at which the spec passes MAX_NODES, counted up front (None: it fits)."""
    blocks = data.get("blocks") or {}
    sizes: dict[str, int] = {}
    total = 0
    for key, raw in (data.get("nodes") or {}).items():
        total += _size(raw, blocks, sizes, ())
        if total > MAX_NODES:
            return key
    return None


def _size(raw: Any, blocks: Mapping[str, Any], sizes: dict[str, int], stack: tuple[str, ...]) -> int:
    """How many op nodes ``raw`` expands to (capped just above MAX_NODES; blocks memoised)."""
    if not isinstance(raw, Mapping):
        return 1
    repeat = raw.get(NodeKey.REPEAT.value, 1)
    repeat = repeat if isinstance(repeat, int) and not isinstance(repeat, bool) and repeat > 0 else 1
    name = raw.get(NodeKey.BLOCK.value)
    block = blocks.get(name) if isinstance(name, str) else None
    if not isinstance(block, Mapping) or name in stack:
        return repeat
    if name not in sizes:
        sizes[name] = _block_size(block, blocks, sizes, stack + (name,))
    return min(repeat * sizes[name], MAX_NODES + 1)


def _block_size(
    block: Mapping[str, Any], blocks: Mapping[str, Any], sizes: dict[str, int], stack: tuple
) -> int:
    inner = block.get("nodes") or {}
    if not isinstance(inner, Mapping):
        return 1
    return min(sum(_size(r, blocks, sizes, stack) for r in inner.values()), MAX_NODES + 1)


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
