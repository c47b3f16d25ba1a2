"""Tensor operations: reshaping, merging (concat, add, ...), reductions, split/chunk, pad, crop.

Dims follow PyTorch, counting the batch as dim 0 (``concat`` over channels is ``dim: 1``); a dim
that names the batch is an error, since every op here works per sample.
"""

from __future__ import annotations

from archspec.ops._common import (
    BOOL,
    INT,
    NAME,
    NUMBER,
    POS_INT,
    dims_list,
    enum,
    list_of,
    need_rank,
    nullable,
    prod,
    torch_dims,
)
from archspec.ops.base import Arg, Call, OpDef, OpShapeError, Recipe, fmt_shape, sample_dim

_DIM_DOC = "dimension, PyTorch convention (batch is 0)"
_DIMS = nullable({"anyOf": [INT, list_of(INT, min_items=1)]})


def _insert_dim(op: str, dim: int, rank: int) -> int:
    """Where a new dim goes (``unsqueeze``/``stack``): a per-sample index in ``0..rank``."""
    full = rank + 2
    if not -full <= dim < full:
        raise OpShapeError(f"{op} dim {dim} is out of range for a result of rank {full}")
    if dim % full == 0:
        raise OpShapeError(f"{op} dim 0 is the batch dimension", hint="dims count the batch as 0")
    return dim % full - 1


# --- flatten / reshape / permute / transpose / squeeze / unsqueeze ---


def _flatten_shape(args, shapes):
    (x,) = shapes
    s = sample_dim(args["start_dim"], len(x), what="start_dim")
    e = sample_dim(args["end_dim"], len(x), what="end_dim")
    if s > e:
        raise OpShapeError(f"flatten start_dim {args['start_dim']} comes after end_dim {args['end_dim']}")
    return (*x[:s], prod(x[s : e + 1]), *x[e + 1 :])


def _flatten_recipe(args, shapes):
    import torch

    return Call(torch.flatten, kwargs={"start_dim": args["start_dim"], "end_dim": args["end_dim"]})


FLATTEN = OpDef(
    name="flatten",
    family="shape",
    doc="Merge dims start_dim..end_dim into one (torch.flatten); the default turns [C, H, W] into [C*H*W].",
    args={
        "start_dim": Arg(INT, 1, "first dim to merge (batch is 0)"),
        "end_dim": Arg(INT, -1, "last dim to merge"),
    },
    inputs=1,
    shape=_flatten_shape,
    recipe=_flatten_recipe,
)


def _reshape_shape(args, shapes):
    (x,) = shapes
    target = list(args["shape"])
    if any(s == 0 or s < -1 for s in target) or target.count(-1) > 1:
        raise OpShapeError(f"reshape shape {target} may hold positive sizes and at most one -1")
    total, known = prod(x), prod(s for s in target if s != -1)
    if total % known if -1 in target else total != known:
        raise OpShapeError(
            f"reshape cannot fit {fmt_shape(x)} ({total} values per sample) into {fmt_shape(target)}",
            hint="the sizes must multiply to the same number of values",
        )
    return tuple(total // known if s == -1 else s for s in target)


def _reshape_recipe(args, shapes):
    from archspec.ops.modules import Reshape

    return Recipe(Reshape, {"shape": list(args["shape"])})


RESHAPE = OpDef(
    name="reshape",
    family="shape",
    doc="Reshape each sample to `shape` (per sample, without the batch; one entry may be -1). Module Reshape.",
    args={
        "shape": Arg(list_of({"type": "integer", "minimum": -1, "not": {"const": 0}}), doc="per-sample shape")
    },
    inputs=1,
    shape=_reshape_shape,
    recipe=_reshape_recipe,
    key_args=("shape",),
)


def _permute_shape(args, shapes):
    (x,) = shapes
    full = len(x) + 1
    dims = args["dims"]
    norm = [d % full if -full <= d < full else None for d in dims]
    if len(dims) != full or sorted(d for d in norm if d is not None) != list(range(full)):
        raise OpShapeError(
            f"permute needs a permutation of 0..{full - 1} for {fmt_shape(x)}, got {list(dims)}"
        )
    if norm[0] != 0:
        raise OpShapeError(f"permute dims must start with 0 (the batch stays first), got {list(dims)}")
    return tuple(x[d - 1] for d in norm[1:])


def _permute_recipe(args, shapes):
    import torch

    return Call(torch.permute, kwargs={"dims": list(args["dims"])})


PERMUTE = OpDef(
    name="permute",
    family="shape",
    doc=(
        "Reorder dims (torch.permute). `dims` lists every dim of the batched tensor in PyTorch "
        "convention and must start with 0: [0, 2, 3, 1] turns [C, H, W] into [H, W, C]."
    ),
    args={"dims": Arg(list_of(INT, min_items=2), doc="new order of all dims, batch (0) first")},
    inputs=1,
    shape=_permute_shape,
    recipe=_permute_recipe,
    key_args=("dims",),
)


def _transpose_shape(args, shapes):
    (x,) = shapes
    a = sample_dim(args["dim0"], len(x), what="dim0")
    b = sample_dim(args["dim1"], len(x), what="dim1")
    out = list(x)
    out[a], out[b] = x[b], x[a]
    return tuple(out)


def _transpose_recipe(args, shapes):
    import torch

    return Call(torch.transpose, kwargs={"dim0": args["dim0"], "dim1": args["dim1"]})


TRANSPOSE = OpDef(
    name="transpose",
    family="shape",
    doc="Swap two dims (torch.transpose); dims count the batch as 0, so [T, F] -> [F, T] is dim0: 1, dim1: 2.",
    args={"dim0": Arg(INT, doc=_DIM_DOC), "dim1": Arg(INT, doc=_DIM_DOC)},
    inputs=1,
    shape=_transpose_shape,
    recipe=_transpose_recipe,
    key_args=("dim0", "dim1"),
)


def _squeezed(args, x):
    return [d for d in dims_list(args["dim"], len(x)) if x[d] == 1]


def _squeeze_shape(args, shapes):
    (x,) = shapes
    drop = _squeezed(args, x)
    return tuple(s for i, s in enumerate(x) if i not in drop)


def _squeeze_recipe(args, shapes):
    import torch

    return Call(torch.squeeze, kwargs={"dim": torch_dims(_squeezed(args, shapes[0]))})


SQUEEZE = OpDef(
    name="squeeze",
    family="shape",
    doc=(
        "Remove size-1 dims (torch.squeeze): the given dim(s), or every size-1 dim of the sample "
        "when dim is null. As in PyTorch, a named dim whose size is not 1 is kept; the batch is never squeezed."
    ),
    args={"dim": Arg(_DIMS, None, "dim or dims to remove (batch is 0); null: every size-1 dim")},
    inputs=1,
    shape=_squeeze_shape,
    recipe=_squeeze_recipe,
    key_args=("dim",),
)


def _unsqueeze_shape(args, shapes):
    (x,) = shapes
    d = _insert_dim("unsqueeze", args["dim"], len(x))
    return (*x[:d], 1, *x[d:])


def _unsqueeze_recipe(args, shapes):
    import torch

    return Call(torch.unsqueeze, kwargs={"dim": args["dim"]})


UNSQUEEZE = OpDef(
    name="unsqueeze",
    family="shape",
    doc="Insert a size-1 dim at `dim` (torch.unsqueeze); dim 1 turns [L] into [1, L], dim -1 appends one.",
    args={"dim": Arg(INT, doc="position of the new dim in the result (batch is 0)")},
    inputs=1,
    shape=_unsqueeze_shape,
    recipe=_unsqueeze_recipe,
    key_args=("dim",),
)


# --- merging: concat / stack / add / multiply / subtract ---


def _same_rank(op: str, shapes, hint: str | None = None) -> None:
    for s in shapes[1:]:
        if len(s) != len(shapes[0]):
            raise OpShapeError(
                f"{op} needs inputs of equal rank, got {fmt_shape(shapes[0])} and {fmt_shape(s)}", hint
            )


def _concat_shape(args, shapes):
    _same_rank(
        "concat",
        shapes,
        hint="flatten first: put {op: flatten} after the input of higher rank, so both are [N, features]",
    )
    first = shapes[0]
    d = sample_dim(args["dim"], len(first))
    for s in shapes[1:]:
        bad = [i for i in range(len(first)) if i != d and s[i] != first[i]]
        if bad:
            hint = "crop the skip with op: crop_to" if d == 0 and len(first) > 1 else None
            raise OpShapeError(
                f"concat needs equal sizes except on dim {args['dim']}, got {fmt_shape(first)} and {fmt_shape(s)}",
                hint,
            )
    return (*first[:d], sum(s[d] for s in shapes), *first[d + 1 :])


def _concat_recipe(args, shapes):
    import torch

    return Call(torch.cat, kwargs={"dim": args["dim"]}, list_input=True)


CONCAT = OpDef(
    name="concat",
    family="merge",
    doc="Join 2+ inputs along `dim` (torch.cat); default dim 1, the channels. Other sizes must match.",
    args={"dim": Arg(INT, 1, _DIM_DOC)},
    inputs=(2, None),
    shape=_concat_shape,
    recipe=_concat_recipe,
    key_args=("dim",),
)


def _stack_shape(args, shapes):
    for s in shapes[1:]:
        if s != shapes[0]:
            raise OpShapeError(
                f"stack needs inputs of equal shape, got {fmt_shape(shapes[0])} and {fmt_shape(s)}"
            )
    x = shapes[0]
    d = _insert_dim("stack", args["dim"], len(x))
    return (*x[:d], len(shapes), *x[d:])


def _stack_recipe(args, shapes):
    import torch

    return Call(torch.stack, kwargs={"dim": args["dim"]}, list_input=True)


STACK = OpDef(
    name="stack",
    family="merge",
    doc="Stack 2+ equal-shaped inputs along a new dim (torch.stack); dim 1 turns k inputs [F] into [k, F].",
    args={"dim": Arg(INT, 1, "position of the new dim in the result (batch is 0)")},
    inputs=(2, None),
    shape=_stack_shape,
    recipe=_stack_recipe,
    key_args=("dim",),
)


def _broadcast(op: str, shapes) -> tuple[int, ...]:
    _same_rank(op, shapes, hint="unsqueeze the smaller input (op: unsqueeze) to give it size-1 dims")
    out = list(shapes[0])
    for s in shapes[1:]:
        for i, (a, b) in enumerate(zip(out, s, strict=True)):
            if a != b and 1 not in (a, b):
                raise OpShapeError(
                    f"{op} cannot broadcast {fmt_shape(shapes[0])} with {fmt_shape(s)}: sizes {a} and {b} on dim {i + 1}"
                )
            out[i] = max(a, b)
    return tuple(out)


_VALUE_DOC = "a constant operand: with it the op takes one input, x {sym} value"


def _elementwise_shape(name: str, many: bool):
    def shape(args, shapes):
        if args["value"] is not None:
            if len(shapes) != 1:
                raise OpShapeError(
                    f"{name} with value: takes one input, got {len(shapes)}",
                    hint="drop value: to combine the inputs, or give one input",
                )
            return shapes[0]
        if len(shapes) < 2 or (not many and len(shapes) > 2):
            want = "2 or more inputs" if many else "2 inputs"
            raise OpShapeError(
                f"{name} takes {want}, or one input and value:, got {len(shapes)}",
                hint="list them with in: [a, b], or add value: 0.5",
            )
        return _broadcast(name, shapes)

    return shape


def _make_elementwise(name: str, fn_name: str, many: str | None, what: str, sym: str) -> OpDef:
    def recipe(args, shapes):
        import torch

        from archspec.ops import modules

        if args["value"] is not None:
            return Call(getattr(torch, fn_name), extra=(args["value"],))
        if len(shapes) == 2 or many is None:
            return Call(getattr(torch, fn_name))
        return Call(getattr(modules, many), list_input=True)

    return OpDef(
        name=name,
        family="merge",
        doc=(
            f"{what}, broadcasting size-1 dims like PyTorch; the inputs must have the same rank. "
            + ("2 inputs: torch." + fn_name + (f"; 3+: {many} (archspec.ops.modules)" if many else ""))
            + f". With `value:` one input and a constant: x {sym} value."
        ),
        args={"value": Arg(nullable(NUMBER), None, _VALUE_DOC.format(sym=sym))},
        inputs=(1, None) if many else (1, 2),
        shape=_elementwise_shape(name, many is not None),
        recipe=recipe,
        key_args=("value",),
    )


def _make_unary(name: str, fn_name: str, what: str, args: dict[str, Arg] | None = None) -> OpDef:
    """An elementwise function of one input, shape unchanged: ``torch.<fn_name>(x, **args)``."""
    args = args or {}

    def recipe(a, shapes):
        import torch

        return Call(getattr(torch, fn_name), kwargs={k: a[k] for k in args})

    return OpDef(
        name=name,
        family="activation",
        doc=f"{what} (torch.{fn_name}); elementwise, shape unchanged.",
        args=args,
        inputs=1,
        shape=lambda a, shapes: shapes[0],
        recipe=recipe,
        key_args=tuple(args),
    )


def _clamp_shape(args, shapes):
    if args["min"] is None and args["max"] is None:
        raise OpShapeError("clamp needs min:, max: or both")
    return shapes[0]


CLAMP = OpDef(
    name="clamp",
    family="activation",
    doc="Limit values to [min, max] (torch.clamp); either bound may be left out. Shape unchanged.",
    args={
        "min": Arg(nullable(NUMBER), None, "lower bound (null: none)"),
        "max": Arg(nullable(NUMBER), None, "upper bound (null: none)"),
    },
    inputs=1,
    shape=_clamp_shape,
    recipe=lambda a, shapes: _clamp_recipe(a),
    key_args=("min", "max"),
)


def _clamp_recipe(args):
    import torch

    return Call(torch.clamp, kwargs={"min": args["min"], "max": args["max"]})


# --- reductions ---


def _make_reduction(name: str, what: str) -> OpDef:
    def shape(args, shapes):
        (x,) = shapes
        need_rank(name, x, 1)
        dims = dims_list(args["dim"], len(x))
        if args["keepdim"]:
            return tuple(1 if i in dims else s for i, s in enumerate(x))
        return tuple(s for i, s in enumerate(x) if i not in dims)

    def recipe(args, shapes):
        import torch

        dims = torch_dims(dims_list(args["dim"], len(shapes[0])))
        return Call(getattr(torch, name), kwargs={"dim": dims, "keepdim": args["keepdim"]})

    return OpDef(
        name=name,
        family="shape",
        doc=f"{what} over `dim` (torch.{name}): an int or list (batch is 0); null means every per-sample dim.",
        args={
            "dim": Arg(_DIMS, None, "dim or dims to reduce; null: all but the batch"),
            "keepdim": Arg(BOOL, False, "keep reduced dims as size 1"),
        },
        inputs=1,
        shape=shape,
        recipe=recipe,
        key_args=("dim",),
    )


# --- split / chunk ---

_NAMES = Arg({**list_of(NAME, min_items=1), "uniqueItems": True}, doc="names of the outputs, in order")


def _split_shape(args, shapes):
    (x,) = shapes
    d = sample_dim(args["dim"], len(x))
    sizes, names = args["sizes"], args["names"]
    if len(sizes) != len(names):
        raise OpShapeError(f"split has {len(sizes)} sizes but {len(names)} names")
    if sum(sizes) != x[d]:
        raise OpShapeError(
            f"split sizes {list(sizes)} add up to {sum(sizes)}, but dim {args['dim']} of {fmt_shape(x)} has size {x[d]}"
        )
    return {n: (*x[:d], s, *x[d + 1 :]) for n, s in zip(names, sizes, strict=True)}


def _split_recipe(args, shapes):
    import torch

    return Call(torch.split, extra=(list(args["sizes"]),), kwargs={"dim": args["dim"]})


SPLIT = OpDef(
    name="split",
    family="shape",
    doc="Cut `dim` into pieces of the given `sizes` (torch.split), one named output each: refer to them as node.name.",
    args={
        "sizes": Arg(list_of(POS_INT, min_items=1), doc="size of each piece"),
        "names": _NAMES,
        "dim": Arg(INT, 1, _DIM_DOC),
    },
    inputs=1,
    shape=_split_shape,
    recipe=_split_recipe,
    outputs=lambda args: tuple(args["names"]),
    key_args=("sizes", "dim"),
)


def _chunk_sizes(args, x):
    d = sample_dim(args["dim"], len(x))
    n = len(args["names"]) if args["chunks"] is None else args["chunks"]
    if n != len(args["names"]):
        raise OpShapeError(f"chunk makes {n} chunks but has {len(args['names'])} names")
    size = x[d]
    step = -(-size // n)
    got = -(-size // step)
    if got != n:
        raise OpShapeError(
            f"chunk cannot cut size {size} on dim {args['dim']} into {n} chunks (torch.chunk gives {got})",
            hint="use op: split with explicit sizes",
        )
    return d, [step] * (n - 1) + [size - step * (n - 1)]


def _chunk_shape(args, shapes):
    (x,) = shapes
    d, sizes = _chunk_sizes(args, x)
    return {n: (*x[:d], s, *x[d + 1 :]) for n, s in zip(args["names"], sizes, strict=True)}


def _chunk_recipe(args, shapes):
    import torch

    n = len(args["names"]) if args["chunks"] is None else args["chunks"]
    return Call(torch.chunk, kwargs={"chunks": n, "dim": args["dim"]})


CHUNK = OpDef(
    name="chunk",
    family="shape",
    doc=(
        "Cut `dim` into `chunks` near-equal pieces (torch.chunk; the last may be smaller), one named "
        "output each. chunks defaults to the number of names."
    ),
    args={
        "chunks": Arg(nullable(POS_INT), None, "number of pieces; default len(names)"),
        "names": _NAMES,
        "dim": Arg(INT, 1, _DIM_DOC),
    },
    inputs=1,
    shape=_chunk_shape,
    recipe=_chunk_recipe,
    outputs=lambda args: tuple(args["names"]),
    key_args=("chunks", "dim"),
)


# --- select / slice ---


def _select_shape(args, shapes):
    (x,) = shapes
    d = sample_dim(args["dim"], len(x))
    if not -x[d] <= args["index"] < x[d]:
        raise OpShapeError(
            f"select index {args['index']} is out of range for size {x[d]} of dim {args['dim']}"
        )
    return (*x[:d], *x[d + 1 :])


def _select_recipe(args, shapes):
    import torch

    return Call(torch.select, kwargs={"dim": args["dim"], "index": args["index"]})


SELECT = OpDef(
    name="select",
    family="shape",
    doc=(
        "Take one position of `dim` and drop that dim (torch.select, x[:, index]): token 0 of a "
        "[T, D] sequence is dim: 1, index: 0, giving [D]. Negative indices count from the end."
    ),
    args={
        "dim": Arg(INT, doc=_DIM_DOC),
        "index": Arg(INT, doc="position on dim; negative counts from the end"),
    },
    inputs=1,
    shape=_select_shape,
    recipe=_select_recipe,
    key_args=("dim", "index"),
)


def _slice_range(args, x) -> tuple[int, range]:
    d = sample_dim(args["dim"], len(x))
    picked = range(x[d])[slice(args["start"], args["end"], args["step"])]
    if not picked:
        text = ":".join("" if v is None else str(v) for v in (args["start"], args["end"]))
        text += f":{args['step']}" if args["step"] != 1 else ""
        raise OpShapeError(f"slice [{text}] of size {x[d]} on dim {args['dim']} is empty")
    return d, picked


def _slice_shape(args, shapes):
    (x,) = shapes
    d, picked = _slice_range(args, x)
    return (*x[:d], len(picked), *x[d + 1 :])


def _slice_recipe(args, shapes):
    import torch

    from archspec.ops.modules import slice_dim

    start, end, step = args["start"], args["end"], args["step"]
    d, picked = _slice_range(args, shapes[0])
    if step == 1 and all(isinstance(v, int) and v >= 0 for v in (start, end)):
        return Call(torch.narrow, kwargs={"dim": args["dim"], "start": start, "length": len(picked)})
    d += 1
    return Call(slice_dim, extra=(d, start, end, step))


SLICE = OpDef(
    name="slice",
    family="shape",
    doc=(
        "Keep positions start:end:step of `dim` (Python slice rules, x[:, start:end]): channels "
        "8..15 are dim: 1, start: 8, end: 16. start/end may be negative or null (the ends)."
    ),
    args={
        "dim": Arg(INT, doc=_DIM_DOC),
        "start": Arg(nullable(INT), None, "first position (null: 0)"),
        "end": Arg(nullable(INT), None, "position after the last (null: the end)"),
        "step": Arg(POS_INT, 1, "stride"),
    },
    inputs=1,
    shape=_slice_shape,
    recipe=_slice_recipe,
    key_args=("dim", "start", "end"),
)


# --- pad / crop_to ---


def _pad_shape(args, shapes):
    (x,) = shapes
    pad, mode = list(args["pad"]), args["mode"]
    k = len(pad) // 2
    if len(pad) % 2:
        raise OpShapeError(f"pad needs (before, after) pairs, last dim first, got {len(pad)} values")
    if k > len(x):
        raise OpShapeError(
            f"pad has {k} (before, after) pairs but {fmt_shape(x)} has only {len(x)} per-sample dims"
        )
    if mode != "constant" and (k > 3 or len(x) not in (k, k + 1)):
        raise OpShapeError(
            f"pad mode '{mode}' with {k} pair(s) needs a per-sample rank of {k} or {k + 1}, got {fmt_shape(x)}"
            if k <= 3
            else f"pad mode '{mode}' pads at most 3 dims, got {k} pairs"
        )
    out = list(x)
    for i in range(k):
        lo, hi = pad[2 * i], pad[2 * i + 1]
        d = len(x) - 1 - i
        if mode == "reflect" and max(lo, hi) >= x[d]:
            raise OpShapeError(
                f"pad mode 'reflect' needs pads smaller than the size {x[d]} of dim {d + 1}, got ({lo}, {hi})"
            )
        if mode == "circular" and max(lo, hi) > x[d]:
            raise OpShapeError(
                f"pad mode 'circular' needs pads at most the size {x[d]} of dim {d + 1}, got ({lo}, {hi})"
            )
        out[d] = x[d] + lo + hi
        if x[d] + min(lo, 0) + min(hi, 0) < 0:  # torch crops negative pads off the input first
            raise OpShapeError(f"pad ({lo}, {hi}) crops more than the size {x[d]} of dim {d + 1}")
        if out[d] < 1:
            raise OpShapeError(f"pad ({lo}, {hi}) leaves nothing of dim {d + 1} of {fmt_shape(x)}")
    return tuple(out)


def _pad_recipe(args, shapes):
    from torch.nn import functional

    kwargs = {"pad": list(args["pad"]), "mode": args["mode"]}
    if args["mode"] == "constant":
        kwargs["value"] = float(args["value"])
    return Call(functional.pad, kwargs=kwargs)


PAD = OpDef(
    name="pad",
    family="shape",
    doc=(
        "Pad the last dims (torch.nn.functional.pad): `pad` is (before, after) pairs, last dim first, "
        "as in F.pad; negative values crop (constant mode). reflect/replicate/circular pad 1-3 dims."
    ),
    args={
        "pad": Arg(list_of(INT, min_items=2), doc="[left, right, top, bottom, ...]: last dim first"),
        "mode": Arg(
            enum("constant", "reflect", "replicate", "circular"), "constant", "how the border is filled"
        ),
        "value": Arg(NUMBER, 0.0, "fill value for constant mode"),
    },
    inputs=1,
    shape=_pad_shape,
    recipe=_pad_recipe,
    key_args=("pad", "mode"),
)


def _crop_starts(shapes):
    x, ref = shapes
    need_rank("crop_to", x, 2, what="a [N, C, *spatial] input")
    _same_rank("crop_to", shapes)
    if any(a < b for a, b in zip(x[1:], ref[1:], strict=True)):
        raise OpShapeError(
            f"crop_to cannot crop {fmt_shape(x)} to the larger spatial size of {fmt_shape(ref)}",
            hint="swap the inputs, or pad with op: pad",
        )
    return [(a - b) // 2 for a, b in zip(x[1:], ref[1:], strict=True)]


def _crop_shape(args, shapes):
    _crop_starts(shapes)
    return (shapes[0][0], *shapes[1][1:])


def _crop_recipe(args, shapes):
    from archspec.ops.modules import CropTo

    return Recipe(CropTo, {"start": _crop_starts(shapes), "size": list(shapes[1][1:])})


CROP_TO = OpDef(
    name="crop_to",
    family="shape",
    doc=(
        "Crop input 0 centrally to the spatial size (every dim after the channels) of input 1, "
        "keeping input 0's channels: U-Net copy-and-crop. Module CropTo; input 1's values are unused."
    ),
    args={},
    inputs=2,
    shape=_crop_shape,
    recipe=_crop_recipe,
)


OPS: list[OpDef] = [
    FLATTEN,
    RESHAPE,
    PERMUTE,
    TRANSPOSE,
    SQUEEZE,
    UNSQUEEZE,
    CONCAT,
    STACK,
    _make_elementwise("add", "add", "add_n", "Elementwise sum of 2+ inputs", "+"),
    _make_elementwise("multiply", "mul", "mul_n", "Elementwise product of 2+ inputs", "*"),
    _make_elementwise("subtract", "sub", None, "Input 0 minus input 1, elementwise", "-"),
    _make_elementwise("divide", "div", None, "Input 0 divided by input 1, elementwise", "/"),
    _make_elementwise("pow", "pow", None, "Input 0 to the power of input 1, elementwise", "**"),
    _make_unary("exp", "exp", "e to the power x"),
    _make_unary("sqrt", "sqrt", "Square root"),
    _make_unary("log", "log", "Natural logarithm"),
    _make_unary("abs", "abs", "Absolute value"),
    CLAMP,
    _make_reduction("mean", "Mean"),
    _make_reduction("sum", "Sum"),
    SPLIT,
    CHUNK,
    SELECT,
    SLICE,
    PAD,
    CROP_TO,
]
