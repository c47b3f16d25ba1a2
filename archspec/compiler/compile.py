"""Stage 6: compile a shape-checked graph into a torch.fx ``GraphModule``.

Why fx and not an interpreter: a loop over nodes with a dict of activations keeps every
intermediate alive until the end of ``forward``; fx generates straight-line code that drops
each value after its last use (``x = None``), so peak memory matches a hand-written module. The
generated ``forward`` is readable (``model.code``), parameter names come from node ids
(``enc1.c1.weight``), and the result scripts, traces, exports and ``torch.compile``s.

Named outputs come back as a dict; a spec with exactly one output returns the tensor itself.
A part (``parts: {encoder: [...]}``) compiles to its own GraphModule over the *same* modules,
so it shares weights with the whole model.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from archspec.compiler.initializers import apply_init
from archspec.errors import ShapeError, SpecError, SpecErrors
from archspec.graph.dag import Graph
from archspec.lang.model import Node, Ref
from archspec.ops import Call, Recipe, get_op
from archspec.ops.base import fmt_shape

__all__ = [
    "DTYPES",
    "NODE_KEY",
    "build_modules",
    "compile_model",
    "example_inputs",
    "node_recipe",
    "part_model",
]

NODE_KEY = "archspec_node"  # fx node meta: the id of the spec node an fx node computes

DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}


@dataclass(frozen=True)
class _Signature:
    """What a compiled (sub)graph reads and returns."""

    nodes: list[str]
    inputs: list[Ref]  # placeholders, in order
    outputs: dict[str, Ref]


def compile_model(graph: Graph, part: str | None = None, *, seed: int | None = None) -> fx.GraphModule:
    """Build the modules (seeded, initialised) and the fx graph of the whole model or one part."""
    from archspec.graph.memory import check_weights_fit
    from archspec.pipeline import gc_paused

    check_weights_fit(graph)  # before torch allocates anything
    with gc_paused():
        root = build_modules(graph, seed=seed)
        return _assemble(graph, root, _whole(graph) if part is None else _part(graph, part))


def part_model(model: fx.GraphModule, graph: Graph, part: str) -> fx.GraphModule:
    """A part of an already compiled model, sharing its parameters (no copies)."""
    return _assemble(graph, model, _part(graph, part))


def build_modules(graph: Graph, *, seed: int | None = None) -> nn.Module:
    """Instantiate every node's module under a root, at the path of its id, in the order the
    spec declares the nodes (YAML order, blocks expanded in place): parameters register, and draw
    their initial values, in that order, so weights can be copied by position from a reference
    implementation written in the same order.

    Torch may still refuse arguments the spec checks accepted; every such refusal comes back
    as a located :class:`SpecError` (all of them, as one :class:`SpecErrors`).
    """
    spec = graph.spec
    root = nn.Module()
    errors: list[SpecError] = []
    failed: set[str] = set()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed if seed is None else seed)
        for name in spec.nodes:
            node = spec.nodes[name]
            if node.share is None and not _collect(errors, _build_owner, root, node, spec.init):
                failed.add(name)
    for name in spec.nodes:  # once every owner exists: a target may come later
        node = spec.nodes[name]
        if node.share is not None and node.share not in failed:
            _collect(errors, _check_shared, root, node)
        tie = node.meta.get("tie")
        if tie is not None and not {tie, name} & failed:
            _collect(errors, _tie, root, node, tie)
    if errors:
        raise SpecErrors(errors)
    return root


def _collect(errors: list[SpecError], fn: Any, *args: Any) -> bool:
    """Run one build step; a SpecError is kept (so every node gets reported), not raised."""
    try:
        fn(*args)
    except SpecError as err:
        errors.append(err)
        return False
    return True


def _build_owner(root: nn.Module, node: Node, default_init: Any) -> None:
    built = _build(node)
    node.meta["call"] = built if isinstance(built, Call) else None
    if isinstance(built, nn.Module):
        _install(root, node.id, built)
        op = get_op(node.op)
        if op is not None and op.weighted:
            try:
                apply_init(built, default_init, node.init)
            except (RuntimeError, ValueError, TypeError) as exc:
                raise SpecError(
                    f"init of {node.op} failed: {exc}", loc=node.where("init"), via=node.via
                ) from exc


def node_recipe(node: Node) -> Recipe | Call:
    """What a shape-checked node's op builds: its module class and arguments, or its call.

    The one description of a node's module: :func:`build_modules` instantiates it and
    :mod:`archspec.compiler.emit` writes it out as source.
    """
    op = get_op(node.op)
    assert op is not None
    made = op.recipe(op.with_defaults(node.args), node.meta["in_shapes"])
    if isinstance(made, Recipe) and getattr(made.cls, "names_its_node", False):
        made = Recipe(made.cls, {**made.kwargs, "node": node.id})  # it names the node in run-time errors
    return made


def _build(node: Node) -> nn.Module | Call:
    try:
        made = node_recipe(node)
        return made.build() if isinstance(made, Recipe) else made
    except Exception as exc:  # torch refusing arguments the spec checks accepted
        raise SpecError(f"{node.op} could not be built: {exc}", loc=node.loc, via=node.via) from exc


def _check_shared(root: nn.Module, node: Node) -> None:
    """A sharing node reuses its owner's module; check that module fits this node's input.

    The node's own module is built on the meta device (no memory, no random numbers) only to
    compare parameter and buffer shapes. A functional op has no weights: it keeps its own call.
    """
    with torch.random.fork_rng(devices=[]):
        try:
            with torch.device("meta"):
                probe = _build(node)
        except SpecError:
            probe = _build(node)  # a module that cannot be built on the meta device
    node.meta["call"] = probe if isinstance(probe, Call) else None
    if isinstance(probe, Call):
        return
    assert node.share is not None
    mine, theirs = _state_shapes(probe), _state_shapes(root.get_submodule(node.share))
    if mine != theirs:
        key = next(k for k in {**mine, **theirs} if mine.get(k) != theirs.get(k))
        got = " and ".join(fmt_shape(s) for s in node.meta["in_shapes"])
        raise ShapeError(
            f"cannot share weights with {node.share!r}: {node.op} on {got} needs {key} of shape {_fmt(mine.get(key))}, {node.share!r} has {_fmt(theirs.get(key))}",
            loc=node.where("share"),
            via=node.via,
            hint="shared layers need inputs of the same size",
        )


def _tie(root: nn.Module, node: Node, owner: str) -> None:
    """Weight tying across op kinds (a linear head using an embedding's weight): the node keeps
    its own module and bias, and its ``weight`` becomes the owner's parameter."""
    mine, theirs = root.get_submodule(node.id), root.get_submodule(owner)
    want, have = tuple(mine.weight.shape), tuple(theirs.weight.shape)
    if want != have:
        got = " and ".join(fmt_shape(s) for s in node.meta["in_shapes"])
        raise ShapeError(
            f"cannot tie weights with {owner!r}: {node.op} on {got} needs a weight of shape {_fmt(want)}, {owner!r} has {_fmt(have)}",
            loc=node.where("share"),
            via=node.via,
            hint="a tied head's weight must have the owner's shape, e.g. a linear of out_features = num_embeddings",
        )
    mine.weight = theirs.weight


def _state_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in [*module.named_parameters(), *module.named_buffers()]}


def _fmt(shape: tuple[int, ...] | None) -> str:
    return "none" if shape is None else str(list(shape))


def _install(root: nn.Module, path: str, module: nn.Module) -> None:
    *parents, leaf = path.split(".")
    owner = root
    for name in parents:
        child = owner._modules.get(name)
        if child is None:
            child = nn.Module()
            owner.add_module(name, child)
        owner = child
    owner.add_module(leaf, module)


# -- signatures ---------------------------------------------------------------------------------


def _whole(graph: Graph) -> _Signature:
    spec = graph.spec
    return _Signature(
        nodes=graph.op_nodes(),
        inputs=[Ref(name) for name in spec.inputs],
        outputs={name: out.ref for name, out in spec.outputs.items()},
    )


def _part(graph: Graph, part: str) -> _Signature:
    spec = graph.spec
    members = set(graph.part(part))
    nodes = [n for n in graph.op_nodes() if n in members]
    inputs: list[Ref] = []
    for n in nodes:
        for ref in spec.nodes[n].inputs:
            if ref.node not in members and ref not in inputs:
                inputs.append(ref)
    return _Signature(nodes=nodes, inputs=inputs, outputs=_part_outputs(graph, nodes, members))


def _part_outputs(graph: Graph, nodes: list[str], members: set[str]) -> dict[str, Ref]:
    """Values a part hands on: read outside it, named as a spec output, or read by no one."""
    spec = graph.spec
    outputs: dict[str, Ref] = {}
    spec_outs = {out.ref: name for name, out in spec.outputs.items()}
    for n in nodes:
        consumers = list(graph.dag.successors(n))
        external = [spec.nodes[c] for c in consumers if c not in members]
        refs = {ref for c in external for ref in c.inputs if ref.node == n}
        refs |= {ref for ref in spec_outs if ref.node == n}
        if not consumers and not refs:
            refs = {Ref(n)}
        for ref in sorted(refs, key=str):
            outputs[spec_outs.get(ref, str(ref))] = ref
    return outputs


# -- fx assembly --------------------------------------------------------------------------------


def _assemble(graph: Graph, root: nn.Module, sig: _Signature) -> fx.GraphModule:
    spec = graph.spec
    g = _new_graph()
    values: dict[Ref, fx.Node] = {}
    for ref in sig.inputs:
        values[ref] = _placeholder(g, str(ref))
    for name in sig.nodes:
        node = spec.nodes[name]
        args = [_select(values, ref) for ref in node.inputs]
        _emit(g, node, args, values)
    result = {key: _select(values, ref) for key, ref in sig.outputs.items()}
    g.output(next(iter(result.values())) if len(result) == 1 else result)
    g.lint()
    gm = fx.GraphModule(root, g, class_name=_class_name(spec.name))
    _same_order(gm, root)
    gm.meta["archspec"] = {"spec": spec.name, "outputs": list(result), "inputs": [str(r) for r in sig.inputs]}
    return gm


def _same_order(copy: nn.Module, root: nn.Module) -> None:
    """Register ``copy``'s submodules in ``root``'s order (YAML order), recursively.

    fx's GraphModule copies the modules its graph calls in the order it calls them; the spec
    promises parameters in the order the YAML lists them.
    """
    if copy is root:
        return
    mine = copy._modules
    order = [k for k in root._modules if k in mine] + [k for k in mine if k not in root._modules]
    ordered = {k: mine[k] for k in order}
    mine.clear()
    mine.update(ordered)
    for name, child in ordered.items():
        original = root._modules.get(name)
        if child is not None and original is not None and type(child) is nn.Module:
            _same_order(child, original)


def _new_graph() -> fx.Graph:
    """An empty fx graph. Its namespace turns node ids into the value names of the generated
    ``forward`` (``enc1.c1`` -> ``enc1_c1``, ``class`` -> ``class_1``, ``3x`` -> ``_3x``, unique);
    ``self`` is taken up front, since it names the module in that code, and so is ``None``,
    the one keyword the namespace lets through as it is (an input named ``None``)."""
    g = fx.Graph()
    for name in ("self", "None"):
        g._graph_namespace.create_name(name, None)
    return g


def _placeholder(g: fx.Graph, text: str) -> fx.Node:
    node = g.create_node("placeholder", text, name=text)
    node.target = node.name  # the generated signature reads the target: make it the legal name
    return node


def _select(values: dict[Ref, fx.Node], ref: Ref) -> fx.Node:
    if ref in values:
        return values[ref]
    return values[Ref(ref.node)]


def _emit(g: fx.Graph, node: Node, args: list[fx.Node], values: dict[Ref, fx.Node]) -> None:
    """The fx node(s) of one spec node, named for its id; ``meta[NODE_KEY]`` keeps the id itself."""
    call: Call | None = node.meta.get("call")  # a functional op; a sharing node keeps its own
    target = node.share or node.id
    op = get_op(node.op)
    assert op is not None
    if call is None:
        out = g.create_node("call_module", target, tuple(args), name=node.id)
    else:
        inputs: tuple[Any, ...] = (list(args),) if call.list_input else tuple(args)
        out = g.create_node(
            "call_function", call.fn, inputs + tuple(call.extra), dict(call.kwargs), name=node.id
        )
    out.meta[NODE_KEY] = node.id
    if op.outputs is not None:
        for i, output in enumerate(op.outputs(op.with_defaults(node.args))):
            item = g.create_node("call_function", operator.getitem, (out, i), name=f"{node.id}.{output}")
            item.meta[NODE_KEY] = node.id
            values[Ref(node.id, output)] = item
        first = op.outputs(op.with_defaults(node.args))
        values[Ref(node.id)] = values[Ref(node.id, first[0])] if first else out
    else:
        values[Ref(node.id)] = out


def _class_name(name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", name)
    cls = "".join(w[:1].upper() + w[1:] for w in words if w) or "Model"
    return cls if cls[0].isalpha() else f"Model{cls}"


# -- inputs -------------------------------------------------------------------------------------


def example_inputs(
    graph: Graph, batch: int = 2, *, part: str | None = None, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random inputs of the right shapes and dtypes (standard normal floats, zero indices)."""
    spec = graph.spec
    gen = torch.Generator().manual_seed(seed)
    refs: Iterable[Ref] = [Ref(n) for n in spec.inputs] if part is None else _part(graph, part).inputs
    out: dict[str, torch.Tensor] = {}
    from archspec.graph.shapes import output_shape

    for ref in refs:
        shape = (batch, *output_shape(graph, ref))
        dtype = DTYPES[spec.inputs[ref.node].dtype] if ref.node in spec.inputs else torch.float32
        if dtype.is_floating_point:
            out[str(ref)] = torch.randn(shape, generator=gen).to(dtype)
        else:
            out[str(ref)] = torch.zeros(shape, dtype=dtype)
    return out
