"""Plugins: a user's own ``nn.Module`` as an op — entered from Python only, and only on request.

A spec can never import code: an ``op:`` name is looked up in the catalogue and nothing else.
New ops come from plugins, which run Python code, so archspec loads a plugin only when the
user names it — ``archspec --plugin NAME ...``, or ``ARCHSPEC_PLUGINS=NAME[,NAME]`` — where
NAME is an installed entry point in the ``archspec.ops`` group or an importable module. Enabling
a plugin trusts its code exactly as much as importing it in Python would.

A plugin module (or the object an entry point names) provides ``OPS``, a list of
:class:`~archspec.ops.base.OpDef` (or a ``register(register_op)`` function). :func:`module_op`
builds an OpDef from an ``nn.Module`` class; without a plain-Python shape rule the shape and
parameter count come from running the module on torch's meta device (no memory, but torch is
imported).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from typing import Any

from archspec.errors import ArchSpecError
from archspec.ops import CATALOGUE, Arg, OpDef, OpShapeError, Recipe, register
from archspec.ops.base import Shape, fmt_shape

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginError",
    "available_plugins",
    "enabled_from_env",
    "load_plugins",
    "loaded_plugins",
    "module_op",
]

ENTRY_POINT_GROUP = "archspec.ops"
_LOADED: set[str] = set()


class PluginError(ArchSpecError):
    """A plugin could not be found or loaded, or defines a broken op."""

    exit_code = 1


def available_plugins() -> list[str]:
    """Names of installed entry-point plugins (not loaded)."""
    return sorted({ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)})


def enabled_from_env() -> list[str]:
    return [n.strip() for n in os.environ.get("ARCHSPEC_PLUGINS", "").split(",") if n.strip()]


def loaded_plugins() -> frozenset[str]:
    """The names of the plugins loaded in this process (as they were named when enabled)."""
    return frozenset(_LOADED)


def load_plugins(names: Iterable[str]) -> list[str]:
    """Load the named plugins (each at most once); returns the op names they registered."""
    added: list[str] = []
    for name in names:
        if name in _LOADED:
            continue
        before = set(CATALOGUE)
        _register_from(_resolve(name), name)
        _LOADED.add(name)
        added += sorted(set(CATALOGUE) - before)
    return added


def _resolve(name: str) -> Any:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
                ) from exc
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            installed = available_plugins()
            hint = (
                f"installed plugins: {', '.join(installed)}"
                if installed
                else "no archspec plugins are installed"
            )
            raise PluginError(f"no plugin or module named {name!r} ({hint})") from None
        raise PluginError(f"plugin {name!r} failed to import: {exc}") from exc
    except Exception as exc:
        raise PluginError(f"plugin {name!r} failed to import: {type(exc).__name__}: {exc}") from exc


def _register_from(obj: Any, name: str) -> None:
    if isinstance(obj, OpDef):
        ops: Sequence[Any] = [obj]
    elif callable(getattr(obj, "register", None)):
        obj.register(register)
        return
    else:
        ops = getattr(obj, "OPS", obj if isinstance(obj, (list, tuple)) else None)
    if not ops:
        raise PluginError(
            f"plugin {name!r} defines no ops (expected OPS = [...] or a register(register_op) function)"
        )
    for op in ops:
        if not isinstance(op, OpDef):
            raise PluginError(
                f"plugin {name!r}: {op!r} is not an OpDef (build one with archspec.plugins.module_op)"
            )
        if op.name in CATALOGUE:
            raise PluginError(f"plugin {name!r}: op {op.name!r} already exists; choose another name")
        register(op)


def module_op(
    name: str,
    module: Callable[..., Any],
    *,
    args: Mapping[str, Arg] | None = None,
    inputs: int | tuple[int, int | None] = 1,
    family: str = "feature",
    doc: str = "",
    shape: Callable[[Mapping[str, Any], list[Shape]], Shape] | None = None,
    in_arg: str | None = None,
    in_dim: int = -1,
    weighted: bool = False,
    probe: str = "meta",
) -> OpDef:
    """An op that builds ``module(**args)``; with ``in_arg`` it also passes the size of the first
    input's per-sample dim ``in_dim`` (-1: features, 0: channels), as archspec does for its own
    layers, so specs never write ``in_features``.

    ``shape`` is an optional plain-Python rule; without it the module is built and run once to
    infer shapes and parameter counts, on ``probe``: ``"meta"`` (nothing allocated or computed)
    or ``"cpu"`` (zeros of the input shapes, batch 2), for a module whose forward reads its
    values (``if x.sum() > 0:``), which the meta device cannot run.
    """
    if probe not in ("meta", "cpu"):
        raise PluginError(f"module_op {name!r}: probe must be 'meta' or 'cpu', not {probe!r}")

    def recipe(a: Mapping[str, Any], shapes: list[Shape]) -> Recipe:
        kwargs = dict(a)
        if in_arg is not None:
            kwargs[in_arg] = shapes[0][in_dim]
        return Recipe(module, kwargs)

    runs: dict[str, tuple[Shape, int, int]] = {}

    def run(a: Mapping[str, Any], shapes: list[Shape]) -> tuple[Shape, int, int]:
        """One build and forward per (arguments, shapes): shape inference asks for the shape,
        the parameter and the buffer count of every node, and repeated nodes ask alike."""
        key = repr((sorted(a.items()), [tuple(s) for s in shapes]))
        if key not in runs:
            if len(runs) >= 1024:
                runs.clear()
            runs[key] = _meta_run(recipe, a, shapes, name, probe)
        return runs[key]

    def meta_shape(a: Mapping[str, Any], shapes: list[Shape]) -> Shape:
        return run(a, shapes)[0]

    def meta_params(a: Mapping[str, Any], shapes: list[Shape]) -> int:
        return run(a, shapes)[1]

    def meta_buffers(a: Mapping[str, Any], shapes: list[Shape]) -> int:
        return run(a, shapes)[2]

    return OpDef(
        name=name,
        family=family,
        doc=doc or (module.__doc__ or name).strip().splitlines()[0],
        args=dict(args or {}),
        inputs=inputs,
        shape=shape or meta_shape,
        recipe=recipe,
        params=meta_params,
        buffers=meta_buffers,
        weighted=weighted,
    )


def _meta_run(
    recipe: Callable[..., Recipe],
    args: Mapping[str, Any],
    shapes: list[Shape],
    name: str,
    probe: str = "meta",
) -> tuple[Shape, int, int]:
    """Run the module on meta tensors (or CPU zeros): the output's per-sample shape, parameter
    and buffer counts."""
    import torch

    with torch.random.fork_rng(devices=[]), torch.device(probe):
        module = recipe(args, shapes).build()
        xs = [torch.zeros((2, *s)) for s in shapes]
    try:
        with torch.no_grad():
            out = module(*xs)
    except Exception as exc:  # the plugin's module rejected these shapes
        got = " and ".join(fmt_shape(s) for s in shapes)
        raise OpShapeError(f"{name} cannot take {got}: {exc}") from None
    if not isinstance(out, torch.Tensor):
        raise OpShapeError(f"{name} must return one tensor, got {type(out).__name__}")
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    return tuple(out.shape[1:]), params, buffers
