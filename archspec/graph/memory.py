"""Whether a model's weights fit in this machine's memory, known before torch allocates them.

Shape inference counts every node's parameters and buffer elements (``node.meta``); at
:data:`BYTES_PER_ELEMENT` each (float32, the dtype modules are built in) that is what building
the model allocates at least. A spec that asks for more than the machine's physical memory is
refused with an error naming its largest node, before torch allocates (or swaps) anything.
No psutil: the page counts from ``os.sysconf``, else ``/proc/meminfo``, else no check.
"""

from __future__ import annotations

import os

from archspec.errors import ShapeError
from archspec.graph.dag import Graph
from archspec.graph.shapes import totals

__all__ = ["BYTES_PER_ELEMENT", "check_weights_fit", "physical_memory", "weight_bytes"]

BYTES_PER_ELEMENT = 4


def physical_memory() -> int | None:
    """This machine's physical memory in bytes (None: it cannot be told)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return pages * size
    except (AttributeError, OSError, ValueError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def weight_bytes(graph: Graph) -> int:
    """Bytes the parameters and buffers of a shape-checked graph take once built."""
    sums = totals(graph)
    return (sums["params"] + sums["buffers"]) * BYTES_PER_ELEMENT


def check_weights_fit(graph: Graph, memory: int | None = None) -> None:
    """Raise a :class:`ShapeError` at the largest node when the weights need more than ``memory``
    bytes (default: :func:`physical_memory`; no check when that is unknown)."""
    memory = physical_memory() if memory is None else memory
    need = weight_bytes(graph)
    if memory is None or need <= memory:
        return
    nodes = graph.spec.nodes.values()
    largest = max(nodes, key=lambda n: n.meta.get("params", 0) + n.meta.get("buffers", 0))
    own = largest.meta.get("params", 0) + largest.meta.get("buffers", 0)
    raise ShapeError(
        f"the weights need {_size(need)} ({need // BYTES_PER_ELEMENT:,} parameters and buffer elements"
        f" at {BYTES_PER_ELEMENT} bytes), more than this machine's {_size(memory)} of memory",
        loc=largest.loc,
        via=largest.via,
        hint=f"the largest node, {largest.id!r} ({largest.op}), holds {own:,}; make it smaller",
    )


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,} bytes" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} PiB"  # pragma: no cover
