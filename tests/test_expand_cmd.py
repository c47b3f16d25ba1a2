"""``archspec expand``: the resolved spec is plain YAML, has no expression left but a repeat's
per-copy table, and compiles to the same model — same ids, parameters, values and outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from archspec.lang.resolved import resolved, resolved_text
from archspec.pipeline import analyse, load, load_text
from tests.conftest import ROOT, invoke

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def _resolved(path, overrides=()):
    spec = load(path, overrides)
    analyse(spec)
    return spec, resolved_text(spec)


def _inputs(spec, torch):
    gen = torch.Generator().manual_seed(0)
    out = {}
    for name, inp in spec.inputs.items():
        if inp.dtype.startswith("int"):
            out[name] = torch.zeros((2, *inp.shape), dtype=getattr(torch, inp.dtype))
        else:
            out[name] = torch.randn((2, *inp.shape), generator=gen)
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_expand_round_trips_every_example(path):
    torch = pytest.importorskip("torch")
    from archspec import build

    spec, text = _resolved(path)
    assert yaml.safe_load(text) == resolved(spec)  # plain YAML, no rewriting needed
    again = load_text(text, name="resolved.yaml")
    assert list(again.nodes) == list(spec.nodes)
    a, b = build(spec, seed=7), build(again, seed=7)
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)  # the same names, in the same order
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    a.eval(), b.eval()
    x = _inputs(spec, torch)
    with torch.no_grad():
        ya, yb = a(**x), b(**x)
    if isinstance(ya, dict):
        assert ya.keys() == yb.keys() and all(torch.equal(ya[k], yb[k]) for k in ya)
    else:
        assert torch.equal(ya, yb)
    # expanding the expansion changes nothing
    assert resolved_text(analyse(again).spec) == text


def test_blocks_become_parameterless_blocks_and_repeats_keep_their_copies():
    data = yaml.safe_load(_resolved(ROOT / "examples" / "resnet18.yaml")[1])
    assert "params" not in data and "scale" not in data
    assert all("params" not in block for block in data["blocks"].values())
    assert data["nodes"]["layer1"] == {
        "block": data["nodes"]["layer1"]["block"],
        "in": "maxpool",
        "repeat": 2,
    }
    assert data["nodes"]["fc"]["out_features"] == 1000  # params.classes applied
    assert "${" not in json.dumps(data)


def test_a_repeat_whose_copies_differ_picks_each_copy_from_a_literal_table():
    data = yaml.safe_load(_resolved(ROOT / "examples" / "deep_mlp.yaml")[1])
    assert data["nodes"]["hidden"] == {
        "block": "${['dense', 'dense_2', 'dense_3'][index]}",
        "in": "image",
        "repeat": 3,
    }
    assert [b["nodes"]["fc"]["out_features"] for b in data["blocks"].values()] == [256, 128, 64]


def test_if_shape_expressions_and_overrides_are_applied():
    text = """\
archspec: 1
params: {wide: false}
inputs:
  x: {shape: [4, 8, 8]}
blocks:
  ir:
    params: {t: int}
    nodes:
      expand: {op: conv2d, out_channels: "${channels(x) * t}", kernel_size: 1, if: "${t != 1}"}
      dw: {op: conv2d, out_channels: "${channels(x) * t}", kernel_size: 3, padding: 1, groups: 4}
      add: {op: add, in: [dw, x], if: "${t == 1}"}
nodes:
  a: {block: ir, in: x, t: 1}
  b: {block: ir, t: 2}
  extra: {op: relu, if: "${wide}"}
  lin: {op: linear, out_features: 3, repeat: 2}
"""
    spec = load_text(text, name="s.yaml", overrides=["params.wide=true"])
    analyse(spec)
    data = resolved(spec)
    assert "${" not in json.dumps(data)
    assert data["nodes"]["extra"] == {"op": "relu", "in": "b.dw"}
    assert data["nodes"]["lin"] == {"op": "linear", "out_features": 3, "in": "extra", "repeat": 2}
    a, b = (data["blocks"][data["nodes"][k]["block"]] for k in ("a", "b"))
    assert a["nodes"] == {
        "dw": {"op": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 4, "in": "in_0"},
        "add": {"op": "add", "in": ["dw", "in_0"]},
    }
    assert b["nodes"]["expand"]["out_channels"] == 8 and b["nodes"]["dw"]["out_channels"] == 8
    assert list(load_text(resolved_text(spec), name="r.yaml").nodes) == list(spec.nodes)


def test_the_command_prints_yaml_or_json_and_applies_set(tmp_path):
    out = invoke("expand", ROOT / "examples" / "mlp.yaml", "--set", "nodes.hidden.out_features=8")
    assert out.exit_code == 0, out.output
    assert yaml.safe_load(out.output)["nodes"]["hidden"]["out_features"] == 8
    as_json = invoke("expand", ROOT / "examples" / "mlp.yaml", "--format", "json")
    assert json.loads(as_json.output) == yaml.safe_load(
        invoke("expand", ROOT / "examples" / "mlp.yaml").output
    )


def test_expand_imports_no_torch():
    code = (
        "import sys\n"
        "from archspec.cli import main\n"
        "try:\n"
        "    main(['expand', sys.argv[1]])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "later = ('archspec.compiler', 'archspec.training', 'archspec.diagram')\n"
        "print('imported:', sorted(m for m in sys.modules if m.startswith(later) or m == 'torch'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "examples" / "resnet18.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "imported: []"


SHARED = """\
archspec: 1
inputs: {a: {shape: [8]}, b: {shape: [8]}}
blocks:
  tower:
    nodes:
      fc: {op: linear, out_features: 4}
      act: {op: relu}
nodes:
  t1: {block: tower, in: a}
  t2: {block: tower, in: b, share: t1}
  h1: {op: linear, in: t1, out_features: 3}
  h2: {op: linear, in: t2, share: h1}
  cat: {op: concat, in: [h1, h2], dim: 1}
"""
SIDE_INPUTS = """\
archspec: 1
inputs: {x: {shape: [6, 8]}, m: {shape: [6, 8]}}
blocks:
  g:
    inputs: [x, mask]
    nodes:
      fc: {op: linear, in: x, out_features: 8}
      add: {op: add, in: [fc, mask]}
    outputs: fc
nodes:
  s: {block: g, in: [x, m], repeat: 3}
"""
NAMED_OUTPUTS = """\
archspec: 1
inputs: {x: {shape: [8]}}
nodes:
  halves: {op: chunk, chunks: 2, dim: 1, names: [l, r]}
  add: {op: add, in: [halves.l, halves.r]}
"""


@pytest.mark.parametrize(
    "text", [SHARED, SIDE_INPUTS, NAMED_OUTPUTS], ids=["share", "side-inputs", "named-outputs"]
)
def test_shares_side_inputs_and_named_outputs_round_trip(text):
    torch = pytest.importorskip("torch")
    from archspec import build

    spec = load_text(text, name="s.yaml")
    analyse(spec)
    out = resolved_text(spec)
    again = load_text(out, name="r.yaml")
    assert list(again.nodes) == list(spec.nodes)
    assert [(n.inputs, n.share) for n in again.nodes.values()] == [
        (n.inputs, n.share) for n in spec.nodes.values()
    ]
    sa, sb = build(spec, seed=1).state_dict(), build(again, seed=1).state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_an_instance_that_shares_as_a_whole_keeps_share_on_the_instance():
    spec = load_text(SHARED, name="s.yaml")
    analyse(spec)
    data = resolved(spec)
    assert data["nodes"]["t2"] == {"block": "tower", "in": "b", "share": "t1"}
    assert list(data["blocks"]) == ["tower"]
    assert data["nodes"]["h2"]["share"] == "h1"


def test_a_repeat_with_a_copy_that_creates_nothing_is_refused_not_renumbered(tmp_path):
    path = tmp_path / "skip.yaml"
    path.write_text(
        """\
archspec: 1
inputs: {x: {shape: [4]}}
blocks:
  b:
    params: {on: bool}
    nodes:
      fc: {op: linear, out_features: 4, if: "${on}"}
nodes:
  r: {block: b, on: "${index != 1}", repeat: 3}
""",
        encoding="utf-8",
    )
    out = invoke("expand", path)
    assert out.exit_code != 0
    assert out.output.splitlines()[0] == (
        f"{path}:9:3: nodes.r: cannot write the resolved spec: copy 1 of repeat 'r' creates no nodes, "
        "and a repeat cannot skip a copy"
    )
