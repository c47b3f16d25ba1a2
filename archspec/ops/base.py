"""What an op is: the catalogue entry every layer and tensor operation is described by.

An :class:`OpDef` is plain data plus plain-Python functions. Nothing in this module (or in any
op definition's module scope) imports torch: ``validate``, ``render`` and ``summary`` use the
argument schemas, shape rules and parameter counts without it. Only ``recipe`` imports torch,
inside the function body, when a model is actually compiled or emitted.

An op says how it is built exactly once, as data: its ``recipe`` is a :class:`Recipe` (a module
class and its constructor arguments) or a :class:`Call` (a function for the generated
``forward``). The compiler instantiates the recipe; ``compile --emit-python`` writes the same
recipe out as source, so the two cannot drift apart.

Shapes are *per sample*: a batch of images ``[N, 3, 32, 32]`` has the shape ``(3, 32, 32)``.
Arguments that name a dimension (``dim``, ``start_dim``) use PyTorch's convention, where the
batch is dim 0, so ``concat`` over channels is ``dim: 1`` exactly as in ``torch.cat``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]
Args = Mapping[str, Any]

__all__ = [
    "REQUIRED",
    "Arg",
    "Call",
    "OpDef",
    "OpShapeError",
    "Recipe",
    "Shape",
    "fmt_shape",
    "sample_dim",
]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class OpShapeError(Exception):
    """Raised by a shape rule: what the op needed, and how to fix it.

    The shape stage wraps it in a located :class:`archspec.errors.ShapeError` that names the
    node, its op and the input shapes it received.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def fmt_shape(shape: Sequence[int]) -> str:
    """A per-sample shape as users read it in messages: ``[N, 16, 32, 32]``."""
    return "[" + ", ".join(["N", *(str(s) for s in shape)]) + "]"


def sample_dim(dim: int, rank: int, *, what: str = "dim") -> int:
    """Turn a PyTorch-convention dim (batch is 0, negatives allowed) into a per-sample index.

    ``rank`` is the per-sample rank. Raises :class:`OpShapeError` for the batch dim or an
    out-of-range dim.
    """
    full = rank + 1
    if not -full <= dim < full:
        raise OpShapeError(f"{what} {dim} is out of range for a tensor of rank {full}")
    d = dim % full
    if d == 0:
        raise OpShapeError(f"{what} 0 is the batch dimension", hint="dims count the batch as 0")
    return d - 1


@dataclass(frozen=True)
class Arg:
    """One argument of an op: its JSON schema, default and a line of documentation."""

    schema: Mapping[str, Any]
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Call:
    """A functional op's forward: ``fn(*inputs, *extra, **kwargs)`` in the generated code.

    ``fn`` must be an importable function (``torch.cat``, ``torch.flatten``,
    ``torch.nn.functional.pad``) so the generated ``forward`` reads like code a person wrote.
    With ``list_input`` the inputs are passed as one list (``torch.cat([a, b], dim=1)``).
    ``outputs`` names the items of a tuple result (``split``/``chunk``), picked by index.
    """

    fn: Callable[..., Any]
    extra: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    list_input: bool = False


@dataclass(frozen=True)
class Recipe:
    """A layer op's module: ``cls(**kwargs)``, the one description build and emit both use.

    ``cls`` is a ``torch.nn`` class or one of :mod:`archspec.ops.modules` (a plugin may name its
    own, which then cannot be emitted as standalone source). ``kwargs`` are plain values (ints,
    floats, bools, strings, tuples, lists, None) and name every argument the op decides, so the
    emitted constructor call is written from them alone.
    """

    cls: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        """The module itself (``torch.nn.Module``)."""
        return self.cls(**self.kwargs)


# Signatures of the plain-Python rules. ``args`` always holds every argument: the user's value
# or the declared default.
ShapeRule = Callable[[Args, list[Shape]], "Shape | dict[str, Shape]"]
CountRule = Callable[[Args, list[Shape]], int]
MacsRule = Callable[[Args, list[Shape], "Shape | dict[str, Shape]"], int]
RecipeRule = Callable[[Args, list[Shape]], "Recipe | Call"]


def _zero(args: Args, shapes: list[Shape], *_: Any) -> int:
    return 0


@dataclass(frozen=True)
class OpDef:
    """A catalogue entry.

    name:     the ``op:`` value in YAML.
    family:   colour/legend group: ``dense conv pool norm activation dropout merge shape
              recurrent attention feature embedding``.
    args:     argument name -> :class:`Arg`; the generated JSON Schema comes from these.
    inputs:   exact number of inputs, or ``(min, max)`` with ``max=None`` for unbounded.
    shape:    plain-Python shape rule over per-sample shapes; raises :class:`OpShapeError`.
              Returns a dict for ops with named outputs (``split``).
    recipe:   imports torch lazily; returns a :class:`Recipe` (a module, called with the inputs
              as positional arguments) or a :class:`Call` for a functional op.
    params:   number of parameters (no torch, no allocation).
    buffers:  number of buffer elements (saved, not trained: running statistics, fixed centres).
    macs:     multiply-accumulates per sample (an estimate; 0 where negligible).
    outputs:  names of a multi-output op's outputs, computed from its args.
    weighted: the module has ``weight``/``bias`` that ``init:`` applies to.
    dtypes:   what element types the op takes (checked before torch ever runs): ``float``,
              ``index`` (integer indices, e.g. embedding) or ``any`` (shape ops that pass an
              integer tensor through unchanged) or ``free`` (reads no values: a learned tensor,
              always float).
    """

    name: str
    family: str
    doc: str
    args: Mapping[str, Arg]
    inputs: int | tuple[int, int | None]
    shape: ShapeRule
    recipe: RecipeRule
    params: CountRule = _zero
    macs: MacsRule = _zero
    buffers: CountRule = _zero
    outputs: Callable[[Args], tuple[str, ...]] | None = None
    weighted: bool = False
    key_args: tuple[str, ...] = ()  # shown in diagrams and summaries
    dtypes: str = (
        "float"  # "float": needs floating inputs; "index": integer indices; "any": passes the dtype through
    )

    def input_range(self) -> tuple[int, int | None]:
        if isinstance(self.inputs, int):
            return (self.inputs, self.inputs)
        return self.inputs

    def build(self, args: Args, shapes: list[Shape]) -> Any:
        """The op instantiated: an ``nn.Module`` from its :class:`Recipe`, or its :class:`Call`."""
        made = self.recipe(args, shapes)
        return made.build() if isinstance(made, Recipe) else made

    def with_defaults(self, given: Args) -> dict[str, Any]:
        """The user's arguments completed with the declared defaults."""
        out = {k: a.default for k, a in self.args.items() if not a.required}
        out.update(given)
        return out

    def args_schema(self) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of this op's arguments, for the spec schema."""
        props = {k: {**a.schema, **({"description": a.doc} if a.doc else {})} for k, a in self.args.items()}
        required = sorted(k for k, a in self.args.items() if a.required)
        schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema
