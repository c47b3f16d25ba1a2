"""A net declared at one input size and called at another: it works where its ops allow
(convolutions, crops), or fails at the first forward with a message naming the node and sizes."""

from __future__ import annotations

import pytest

from archspec.pipeline import analyse, load_text

torch = pytest.importorskip("torch")

SPEC = """\
archspec: 1
inputs: {image: {shape: [1, 64, 64]}}
nodes:
  down: {op: conv2d, in: image, out_channels: 4, kernel_size: 3}
  deep: {op: conv2d, out_channels: 4, kernel_size: 5}
  skip: {op: conv2d, in: image, out_channels: 4, kernel_size: 1}
  crop: {op: crop_to, in: [skip, deep]}
  cat: {op: concat, in: [crop, deep], dim: 1}
"""


def _model():
    from archspec import build

    return build(analyse(load_text(SPEC, name="net.yaml")), seed=0).eval()


def test_crop_to_at_the_declared_size_crops_as_declared():
    model = _model()
    assert tuple(model(torch.randn(2, 1, 64, 64)).shape) == (2, 8, 58, 58)


def test_crop_to_called_at_another_size_crops_centrally_from_the_actual_sizes():
    model = _model()
    x = torch.randn(1, 1, 80, 72)
    out = model(x)
    assert tuple(out.shape) == (1, 8, 74, 66)
    skip = model.skip(x)
    assert torch.equal(out[:, :4], skip[:, :, 3:77, 3:69])


def test_crop_to_refuses_a_skip_smaller_than_the_reference_naming_the_node_and_sizes():
    from archspec.ops.modules import CropTo

    crop = CropTo(start=[4, 4], size=[56, 56], node="dec1.crop")
    with pytest.raises(ValueError) as err:
        crop(torch.zeros(1, 2, 52, 60), torch.zeros(1, 2, 56, 56))
    assert str(err.value) == (
        "crop_to at node 'dec1.crop': cannot crop spatial size [52, 60] to the larger [56, 56] "
        "(the spec declares a crop to [56, 56]; the inputs are not the sizes the spec declares)"
    )


def test_the_compiled_crop_knows_its_node_and_emit_writes_it():
    from archspec.compiler.compile import compile_model
    from archspec.compiler.emit import emit_python

    graph = analyse(load_text(SPEC, name="net.yaml"))
    model = compile_model(graph, seed=0)
    assert model.crop.node == "crop"
    assert "CropTo(start=[3, 3], size=[58, 58], node='crop')" in emit_python(model, graph)


def test_a_model_called_with_a_skip_smaller_than_declared_fails_at_the_first_forward_naming_the_node():
    from archspec import build

    spec = """\
archspec: 1
inputs: {a: {shape: [2, 64, 64]}, b: {shape: [2, 56, 56]}}
nodes:
  crop: {op: crop_to, in: [a, b]}
outputs: {out: crop}
"""
    model = build(analyse(load_text(spec, name="net.yaml")), seed=0)
    assert tuple(model(a=torch.zeros(1, 2, 64, 64), b=torch.zeros(1, 2, 56, 56)).shape) == (1, 2, 56, 56)
    with pytest.raises(
        ValueError,
        match=r"^crop_to at node 'crop': cannot crop spatial size \[50, 64\] to the larger \[56, 56\] ",
    ):
        model(a=torch.zeros(1, 2, 50, 64), b=torch.zeros(1, 2, 56, 56))
