"""Import stage 1, the fallback: where fx cannot trace, ``torch.export`` may; its graph is
rewritten into the fx vocabulary the mapping stage reads.

``torch.export`` runs ``forward`` on example inputs, so Python control flow on a *shape*
(``if x.shape[-1] > 8:``) is decided, where fx fails on ``bool(Proxy)``. Its graph is aten-level
and lifts every weight to an input; each node carries ``nn_module_stack``. The rewrite:

- aten nodes inside one call of a **leaf module** (a ``torch.nn`` layer: ``Conv2d``, ``Linear``,
  ``BatchNorm2d``...) become one ``call_module`` of that module's path, so the recipes-in-reverse
  mapping and the weight names work as after fx;
- the free aten ops of :data:`_FREE` become the torch functions and methods fx would have
  recorded (``aten.add.Tensor`` -> ``operator.add``, ``aten.sym_size.int`` -> ``x.size(d)``);
- a weight read outside any leaf (a class token) becomes a ``get_attr``.

Any other aten op is kept as it is, and the mapping stage names it in its error.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F
from torch.utils import _pytree

from archspec.ops import Shape

__all__ = ["export_graph", "forward_names"]

_aten = torch.ops.aten
_ALL = slice(None, None, None)
_END = 2**62  # aten's "to the end" of a slice is a huge int


def forward_names(module: nn.Module) -> list[str]:
    """The names of ``forward``'s tensor arguments (no ``*args``/``**kwargs``)."""
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    params = inspect.signature(module.forward).parameters.values()
    return [p.name for p in params if p.kind in kinds]


def export_graph(module: nn.Module, shapes: Mapping[str, Shape], batch: int) -> fx.Graph:
    """``torch.export`` the module (batch size dynamic) and rewrite its graph for mapping."""
    args = tuple(torch.randn((batch, *s)) for s in shapes.values())
    dims = {name: {0: torch.export.Dim("batch")} for name in shapes}
    program = torch.export.export(module, args, dynamic_shapes=dims)
    return _Rewrite(module, program).graph


class _Rewrite:
    def __init__(self, root: nn.Module, program: Any) -> None:
        self.root = root
        sig = program.graph_signature
        self.lifted: dict[str, str] = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
        self.graph = fx.Graph()
        self.env: dict[str, fx.Node] = {}
        self.attrs: dict[str, fx.Node] = {}
        nodes = list(program.graph_module.graph.nodes)
        self.users = {n.name: list(n.users) for n in nodes}
        group: list[fx.Node] = []
        for n in nodes:
            leaf = self._leaf(n)
            if group and (leaf is None or leaf != self._leaf(group[0])):
                self._module(group)
                group = []
            if leaf is not None:
                group.append(n)
            elif n.op == "placeholder" and n.name not in self.lifted:
                self.env[n.name] = self.graph.placeholder(n.name)
            elif n.op == "call_function":
                self._free(n)
            elif n.op == "output":
                outs = [self._arg(a) for a in n.args[0]]
                self.graph.output(_pytree.tree_unflatten(outs, program.call_spec.out_spec))

    # leaf modules -----------------------------------------------------------------------------

    def _leaf(self, n: fx.Node) -> tuple[str, str] | None:
        """(stack key, module path) of the outermost leaf module ``n`` runs in, if any."""
        if n.op != "call_function":
            return None
        for key, (path, _) in (n.meta.get("nn_module_stack") or {}).items():
            if path and _is_leaf(_submodule(self.root, path)):
                return key, path
        return None

    def _module(self, group: list[fx.Node]) -> None:
        """One leaf module call: its input is the one outside value its aten nodes read."""
        _, path = self._leaf(group[0]) or ("", "")
        inside = {n.name for n in group}
        inputs: list[fx.Node] = []
        for n in group:
            for a in n.all_input_nodes:
                if a.name not in inside and a.name not in self.lifted and a not in inputs:
                    inputs.append(a)
        for n in group[:-1]:  # only the last value leaves the call
            if any(u.name not in inside for u in self.users[n.name]):
                inputs = []
        if len(inputs) == 1:
            node = self.graph.call_module(path, (self._arg(inputs[0]),))
        else:  # not one plain call: the mapping stage refuses it by name
            node = self.graph.call_module(path, tuple(self._arg(a) for a in inputs))
        self._meta(node, group[0], upto=path)
        self.env[group[-1].name] = node

    # free ops ---------------------------------------------------------------------------------

    def _arg(self, a: Any) -> Any:
        def one(n: fx.Node) -> fx.Node:
            if n.name in self.lifted:
                target = self.lifted[n.name]
                if target not in self.attrs:
                    self.attrs[target] = self.graph.get_attr(target)
                    self._meta(self.attrs[target], n)
                return self.attrs[target]
            return self.env[n.name]

        return fx.map_arg(a, one)

    def _free(self, n: fx.Node) -> None:
        rule = _FREE.get(n.target)
        args, kwargs = self._arg(n.args), self._arg(n.kwargs)
        op, target, args, kwargs = rule(args, kwargs) if rule else ("call_function", n.target, args, kwargs)
        node = self.graph.create_node(op, target, args, kwargs)
        self._meta(node, n)
        self.env[n.name] = node

    def _meta(self, node: fx.Node, source: fx.Node, upto: str | None = None) -> None:
        stack = {}
        for path, cls in (source.meta.get("nn_module_stack") or {}).values():
            stack[path] = (path, cls)
            if path == upto:
                break
        node.meta["nn_module_stack"] = stack
        node.meta["stack_trace"] = source.meta.get("stack_trace", "")


def _submodule(root: nn.Module, path: str) -> nn.Module | None:
    try:
        return root.get_submodule(path)
    except AttributeError:  # export's own bookkeeping entries in the stack
        return None


def _is_leaf(module: nn.Module | None) -> bool:
    """A ``torch.nn`` layer (not a container): what fx would have called as one module."""
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    return (
        module is not None
        and type(module).__module__.startswith("torch.nn")
        and not isinstance(module, containers)
    )


_Rule = Callable[[tuple[Any, ...], dict[str, Any]], tuple[str, Any, tuple[Any, ...], dict[str, Any]]]


def _fn(target: Any, arity: int | None = None) -> _Rule:
    return lambda a, k: ("call_function", target, a if arity is None else a[:arity], k)


def _method(name: str, arity: int | None = None) -> _Rule:
    return lambda a, k: ("call_method", name, a if arity is None else a[:arity], {})


def _select(a: tuple[Any, ...], k: dict[str, Any]) -> tuple[str, Any, tuple[Any, ...], dict[str, Any]]:
    x, dim, index = a
    return "call_function", operator.getitem, (x, (_ALL,) * dim + (index,)), {}


def _slice(a: tuple[Any, ...], k: dict[str, Any]) -> tuple[str, Any, tuple[Any, ...], dict[str, Any]]:
    x, dim, start, end, step = (*a, *(0, None, None, 1)[len(a) - 1 :])
    start = None if start in (None, 0) else start
    end = None if end is None or end >= _END else end
    if dim == 0 and start is None and end is None and step == 1:
        return "call_method", "contiguous", (x,), {}  # x[:] of the batch: the value itself
    return "call_function", operator.getitem, (x, (_ALL,) * dim + (slice(start, end, step),)), {}


def _elementwise(target: Any) -> _Rule:
    """``aten.add.Tensor(x, y, alpha=1)``: the operator, when alpha is 1."""
    return lambda a, k: (
        "call_function",
        target,
        a[:2],
        {kk: v for kk, v in k.items() if kk != "alpha" or v != 1},
    )


_FREE: dict[Any, _Rule] = {
    _aten.add.Tensor: _elementwise(operator.add),
    _aten.sub.Tensor: _elementwise(operator.sub),
    _aten.mul.Tensor: _fn(operator.mul),
    _aten.div.Tensor: _fn(operator.truediv),
    _aten.add_.Tensor: _elementwise(operator.add),
    _aten.sub_.Tensor: _elementwise(operator.sub),
    _aten.mul_.Tensor: _fn(operator.mul),
    _aten.div_.Tensor: _fn(operator.truediv),
    _aten.relu.default: _fn(torch.relu),
    _aten.relu_.default: _fn(torch.relu),
    _aten.sigmoid.default: _fn(torch.sigmoid),
    _aten.tanh.default: _fn(torch.tanh),
    _aten.gelu.default: _fn(F.gelu),
    _aten.silu.default: _fn(F.silu),
    _aten.softmax.int: _fn(F.softmax, 2),
    _aten.cat.default: _fn(torch.cat),
    _aten.flatten.using_ints: _fn(torch.flatten),
    _aten.mean.dim: _fn(torch.mean),
    _aten.permute.default: _fn(torch.permute),
    _aten.transpose.int: _fn(torch.transpose),
    _aten.unsqueeze.default: _fn(torch.unsqueeze),
    _aten.squeeze.dim: _fn(torch.squeeze),
    _aten.adaptive_avg_pool2d.default: _fn(F.adaptive_avg_pool2d),
    _aten.max_pool2d.default: _fn(F.max_pool2d),
    _aten.view.default: _method("reshape"),
    _aten.reshape.default: _method("reshape"),
    _aten.sym_size.int: _method("size"),
    _aten.expand.default: _method("expand"),
    _aten.select.int: _select,
    _aten.slice.Tensor: _slice,
    _aten.clone.default: _method("contiguous", 1),
    _aten.alias.default: _method("contiguous", 1),
    _aten.contiguous.default: _method("contiguous", 1),
}
