"""``check-init``: does the initialised network pass signal forwards and gradient backwards?

The seed's advice, as a tool. A batch of standard-normal inputs goes through a copy of the
model (train mode, as the first training step sees it) while an :class:`fx.Interpreter`
records every node's output: its mean and standard deviation, and the fraction of *dead units*
(channels, dim 1, that are exactly zero for the whole batch). Then the mean of the outputs'
squares is back-propagated and each activation's gradient and each parameter's gradient norm
are recorded. Warnings name the node and say what to change:

- vanishing signal: an activation's std falls below 1/100 of the input's, or the std of the
  weighted layers' outputs shrinks more than 10x from the first to the last;
- exploding signal: above 100x the input's std, or growing more than 10x over the depth;
- dead units: more than half of an activation's units are zero for every sample;
- symmetric weights: every row (unit, filter) of a weight matrix is identical, as after a
  constant init, so the units get identical gradients and stay identical during training;
- vanishing or exploding gradients: the first weighted layer's weight gradient is more than
  100x smaller or larger than the last one's.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from archspec.compiler.compile import NODE_KEY
from archspec.graph.dag import Graph
from archspec.ops import get_op

__all__ = ["InitReport", "check_init"]

VANISH = 1e-2  # activation std relative to the input's
EXPLODE = 1e2
DEPTH_RATIO = 10.0  # change of std from the first weighted layer to the last
GRAD_RATIO = 1e2  # first vs last weight-gradient norm
DEAD = 0.5

_HINT_SIGNAL = "use he_normal for ReLU layers, xavier_normal for tanh/sigmoid, or add normalisation"


@dataclass
class InitReport:
    """Per-node activation statistics, per-parameter gradients and the warnings they raise."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    input_std: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_std": self.input_std,
            "rows": self.rows,
            "params": self.params,
            "warnings": self.warnings,
        }

    def to_text(self) -> str:
        nodes = _table(
            ["node", "op", "shape", "mean", "std", "dead", "grad std"],
            3,
            [
                [
                    r["node"],
                    r["op"],
                    _shape(r["shape"]),
                    _num(r["mean"]),
                    _num(r["std"]),
                    _pct(r["dead"]),
                    _num(r["grad_std"]),
                ]
                for r in self.rows
            ],
        )
        params = _table(
            ["parameter", "shape", "std", "grad norm"],
            2,
            [[p["name"], _shape(p["shape"]), _num(p["std"]), _num(p["grad_norm"])] for p in self.params],
        )
        lines = [f"input std {_num(self.input_std)}", "", nodes, "", params, ""]
        lines += [f"warning: {w}" for w in self.warnings] or ["no warnings"]
        return "\n".join(lines)


def check_init(model: nn.Module, graph: Graph, batch: int = 64, seed: int = 0) -> InitReport:
    """Run one standard-normal batch forwards and backwards through a copy of ``model``."""
    from archspec.compiler.compile import example_inputs

    probe = copy.deepcopy(model).train()  # batch norm must not move the caller's running stats
    inputs = list(example_inputs(graph, batch=batch, seed=seed).values())
    floats = [x for x in inputs if x.is_floating_point()]
    input_std = float(torch.cat([x.flatten() for x in floats]).std()) if floats else 1.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        recorder = _Recorder(probe, graph)
        outputs = recorder.run(*inputs)
        loss = _loss(outputs)
        if loss is not None:
            loss.backward()
    report = InitReport(input_std=input_std)
    report.rows = [_row(rec) for rec in recorder.records]
    report.params = [_param(name, p) for name, p in probe.named_parameters()]
    report.warnings = _warnings(report)
    return report


# -- recording ------------------------------------------------------------------------------------


@dataclass
class _Record:
    node: str
    op: str
    value: torch.Tensor


class _Recorder(fx.Interpreter):
    """Runs the fx graph node by node and keeps every op node's floating-point output."""

    def __init__(self, module: fx.GraphModule, graph: Graph) -> None:
        super().__init__(module)
        self.spec = graph.spec
        self.records: list[_Record] = []

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if n.op in ("call_module", "call_function") and isinstance(result, torch.Tensor):
            node_id = self._node_id(n)
            if node_id is not None and result.is_floating_point():
                if result.requires_grad:
                    result.retain_grad()
                self.records.append(_Record(node_id, self.spec.nodes[node_id].op, result))
        return result

    def _node_id(self, n: fx.Node) -> str | None:
        """The spec node an fx node computes, as the compiler recorded it (named outputs too)."""
        name = n.meta.get(NODE_KEY)
        return name if name in self.spec.nodes else None


def _loss(outputs: Any) -> torch.Tensor | None:
    values = outputs.values() if isinstance(outputs, dict) else [outputs]
    terms = [v.float().pow(2).mean() for v in values if isinstance(v, torch.Tensor) and v.requires_grad]
    return torch.stack(terms).sum() if terms else None


def _row(rec: _Record) -> dict[str, Any]:
    value = rec.value.detach()
    grad = rec.value.grad
    return {
        "node": rec.node,
        "op": rec.op,
        "shape": list(value.shape[1:]),
        "mean": float(value.mean()),
        "std": _std(value),
        "dead": _dead(value),
        "grad_std": _std(grad) if grad is not None else None,
    }


def _param(name: str, p: nn.Parameter) -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(p.shape),
        "std": _std(p.detach()),
        "grad_norm": float(p.grad.double().norm()) if p.grad is not None else None,
        "symmetric": _symmetric(p.detach()),
    }


def _std(t: torch.Tensor) -> float:
    return float(t.float().std()) if t.numel() > 1 else 0.0


def _dead(value: torch.Tensor) -> float | None:
    """Fraction of units (dim 1) that are zero for every sample and position."""
    if value.dim() < 2 or value.shape[0] < 2:
        return None
    alive = (value != 0).transpose(0, 1).reshape(value.shape[1], -1).any(dim=1)
    return 1.0 - float(alive.float().mean())


def _symmetric(w: torch.Tensor) -> bool:
    """Every row (output unit or filter) identical: gradient descent can never tell them apart."""
    if w.dim() < 2 or w.shape[0] < 2:
        return False
    rows = w.reshape(w.shape[0], -1)
    return bool((rows == rows[:1]).all())


# -- warnings -------------------------------------------------------------------------------------


def _warnings(report: InitReport) -> list[str]:
    out: list[str] = []
    out += _signal_warnings(report)
    out += _dead_warnings(report)
    out += _symmetry_warnings(report)
    out += _gradient_warnings(report)
    return out


def _weighted(op: str) -> bool:
    opdef = get_op(op)
    return opdef is not None and opdef.weighted


def _signal_warnings(report: InitReport) -> list[str]:
    out: list[str] = []
    base = report.input_std or 1.0
    for row in report.rows:
        if not math.isfinite(row["std"]) or not math.isfinite(row["mean"]):
            return [f"non-finite activations at {row['node']} ({row['op']}); {_HINT_SIGNAL}"]
    low = next((r for r in report.rows if _weighted(r["op"]) and r["std"] < VANISH * base), None)
    if low is not None:
        out.append(
            f"vanishing signal: activation std falls to {low['std']:.2g} at {low['node']} ({low['op']}), "
            f"below {VANISH:g} of the input std {base:.2g}; {_HINT_SIGNAL}"
        )
    high = next((r for r in report.rows if r["std"] > EXPLODE * base), None)
    if high is not None:
        out.append(
            f"exploding signal: activation std grows to {high['std']:.2g} at {high['node']} ({high['op']}), "
            f"above {EXPLODE:g}x the input std {base:.2g}; {_HINT_SIGNAL}"
        )
    layers = [r for r in report.rows if _weighted(r["op"])]
    if len(layers) >= 3 and not (low or high):
        first, last = layers[0], layers[-1]
        ratio = last["std"] / first["std"] if first["std"] > 0 else math.inf
        if ratio < 1 / DEPTH_RATIO:
            out.append(
                f"vanishing signal: activation std shrinks {1 / ratio:.3g}x over the depth, from "
                f"{first['std']:.2g} at {first['node']} to {last['std']:.2g} at {last['node']}; {_HINT_SIGNAL}"
            )
        elif ratio > DEPTH_RATIO:
            out.append(
                f"exploding signal: activation std grows {ratio:.3g}x over the depth, from "
                f"{first['std']:.2g} at {first['node']} to {last['std']:.2g} at {last['node']}; {_HINT_SIGNAL}"
            )
    return out


def _dead_warnings(report: InitReport) -> list[str]:
    dead = [r for r in report.rows if _is_activation(r["op"]) and r["dead"] is not None and r["dead"] > DEAD]
    if not dead:
        return []
    first = dead[0]
    more = f" (and {len(dead) - 1} more activation nodes)" if len(dead) > 1 else ""
    return [
        f"dead units: {first['dead']:.0%} of the units of {first['node']} ({first['op']}) are zero for the "
        f"whole batch and get no gradient{more}; check the init of the layer before it (biases, scale)"
    ]


def _is_activation(op: str) -> bool:
    opdef = get_op(op)
    return opdef is not None and opdef.family == "activation"


def _symmetry_warnings(report: InitReport) -> list[str]:
    names = [f"{p['name']} {_shape(p['shape'])}" for p in report.params if p["symmetric"]]
    if not names:
        return []
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return [
        f"symmetric weights: every row of {shown} is identical, so its units are symmetric: they will "
        "stay identical during training (hint: use a random init such as he_normal or xavier_uniform)"
    ]


def _gradient_warnings(report: InitReport) -> list[str]:
    layers = [p for p in report.params if len(p["shape"]) >= 2 and p["grad_norm"] is not None]
    if len(layers) < 3:
        return []
    first, last = layers[0], layers[-1]
    a, b = first["grad_norm"], last["grad_norm"]
    if not (math.isfinite(a) and math.isfinite(b)):
        bad = first if not math.isfinite(a) else last
        return [f"exploding gradients: the gradient of {bad['name']} is not finite; {_HINT_SIGNAL}"]
    if b == 0:
        return []  # nothing reaches the last layer either: the signal warnings say why
    ratio = a / b
    where = f"the gradient norm of {first['name']} is {a:.2g}"
    if ratio < 1 / GRAD_RATIO:
        times = "zero" if a == 0 else f"{1 / ratio:.3g}x smaller than"
        return [
            f"vanishing gradients: {where}, {times} that of {last['name']} ({b:.2g}); "
            "the first layers will barely learn (hint: ReLU with he_normal, or normalisation layers)"
        ]
    if ratio > GRAD_RATIO:
        return [
            f"exploding gradients: {where}, {ratio:.3g}x larger than that of {last['name']} ({b:.2g}); "
            "lower the init scale or add normalisation layers"
        ]
    return []


# -- text -----------------------------------------------------------------------------------------


def _table(header: list[str], left: int, rows: list[list[str]]) -> str:
    """Aligned columns: the first ``left`` are text (left-aligned), the rest numbers."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    lines = []
    for row in [header, ["-" * w for w in widths], *rows]:
        cells = [c.ljust(w) if j < left else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _shape(shape: list[int]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"
