"""Every op's plain-Python shape rule and parameter count agree with PyTorch on the meta device.

For random (mostly valid) arguments and input shapes: when the rule gives a shape, building the
op and running it on meta tensors gives the same per-sample shape and the same trainable
parameter count, and the op's recipe is one ``--emit-python`` can write (a torch.nn or
archspec class and plain keyword arguments); when the rule raises OpShapeError, torch fails too. The generators avoid the
cases where a rule is deliberately stricter than torch (torch reading a too-small input as
"unbatched", a dim that names the batch, inputs of unequal rank broadcast across the batch,
attention given both causal: true and a mask).
"""

from __future__ import annotations

import inspect
import os
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archspec.ops import CATALOGUE, Call, OpShapeError, Recipe

torch = pytest.importorskip("torch")

# OPS_EXAMPLES=1000 for a deeper search than the default, CI-sized run
SETTINGS = settings(
    max_examples=int(os.environ.get("OPS_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

sizes = st.integers(1, 8)


def shape_of(rank: int, lo: int = 1, hi: int = 8):
    return st.lists(st.integers(lo, hi), min_size=rank, max_size=rank).map(tuple)


def int_or_list(n: int, lo: int, hi: int):
    return st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=n, max_size=n))


def sample_dims(rank: int):
    """A non-batch dim of a ``rank``-dim sample, positive or negative (PyTorch convention)."""
    return st.integers(1, rank).flatmap(lambda d: st.sampled_from([d, d - rank - 1]))


# --- case generators: each draws (user args, input shapes) ---


@st.composite
def any_shape(draw, lo_rank=0, hi_rank=3):
    return draw(shape_of(draw(st.integers(lo_rank, hi_rank))))


def spatial_shape(draw, n, wrong=(-1, 2), lo=1, hi=10):
    """Mostly a [C, *n spatial] shape; sometimes a rank torch also rejects (n + each of ``wrong``)."""
    rank = draw(st.sampled_from([n + 1] * 6 + [n + w for w in wrong]))
    return (draw(st.integers(1, 6)), *draw(shape_of(rank - 1, lo, hi))) if rank else ()


@st.composite
def linear_case(draw):
    return {"out_features": draw(sizes), "bias": draw(st.booleans())}, [draw(any_shape())]


@st.composite
def bilinear_case(draw):
    lead = draw(shape_of(draw(st.integers(0, 2))))
    lead2 = draw(st.sampled_from([lead, lead + (2,)])) if lead else lead
    a, b = (*lead, draw(sizes)), (*lead2, draw(sizes))
    return {"out_features": draw(sizes), "bias": draw(st.booleans())}, [a, b]


@st.composite
def embedding_case(draw):
    n = draw(st.integers(1, 10))
    pad = draw(st.one_of(st.none(), st.integers(-12, 12)))
    args = {"num_embeddings": n, "embedding_dim": draw(sizes), "padding_idx": pad}
    return args, [draw(any_shape())]


@st.composite
def rbf_case(draw):
    args = {
        "centers": draw(sizes),
        "gamma": 0.5,
        "learnable": draw(st.booleans()),
        "seed": draw(st.integers(0, 3)),
    }
    return args, [draw(any_shape(0, 2))]


_HI = {1: 10, 2: 7, 3: 5}  # spatial sizes: small enough to run on the CPU, large enough to fit kernels


def _padding(draw, n):
    return draw(st.one_of(int_or_list(n, 0, 3), st.sampled_from(["same", "valid"])))


@st.composite
def conv_case(draw, n):
    groups = draw(st.sampled_from([1, 1, 1, 1, 2, 3]))
    args = {
        "out_channels": draw(st.integers(1, 6)),
        "kernel_size": draw(int_or_list(n, 1, 5 - n // 2)),
        "stride": draw(st.one_of(st.just(1), int_or_list(n, 1, 3))),
        "padding": _padding(draw, n),
        "dilation": draw(st.one_of(st.just(1), int_or_list(n, 1, 2))),
        "groups": groups,
        "bias": draw(st.booleans()),
        "padding_mode": draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"])),
    }
    return args, [spatial_shape(draw, n, hi=_HI[n])]


@st.composite
def conv_transpose_case(draw, n):
    args = {
        "out_channels": draw(st.integers(1, 6)),
        "kernel_size": draw(int_or_list(n, 1, 4)),
        "stride": draw(int_or_list(n, 1, 3)),
        "padding": draw(int_or_list(n, 0, 3)),
        "output_padding": draw(st.one_of(st.just(0), int_or_list(n, 0, 2))),
        "dilation": draw(st.one_of(st.just(1), int_or_list(n, 1, 2))),
        "groups": draw(st.sampled_from([1, 1, 2])),
        "bias": draw(st.booleans()),
    }
    return args, [spatial_shape(draw, n, hi=_HI[n])]


@st.composite
def pool_case(draw, kind, n):
    args = {
        "kernel_size": draw(int_or_list(n, 1, 4 - n // 2)),
        "stride": draw(st.one_of(st.none(), int_or_list(n, 1, 3))),
        "padding": draw(st.one_of(st.just(0), int_or_list(n, 0, 2))),
        "ceil_mode": draw(st.booleans()),
    }
    if kind == "max":
        args["dilation"] = draw(st.one_of(st.just(1), int_or_list(n, 1, 2)))
    else:
        args["count_include_pad"] = draw(st.booleans())
    return args, [spatial_shape(draw, n, hi=_HI[n])]


@st.composite
def adaptive_case(draw, n):
    return {"output_size": draw(int_or_list(n, 1, 6))}, [spatial_shape(draw, n, wrong=(-1,))]


@st.composite
def upsample_case(draw):
    x = draw(any_shape(1, 5)) if draw(st.integers(0, 5)) == 0 else draw(any_shape(2, 4))
    n = max(len(x) - 1, 1)
    scale = st.one_of(
        st.sampled_from([0.5, 1, 1.5, 2, 3]), st.lists(st.sampled_from([0.3, 1, 2]), min_size=n, max_size=n)
    )
    size = int_or_list(n, 1, 8)
    use = draw(st.sampled_from(["size", "scale", "scale", "both"]))
    modes = ["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"]
    args = {
        "scale_factor": draw(scale) if use in ("scale", "both") else None,
        "size": draw(size) if use in ("size", "both") else None,
        "mode": draw(
            st.sampled_from(modes + ["nearest", [None, "linear", "bilinear", "trilinear"][min(n, 3)]])
        ),
        "align_corners": draw(st.sampled_from([None, None, None, True, False])),
    }
    return args, [x]


@st.composite
def batchnorm_case(draw, n):
    x = draw(st.one_of(any_shape(1, 2), any_shape(0, 3))) if n == 1 else spatial_shape(draw, n, hi=4)
    return {"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}, [x]


@st.composite
def instancenorm_case(draw, n):
    return {"affine": draw(st.booleans())}, [spatial_shape(draw, n, hi=4)]


@st.composite
def layernorm_case(draw):
    x = draw(any_shape(0, 3))  # dims beyond the sample would reach into the batch: not generated
    args = {"dims": draw(st.integers(1, max(len(x), 1))), "elementwise_affine": draw(st.booleans())}
    return {**args, "bias": draw(st.booleans())}, [x]


@st.composite
def groupnorm_case(draw):
    x = (draw(sizes), *draw(shape_of(draw(st.integers(0, 2)), hi=4)))
    return {"num_groups": draw(st.integers(1, 4)), "affine": draw(st.booleans())}, [x]


@st.composite
def dropout_case(draw, n):
    if n is None:
        return {"p": draw(st.sampled_from([0.0, 0.5, 1.0]))}, [draw(any_shape())]
    return {"p": 0.5}, [spatial_shape(draw, n, wrong=(-1, 2) if n == 1 else (), hi=4)]


@st.composite
def activation_case(draw, name):
    if name in ("softmax", "log_softmax"):
        x = draw(any_shape(1, 3))
        return {"dim": draw(st.one_of(sample_dims(len(x)), st.just(len(x) + 1)))}, [x]
    if name == "clamp":
        bounds = st.one_of(st.none(), st.sampled_from([-1.0, 0.0, 0.5, 6]))
        return {"min": draw(bounds), "max": draw(bounds)}, [draw(any_shape())]
    if name == "prelu":
        per_channel = draw(st.booleans())
        return {"per_channel": per_channel}, [draw(any_shape(1 if per_channel else 0, 3))]
    return {}, [draw(any_shape())]


@st.composite
def flatten_case(draw):
    x = draw(any_shape(0, 4))
    dims = sample_dims(len(x)) if x else st.just(1)
    return {"start_dim": draw(dims), "end_dim": draw(st.one_of(dims, st.just(-1)))}, [x]


@st.composite
def reshape_case(draw):
    target = list(draw(shape_of(draw(st.integers(0, 4)), hi=5)))
    x = draw(
        st.sampled_from([(max(1, _prod(target)),), tuple(reversed(target)) or (1,), draw(any_shape(1, 3))])
    )
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return {"shape": target}, [x]


def _prod(values):
    out = 1
    for v in values:
        out *= v
    return out


@st.composite
def permute_case(draw):
    x = draw(any_shape(1, 4))
    perm = draw(st.permutations(range(1, len(x) + 1)))
    dims = [0] + [draw(st.sampled_from([d, d - len(x) - 1])) for d in perm]
    if draw(st.integers(0, 6)) == 0:
        dims = dims[:-1]
    return {"dims": dims}, [x]


@st.composite
def transpose_case(draw):
    x = draw(any_shape(1, 4))
    return {"dim0": draw(sample_dims(len(x))), "dim1": draw(sample_dims(len(x)))}, [x]


@st.composite
def squeeze_case(draw):
    x = draw(st.lists(st.sampled_from([1, 1, 2, 3]), min_size=1, max_size=4).map(tuple))
    dim = st.one_of(st.none(), sample_dims(len(x)), st.lists(st.integers(1, len(x)), min_size=1, unique=True))
    return {"dim": draw(dim)}, [x]


@st.composite
def unsqueeze_case(draw):
    x = draw(any_shape(0, 3))
    full = len(x) + 2
    return {"dim": draw(st.integers(1, full - 1).flatmap(lambda d: st.sampled_from([d, d - full])))}, [x]


@st.composite
def concat_case(draw):
    base = draw(any_shape(1, 3))
    d = draw(st.integers(0, len(base) - 1))
    shapes = []
    for _ in range(draw(st.integers(2, 3))):
        s = list(base)
        s[d] = draw(sizes)
        if draw(st.integers(0, 5)) == 0:
            i = draw(st.integers(0, len(s) - 1))
            s[i] = draw(sizes)
        shapes.append(tuple(s))
    return {"dim": draw(st.sampled_from([d + 1, d - len(base)]))}, shapes


@st.composite
def stack_case(draw):
    base = draw(any_shape(0, 3))
    shapes = [base] * draw(st.integers(2, 3))
    if base and draw(st.integers(0, 4)) == 0:
        shapes[-1] = (*base[:-1], base[-1] + 1)
    full = len(base) + 2
    return {"dim": draw(st.integers(1, full - 1))}, shapes


@st.composite
def elementwise_case(draw, n_max):
    base = draw(any_shape(0, 3))
    if draw(st.integers(0, 3)) == 0:  # a constant operand: one input
        return {"value": draw(st.sampled_from([0.125, 3, -2.0]))}, [base]
    shapes = []
    for _ in range(draw(st.integers(2, n_max))):
        shapes.append(tuple(draw(st.sampled_from([s, s, 1, s + 1])) for s in base))
    return {}, shapes


@st.composite
def select_case(draw):
    x = draw(any_shape(1, 3))
    return {"dim": draw(sample_dims(len(x))), "index": draw(st.integers(-9, 9))}, [x]


@st.composite
def slice_case(draw):
    x = draw(any_shape(1, 3))
    ends = st.one_of(st.none(), st.integers(-9, 9))
    args = {"dim": draw(sample_dims(len(x))), "start": draw(ends), "end": draw(ends)}
    return {**args, "step": draw(st.integers(1, 3))}, [x]


@st.composite
def matmul_case(draw):
    lead = draw(any_shape(0, 2))
    n, k, m = draw(sizes), draw(sizes), draw(sizes)
    other = tuple(draw(st.sampled_from([s, 1])) for s in lead)
    return {}, [(*lead, n, k), (*other, draw(st.sampled_from([k, k, k + 1])), m)]


@st.composite
def sdpa_case(draw):
    lead = draw(any_shape(0, 2))
    q_len, s_len, e, ev = draw(sizes), draw(sizes), draw(sizes), draw(sizes)
    shapes = [(*lead, q_len, e), (*lead, s_len, e), (*lead, s_len, ev)]
    if draw(st.booleans()):  # a mask; never with causal: true, which the rule refuses on purpose
        shapes.append(tuple(draw(st.sampled_from([d, 1])) for d in (*lead, q_len, s_len)))
        return {}, shapes
    return {"causal": draw(st.booleans())}, shapes


@st.composite
def roll_case(draw):
    x = draw(any_shape(1, 3))
    dims = draw(st.lists(sample_dims(len(x)), min_size=1, max_size=2))
    return {"shifts": [draw(st.integers(-9, 9)) for _ in dims], "dims": dims}, [x]


@st.composite
def buffer_case(draw):
    like = draw(st.lists(any_shape(), max_size=1))
    if draw(st.booleans()):
        return {
            "relative_position_index": [draw(st.integers(1, 3)), draw(st.integers(1, 3))],
            "dtype": "int64",
        }, like
    shape = draw(any_shape(1, 3))
    values = 0.5
    for n in reversed(shape):
        values = [values] * n
    return {"values": values}, like


@st.composite
def index_case(draw):
    x = draw(any_shape(1, 3))
    return {"dim": draw(sample_dims(len(x)))}, [x, draw(any_shape(1, 2))]


@st.composite
def resize_case(draw):
    n = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["nearest", "area", {1: "linear", 2: "bilinear", 3: "trilinear"}[n]]))
    return {"mode": mode}, [draw(shape_of(n + 1)), draw(shape_of(n + 1))]


@st.composite
def reduction_case(draw):
    x = draw(any_shape(1, 4))
    dim = st.one_of(st.none(), sample_dims(len(x)), st.lists(st.integers(1, len(x)), min_size=1, unique=True))
    return {"dim": draw(dim), "keepdim": draw(st.booleans())}, [x]


@st.composite
def split_case(draw):
    x = list(draw(any_shape(1, 3)))
    d = draw(st.integers(0, len(x) - 1))
    split = draw(st.lists(sizes, min_size=1, max_size=4))
    if draw(st.integers(0, 3)):
        x[d] = sum(split)
    names = [f"part{i}" for i in range(len(split))]
    return {"sizes": split, "names": names, "dim": draw(st.sampled_from([d + 1, d - len(x)]))}, [tuple(x)]


@st.composite
def chunk_case(draw):
    x = list(draw(any_shape(1, 3)))
    d = draw(st.integers(0, len(x) - 1))
    x[d] = draw(st.integers(1, 10))
    n = draw(st.integers(1, 5))
    args = {"chunks": draw(st.sampled_from([n, None])), "names": [f"c{i}" for i in range(n)], "dim": d + 1}
    return args, [tuple(x)]


@st.composite
def pad_case(draw):
    x = draw(any_shape(1, 4))
    mode = draw(st.sampled_from(["constant", "constant", "reflect", "replicate", "circular"]))
    k = draw(st.integers(1, min(len(x), 3) if mode == "constant" else 3))
    lo = -2 if mode == "constant" else -1
    pad = draw(st.lists(st.integers(lo, 3), min_size=2 * k, max_size=2 * k))
    return {"pad": pad, "mode": mode, "value": 1.5}, [x]


@st.composite
def crop_case(draw):
    x = draw(any_shape(1, 4))
    ref = tuple([draw(sizes)] + [draw(st.integers(1, s + (draw(st.integers(0, 4)) == 0))) for s in x[1:]])
    return {}, [x, ref]


@st.composite
def rnn_case(draw):
    x = draw(st.sampled_from([2, 2, 2, 3, 0]).flatmap(shape_of))
    args = {
        "hidden_size": draw(st.integers(1, 6)),
        "num_layers": draw(st.integers(1, 2)),
        "bidirectional": draw(st.booleans()),
        "dropout": 0.0,
        "bias": draw(st.booleans()),
        "return": draw(st.sampled_from(["sequence", "last"])),
    }
    return args, [x]


@st.composite
def attention_case(draw):
    heads = draw(st.integers(1, 4))
    e = heads * draw(st.integers(1, 3)) + (draw(st.integers(0, 4)) == 0)
    lq, s = draw(sizes), draw(sizes)
    rank3 = draw(st.integers(0, 6)) == 0
    q = (lq, e) if not rank3 else (2, lq, e)
    args = {"num_heads": heads, "bias": draw(st.booleans())}
    if draw(st.booleans()):
        return args, [q]
    s_v = s if draw(st.integers(0, 5)) else s + 1
    return args, [q, (s, draw(sizes)), (s_v, draw(sizes))]


CASES = {
    "linear": linear_case(),
    "bilinear": bilinear_case(),
    "identity": any_shape().map(lambda x: ({}, [x])),
    "embedding": embedding_case(),
    "rbf": rbf_case(),
    **{f"conv{n}d": conv_case(n) for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": conv_transpose_case(n) for n in (1, 2, 3)},
    **{f"{k}pool{n}d": pool_case(k, n) for k in ("max", "avg") for n in (1, 2, 3)},
    **{f"adaptive_{k}pool{n}d": adaptive_case(n) for k in ("max", "avg") for n in (1, 2, 3)},
    "global_avgpool": any_shape(0, 4).map(lambda x: ({}, [x])),
    "upsample": upsample_case(),
    **{f"batchnorm{n}d": batchnorm_case(n) for n in (1, 2, 3)},
    **{f"instancenorm{n}d": instancenorm_case(n) for n in (1, 2, 3)},
    "layernorm": layernorm_case(),
    "groupnorm": groupnorm_case(),
    "dropout": dropout_case(None),
    **{f"dropout{n}d": dropout_case(n) for n in (1, 2, 3)},
    "flatten": flatten_case(),
    "reshape": reshape_case(),
    "permute": permute_case(),
    "transpose": transpose_case(),
    "squeeze": squeeze_case(),
    "unsqueeze": unsqueeze_case(),
    "concat": concat_case(),
    "stack": stack_case(),
    "add": elementwise_case(4),
    "multiply": elementwise_case(4),
    "subtract": elementwise_case(2),
    "divide": elementwise_case(2),
    "pow": elementwise_case(2),
    "mean": reduction_case(),
    "sum": reduction_case(),
    "split": split_case(),
    "chunk": chunk_case(),
    "select": select_case(),
    "matmul": matmul_case(),
    "scaled_dot_product_attention": sdpa_case(),
    "roll": roll_case(),
    "buffer": buffer_case(),
    "index": index_case(),
    "resize_to": resize_case(),
    "drop_path": any_shape().map(lambda x: ({"p": 0.5}, [x])),
    "parameter": st.tuples(any_shape(1, 3), st.lists(any_shape(), max_size=1)).map(
        lambda c: ({"shape": list(c[0])}, c[1])
    ),
    "channel_layernorm": any_shape(0, 3).map(lambda x: ({}, [x])),
    "slice": slice_case(),
    "pad": pad_case(),
    "crop_to": crop_case(),
    "lstm": rnn_case(),
    "gru": rnn_case(),
    "multihead_attention": attention_case(),
}
for _name, _op in CATALOGUE.items():
    if _op.family == "activation":
        CASES[_name] = activation_case(_name)


# --- the oracle ---


def run_torch(op, args, shapes, device="meta"):
    """Build the op and run it on a batch of 2: (per-sample output shape(s), trainable params).

    Meta tensors skip a few of the checks real kernels make (output_padding of a transposed
    conv), so where the rule raises, the tiny case is run on the CPU for real.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.device(device):
            built = op.build(args, shapes)
        if op.name == "embedding":
            xs = [torch.zeros((2, *s), device=device, dtype=torch.long) for s in shapes]
        else:
            xs = [torch.rand((2, *s), device=device) for s in shapes]
        if op.name == "index":  # input 1 holds integer positions
            xs[1] = torch.zeros((2, *shapes[1]), device=device, dtype=torch.long)
        if isinstance(built, Call):
            inputs = [xs] if built.list_input else xs
            out = built.fn(*inputs, *built.extra, **built.kwargs)
            params = 0
        else:
            built = built.to(device)
            out = built(*xs)
            params = sum(p.numel() for p in built.parameters() if p.requires_grad)
    if op.outputs is not None:
        names = op.outputs(args)
        if len(out) != len(names):
            raise RuntimeError(f"torch gave {len(out)} outputs for {len(names)} names")
        result = {n: tuple(t.shape[1:]) for n, t in zip(names, out, strict=True)}
    else:
        result = tuple(out.shape[1:])
    for shape in result.values() if isinstance(result, dict) else [result]:
        if 0 in shape:
            raise RuntimeError(f"torch gave an empty output {shape}")
    return result, params


def check_case(name, case):
    op = CATALOGUE[name]
    given_args, shapes = case
    args = op.with_defaults(given_args)
    try:
        expected = op.shape(args, shapes)
    except OpShapeError as err:
        try:
            run_torch(op, args, shapes, device="cpu")
        except Exception:  # torch raises RuntimeError, ValueError, ...: the rule was right to refuse
            return
        pytest.fail(f"{name}{args} on {shapes}: rule raised {err.message!r} but torch ran")
    got, params = run_torch(op, args, shapes)
    assert got == expected, f"{name}{args} on {shapes}: rule {expected}, torch {got}"
    assert op.params(args, shapes) == params, f"{name}{args} on {shapes}: params"
    assert op.macs(args, shapes, expected) >= 0
    check_recipe_is_source(op, args, shapes)


def check_recipe_is_source(op, args, shapes):
    """The recipe is what --emit-python writes: a torch.nn or archspec.ops.modules class whose
    constructor takes exactly these keyword arguments, each a plain literal."""
    made = op.recipe(args, shapes)
    if isinstance(made, Call):
        return
    assert isinstance(made, Recipe), f"{op.name}: recipe gave {made!r}"
    cls = made.cls
    assert getattr(torch.nn, cls.__name__, None) is cls or cls.__module__ == "archspec.ops.modules", cls
    inspect.signature(cls).bind(**made.kwargs)  # every key is a constructor parameter
    for key, value in made.kwargs.items():
        assert _literal(value), f"{op.name}: {key}={value!r} is not a plain literal"


def _literal(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_literal(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_shape_rule_and_params_agree_with_torch_meta(name):
    assert name in CASES, f"op {name!r} has no property-test case generator"

    @SETTINGS
    @given(CASES[name])
    def check(case):
        check_case(name, case)

    check()
