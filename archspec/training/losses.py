"""Loss functions by name, parameter penalties, and parameter selection by glob or part.

Every entry of :data:`LOSSES` is called as ``LOSSES[fn](pred, target, options)`` and returns
the mean loss over the batch (``kl_div``: the sum over classes, averaged over samples). Targets
are converted to what the loss needs (integer targets become floats for ``mse``; whole-number
float labels become class indices for ``cross_entropy``). Shapes are never silently broadcast:
``F.mse_loss`` on ``[N, 10]`` and ``[N]`` would average a ``[N, N]`` grid; here it raises
``ValueError("mse needs pred and target of the same shape, got [N, 10] and [N]")``. The one
leniency: size-1 dims other than the batch may differ, so a ``[N]`` label fits a ``[N, 1]``
output and a ``[N, H, W]`` mask a ``[N, 1, H, W]`` one.

Options (``losses.<name>.options``), checked by :func:`check_options`:

=================================  ================================================================
cross_entropy                      ``label_smoothing``, ``ignore_index``, ``weight`` (one per class)
nll                                ``ignore_index``, ``weight``
binary_cross_entropy_with_logits   ``pos_weight`` (number, or one per output channel)
smooth_l1                          ``beta`` (default 1.0)
huber                              ``delta`` (default 1.0)
kl_div                             ``log_target`` (default false)
dice                               ``smooth`` (default 1.0)
=================================  ================================================================

``cross_entropy`` takes class indices (``[N]`` for ``[N, C]`` logits, ``[N, H, W]`` for
``[N, C, H, W]``, also ``[N, 1, H, W]``) or class probabilities of the pred's own shape.
``dice`` is the soft Dice loss ``1 - mean_c 2|P∩T| / (|P| + |T|)``, with sums over the batch and
spatial dims: softmax over classes for ``[N, C, ...]`` logits (C > 1; index targets are one-hot
encoded), sigmoid and the foreground class alone for a single channel.

Penalties: ``penalty("l2", params)`` is the plain sum of squares (no 1/2 factor: with weight
``w`` its gradient is ``2 w p``), ``penalty("l1", params)`` the sum of absolute values.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from archspec.errors import did_you_mean

__all__ = [
    "CLASS_INDEX_LOSSES",
    "LOSSES",
    "LOSS_OPTIONS",
    "PENALTIES",
    "check_labels",
    "check_options",
    "fast_loss",
    "penalty",
    "select_params",
]

CLASS_INDEX_LOSSES = ("cross_entropy", "nll", "dice")  # losses that take class-index targets

Loss = Callable[[Tensor, Tensor, Mapping[str, Any]], Tensor]

PENALTIES = ("l1", "l2")

LOSS_OPTIONS: dict[str, tuple[str, ...]] = {
    "cross_entropy": ("label_smoothing", "ignore_index", "weight"),
    "nll": ("ignore_index", "weight"),
    "binary_cross_entropy": (),
    "binary_cross_entropy_with_logits": ("pos_weight",),
    "mse": (),
    "l1": (),
    "smooth_l1": ("beta",),
    "huber": ("delta",),
    "kl_div": ("log_target",),
    "dice": ("smooth",),
}


# -- options ------------------------------------------------------------------------------------


def check_options(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options of loss ``name``, checked: unknown keys and wrong types raise ``ValueError``."""
    opts = dict(options or {})
    allowed = LOSS_OPTIONS[name]
    for key, value in opts.items():
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            expected = f"expected {', '.join(allowed)}" if allowed else "it takes none"
            raise ValueError(f"{name} has no option {key!r} ({expected}{'; ' + hint if hint else ''})")
        _check_value(name, key, value)
    return opts


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_value(name: str, key: str, value: Any) -> None:
    if key == "ignore_index":
        ok, want = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif key == "log_target":
        ok, want = isinstance(value, bool), "true or false"
    elif key == "label_smoothing":
        ok, want = _is_number(value) and 0 <= value <= 1, "a number in [0, 1]"
    elif key in ("weight", "pos_weight"):
        ok = _is_number(value) or (
            isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)
        )
        want = "a list of numbers, one per class" if key == "weight" else "a number or a list of numbers"
        ok = ok and (key == "pos_weight" or isinstance(value, list))
    else:  # beta, delta, smooth
        ok, want = _is_number(value) and value >= 0, "a number >= 0"
    if not ok:
        raise ValueError(f"{name}: option {key} must be {want}, got {value!r}")


# -- shapes and targets -------------------------------------------------------------------------


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(["N", *map(str, t.shape[1:])]) + "]" if t.ndim else "[]"


def _shapes(a: Tensor, b: Tensor) -> tuple[str, str]:
    """Both shapes, with the batch dim written N unless the batch sizes themselves differ."""
    if a.ndim and b.ndim and a.shape[0] == b.shape[0]:
        return _shape(a), _shape(b)
    return str(list(a.shape)), str(list(b.shape))


def _same_shape(name: str, pred: Tensor, target: Tensor) -> Tensor:
    """``target`` reshaped to ``pred``'s shape (size-1 dims past the batch may differ), else raise."""
    if target.shape == pred.shape:
        return target

    def core(t: Tensor) -> list[int]:
        return [t.shape[0], *(d for d in t.shape[1:] if d != 1)] if t.ndim else []

    if pred.ndim and target.ndim and core(pred) == core(target):
        return target.reshape(pred.shape)
    a, b = _shapes(pred, target)
    raise ValueError(f"{name} needs pred and target of the same shape, got {a} and {b}")


def _float_target(name: str, pred: Tensor, target: Tensor) -> Tensor:
    return _same_shape(name, pred, target).to(pred.dtype)


def _class_dim(name: str, pred: Tensor) -> None:
    if pred.ndim < 2:
        raise ValueError(
            f"{name} needs pred of shape [N, C, ...] (class scores in dim 1), got {_shape(pred)}"
        )


def _index_target(name: str, pred: Tensor, target: Tensor, ignore_index: int | None) -> Tensor:
    """Class-index targets ``[N, *d]`` (int64) for a ``[N, C, *d]`` pred, range-checked."""
    want = (pred.shape[0], *pred.shape[2:])
    if target.ndim == pred.ndim and target.shape[1] == 1 and (target.shape[0], *target.shape[2:]) == want:
        target = target.squeeze(1)
    if tuple(target.shape) != want:
        a, b = _shapes(pred, target)
        need = "[" + ", ".join(["N", *map(str, pred.shape[2:])]) + "]"
        raise ValueError(
            f"{name} needs class-index targets of shape {need} for pred {a} (or class probabilities of the pred's shape), got {b}"
        )
    if not _checked_on_host(target):
        return _assert_index_target(name, pred, target, ignore_index)
    if target.is_floating_point() and not torch.equal(target, target.round()):
        raise ValueError(f"{name} needs whole-number class indices as targets, got fractional values")
    target = target.long()
    if name == "dice":  # one_hot's own range error names no class; torch's losses check on the CPU
        _check_range(name, pred.shape[1], target, ignore_index)
    return target  # _explain turns torch's range error into ours


def _checked_on_host(target: Tensor) -> bool:
    """Whether a target's values may be read back to check them: on the CPU that costs nothing;
    on an accelerator it is a host sync, once per step."""
    return target.device.type == "cpu"


def _assert_index_target(name: str, pred: Tensor, target: Tensor, ignore_index: int | None) -> Tensor:
    """The checks of :func:`_index_target` as device-side asserts: no host sync on the hot path.
    Their message is terse; the trainer checks every stream's labels up front with
    :func:`check_labels`, so a user meets the clear message before the first step."""
    if target.is_floating_point():
        torch._assert_async((target == target.round()).all(), f"{name} needs whole-number class indices")
    target = target.long()
    c = pred.shape[1]
    ok = (target >= 0) & (target < c)
    if ignore_index is not None:
        ok |= target == ignore_index
    torch._assert_async(ok.all(), f"{name} target holds a class outside 0..{c - 1}")
    return target


def check_labels(name: str, options: Mapping[str, Any], classes: int, labels: Tensor) -> None:
    """Raise the clear :func:`_check_range` error if ``labels`` (a whole stream's class-index
    targets, on the CPU) hold a class outside ``0..classes - 1`` (``ignore_index`` aside)."""
    values = labels.long().numpy()  # numpy: not a tensor value read back, even on the CPU
    bad = (values < 0) | (values >= classes)
    if name != "dice":
        bad &= values != int(options.get("ignore_index", -100))
    if bad.any():
        raise ValueError(_range_message(name, int(values[bad][0]), classes))


def _check_range(name: str, c: int, target: Tensor, ignore_index: int | None) -> None:
    bad = (target < 0) | (target >= c)
    if ignore_index is not None:
        bad &= target != ignore_index
    if bool(bad.any()):
        raise ValueError(_range_message(name, int(target[bad][0]), c))


def _range_message(name: str, value: int, c: int) -> str:
    return f"{name} target holds class {value} but pred has {c} classes (0..{c - 1})"


def _explain(name: str, fn: Any, pred: Tensor, target: Tensor, ignore: int | None, **kwargs: Any) -> Tensor:
    """Call torch's loss; if it rejects the targets, say which class was out of range."""
    try:
        return fn(pred, target, **kwargs)
    except (IndexError, RuntimeError):
        _check_range(name, pred.shape[1], target, ignore)
        raise


def _weight(opts: Mapping[str, Any], key: str, pred: Tensor, name: str, size: int | None) -> Tensor | None:
    value = opts.get(key)
    if value is None:
        return None
    w = torch.as_tensor(value, dtype=pred.dtype, device=pred.device)
    if size is not None and w.ndim == 1 and w.numel() != size:
        raise ValueError(f"{name}: option {key} has {w.numel()} values but pred has {size} classes")
    return w


# -- losses ---------------------------------------------------------------------------------------


def _cross_entropy(pred: Tensor, target: Tensor, options: Mapping[str, Any]) -> Tensor:
    opts = check_options("cross_entropy", options)
    _class_dim("cross_entropy", pred)
    weight = _weight(opts, "weight", pred, "cross_entropy", pred.shape[1])
    smoothing = float(opts.get("label_smoothing", 0.0))
    if target.shape == pred.shape:  # class probabilities (or one-hot)
        if "ignore_index" in opts:
            raise ValueError("cross_entropy: ignore_index applies to class-index targets, not probabilities")
        return F.cross_entropy(pred, target.to(pred.dtype), weight=weight, label_smoothing=smoothing)
    ignore = int(opts.get("ignore_index", -100))
    target = _index_target("cross_entropy", pred, target, ignore)
    return _explain(
        "cross_entropy",
        F.cross_entropy,
        pred,
        target,
        ignore,
        weight=weight,
        ignore_index=ignore,
        label_smoothing=smoothing,
    )


def _nll(pred: Tensor, target: Tensor, options: Mapping[str, Any]) -> Tensor:
    opts = check_options("nll", options)
    _class_dim("nll", pred)
    weight = _weight(opts, "weight", pred, "nll", pred.shape[1])
    ignore = int(opts.get("ignore_index", -100))
    return _explain(
        "nll",
        F.nll_loss,
        pred,
        _index_target("nll", pred, target, ignore),
        ignore,
        weight=weight,
        ignore_index=ignore,
    )


def _bce(pred: Tensor, target: Tensor, options: Mapping[str, Any]) -> Tensor:
    check_options("binary_cross_entropy", options)
    target = _float_target("binary_cross_entropy", pred, target)
    # F.binary_cross_entropy refuses to run under autocast; compute it in float32 instead.
    with torch.autocast(device_type=pred.device.type, enabled=False):
        try:
            return F.binary_cross_entropy(pred.float(), target.float())
        except RuntimeError as exc:
            raise ValueError(
                f"binary_cross_entropy needs probabilities in [0, 1] ({exc}); for raw scores use binary_cross_entropy_with_logits"
            ) from exc


def _bce_logits(pred: Tensor, target: Tensor, options: Mapping[str, Any]) -> Tensor:
    opts = check_options("binary_cross_entropy_with_logits", options)
    target = _float_target("binary_cross_entropy_with_logits", pred, target)
    pos_weight = _weight(opts, "pos_weight", pred, "binary_cross_entropy_with_logits", None)
    if pos_weight is not None and pos_weight.ndim == 1 and pred.ndim > 2:
        pos_weight = pos_weight.view(-1, *([1] * (pred.ndim - 2)))  # per channel of [N, C, H, W]
    return F.binary_cross_entropy_with_logits(pred, target, pos_weight=pos_weight)


# the losses that compare pred and target value by value: torch's function, its one option
_ELEMENTWISE: dict[str, tuple[Callable[..., Tensor], str | None]] = {
    "mse": (F.mse_loss, None),
    "l1": (F.l1_loss, None),
    "smooth_l1": (F.smooth_l1_loss, "beta"),
    "huber": (F.huber_loss, "delta"),
}


def _elementwise(name: str, fn: Callable[..., Tensor], option: str | None = None) -> Loss:
    def loss(pred: Tensor, target: Tensor, options: Mapping[str, Any]) -> Tensor:
        opts = check_options(name, options)
        extra = {option: float(opts[option])} if option and option in opts else {}
        return fn(pred, _float_target(name, pred, target), **extra)

    loss.__name__ = f"_{name}"
    return loss


def _kl_div(pred: Tensor, target: Tensor, options: Mapping[str, Any]) -> Tensor:
    opts = check_options("kl_div", options)
    target = _float_target("kl_div", pred, target)
    return F.kl_div(pred, target, reduction="batchmean", log_target=bool(opts.get("log_target", False)))


def _dice(pred: Tensor, target: Tensor, options: Mapping[str, Any]) -> Tensor:
    opts = check_options("dice", options)
    smooth = float(opts.get("smooth", 1.0))
    if pred.ndim >= 2 and pred.shape[1] > 1:
        probs = pred.softmax(dim=1)
        if target.shape == pred.shape:
            onehot = target.to(pred.dtype)
        else:
            index = _index_target("dice", pred, target, None)
            onehot = F.one_hot(index, pred.shape[1]).movedim(-1, 1).to(pred.dtype)
    else:
        probs = pred.sigmoid()
        onehot = _float_target("dice", pred, target)
        probs, onehot = probs.reshape(pred.shape[0], 1, -1), onehot.reshape(pred.shape[0], 1, -1)
    dims = [0, *range(2, probs.ndim)]
    inter = (probs * onehot).sum(dims)
    total = probs.sum(dims) + onehot.sum(dims)
    return 1 - ((2 * inter + smooth) / (total + smooth)).mean()


LOSSES: dict[str, Loss] = {
    "cross_entropy": _cross_entropy,
    "nll": _nll,
    "binary_cross_entropy": _bce,
    "binary_cross_entropy_with_logits": _bce_logits,
    **{name: _elementwise(name, fn, option) for name, (fn, option) in _ELEMENTWISE.items()},
    "kl_div": _kl_div,
    "dice": _dice,
}


# -- the step loop's direct calls -----------------------------------------------------------------

FastLoss = Callable[[Tensor, Tensor], "Tensor | None"]


def fast_loss(name: str, options: Mapping[str, Any] | None) -> FastLoss | None:
    """The loss as one direct torch call with its options bound once, for the training loop.

    It answers None (the caller then takes ``LOSSES[name]``, whose checks word the error)
    whenever the inputs are not the plain case it covers: class-index targets of the pred's
    rank less one on the CPU (where torch range-checks them itself) for ``cross_entropy`` and
    ``nll``; a target of the pred's shape and dtype for the elementwise losses. The values
    are those of ``LOSSES[name]``: the same torch call with the same arguments.
    """
    try:
        opts = check_options(name, options)
    except ValueError:
        return None
    if name in ("cross_entropy", "nll") and "weight" not in opts:
        kwargs: dict[str, Any] = {"ignore_index": int(opts.get("ignore_index", -100))}
        if name == "cross_entropy":
            kwargs["label_smoothing"] = float(opts.get("label_smoothing", 0.0))
        return _fast_index(F.cross_entropy if name == "cross_entropy" else F.nll_loss, kwargs)
    if name in _ELEMENTWISE:
        fn, option = _ELEMENTWISE[name]
        extra = {option: float(opts[option])} if option and option in opts else {}
        return _fast_same(fn, extra)
    return None


def _fast_index(fn: Callable[..., Tensor], kwargs: dict[str, Any]) -> FastLoss:
    int64 = torch.int64

    def loss(pred: Tensor, target: Tensor) -> Tensor | None:
        if (
            target.dtype != int64
            or target.ndim + 1 != pred.ndim
            or pred.ndim < 2
            or pred.device.type != "cpu"
        ):
            return None
        try:
            return fn(pred, target, **kwargs)
        except (IndexError, RuntimeError, ValueError):
            return None  # the checked path says what was wrong

    return loss


def _fast_same(fn: Callable[..., Tensor], extra: dict[str, Any]) -> FastLoss:
    def loss(pred: Tensor, target: Tensor) -> Tensor | None:
        if target.shape != pred.shape or target.dtype != pred.dtype:
            return None
        return fn(pred, target, **extra)

    return loss


# -- penalties and parameter selection ------------------------------------------------------------


def penalty(name: str, params: Iterable[Tensor]) -> Tensor:
    """``l2``: sum of squares (no 1/2 factor); ``l1``: sum of absolute values. 0 for no params."""
    if name not in PENALTIES:
        raise ValueError(f"unknown penalty {name!r} (expected l1 or l2)")
    terms = [p.abs().sum() if name == "l1" else p.pow(2).sum() for p in params]
    if not terms:
        return torch.zeros(())
    return sum(terms[1:], terms[0])


def select_params(
    model: nn.Module, patterns: str | list[str], parts: Mapping[str, list[str]] | None = None
) -> list[tuple[str, nn.Parameter]]:
    """Parameters chosen by name globs or part names, in ``model.named_parameters()`` order.

    A pattern selects a parameter when it

    - is an fnmatch glob over the full parameter name, exactly as written: ``*`` is every
      parameter, ``*.weight`` every weight (and so no bias), ``enc1.*`` everything under ``enc1``;
    - has no glob characters and names a module: ``enc1`` is the same as ``enc1.*``;
    - is a part name: ``encoder`` is every parameter of the part's nodes (a parameter belongs to
      node ``n`` when its name starts with ``n.``);
    - is ``PART.GLOB``: the part's parameters whose full name matches GLOB, so ``encoder.*`` is
      the whole part and ``encoder.*.weight`` its weights.

    A pattern that selects nothing raises ``ValueError`` (it is almost always a typo).
    """
    parts = parts or {}
    named = list(model.named_parameters())
    chosen: set[str] = set()
    for pattern in [patterns] if isinstance(patterns, str) else patterns:
        hits = {name for name, _ in named if _selects(pattern, name, parts)}
        if not hits:
            raise ValueError(_no_match(pattern, named, parts))
        chosen |= hits
    return [(name, p) for name, p in named if name in chosen]


def _in_part(name: str, nodes: Iterable[str]) -> bool:
    return any(name.startswith(node + ".") for node in nodes)


def _selects(pattern: str, name: str, parts: Mapping[str, list[str]]) -> bool:
    if fnmatch.fnmatchcase(name, pattern):
        return True
    if not any(c in pattern for c in "*?[") and name.startswith(pattern + "."):
        return True
    if pattern in parts:
        return _in_part(name, parts[pattern])
    head, _, rest = pattern.partition(".")
    return bool(rest) and head in parts and _in_part(name, parts[head]) and fnmatch.fnmatchcase(name, rest)


def _no_match(pattern: str, named: list[tuple[str, nn.Parameter]], parts: Mapping[str, list[str]]) -> str:
    modules = {n.rsplit(".", 1)[0] for n, _ in named}
    if any(fnmatch.fnmatchcase(n, "*." + pattern) for n, _ in named):
        hint: str | None = f"did you mean '*.{pattern}'?"  # globs match the full name
    else:
        hint = did_you_mean(pattern, [*parts, *modules, *(n for n, _ in named)])
    example = f"parameters look like {named[0][0]!r}" if named else "the model has no parameters"
    where = f"; parts: {', '.join(parts)}" if parts else ""
    return f"params pattern {pattern!r} matches no parameter{'; ' + hint if hint else ''} ({example}{where})"
