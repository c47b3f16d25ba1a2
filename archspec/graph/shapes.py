"""Stage 5: infer every tensor shape, parameter count and MAC estimate — without torch.

Each op's plain-Python rule runs in topological order over per-sample shapes; results go into
``node.meta`` (``shape``, ``in_shapes``, ``params``, ``macs``). A rule's complaint becomes a
located :class:`ShapeError` naming the node, its op and the shapes it received.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archspec.errors import ContractError, ShapeError, SpecError, SpecErrors
from archspec.graph.dag import Graph
from archspec.lang.expr import ExprError
from archspec.lang.loader import Document
from archspec.lang.model import Node, Ref
from archspec.lang.shapeexpr import Deferred, evaluate_deferred
from archspec.lang.validate import op_arg_errors
from archspec.ops import OpShapeError, get_op
from archspec.ops.base import Shape, fmt_shape

__all__ = ["check_expect", "infer_shapes", "output_shape", "totals"]


def infer_shapes(graph: Graph) -> Graph:
    """Annotate every node of ``graph`` with shapes, parameter counts and MACs."""
    spec = graph.spec
    shapes: dict[str, Shape | dict[str, Shape]] = {name: inp.shape for name, inp in spec.inputs.items()}
    dtypes: dict[str, str] = {name: inp.dtype for name, inp in spec.inputs.items()}
    errors: list[SpecError] = []
    failed: set[str] = set()
    for name in graph.op_nodes():
        node = spec.nodes[name]
        if any(ref.node in failed for ref in node.inputs):
            failed.add(name)  # report the first failure only, not its consequences
            continue
        try:
            _infer_node(node, shapes, spec.doc)
            dtypes[name] = _infer_dtype(node, dtypes)
        except SpecError as err:
            errors.append(err)
            failed.add(name)
            continue
        shapes[name] = node.meta["shape"]
    for node in spec.nodes.values():
        if node.share is not None and not {node.id, node.share} & failed:
            err = _share_mismatch(node, spec.nodes[node.share])
            errors += [err] if err else []
    if errors:
        raise SpecErrors(errors)
    for node in spec.nodes.values():
        if node.share is not None:
            node.meta["params"] = node.meta["buffers"] = 0  # counted once, on the node that owns them
        elif "tie" in node.meta:  # its weight is the owner's: counted there (the compiler checks its shape)
            node.meta["params"] = max(0, node.meta["params"] - spec.nodes[node.meta["tie"]].meta["params"])
    return graph


def _share_mismatch(node: Node, target: Node) -> SpecError | None:
    """A node reusing ``target``'s weights must need weights of the same size for its input.

    The parameter count is the torch-free proxy (a Linear on 6 features needs 6·out + out, not
    8·out + out); the compiler compares the exact parameter and buffer shapes.
    """
    if node.meta["params"] == target.meta["params"]:
        return None
    got = " and ".join(fmt_shape(s) for s in node.meta["in_shapes"])
    want = " and ".join(fmt_shape(s) for s in target.meta["in_shapes"])
    return ShapeError(
        f"cannot share weights with {target.id!r}: {node.op} on {got} needs {node.meta['params']:,} parameters, {target.id!r} (on {want}) has {target.meta['params']:,}",
        loc=node.where("share"),
        via=node.via,
        hint="shared layers need inputs with the same number of features/channels",
    )


def _infer_node(node: Node, shapes: Mapping[str, Any], doc: Document) -> None:
    op = get_op(node.op)
    assert op is not None  # expand rejected unknown ops
    in_shapes = [_pick(shapes, ref, node) for ref in node.inputs]
    if any(isinstance(v, Deferred) for v in node.args.values()):
        _resolve_deferred(node, shapes, doc)
    args = op.with_defaults(node.args)
    try:
        out = op.shape(args, in_shapes)
        node.meta["params"] = op.params(args, in_shapes)
        node.meta["buffers"] = op.buffers(args, in_shapes)
        node.meta["macs"] = op.macs(args, in_shapes, out)
    except OpShapeError as exc:
        got = " and ".join(fmt_shape(s) for s in in_shapes) or "no inputs"
        message = exc.message if "got" in exc.message else f"{exc.message}; got {got}"
        raise ShapeError(message, loc=node.loc, via=node.via, hint=exc.hint) from None
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError, OverflowError) as exc:
        raise ShapeError(
            f"{node.op} cannot take inputs {[fmt_shape(s) for s in in_shapes]}: {exc}",
            loc=node.loc,
            via=node.via,
        ) from None
    node.meta["in_shapes"] = in_shapes
    node.meta["shape"] = out


def _resolve_deferred(node: Node, shapes: Mapping[str, Any], doc: Document) -> None:
    """Evaluate the arguments that read inferred shapes (``${channels(x)}``), then check them."""

    def shape_of(ref: Ref) -> Shape:
        if ref.node not in shapes:
            raise ExprError(
                f"the shape of {str(ref)!r} is not known before this node",
                hint="read a node that comes before it",
            )
        return _pick(shapes, ref, node)

    for key, value in list(node.args.items()):
        if isinstance(value, Deferred):
            try:
                node.args[key] = evaluate_deferred(value, shape_of)
            except ExprError as exc:
                raise ShapeError(exc.message, loc=value.loc, via=node.via, hint=exc.hint) from None
    errors = op_arg_errors(doc, [node])
    if errors:
        raise errors[0]


_FLOATS = ("float32", "float64", "float16", "bfloat16")


def _infer_dtype(node: Node, dtypes: Mapping[str, str]) -> str:
    """The element type a node produces, after checking it can take what it is given."""
    op = get_op(node.op)
    assert op is not None
    given = [(ref, dtypes.get(ref.node, "float32")) for ref in node.inputs]
    if op.dtypes == "free":  # reads no values: a parameter or a buffer of its declared dtype
        node.meta["dtype"] = str(node.args.get("dtype", "float32"))
    elif op.dtypes == "index":
        ref, dtype = given[0]
        if dtype in _FLOATS:
            raise ShapeError(
                f"{node.op} needs integer indices, got {dtype} from {str(ref)!r}",
                loc=node.loc,
                via=node.via,
                hint="declare the input with dtype: int64",
            )
        node.meta["dtype"] = "float32"
    elif op.dtypes == "float":
        for ref, dtype in given:
            if dtype not in _FLOATS:
                raise ShapeError(
                    f"{node.op} needs floating-point values, got {dtype} from {str(ref)!r}",
                    loc=node.loc,
                    via=node.via,
                    hint="embed integer indices with op: embedding, or declare the input with dtype: float32",
                )
        node.meta["dtype"] = given[0][1] if given else "float32"
    else:
        floats = [d for _, d in given if d in _FLOATS]
        node.meta["dtype"] = floats[0] if floats else (given[0][1] if given else "float32")
    return node.meta["dtype"]


def _pick(shapes: Mapping[str, Any], ref: Ref, node: Node) -> Shape:
    value = shapes[ref.node]
    if isinstance(value, dict):
        if ref.output is None:
            raise ShapeError(
                f"{ref.node!r} has several outputs; name one",
                loc=node.where("in"),
                via=node.via,
                hint=f"one of: {', '.join(f'{ref.node}.{k}' for k in value)}",
            )
        return value[ref.output]
    return value


def output_shape(graph: Graph, ref: Ref) -> Shape:
    """The per-sample shape a reference denotes (after :func:`infer_shapes`)."""
    spec = graph.spec
    if ref.node in spec.inputs:
        return spec.inputs[ref.node].shape
    shape = spec.nodes[ref.node].meta["shape"]
    return shape[ref.output] if isinstance(shape, dict) else shape


def totals(graph: Graph) -> dict[str, int]:
    """Whole-network counts: ``params`` (all parameters), ``buffers`` (elements of saved, untrained
    tensors such as batch-norm running statistics) and ``macs`` per sample."""
    nodes = graph.spec.nodes.values()
    return {
        "params": sum(n.meta.get("params", 0) for n in nodes),
        "buffers": sum(n.meta.get("buffers", 0) for n in nodes),
        "macs": sum(n.meta.get("macs", 0) for n in nodes),
    }


def check_expect(graph: Graph) -> Graph:
    """Check the spec's ``expect:`` contracts (parameter and MAC budgets, output shapes)."""
    spec = graph.spec
    expect = spec.expect
    if not expect:
        return graph
    sums = totals(graph)
    errors: list[SpecError] = []
    for key in ("params", "macs"):
        for bound, value in (expect.get(key) or {}).items():
            actual = sums[key]
            broken = (
                (bound == "max" and actual > value)
                or (bound == "min" and actual < value)
                or (bound == "equals" and actual != value)
            )
            if broken:
                word = {"max": "at most", "min": "at least", "equals": "exactly"}[bound]
                errors.append(
                    ContractError(
                        f"expected {word} {value:,.0f} {key}, the model has {actual:,}",
                        loc=spec.doc.loc(("expect", key, bound)),
                    )
                )
    for name, want in (expect.get("outputs") or {}).items():
        loc = spec.doc.loc(("expect", "outputs", name))
        if name not in spec.outputs:
            errors.append(ContractError(f"no output named {name!r}", loc=loc))
            continue
        got = output_shape(graph, spec.outputs[name].ref)
        if tuple(want) != tuple(got):
            errors.append(
                ContractError(
                    f"output {name!r} should have shape {fmt_shape(want)}, got {fmt_shape(got)}", loc=loc
                )
            )
    if errors:
        raise SpecErrors(errors)
    return graph
