"""Import stage 1: trace a module with torch.fx into a node table with per-sample shapes.

Every fx node becomes a :class:`TracedNode` that keeps what the later stages need: the fx
operation, its target and arguments, the module paths it was traced inside (outermost first),
the per-sample shape of its value (from running the traced graph once on random inputs) and the
line of user code that made it. A failure to trace — data-dependent control flow, a call fx
cannot follow — is an :class:`~archspec.errors.ImportModelError` naming the module it was in.
"""

from __future__ import annotations

import contextlib
import io
import logging
import traceback
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from archspec.errors import ImportModelError
from archspec.ops import Shape

__all__ = ["Traced", "TracedNode", "trace_module"]

_TORCH_DIR = str(Path(torch.__file__).parent)
_SHAPE = "archspec_shape"  # fx node meta: the per-sample shape of a tensor value
_OWN_DIR = str(Path(__file__).resolve().parent.parent)


@dataclass
class TracedNode:
    """One fx node: ``kind`` is fx's ``op`` (placeholder, call_module, call_function,
    call_method, get_attr, output)."""

    name: str
    kind: str
    target: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    scope: tuple[str, ...]  # enclosing module paths, outermost first (a leaf module not included)
    shape: Shape | None  # per-sample shape of a tensor value; None for anything else
    where: str = ""  # "file:line" of the user code that made the node, when known
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """The innermost enclosing module path ('' at the root)."""
        return self.scope[-1] if self.scope else ""


@dataclass
class Traced:
    """The traced model: its node table in execution order and the input shapes used."""

    root: nn.Module
    nodes: list[TracedNode]
    inputs: dict[str, Shape]
    probes: dict[str, str] = field(default_factory=dict)  # opaque leaf path -> "meta" or "cpu"

    def __post_init__(self) -> None:
        self.by_name = {n.name: n for n in self.nodes}


class _Tracer(fx.Tracer):
    """fx's tracer, recording which module a failure happened in and user source lines;
    the modules at ``leaves`` (paths) are called, not traced into (``--allow-opaque``)."""

    def __init__(self, leaves: Collection[str] = ()) -> None:
        super().__init__()
        self.record_stack_traces = True
        self.leaves = frozenset(leaves)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.leaves or super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        try:
            return super().call_module(m, forward, args, kwargs)
        except ImportModelError:
            raise
        except Exception as exc:
            raise _trace_error(exc, self.path_of_module(m), type(m).__name__) from exc


def trace_module(
    module: nn.Module, inputs: Mapping[str, Shape], *, batch: int = 2, leaves: Collection[str] = ()
) -> Traced:
    """Trace ``module`` (in eval mode) and run it once on meta inputs of the given shapes.

    The sub-modules at ``leaves`` stay one call each; one whose forward the meta device cannot
    run (it reads values) runs on CPU zeros instead, noted in :attr:`Traced.probes`.
    """
    module.eval()
    tracer = _Tracer(leaves)
    try:
        graph = tracer.trace(module)
    except Exception as exc:
        error = exc if isinstance(exc, ImportModelError) else _trace_error(exc, "", type(module).__name__)
        graph = _export(module, inputs, batch, error)
    gm = fx.GraphModule(module, graph)
    names = [n.target for n in graph.nodes if n.op == "placeholder"]
    shapes = _bind_inputs(names, inputs)
    probes = {path: "meta" for path in leaves}
    _propagate(gm, shapes, batch, probes)
    nodes = [_node(n) for n in graph.nodes]
    return Traced(root=module, nodes=nodes, inputs=shapes, probes=probes)


def _export(module: nn.Module, inputs: Mapping[str, Shape], batch: int, error: ImportModelError) -> fx.Graph:
    """torch.export where fx failed (it decides control flow on shapes); else fx's error, noted."""
    from archspec.importer.export import export_graph, forward_names

    shapes = _bind_inputs(forward_names(module), inputs)
    try:
        with _quiet():
            return export_graph(module, shapes, batch)
    except Exception as exc:
        raise ImportModelError(
            f"{error.message}; torch.export failed too ({type(exc).__name__})",
            module=error.module,
            construct=error.construct,
            hint=error.hint,
        ) from exc


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch.export logs, and prints, the graph of a failed attempt: the error we raise says
    what matters, so its output is kept off the user's terminal."""
    loggers = [logging.getLogger(name) for name in ("torch.fx.experimental.symbolic_shapes", "torch._dynamo")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _bind_inputs(names: list[str], inputs: Mapping[str, Shape]) -> dict[str, Shape]:
    """The forward's arguments with their shapes; one unnamed shape fits a one-input model."""
    given = dict(inputs)
    if len(names) == 1 and len(given) == 1 and names[0] not in given:
        given = {names[0]: next(iter(given.values()))}
    missing = [n for n in names if n not in given]
    extra = [n for n in given if n not in names]
    if missing or extra:
        raise ImportModelError(
            f"forward takes inputs {names}, but shapes were given for {list(given)}",
            construct="inputs",
            hint="give one --input NAME=C,H,W per forward argument",
        )
    return {n: tuple(given[n]) for n in names}


def _propagate(gm: fx.GraphModule, shapes: Mapping[str, Shape], batch: int, probes: dict[str, str]) -> None:
    """Run the traced graph once on the meta device (shapes only, nothing computed)."""
    args = [torch.empty((batch, *s), device="meta") for s in shapes.values()]
    try:
        with torch.no_grad():
            _MetaShapes(gm, probes).run(*args)
    except Exception as exc:
        raise ImportModelError(
            f"running the traced model on inputs of shape {list(shapes.values())} failed: {exc}",
            construct="forward",
            hint="check the --input shapes",
        ) from exc


class _MetaShapes(fx.Interpreter):
    """An fx interpreter over meta tensors: each module runs with meta views of its weights; an
    opaque leaf (in ``probes``) that cannot runs on CPU zeros, and ``probes`` says so."""

    def __init__(self, gm: fx.GraphModule, probes: dict[str, str]) -> None:
        super().__init__(gm)
        self.probes = probes

    def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
        module = self.fetch_attr(target)
        state = {k: v.to("meta") for k, v in [*module.named_parameters(), *module.named_buffers()]}
        if target not in self.probes:
            return torch.func.functional_call(module, state, args, kwargs)
        try:
            return torch.func.functional_call(module, state, args, kwargs)
        except Exception:  # its forward reads values (if x.sum() > 0:): the meta device has none
            self.probes[target] = "cpu"
        zeros = [torch.zeros(a.shape) if isinstance(a, torch.Tensor) else a for a in args]
        out = module(*zeros, **kwargs)
        return out.to("meta") if isinstance(out, torch.Tensor) else out

    def get_attr(self, target: Any, args: Any, kwargs: Any) -> Any:
        value = super().get_attr(target, args, kwargs)
        return value.to("meta") if isinstance(value, torch.Tensor) else value

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        n.meta[_SHAPE] = tuple(result.shape[1:]) if isinstance(result, torch.Tensor) else None
        return result


def _node(n: fx.Node) -> TracedNode:
    stack = list((n.meta.get("nn_module_stack") or {}).keys())
    if n.op == "call_module" and stack and stack[-1] == n.target:
        stack = stack[:-1]
    shape = n.meta.get(_SHAPE)
    return TracedNode(
        name=n.name,
        kind=n.op,
        target=n.target,
        args=tuple(n.args),
        kwargs=dict(n.kwargs),
        scope=tuple(_paths(stack)),
        shape=shape,
        where=_user_line(n.meta.get("stack_trace") or ""),
    )


def _paths(stack: list[str]) -> list[str]:
    """nn_module_stack keys are qualified names (``layer1.0``); fx may write them with ``_``."""
    return [s for s in stack if s]


def _user_line(stack_trace: str) -> str:
    """The last ``File "...", line N`` of a stack trace outside torch, as ``file:N``."""
    last = ""
    for line in stack_trace.splitlines():
        line = line.strip()
        if line.startswith('File "') and _TORCH_DIR not in line:
            file, _, rest = line[6:].partition('", line ')
            last = f"{Path(file).name}:{rest.split(',')[0]}"
    return last


def _trace_error(exc: Exception, path: str, cls: str) -> ImportModelError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    control = "control flow" in text or "iterate" in text or "bool" in text
    construct = "data-dependent control flow" if control else f"{type(exc).__name__}"
    where = _exc_user_line(exc)
    at = f" at {where}" if where else ""
    if control:
        message = f"{cls}.forward branches or loops on a tensor's values{at}, which a static graph cannot express ({text})"
    else:
        message = f"{cls}.forward could not be traced{at}: {text}"
    return ImportModelError(
        message,
        module=path,
        construct=construct,
        hint="rewrite it without value-dependent Python control flow, or register a plugin op for this module (see docs/import.md)",
    )


def _exc_user_line(exc: BaseException) -> str:
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if _TORCH_DIR not in f.filename and _OWN_DIR not in f.filename
    ]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
