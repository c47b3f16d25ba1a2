"""Weight sharing: ``share:`` on an op node or on a block instance, resolved after expansion.

``share: other`` on an op node makes it use ``other``'s weights. On a block instance it names
another instance of the same block, and every op node inside shares with its counterpart there
(``t2.c1`` with ``t1.c1``). Both are written before every scope is known, so :class:`Shares`
collects them during expansion and :meth:`Shares.resolve` sets ``Node.share`` at the end.
(Chains and circles of shares are followed by the graph stage.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archspec.errors import GraphError, SpecError
from archspec.lang.errorlog import ErrorLog
from archspec.lang.model import Node, Scope
from archspec.lang.namespace import Entry, LazyRef, lookup

__all__ = ["Shares"]


@dataclass
class Shares:
    """The ``share:`` references met during expansion, to resolve once every scope is known."""

    nodes: list[tuple[Node, LazyRef]] = field(default_factory=list)  # an op node's share:
    instances: dict[str, tuple[LazyRef, str]] = field(default_factory=dict)  # instance -> (target, block)
    members: list[tuple[Node, str]] = field(default_factory=list)  # node -> the sharing instance it is in

    def resolve(self, nodes: dict[str, Node], scopes: dict[str, Scope], log: ErrorLog) -> None:
        """Set ``share`` on every node that shares weights; report the references that cannot."""
        for node, lazy in self.nodes:
            _share_node(node, lazy, log)
        targets = {
            inst: target
            for inst, (lazy, block) in self.instances.items()
            if (target := _target_instance(inst, lazy, block, scopes, log))
        }
        for node, inst in self.members:
            if inst in targets:
                _share_counterpart(node, inst, targets[inst], nodes, log)


def _named(lazy: LazyRef, log: ErrorLog) -> Entry | None:
    """The entry ``share:`` names; a repeat group's name means its last copy (None: silent)."""
    entry = lookup(lazy, log)
    if entry is None or entry.failed:
        return None
    return entry.last or entry


def _share_node(node: Node, lazy: LazyRef, log: ErrorLog) -> None:
    entry = _named(lazy, log)
    if entry is None:
        return
    if entry.node_id is None:
        log.add(
            _share_error(
                lazy,
                f"'share' must name an op node, got {lazy.raw!r}",
                "to share a whole block, put share: on the block instance",
            )
        )
    elif entry.node_id == node.id:
        log.add(
            _share_error(lazy, "a node cannot share weights with itself", "name another node of the same op")
        )
    else:
        node.share = entry.node_id


def _target_instance(
    inst: str, lazy: LazyRef, block: str, scopes: dict[str, Scope], log: ErrorLog
) -> str | None:
    """The block instance that instance ``inst`` takes its weights from (None: an error)."""
    entry = _named(lazy, log)
    if entry is None:
        return None
    target = entry.inner.prefix[:-1] if entry.inner is not None else None
    error = _instance_error(inst, lazy, block, target, scopes)
    if error is not None:
        log.add(error)
        return None
    return target


def _instance_error(
    inst: str, lazy: LazyRef, block: str, target: str | None, scopes: dict[str, Scope]
) -> SpecError | None:
    if target is None:
        return _share_error(
            lazy,
            f"'share' on a block instance must name a block instance, got {lazy.raw!r}",
            "to share one layer, put share: on an op node",
        )
    if target == inst:
        return _share_error(
            lazy,
            "a block instance cannot share weights with itself",
            f"name another instance of block {block!r}",
        )
    other = scopes[target].block
    if other != block:
        return _share_error(
            lazy,
            f"{lazy.raw!r} is an instance of block {other!r}, not {block!r}",
            "instances that share weights must use the same block",
        )
    return None


def _share_error(lazy: LazyRef, message: str, hint: str) -> GraphError:
    return GraphError(message, loc=lazy.loc, via=lazy.ns.via, hint=hint)


def _share_counterpart(node: Node, inst: str, target: str, nodes: dict[str, Node], log: ErrorLog) -> None:
    """A node inside a sharing instance shares with the same inner node of the target."""
    other = target + node.id[len(inst) :]
    if other not in nodes:
        log.add(
            GraphError(
                f"{node.id!r} has no counterpart {other!r} in {target!r} to share weights with",
                loc=node.loc,
                via=node.via,
                hint="instances that share weights need the same inner nodes",
            )
        )
        return
    node.share = other
    node.meta["shared_instance"] = inst
