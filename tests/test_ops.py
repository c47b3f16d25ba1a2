"""The op catalogue: schemas, documentation, torch-free import, exact messages, custom modules."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import jsonschema
import pytest

from archspec.ops import CATALOGUE, Call, OpShapeError, get_op, suggest_op
from archspec.ops.base import REQUIRED

FAMILIES = {
    "dense", "conv", "pool", "norm", "activation", "dropout", "merge", "shape",
    "recurrent", "attention", "feature", "embedding",
}  # fmt: skip


def shape_error(name: str, args: dict, *shapes: tuple[int, ...]) -> OpShapeError:
    op = CATALOGUE[name]
    with pytest.raises(OpShapeError) as info:
        op.shape(op.with_defaults(args), list(shapes))
    return info.value


def out_shape(name: str, args: dict, *shapes: tuple[int, ...]):
    op = CATALOGUE[name]
    return op.shape(op.with_defaults(args), list(shapes))


# --- the catalogue as data ---


def test_the_core_ops_are_all_registered():
    core = """linear bilinear identity embedding rbf conv1d conv2d conv3d conv_transpose1d conv_transpose2d
    conv_transpose3d maxpool1d maxpool2d maxpool3d avgpool1d avgpool2d avgpool3d adaptive_avgpool1d
    adaptive_avgpool2d adaptive_avgpool3d adaptive_maxpool2d global_avgpool batchnorm1d batchnorm2d
    batchnorm3d layernorm groupnorm instancenorm1d instancenorm2d instancenorm3d dropout dropout2d relu
    leaky_relu prelu elu gelu silu tanh sigmoid softmax log_softmax flatten reshape permute squeeze
    unsqueeze concat add multiply subtract mean sum split chunk pad crop_to upsample lstm gru
    multihead_attention""".split()
    assert [n for n in core if get_op(n) is None] == []


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_op_is_documented_and_has_a_valid_argument_schema(name):
    op = CATALOGUE[name]
    assert op.name == name
    assert op.family in FAMILIES
    assert op.doc.strip() and all(a.doc for a in op.args.values())
    schema = op.args_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    for key, arg in op.args.items():
        if arg.default is not REQUIRED:
            jsonschema.Draft202012Validator(arg.schema).validate(arg.default)
        assert key in schema["properties"]
    assert set(op.key_args) <= set(op.args)
    low, high = op.input_range()
    assert low >= (0 if op.dtypes == "free" else 1) and (
        high is None or high >= low
    )  # a parameter reads none


def test_argument_schemas_reject_what_users_must_not_write():
    validator = jsonschema.Draft202012Validator(CATALOGUE["conv2d"].args_schema())
    assert validator.is_valid({"out_channels": 16, "kernel_size": [3, 5], "padding": "same"})
    assert not validator.is_valid({"out_channels": 16, "kernel_size": 3, "in_channels": 3})
    assert not validator.is_valid({"out_channels": 0, "kernel_size": 3})
    assert not validator.is_valid({"out_channels": 8, "kernel_size": [3, 3, 3]})
    assert not validator.is_valid({"out_channels": 8, "kernel_size": 3, "padding": "full"})
    assert not jsonschema.Draft202012Validator(CATALOGUE["layernorm"].args_schema()).is_valid(
        {"normalized_shape": [16]}
    )


def test_importing_the_catalogue_does_not_import_torch():
    code = (
        "import archspec.ops, sys; assert len(archspec.ops.CATALOGUE) > 50; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_misspelt_op_names_get_a_suggestion():
    assert suggest_op("conv2D") == "did you mean 'conv2d'?"
    assert suggest_op("maxpool") == "did you mean 'maxpool2d'?"


# --- exact messages (they are API) ---


def test_concat_with_mismatched_spatial_sizes_says_so_and_suggests_crop_to():
    err = shape_error("concat", {}, (16, 32, 32), (16, 30, 30))
    assert err.message == "concat needs equal sizes except on dim 1, got [N, 16, 32, 32] and [N, 16, 30, 30]"
    assert err.hint == "crop the skip with op: crop_to"


def test_conv2d_on_a_flat_input_suggests_a_reshape():
    err = shape_error("conv2d", {"out_channels": 8, "kernel_size": 3}, (784,))
    assert err.message == "conv2d needs a [N, C, H, W] input, got [N, 784]"
    assert err.hint == "reshape first, e.g. op: reshape, shape: [1, 28, 28]"


def test_a_kernel_larger_than_the_padded_input_is_a_shape_error():
    err = shape_error("conv2d", {"out_channels": 8, "kernel_size": 5, "padding": 0}, (3, 3, 3))
    assert err.message == "kernel_size 5 is larger than the padded input 3"


def test_linear_on_a_scalar_sample_needs_a_dimension():
    assert (
        shape_error("linear", {"out_features": 4}, ()).message == "linear needs at least 1 dimension, got [N]"
    )


def test_dims_that_name_the_batch_are_rejected():
    assert shape_error("softmax", {"dim": 0}, (10,)).message == "dim 0 is the batch dimension"
    assert shape_error("concat", {"dim": 3}, (4, 5), (4, 5)).message == (
        "dim 3 is out of range for a tensor of rank 3"
    )


def test_elementwise_ops_broadcast_per_sample_only():
    assert out_shape("add", {}, (16, 1, 8), (16, 4, 1), (1, 4, 8)) == (16, 4, 8)
    err = shape_error("add", {}, (16, 8), (16, 4, 8))
    assert err.message == "add needs inputs of equal rank, got [N, 16, 8] and [N, 16, 4, 8]"
    assert shape_error("multiply", {}, (3, 8), (3, 4)).message == (
        "multiply cannot broadcast [N, 3, 8] with [N, 3, 4]: sizes 8 and 4 on dim 2"
    )


def test_chunk_that_torch_would_cut_short_is_an_error():
    err = shape_error("chunk", {"chunks": 4, "names": ["a", "b", "c", "d"]}, (5, 2))
    assert err.message == "chunk cannot cut size 5 on dim 1 into 4 chunks (torch.chunk gives 3)"
    assert err.hint == "use op: split with explicit sizes"


# --- shape rules that document conventions ---


def test_named_outputs_of_split_and_chunk():
    op = CATALOGUE["split"]
    args = op.with_defaults({"sizes": [2, 6], "names": ["mu", "logvar"], "dim": -1})
    assert op.outputs(args) == ("mu", "logvar")
    assert op.shape(args, [(3, 8)]) == {"mu": (3, 2), "logvar": (3, 6)}
    assert out_shape("chunk", {"names": ["q", "k", "v"]}, (12, 5)) == {"q": (4, 5), "k": (4, 5), "v": (4, 5)}


def test_shape_ops_follow_the_documented_conventions():
    assert out_shape("flatten", {}, (3, 4, 5)) == (60,)
    assert out_shape("reshape", {"shape": [1, 28, -1]}, (784,)) == (1, 28, 28)
    assert out_shape("permute", {"dims": [0, 2, 3, 1]}, (3, 8, 9)) == (8, 9, 3)
    assert shape_error("permute", {"dims": [1, 0, 2]}, (3, 4)).message == (
        "permute dims must start with 0 (the batch stays first), got [1, 0, 2]"
    )
    assert out_shape("squeeze", {}, (1, 5, 1)) == (5,)
    assert out_shape("unsqueeze", {"dim": -1}, (5,)) == (5, 1)
    assert out_shape("mean", {}, (3, 4, 5)) == ()
    assert out_shape("mean", {"dim": [2, 3], "keepdim": True}, (3, 4, 5)) == (3, 1, 1)
    assert out_shape("crop_to", {}, (16, 64, 64), (32, 56, 56)) == (16, 56, 56)
    assert out_shape("pad", {"pad": [1, 2, 3, 4]}, (3, 10, 10)) == (3, 17, 13)
    assert out_shape("upsample", {"scale_factor": 2}, (3, 10, 10)) == (3, 20, 20)
    assert out_shape("global_avgpool", {}, (64, 7, 7)) == (64,)


def test_recurrent_and_attention_shapes():
    assert out_shape("lstm", {"hidden_size": 32}, (20, 8)) == (32,)
    assert out_shape("gru", {"hidden_size": 32, "bidirectional": True, "return": "sequence"}, (20, 8)) == (
        20,
        64,
    )
    assert out_shape("multihead_attention", {"num_heads": 4}, (10, 32)) == (10, 32)
    assert out_shape("multihead_attention", {"num_heads": 4}, (10, 32), (7, 5), (7, 6)) == (10, 32)
    assert shape_error("multihead_attention", {"num_heads": 5}, (10, 32)).message == (
        "multihead_attention num_heads 5 must divide embed_dim 32 (the query's last dim)"
    )


def test_layernorm_normalizes_over_the_last_dims_it_is_given():
    op = CATALOGUE["layernorm"]
    assert op.params(op.with_defaults({"dims": 2}), [(4, 8, 16)]) == 2 * 8 * 16
    assert shape_error("layernorm", {"dims": 2}, (8,)).message == (
        "layernorm needs at least 2 dimensions to normalise (dims: 2), got [N, 8]"
    )


# --- custom modules (copied verbatim into generated files) ---


def test_custom_modules_are_self_contained():
    from archspec.ops import modules

    tree = ast.parse(inspect.getsource(modules))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"torch", "__future__"}


def _build(name, args, *shapes):
    op = CATALOGUE[name]
    return op.build(op.with_defaults(args), list(shapes))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_custom_modules_script_trace_and_match_eager():
    torch = pytest.importorskip("torch")
    cases = [
        (_build("reshape", {"shape": [1, -1, 4]}, (16,)), [(16,)]),
        (_build("crop_to", {}, (3, 9, 8), (2, 5, 6)), [(3, 9, 8), (2, 5, 6)]),
        (_build("global_avgpool", {}, (3, 4, 5)), [(3, 4, 5)]),
        (_build("channel_layernorm", {}, (3, 4, 5)), [(3, 4, 5)]),
        (_build("parameter", {"shape": [1, 4]}, (5, 4)), [(5, 4)]),
        (_build("rbf", {"centers": 5, "learnable": True}, (3,)), [(3,)]),
        (_build("lstm", {"hidden_size": 4, "bidirectional": True}, (6, 3)), [(6, 3)]),
        (_build("multihead_attention", {"num_heads": 2}, (5, 4)), [(5, 4)]),
        (_build("multihead_attention", {"num_heads": 2}, (5, 4), (3, 2), (3, 6)), [(5, 4), (3, 2), (3, 6)]),
    ]
    for module, shapes in cases:
        module.eval()
        xs = [torch.randn(2, *s) for s in shapes]
        torch.testing.assert_close(torch.jit.script(module)(*xs), module(*xs))
        torch.testing.assert_close(torch.fx.symbolic_trace(module)(*xs), module(*xs))
    for fn in (_build("add", {}, (3,), (3,), (3,)).fn, _build("multiply", {}, (3,), (3,), (3,)).fn):
        xs = [torch.randn(2, 3) for _ in range(3)]
        torch.testing.assert_close(torch.jit.script(fn)(xs), fn(xs))


def test_crop_to_crops_centrally():
    torch = pytest.importorskip("torch")
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    out = _build("crop_to", {}, (1, 6, 6), (1, 2, 4))(x, torch.empty(2, 1, 2, 4))
    torch.testing.assert_close(out, x[:, :, 2:4, 1:5])


def test_rbf_features_and_seeded_centres():
    torch = pytest.importorskip("torch")
    a = _build("rbf", {"centers": 4, "gamma": 0.5, "seed": 7}, (3,))
    b = _build("rbf", {"centers": 4, "gamma": 0.5, "seed": 7}, (3,))
    torch.testing.assert_close(a.weight, b.weight)
    assert [n for n, _ in a.named_parameters()] == [] and "weight" in a.state_dict()
    x = torch.randn(2, 3)
    expected = torch.exp(-0.5 * torch.cdist(x, a.weight) ** 2)
    torch.testing.assert_close(a(x), expected)


def test_the_last_step_of_a_bidirectional_rnn_is_each_directions_final_state():
    torch = pytest.importorskip("torch")
    module = _build("gru", {"hidden_size": 4, "bidirectional": True, "num_layers": 2}, (6, 3))
    x = torch.randn(2, 6, 3)
    _, h_n = module.rnn(x)
    torch.testing.assert_close(module(x), torch.cat([h_n[-2], h_n[-1]], dim=-1))


def test_functional_ops_build_calls_of_public_torch_functions():
    torch = pytest.importorskip("torch")
    call = _build("concat", {}, (3, 4), (5, 4))
    assert call == Call(torch.cat, kwargs={"dim": 1}, list_input=True)
    assert _build("add", {}, (3,), (3,)) == Call(torch.add)
    assert _build("squeeze", {}, (1, 5, 1)).kwargs == {"dim": (1, 3)}
