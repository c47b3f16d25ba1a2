"""Import stage 2: map traced nodes to catalogue ops with their arguments.

A leaf module is mapped by running the catalogue's recipes in reverse: for each op, its
arguments are read off the module's attributes (``out_channels``, ``kernel_size``, ``eps``...),
the op's recipe is built from them on the meta device, and the op is taken only when the built
module has the source module's class, configuration and parameter shapes. So an op is never
guessed: what ``archspec compile`` will build is checked against what the source built.
Functions and tensor methods (``torch.cat``, ``x.flatten(1)``, ``F.relu``) map through one table.
Anything else is an :class:`~archspec.errors.ImportModelError` naming the module and construct.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.nn import functional as F

from archspec.errors import ImportModelError
from archspec.importer.trace import Traced, TracedNode
from archspec.ops import CATALOGUE, REQUIRED, OpDef, Recipe, Shape, get_op

__all__ = ["Mapped", "OpNode", "builds_same", "map_model", "module_op"]

_PLUGIN_HINT = "register a plugin op for it (see docs/import.md, 'What does not import')"


@dataclass
class OpNode:
    """A traced node as a catalogue op: what the spec will say about it."""

    name: str  # the fx node's name
    op: str
    args: dict[str, Any]  # non-default arguments, as the spec writes them
    inputs: list[str]  # names of the values it reads (op nodes or model inputs)
    scope: tuple[str, ...]  # enclosing module paths, outermost first
    shape: Shape | None
    source: str  # what it came from, for a comment: "Conv2d", "torch.cat"
    module: str | None = None  # the source module path of a layer (its weights)
    state: dict[str, str] = field(default_factory=dict)  # our state key -> the source module's key
    stem: str = ""  # id stem of a functional node ("add", "relu")
    reshape: dict[str, Shape] = field(default_factory=dict)  # our state key -> our shape, where it differs


@dataclass
class Mapped:
    root: nn.Module
    nodes: list[OpNode]
    inputs: dict[str, Shape]
    outputs: dict[str, str]  # output name -> value name


def map_model(traced: Traced, opaque: Mapping[str, tuple[str, dict[str, Any]]] | None = None) -> Mapped:
    """Every traced node as an op node; markers for batch sizes and no-op aliases are resolved.

    ``opaque`` gives the op and arguments of each module (by path) traced as one opaque call.
    """
    state = _State(traced, opaque or {})
    for node in traced.nodes:
        state.visit(node)
    return Mapped(root=traced.root, nodes=state.nodes, inputs=dict(traced.inputs), outputs=state.outputs)


# -- leaf modules: recipes in reverse ------------------------------------------------------------

_MISSING = object()


def module_op(
    path: str, module: nn.Module, in_shapes: list[Shape]
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The op that builds ``module`` exactly: (op name, non-default args, state-key map)."""
    if isinstance(module, nn.Flatten):
        return "flatten", _non_default(get_op("flatten"), _flatten_args(module)), {}
    for op in CATALOGUE.values():
        args = _read_args(op, module)
        if args is None:
            continue
        try:
            made = op.recipe(op.with_defaults(args), in_shapes)
        except Exception:  # this op cannot take those arguments: not the one
            continue
        if isinstance(made, Recipe) and made.cls is type(module) and builds_same(made, module):
            return op.name, _non_default(op, args), {k: k for k in module.state_dict()}
    raise ImportModelError(
        f"no catalogue op builds {module!r}",
        module=path,
        construct=type(module).__name__,
        hint=_PLUGIN_HINT,
    )


def _read_args(op: OpDef, module: nn.Module) -> dict[str, Any] | None:
    """The op's arguments read off the module's attributes; None when a required one is absent."""
    args: dict[str, Any] = {}
    for name, arg in op.args.items():
        value = _attribute(module, name)
        if value is _MISSING:
            if arg.default is REQUIRED:
                return None
            continue
        args[name] = value
    return args


def _attribute(module: nn.Module, name: str) -> Any:
    if name == "bias":
        b = getattr(module, "in_proj_bias", getattr(module, "bias", _MISSING))
        return b if b is _MISSING or isinstance(b, bool) else b is not None
    if name == "dims" and isinstance(module, nn.LayerNorm):
        return len(module.normalized_shape)
    if name == "per_channel" and isinstance(module, nn.PReLU):
        return module.num_parameters > 1
    return _plain(getattr(module, name, _MISSING))


def _plain(value: Any) -> Any:
    """A tuple of equal ints as one int (``(3, 3)`` -> 3), other tuples as lists."""
    if isinstance(value, tuple):
        return value[0] if value and all(v == value[0] for v in value) else list(value)
    return value


def builds_same(made: Recipe, module: nn.Module) -> bool:
    """Does the recipe build a module configured exactly like ``module``?"""
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        try:
            built = made.build()
        except Exception:
            return False
    return _config(built) == _config(module) and _shapes(built) == _shapes(module)


def _config(module: nn.Module) -> dict[str, Any]:
    """A module's configuration: its public plain attributes (``(3, 3)`` and ``3`` alike)."""
    simple = (int, float, bool, str, tuple, type(None))
    return {
        k: _plain(v)
        for k, v in vars(module).items()
        if not k.startswith("_") and k not in ("training", "inplace") and isinstance(v, simple)
    }


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _flatten_args(module: nn.Flatten) -> dict[str, Any]:
    return {"start_dim": module.start_dim, "end_dim": module.end_dim}


def _non_default(op: OpDef | None, args: Mapping[str, Any]) -> dict[str, Any]:
    assert op is not None
    out = {}
    for k, v in args.items():
        d = op.args[k].default if k in op.args else REQUIRED
        if d is REQUIRED or type(v) is not type(d) or v != d:
            out[k] = v
    return out


# -- functions and tensor methods ----------------------------------------------------------------


@dataclass(frozen=True)
class _Fn:
    """How a torch function or method maps: positional names after the tensor(s), torch's defaults."""

    op: str
    params: tuple[str, ...] = ()
    tensors: int = 1  # leading tensor arguments; 0: one list of tensors
    defaults: Mapping[str, Any] = field(default_factory=dict)
    ignore: tuple[str, ...] = ("inplace",)


_ACT = {
    "relu": (F.relu, torch.relu),
    "relu6": (F.relu6,),
    "sigmoid": (torch.sigmoid, F.sigmoid),
    "tanh": (torch.tanh, F.tanh),
    "silu": (F.silu,),
    "hardswish": (F.hardswish,),
    "mish": (F.mish,),
    "selu": (F.selu, torch.selu),
}
_FUNCTIONS: dict[Any, _Fn] = {
    **{fn: _Fn(op) for op, fns in _ACT.items() for fn in fns},
    **{name: _Fn(name) for name in ("relu", "sigmoid", "tanh")},
    F.gelu: _Fn("gelu", ("approximate",)),
    F.leaky_relu: _Fn("leaky_relu", ("negative_slope",)),
    F.elu: _Fn("elu", ("alpha",)),
    **{fn: _Fn("softmax", ("dim",)) for fn in (F.softmax, torch.softmax, "softmax")},
    **{fn: _Fn("log_softmax", ("dim",)) for fn in (F.log_softmax, torch.log_softmax, "log_softmax")},
    **{fn: _Fn("add", tensors=2) for fn in (operator.add, operator.iadd, torch.add, "add")},
    **{fn: _Fn("multiply", tensors=2) for fn in (operator.mul, operator.imul, torch.mul, "mul")},
    **{fn: _Fn("subtract", tensors=2) for fn in (operator.sub, operator.isub, torch.sub, "sub")},
    **{fn: _Fn("divide", tensors=2) for fn in (operator.truediv, operator.itruediv, torch.div, "div")},
    **{fn: _Fn("concat", ("dim",), 0, {"dim": 0}) for fn in (torch.cat, torch.concat)},
    torch.stack: _Fn("stack", ("dim",), 0, {"dim": 0}),
    **{
        fn: _Fn("flatten", ("start_dim", "end_dim"), 1, {"start_dim": 0}) for fn in (torch.flatten, "flatten")
    },
    **{fn: _Fn("transpose", ("dim0", "dim1")) for fn in (torch.transpose, "transpose")},
    **{fn: _Fn("unsqueeze", ("dim",)) for fn in (torch.unsqueeze, "unsqueeze")},
    **{fn: _Fn("squeeze", ("dim",)) for fn in (torch.squeeze, "squeeze")},
    **{fn: _Fn("mean", ("dim", "keepdim")) for fn in (torch.mean, "mean")},
    **{fn: _Fn("sum", ("dim", "keepdim")) for fn in (torch.sum, "sum")},
    **{
        getattr(F, f"adaptive_avg_pool{n}d"): _Fn(f"adaptive_avgpool{n}d", ("output_size",))
        for n in (1, 2, 3)
    },
    **{
        getattr(F, f"adaptive_max_pool{n}d"): _Fn(f"adaptive_maxpool{n}d", ("output_size",))
        for n in (1, 2, 3)
    },
    **{
        getattr(F, f"max_pool{n}d"): _Fn(
            f"maxpool{n}d",
            ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
            ignore=("return_indices",),
        )
        for n in (1, 2, 3)
    },
    **{
        getattr(F, f"avg_pool{n}d"): _Fn(
            f"avgpool{n}d", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")
        )
        for n in (1, 2, 3)
    },
    F.interpolate: _Fn("upsample", ("size", "scale_factor", "mode", "align_corners")),
    F.pad: _Fn("pad", ("pad", "mode", "value")),
    F.dropout: _Fn("dropout", ("p",), ignore=("inplace", "training")),
}
_NO_OPS = frozenset({"contiguous", "clone"})  # methods that return an equal tensor
_RESHAPES = frozenset({"view", "reshape", torch.reshape})


def _fn_name(target: Any) -> str:
    if isinstance(target, str):
        return f"Tensor.{target}"
    if isinstance(target, torch._ops.OpOverload):  # an aten op of a torch.export graph
        return str(target)
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if module.startswith("torch.nn.functional") or module == "torch.nn.functional":
        return f"torch.nn.functional.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    return (
        f"torch.{name}"
        if module == "torch" or module.startswith("torch.") or not module
        else f"{module}.{name}"
    )


def _attr_tensor(root: nn.Module, target: str, attr: TracedNode) -> tuple[torch.Tensor, str]:
    """The parameter or buffer a ``get_attr`` reads, and which of the two it is."""
    owner, _, name = target.rpartition(".")
    module = root.get_submodule(owner)
    if name in module._parameters:
        return module._parameters[name], "parameter"
    if name in module._buffers:
        return module._buffers[name], "buffer"
    raise ImportModelError(
        f"forward reads the attribute {target!r}, which is neither a parameter nor a buffer",
        module=attr.module,
        construct=f"attribute {target}",
        hint=_PLUGIN_HINT,
    )


_BUFFER_LIMIT = 4096  # a buffer's values are written into the spec: only small ones
_BUFFER_DTYPES = {torch.float32: "float32", torch.int64: "int64"}


def _free_op(
    kind: str, tensor: torch.Tensor, shape: Shape, target: str, attr: TracedNode
) -> tuple[str, dict[str, Any], str]:
    """(op, args, its state key) of a free tensor of per-sample ``shape``."""
    if kind == "parameter":
        return "parameter", {"shape": list(shape)}, "weight"
    dtype = _BUFFER_DTYPES.get(tensor.dtype)
    if dtype is None or tensor.numel() > _BUFFER_LIMIT:
        why = f"its dtype {tensor.dtype}" if dtype is None else f"its {tensor.numel()} values"
        raise ImportModelError(
            f"the buffer {target!r} cannot be written as a buffer op ({why}; the op holds up to "
            f"{_BUFFER_LIMIT} float32 or int64 values, written into the spec)",
            module=attr.module,
            construct=f"buffer {target}",
            hint=_PLUGIN_HINT,
        )
    args: dict[str, Any] = {"values": tensor.detach().reshape(shape).tolist()}
    if dtype != "float32":
        args["dtype"] = dtype
    return "buffer", args, "value"


def _static_index(item: Any) -> bool:
    if isinstance(item, int) and not isinstance(item, bool):
        return True
    return isinstance(item, slice) and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool))
        for v in (item.start, item.stop, item.step)
    )


def _index_text(items: list[Any]) -> str:
    def one(item: Any) -> str:
        if isinstance(item, slice):
            text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
            return text + (f":{item.step}" if item.step is not None else "")
        return getattr(item, "name", None) or repr(item)

    return ", ".join(one(i) for i in items)


class _State:
    """Walks the node table once, keeping aliases (values that are another value) and markers."""

    def __init__(self, traced: Traced, opaque: Mapping[str, tuple[str, dict[str, Any]]]) -> None:
        self.traced = traced
        self.opaque = opaque
        self.root = traced.root
        self.nodes: list[OpNode] = []
        self.values: dict[str, str] = {}  # fx name -> the value name it is (itself, or an alias)
        self.markers: dict[str, str] = {}  # fx name -> "batch" (x.size(0)) or "shape" (x.shape)
        self.attention: set[str] = set()  # multihead attention nodes (their result is a tuple)
        self.outputs: dict[str, str] = {}
        self.free: dict[
            str, TracedNode
        ] = {}  # fx name -> a get_attr of a parameter or buffer, not yet placed
        self.measured: dict[str, str] = {}  # marker fx name -> the value whose shape or size it reads

    def visit(self, node: TracedNode) -> None:
        kind = node.kind
        if kind == "placeholder":  # fx may rename an argument (input -> input_1): keep its own name
            self.values[node.name] = str(node.target)
        elif kind == "get_attr":  # placed where it is first used, at the rank its user needs
            self.free[node.name] = node
        elif kind == "call_module":
            self._module(node)
        elif kind in ("call_function", "call_method"):
            self._function(node)
        elif kind == "output":
            self._outputs(node.args[0])

    # values -----------------------------------------------------------------------------------

    def tensor(self, arg: Any, node: TracedNode) -> str:
        if isinstance(arg, fx.Node) and arg.name in self.values:
            return self.values[arg.name]
        if isinstance(arg, fx.Node) and arg.name in self.free:
            return self._free_tensor(self.free[arg.name], node)
        what = "a constant " + repr(arg) if not isinstance(arg, fx.Node) else f"the value {arg.name!r}"
        raise ImportModelError(
            f"{_fn_name(node.target)} takes {what} where archspec's op needs a tensor"
            + (f" (at {node.where})" if node.where else ""),
            module=node.module,
            construct=_fn_name(node.target),
            hint=_PLUGIN_HINT,
        )

    def shapes(self, names: list[str]) -> list[Shape]:
        given = self.traced.inputs
        return [given[n] if n in given else self.traced.by_name[n].shape or () for n in names]

    def add(self, node: TracedNode, op: str, args: dict[str, Any], inputs: list[str], **extra: Any) -> None:
        self.nodes.append(
            OpNode(
                name=node.name, op=op, args=args, inputs=inputs, scope=node.scope, shape=node.shape, **extra
            )
        )
        self.values[node.name] = node.name

    # free parameters and buffers -------------------------------------------------------------

    def _free_tensor(self, attr: TracedNode, user: TracedNode, like: str | None = None) -> str:
        """A parameter or buffer read in forward, as a ``parameter``/``buffer`` node.

        Expanded to a batch (``like``: the value whose batch it takes), its first dim is that
        batch; otherwise it broadcasts as it is (``in: []``), padded with leading 1s to its
        user's rank, since archspec's elementwise ops take inputs of equal rank.
        """
        target = str(attr.target)
        tensor, kind = _attr_tensor(self.root, target, attr)
        full = tuple(tensor.shape)
        rank = len(full) if like is not None or user.shape is None else max(len(user.shape) + 1, len(full))
        padded = (1,) * (rank - len(full)) + full
        if not padded or padded[0] != 1 or len(padded) < 2:
            raise ImportModelError(
                f"the {kind} {target!r} of shape {list(full)} is used as a batch of {padded[0] if padded else 0}"
                + (f" (at {user.where})" if user.where else "")
                + f"; archspec's {kind} op is one sample broadcast or expanded to the batch",
                module=attr.module,
                construct=f"{kind} {target}",
                hint="give the tensor a leading dim of 1 (as a class token's [1, 1, D])",
            )
        shape = padded[1:]
        op, args, key = _free_op(kind, tensor, shape, target, attr)
        self.nodes.append(
            OpNode(
                name=attr.name,
                op=op,
                args=args,
                inputs=[like] if like is not None else [],
                scope=attr.scope,
                shape=shape,
                source=f"nn.Parameter {list(full)}" if kind == "parameter" else f"buffer {list(full)}",
                module=target,
                state={key: ""},
                reshape={key: shape} if shape != full else {},
            )
        )
        self.values[attr.name] = attr.name
        del self.free[attr.name]
        return attr.name

    def _expand(self, node: TracedNode) -> None:
        """``t.expand(x.shape[0], -1, ...)``: a parameter gets ``x``'s batch; a batched value is itself."""
        source = node.args[0]
        sizes = list(node.args[1:])
        if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
            sizes = list(sizes[0])
        first = getattr(sizes[0], "name", "") if sizes else ""
        batch = self.measured.get(first, "") if self.markers.get(first) == "batch" else ""
        if not batch or any(s != -1 for s in sizes[1:]):
            raise ImportModelError(
                f"Tensor.expand{tuple(sizes)!r} does more than take a batch size; archspec expands a tensor only "
                "to the batch of another (t.expand(x.shape[0], -1, ...))"
                + (f" (at {node.where})" if node.where else ""),
                module=node.module,
                construct="Tensor.expand",
                hint=_PLUGIN_HINT,
            )
        if isinstance(source, fx.Node) and source.name in self.free:
            self.values[node.name] = self._free_tensor(self.free[source.name], node, like=batch)
        else:
            self.values[node.name] = self.tensor(source, node)

    def _index(self, node: TracedNode, source: fx.Node, index: Any) -> None:
        """``x[:, 0]`` is ``select``, ``x[:, 1:]`` is ``slice``: one dim after the batch is indexed."""
        items = list(index) if isinstance(index, tuple) else [index]
        full = slice(None, None, None)
        lead = next((i for i, item in enumerate(items) if item != full), len(items))
        picked = items[lead] if lead < len(items) else None
        if lead == 0 or lead != len(items) - 1 or not _static_index(picked):
            raise ImportModelError(
                f"indexing a value ([{_index_text(items)}]) has no catalogue op; archspec indexes one dim after the "
                "batch (x[:, 0], x[:, 1:])" + (f" (at {node.where})" if node.where else ""),
                module=node.module,
                construct="operator.getitem",
                hint=_PLUGIN_HINT,
            )
        x = self.tensor(source, node)
        text = f"x[{_index_text(items)}]"
        if isinstance(picked, int):
            self.add(node, "select", {"dim": lead, "index": picked}, [x], source=text, stem="select")
            return
        assert isinstance(picked, slice)
        args = {"dim": lead, "start": picked.start, "end": picked.stop, "step": picked.step or 1}
        self.add(node, "slice", _non_default(get_op("slice"), args), [x], source=text, stem="slice")

    # modules ----------------------------------------------------------------------------------

    def _module(self, node: TracedNode) -> None:
        path = str(node.target)
        module = self.root.get_submodule(path)
        if path in self.opaque:
            return self._opaque(node, module)
        if isinstance(module, nn.MultiheadAttention):
            return self._attention(node, module)
        if node.kwargs or len(node.args) != 1:
            raise ImportModelError(
                f"{type(module).__name__} is called with {len(node.args)} arguments {list(node.kwargs)}; the catalogue's layers take one tensor",
                module=path,
                construct=type(module).__name__,
                hint=_PLUGIN_HINT,
            )
        inputs = [self.tensor(node.args[0], node)]
        op, args, state = module_op(path, module, self.shapes(inputs))
        self.add(node, op, args, inputs, source=type(module).__name__, module=path, state=state)

    def _opaque(self, node: TracedNode, module: nn.Module) -> None:
        """A module embedded whole, as its plugin op (``--allow-opaque``): tensors in, one out."""
        path = str(node.target)
        cls = type(module).__name__
        if node.kwargs or node.shape is None:
            what = (
                f"keyword arguments {sorted(node.kwargs)}"
                if node.kwargs
                else "a result that is not one tensor"
            )
            raise ImportModelError(
                f"{cls} is called with {what}; a plugin op takes tensors and returns one",
                module=path,
                construct=cls,
                hint=_PLUGIN_HINT,
            )
        op, args = self.opaque[path]
        inputs = [self.tensor(a, node) for a in node.args]
        state = {k: k for k in module.state_dict()}
        self.add(node, op, dict(args), inputs, source=cls, module=path, state=state)

    def _attention(self, node: TracedNode, module: nn.MultiheadAttention) -> None:
        path = str(node.target)
        q, k, v = (list(node.args) + [node.kwargs.get(n) for n in ("query", "key", "value")])[:3]
        extra = {
            k2: v2 for k2, v2 in node.kwargs.items() if k2 not in ("need_weights", "query", "key", "value")
        }
        if extra or len(node.args) > 3:
            raise ImportModelError(
                f"MultiheadAttention is called with {sorted(extra) or 'extra arguments'}; archspec's multihead_attention takes only query, key and value",
                module=path,
                construct="MultiheadAttention",
                hint=_PLUGIN_HINT,
            )
        names = [self.tensor(a, node) for a in (q, k, v)]
        inputs = names[:1] if names[0] == names[1] == names[2] else names
        op = get_op("multihead_attention")
        assert op is not None
        args = {
            "num_heads": module.num_heads,
            "dropout": float(module.dropout),
            "bias": module.in_proj_bias is not None,
        }
        made = op.recipe(op.with_defaults(args), self.shapes(inputs))
        with torch.random.fork_rng(devices=[]), torch.device("meta"):
            built = made.build()
        if (
            not module.batch_first
            or _config(built.attn) != _config(module)
            or _shapes(built.attn) != _shapes(module)
        ):
            raise ImportModelError(
                f"no catalogue op builds {module!r} (batch_first={module.batch_first}); multihead_attention is batch-first",
                module=path,
                construct="MultiheadAttention",
                hint=_PLUGIN_HINT,
            )
        state = {f"attn.{key}": key for key in module.state_dict()}
        self.add(
            node,
            "multihead_attention",
            _non_default(op, args),
            inputs,
            source="MultiheadAttention",
            module=path,
            state=state,
        )
        self.attention.add(node.name)
        self.values.pop(node.name)  # its value is a tuple: only item 0 (the output) maps

    # functions --------------------------------------------------------------------------------

    def _function(self, node: TracedNode) -> None:
        target = node.target
        if self._marker(node) or self._getitem(node):
            return
        if target in _NO_OPS and node.kind == "call_method":
            self.values[node.name] = self.tensor(node.args[0], node)
            return
        if target in _RESHAPES:
            return self._reshape(node)
        if target in ("permute", torch.permute):
            return self._permute(node)
        if target == "expand" and node.kind == "call_method":
            return self._expand(node)
        fn = _FUNCTIONS.get(target)
        if fn is None:
            raise ImportModelError(
                f"{_fn_name(target)} has no catalogue op" + (f" (at {node.where})" if node.where else ""),
                module=node.module,
                construct=_fn_name(target),
                hint=_PLUGIN_HINT,
            )
        inputs, args = self._bind(node, fn)
        op = get_op(fn.op)
        self.add(node, fn.op, _non_default(op, args), inputs, source=_fn_name(target), stem=fn.op)

    def _bind(self, node: TracedNode, fn: _Fn) -> tuple[list[str], dict[str, Any]]:
        raw = list(node.args)
        if fn.tensors == 0:
            inputs = [self.tensor(a, node) for a in raw[0]]
            rest = raw[1:]
        else:
            inputs = [self.tensor(a, node) for a in raw[: fn.tensors]]
            rest = raw[fn.tensors :]
        args = dict(fn.defaults)
        args.update(zip(fn.params, rest))
        for key, value in node.kwargs.items():
            if key in fn.ignore or key.startswith("_") or (key not in fn.params and value in (None, False)):
                continue  # torch's own bookkeeping, or an option left off
            if key not in fn.params:
                raise ImportModelError(
                    f"{_fn_name(node.target)} argument {key}={value!r} has no counterpart in op {fn.op}",
                    module=node.module,
                    construct=_fn_name(node.target),
                    hint=_PLUGIN_HINT,
                )
            args[key] = value
        if len(rest) > len(fn.params) or any(isinstance(v, fx.Node) for v in args.values()):
            raise ImportModelError(
                f"{_fn_name(node.target)} is called with arguments computed at run time",
                module=node.module,
                construct=_fn_name(node.target),
                hint=_PLUGIN_HINT,
            )
        return inputs, {
            k: _plain(tuple(v)) if isinstance(v, (list, tuple)) and fn.op != "pad" else v
            for k, v in args.items()
        }

    def _marker(self, node: TracedNode) -> bool:
        """``x.size(0)`` and ``x.shape[0]`` name the batch; ``x.shape``/``x.size()`` a shape."""
        target, args = node.target, node.args
        if target == "size" and node.kind == "call_method":
            self.markers[node.name] = "batch" if args[1:] == (0,) else "shape" if len(args) == 1 else "size"
            self.measured[node.name] = self._measured(args[0])
            return True
        if target is getattr and args[1] == "shape":
            self.markers[node.name] = "shape"
            self.measured[node.name] = self._measured(args[0])
            return True
        return False

    def _measured(self, arg: Any) -> str:
        return self.values.get(arg.name, "") if isinstance(arg, fx.Node) else ""

    def _getitem(self, node: TracedNode) -> bool:
        if node.target is not operator.getitem:
            return False
        source, index = node.args
        name = source.name if isinstance(source, fx.Node) else ""
        if self.markers.get(name) == "shape":
            self.markers[node.name] = "batch" if index == 0 else "size"
            self.measured[node.name] = self.measured.get(name, "")
            return True
        if name in self.attention and index == 0:
            self.values[node.name] = name
            return True
        if name in self.values or name in self.free:
            self._index(node, source, index)
            return True
        raise ImportModelError(
            f"indexing a value ([{index!r}]) has no catalogue op"
            + (f" (at {node.where})" if node.where else ""),
            module=node.module,
            construct="operator.getitem",
            hint=_PLUGIN_HINT,
        )

    def _reshape(self, node: TracedNode) -> None:
        x = self.tensor(node.args[0], node)
        sizes = list(node.args[1:])
        if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
            sizes = list(sizes[0])
        if (
            not sizes
            or self.markers.get(getattr(sizes[0], "name", "")) != "batch"
            or not all(isinstance(s, int) for s in sizes[1:])
        ):
            raise ImportModelError(
                f"{_fn_name(node.target)}{tuple(sizes)!r} does not keep the batch as its first size; archspec's reshape is per sample"
                + (f" (at {node.where})" if node.where else ""),
                module=node.module,
                construct=_fn_name(node.target),
                hint="write x.reshape(x.size(0), ...) or torch.flatten(x, 1)",
            )
        self.add(
            node, "reshape", {"shape": list(sizes[1:])}, [x], source=_fn_name(node.target), stem="reshape"
        )

    def _permute(self, node: TracedNode) -> None:
        x = self.tensor(node.args[0], node)
        dims = list(node.args[1:]) or list(node.kwargs.get("dims", ()))
        if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = list(dims[0])
        self.add(node, "permute", {"dims": dims}, [x], source=_fn_name(node.target), stem="permute")

    def _outputs(self, result: Any) -> None:
        if isinstance(result, fx.Node):
            self.outputs = {"output": self.values[result.name]}
        elif isinstance(result, (list, tuple)):
            self.outputs = {f"output{i}": self.values[r.name] for i, r in enumerate(result)}
        elif isinstance(result, dict):
            self.outputs = {str(k): self.values[r.name] for k, r in result.items()}
