"""Collecting a stage's errors instead of stopping at the first.

An :class:`ErrorLog` keeps each distinct mistake once (the same typo in every copy of a
``repeat`` is one error). A :class:`Reporter` is what one unit of expansion reports through: the
document (for locations), the shared log and the block instances around the unit, which every
error it reports without a ``via`` of its own is shown as coming through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from archspec.errors import Location, PathPart, SpecError, SpecErrors
from archspec.lang.loader import Document

__all__ = ["ErrorLog", "Reporter"]


@dataclass
class ErrorLog:
    """The errors found so far, each distinct text once, in the order they were found."""

    errors: list[SpecError] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, err: SpecError, via: tuple[Location, ...] = ()) -> None:
        """Record ``err`` (shown as coming through ``via`` unless it names its own instances)."""
        if via and not err.via:
            err = type(err)(err.message, loc=err.loc, hint=err.hint, via=via)
        text = str(err)
        if text not in self._seen:
            self._seen.add(text)
            self.errors.append(err)

    def __len__(self) -> int:
        return len(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecErrors(self.errors)


@dataclass(frozen=True)
class Reporter:
    """Locations in ``doc`` and an error sink, inside the block instances ``via``.

    Locations are looked up once per path and kept (``locs``, shared by every reporter made
    with :meth:`within`): each copy of a repeated block asks for the same paths of its
    definition again, and the document does not change while a stage reports on it.
    """

    doc: Document
    log: ErrorLog
    via: tuple[Location, ...] = ()
    locs: dict[tuple[tuple[PathPart, ...], bool], Location] = field(
        default_factory=dict, repr=False, compare=False
    )

    def loc(self, path: Sequence[PathPart], *, key: bool = False) -> Location:
        cache_key = (tuple(path), key)
        found = self.locs.get(cache_key)
        if found is None:
            found = self.locs[cache_key] = self.doc.loc(path, key=key)
        return found

    def fail(self, err: SpecError) -> None:
        self.log.add(err, self.via)

    def within(self, instance: Location) -> Reporter:
        """The reporter for the scope of a block instance written at ``instance``."""
        return Reporter(self.doc, self.log, self.via + (instance,), self.locs)  # replace() is 3x slower
