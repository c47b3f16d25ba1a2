"""The one exception tree of archspec.

Every mistake a user can make in a spec is a :class:`SpecError` that knows where it happened
(file, line, column, YAML path) and, where one fits, how to fix it. Runtime failures (a data
file that cannot be read, a corrupt checkpoint, a non-finite loss) are :class:`RunError`.
Only the CLI turns these into text and exit codes; library code raises them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ArchSpecError",
    "CheckpointError",
    "ContractError",
    "DataError",
    "ExpandError",
    "GraphError",
    "ImportModelError",
    "LoadError",
    "Location",
    "RunError",
    "SchemaError",
    "ShapeError",
    "SpecError",
    "SpecErrors",
    "SpecWarning",
    "TrainingError",
    "UsageError",
    "WeightsError",
    "did_you_mean",
    "format_path",
    "printable",
]

PathPart = str | int


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters but tab and line feed (escape
    sequences, carriage returns) written out as ``\\x1b``."""
    return _CONTROL.sub(lambda m: ascii(m.group())[1:-1], text)


def format_path(path: Sequence[PathPart]) -> str:
    """Render a YAML path the way users read it: ``nodes.cat1.in[1]`` (``nodes['h\\n']`` for a
    key that would not print as itself)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isprintable():  # a key with a newline or a control character: quoted, escaped
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class Location:
    """Where something is in a spec file. ``line`` and ``col`` are 1-based."""

    file: str | None = None
    line: int | None = None
    col: int | None = None
    path: tuple[PathPart, ...] = ()

    def at(self, *parts: PathPart) -> Location:
        """The same position with a longer YAML path (when no finer mark is known)."""
        return Location(self.file, self.line, self.col, self.path + tuple(parts))

    @property
    def yaml_path(self) -> str:
        return format_path(self.path)

    def prefix(self) -> str:
        """``file:line:col`` (as much of it as is known)."""
        parts = [self.file or "<spec>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def sort_key(self) -> tuple[str, int, int]:
        return (self.file or "", self.line or 0, self.col or 0)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.col, "path": self.yaml_path}


class ArchSpecError(Exception):
    """Base of every error archspec raises on purpose. The CLI catches this once."""

    exit_code = 3


class SpecError(ArchSpecError):
    """A mistake in a spec, located in the user's file.

    ``via`` lists the block instances an expanded node came through (outermost first), so an
    error inside a block definition also points at the instance that used it.
    """

    exit_code = 2
    kind = "spec"

    def __init__(
        self,
        message: str,
        *,
        loc: Location | None = None,
        hint: str | None = None,
        via: Sequence[Location] = (),
    ) -> None:
        self.message = message
        self.loc = loc or Location()
        self.hint = hint
        self.via = tuple(via)
        self.also: tuple[tuple[Location, ...], ...] = ()  # further instances with the same error
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.loc.prefix()}: "
        if self.loc.path:
            text += f"{self.loc.yaml_path}: "
        text += self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        for chain in (self.via, *getattr(self, "also", ())):
            for inst in reversed(chain):
                text += f"\n  in block instance {inst.yaml_path} at {inst.prefix()}"
        return text

    def sort_key(self) -> tuple[str, int, int]:
        return self.loc.sort_key()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **self.loc.to_dict(),
            "message": self.message,
            "hint": self.hint,
            "via": [v.to_dict() for v in self.via],
            **(
                {"also_via": [[v.to_dict() for v in c] for c in self.also]}
                if getattr(self, "also", ())
                else {}
            ),
        }


class LoadError(SpecError):
    """The file could not be read as a safe, bounded YAML mapping."""

    kind = "load"


class SchemaError(SpecError):
    """The document does not match the archspec JSON Schema (or an op's argument schema)."""

    kind = "schema"


class ExpandError(SpecError):
    """Blocks, ``repeat`` or ``${...}`` parameters could not be expanded."""

    kind = "expand"


class GraphError(SpecError):
    """The node graph is malformed: cycles, dangling references, wrong input counts."""

    kind = "graph"


class ShapeError(SpecError):
    """A node received tensor shapes its op cannot take."""

    kind = "shape"


class ContractError(SpecError):
    """An ``expect:`` contract (parameter budget, output shape, ...) is broken."""

    kind = "contract"


class SpecErrors(SpecError):
    """Several spec errors at once, sorted by position in the file."""

    kind = "many"

    def __init__(self, errors: Iterable[SpecError]) -> None:
        flat: list[SpecError] = []
        for err in errors:
            flat.extend(err.errors if isinstance(err, SpecErrors) else [err])
        self.errors = sorted(_merge_instances(flat), key=lambda e: e.sort_key())
        first = self.errors[0] if self.errors else SpecError("no errors")
        super().__init__(first.message, loc=first.loc, hint=first.hint, via=first.via)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in getattr(self, "errors", []))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "errors": [e.to_dict() for e in self.errors]}


class WeightsError(SpecError):
    """A weights file named in ``training.init_from`` does not fit the spec: ``problems`` has one
    line per unmatched or mis-shaped tensor, all of them, shown under the located message and
    above the hint."""

    kind = "weights"

    def __init__(
        self, message: str, *, problems: Sequence[str], loc: Location | None = None, hint: str | None = None
    ) -> None:
        self.problems = tuple(problems)
        super().__init__(message, loc=loc, hint=hint)

    def __str__(self) -> str:
        text = f"{self.loc.prefix()}: " + (f"{self.loc.yaml_path}: " if self.loc.path else "") + self.message
        text += "".join(f"\n  {p}" for p in self.problems)
        return text + (f"\n  (hint: {self.hint})" if self.hint else "")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "problems": list(self.problems)}


def _merge_instances(errors: list[SpecError]) -> list[SpecError]:
    """One error inside a block used several times is reported once, naming every instance
    (each keeps its own ``via`` chain in ``also``)."""
    seen: dict[tuple[Any, ...], SpecError] = {}
    out: list[SpecError] = []
    for err in errors:
        key = (type(err), err.loc, err.message, err.hint)
        first = seen.get(key)
        if first is None or not err.via or not first.via:
            seen.setdefault(key, err)
            out.append(err)
        elif err.via != first.via and err.via not in first.also:
            first.also = (*first.also, err.via)
    return out


@dataclass(frozen=True)
class SpecWarning:
    """Something legal but probably unintended (e.g. a node that reaches no output)."""

    message: str
    loc: Location = field(default_factory=Location)
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.loc.prefix()}: "
        if self.loc.path:
            text += f"{self.loc.yaml_path}: "
        text += f"warning: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**self.loc.to_dict(), "message": self.message, "hint": self.hint}


class RunError(ArchSpecError):
    """A failure while running a valid spec: data, checkpoints, training."""

    exit_code = 3


class DataError(RunError):
    """A dataset or data file could not be read or does not fit the spec."""


class CheckpointError(RunError):
    """A checkpoint or run directory is missing, corrupt, unsafe or from another spec."""


class TrainingError(RunError):
    """Training cannot go on (e.g. a non-finite loss)."""


class ImportModelError(ArchSpecError):
    """``archspec import`` met a construct of the source model that no catalogue op expresses.

    ``module`` is the module path in the source model (``layer1.0``; empty for the root) and
    ``construct`` what was found there (``torch.erf``, ``data-dependent control flow``).
    """

    exit_code = 2

    def __init__(
        self, message: str, *, module: str = "", construct: str = "", hint: str | None = None
    ) -> None:
        self.message = message
        self.module = module
        self.construct = construct
        self.hint = hint
        where = f"module {module!r}" if module else "the model's own forward"
        text = f"{where}: {message}" + (f" (hint: {hint})" if hint else "")
        super().__init__(text)


class UsageError(ArchSpecError):
    """A request that does not fit what it names (a path of another kind, an option that does
    not apply to it): the caller's mistake, not the spec's. Exit code 1, as for a usage error."""

    exit_code = 1


# Names other libraries use for what archspec calls otherwise (Keras, TensorFlow, Lightning).
ALIASES = {
    "categorical_crossentropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy",
    "crossentropy": "cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
    "mean_squared_error": "mse",
    "mean_absolute_error": "l1",
    "units": "out_features",
    "filters": "out_channels",
    "dense": "linear",
    "conv2d_transpose": "conv_transpose2d",
    "rate": "p",
    "pool_size": "kernel_size",
    "strides": "stride",
    "learning_rate": "lr",
}


def _normal(name: str) -> str:
    return name.lower().replace("-", "_")


def did_you_mean(word: object, options: Iterable[str]) -> str | None:
    """A ``did you mean 'x'?`` hint for a misspelt name, or None when nothing is close: the
    same name in another case (``AdamW``: ``adamw``) first, then another library's name for it
    (``units``: ``out_features``), then the closest spelling."""
    if not isinstance(word, str):
        return None
    opts = sorted(set(options))
    same = [o for o in opts if _normal(o) == _normal(word)]
    alias = ALIASES.get(_normal(word))
    if same or alias in opts:
        return f"did you mean {(same[0] if same else alias)!r}?"
    match = difflib.get_close_matches(word, opts, n=1, cutoff=0.6)
    if not match:
        lowered = {o.lower(): o for o in opts}
        if word.lower() in lowered:
            match = [lowered[word.lower()]]
    return f"did you mean {match[0]!r}?" if match else None
