from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archspec.lang.schema import LOSSES as SCHEMA_LOSSES
from archspec.training.losses import LOSSES, check_options, penalty, select_params

torch.manual_seed(0)
LOGITS = torch.randn(6, 4)
LABELS = torch.tensor([0, 3, 1, 2, 3, 0])
SEG_LOGITS = torch.randn(2, 3, 5, 5)
SEG_MASK = torch.randint(0, 3, (2, 5, 5))


def test_every_loss_in_the_schema_has_an_implementation() -> None:
    assert set(SCHEMA_LOSSES) == set(LOSSES)


# -- oracle: torch.nn.functional --------------------------------------------------------------------


def test_cross_entropy_matches_torch_for_class_indices_and_options() -> None:
    assert torch.allclose(LOSSES["cross_entropy"](LOGITS, LABELS, {}), F.cross_entropy(LOGITS, LABELS))
    opts = {"label_smoothing": 0.1, "weight": [1.0, 2.0, 0.5, 1.0], "ignore_index": 3}
    expect = F.cross_entropy(
        LOGITS, LABELS, weight=torch.tensor(opts["weight"]), ignore_index=3, label_smoothing=0.1
    )
    assert torch.allclose(LOSSES["cross_entropy"](LOGITS, LABELS, opts), expect)


def test_cross_entropy_is_per_pixel_for_dense_outputs() -> None:
    expect = F.cross_entropy(SEG_LOGITS, SEG_MASK)
    assert torch.allclose(LOSSES["cross_entropy"](SEG_LOGITS, SEG_MASK, {}), expect)
    assert torch.allclose(
        LOSSES["cross_entropy"](SEG_LOGITS, SEG_MASK[:, None], {}), expect
    )  # [N, 1, H, W] mask
    assert torch.allclose(LOSSES["cross_entropy"](SEG_LOGITS, SEG_MASK.int(), {}), expect)


def test_cross_entropy_takes_probability_targets_and_whole_number_float_labels() -> None:
    probs = torch.softmax(torch.randn(6, 4), dim=1)
    assert torch.allclose(LOSSES["cross_entropy"](LOGITS, probs, {}), F.cross_entropy(LOGITS, probs))
    onehot = F.one_hot(LABELS, 4)  # integer one-hot: probabilities too
    assert torch.allclose(LOSSES["cross_entropy"](LOGITS, onehot, {}), F.cross_entropy(LOGITS, LABELS))
    assert torch.allclose(
        LOSSES["cross_entropy"](LOGITS, LABELS.float(), {}), F.cross_entropy(LOGITS, LABELS)
    )


def test_nll_matches_torch_on_log_probabilities() -> None:
    logp = LOGITS.log_softmax(1)
    assert torch.allclose(
        LOSSES["nll"](logp, LABELS, {"weight": [1, 1, 2, 2]}),
        F.nll_loss(logp, LABELS, weight=torch.tensor([1.0, 1, 2, 2])),
    )


def test_binary_cross_entropy_variants_match_torch_and_accept_integer_labels() -> None:
    logits = torch.randn(8, 1)
    labels = torch.randint(0, 2, (8,))
    expect = F.binary_cross_entropy_with_logits(logits, labels.float()[:, None])
    assert torch.allclose(LOSSES["binary_cross_entropy_with_logits"](logits, labels, {}), expect)
    assert torch.allclose(LOSSES["binary_cross_entropy"](logits.sigmoid(), labels, {}), expect, atol=1e-6)
    pw = LOSSES["binary_cross_entropy_with_logits"](logits, labels, {"pos_weight": 3.0})
    assert torch.allclose(
        pw, F.binary_cross_entropy_with_logits(logits, labels.float()[:, None], pos_weight=torch.tensor(3.0))
    )


def test_binary_cross_entropy_on_logits_says_which_loss_to_use() -> None:
    with pytest.raises(
        ValueError,
        match="binary_cross_entropy needs probabilities in \\[0, 1\\].*use binary_cross_entropy_with_logits",
    ):
        LOSSES["binary_cross_entropy"](torch.tensor([[-2.0], [3.0]]), torch.tensor([0, 1]), {})


@pytest.mark.parametrize(
    ("name", "fn", "options", "kwargs"),
    [
        ("mse", F.mse_loss, {}, {}),
        ("l1", F.l1_loss, {}, {}),
        ("smooth_l1", F.smooth_l1_loss, {"beta": 0.5}, {"beta": 0.5}),
        ("huber", F.huber_loss, {"delta": 0.3}, {"delta": 0.3}),
    ],
)
def test_regression_losses_match_torch(name: str, fn, options: dict, kwargs: dict) -> None:
    pred, target = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.allclose(LOSSES[name](pred, target, options), fn(pred, target, **kwargs))


def test_regression_losses_convert_integer_targets_and_know_values() -> None:
    pred = torch.tensor([[1.0], [2.0], [4.0]])
    target = torch.tensor([1, 3, 2])  # [N] ints for a [N, 1] output
    assert LOSSES["mse"](pred, target, {}).item() == pytest.approx((0 + 1 + 4) / 3)
    assert LOSSES["l1"](pred, target, {}).item() == pytest.approx((0 + 1 + 2) / 3)
    assert LOSSES["huber"](pred, target, {"delta": 1.0}).item() == pytest.approx((0 + 0.5 + 1.5) / 3)


def test_kl_div_is_batchmean_over_log_probabilities() -> None:
    logp, q = LOGITS.log_softmax(1), torch.softmax(torch.randn(6, 4), 1)
    assert torch.allclose(LOSSES["kl_div"](logp, q, {}), F.kl_div(logp, q, reduction="batchmean"))
    expect = (q * (q.log() - logp)).sum() / 6
    assert torch.allclose(LOSSES["kl_div"](logp, q, {}), expect, atol=1e-6)
    assert LOSSES["kl_div"](q.log(), q, {}).item() == pytest.approx(0.0, abs=1e-6)


# -- dice -----------------------------------------------------------------------------------------


def test_dice_is_near_zero_for_a_perfect_prediction() -> None:
    logits = 30.0 * F.one_hot(SEG_MASK, 3).movedim(-1, 1).float()
    assert LOSSES["dice"](logits, SEG_MASK, {}).item() == pytest.approx(0.0, abs=1e-5)
    binary = (SEG_MASK > 0).long()
    assert LOSSES["dice"](30.0 * (2 * binary[:, None].float() - 1), binary, {}).item() == pytest.approx(
        0.0, abs=1e-5
    )


def test_dice_matches_a_hand_computation() -> None:
    pred = torch.tensor([[[0.0, 0.0, 0.0, 0.0]]])  # one channel [N, 1, L]: sigmoid 0.5 everywhere
    target = torch.tensor([[1, 1, 0, 0]])
    # |P∩T| = 1, |P| = 2, |T| = 2: Dice = (2*1 + s) / (4 + s)
    assert LOSSES["dice"](pred, target, {"smooth": 0.0}).item() == pytest.approx(1 - 0.5)
    assert LOSSES["dice"](pred, target, {}).item() == pytest.approx(1 - 3 / 5)
    probs = F.one_hot(SEG_MASK, 3).movedim(-1, 1).float()
    assert LOSSES["dice"](SEG_LOGITS, probs, {}).item() == pytest.approx(
        LOSSES["dice"](SEG_LOGITS, SEG_MASK, {}).item()
    )


def test_dice_has_gradients() -> None:
    logits = SEG_LOGITS.clone().requires_grad_()
    LOSSES["dice"](logits, SEG_MASK, {}).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pred", "target", "message"),
    [
        (
            "mse",
            torch.zeros(4, 10),
            torch.zeros(4),
            "mse needs pred and target of the same shape, got [N, 10] and [N]",
        ),
        (
            "l1",
            torch.zeros(4, 3),
            torch.zeros(5, 3),
            "l1 needs pred and target of the same shape, got [4, 3] and [5, 3]",
        ),
        (
            "cross_entropy",
            torch.zeros(4, 10),
            torch.zeros(4, 3, dtype=torch.long),
            "cross_entropy needs class-index targets of shape [N] for pred [N, 10] (or class probabilities of the pred's shape), got [N, 3]",
        ),
        (
            "cross_entropy",
            torch.zeros(4, 10),
            torch.tensor([0, 1, 10, 2]),
            "cross_entropy target holds class 10 but pred has 10 classes (0..9)",
        ),
        (
            "cross_entropy",
            torch.zeros(4),
            torch.zeros(4, dtype=torch.long),
            "cross_entropy needs pred of shape [N, C, ...] (class scores in dim 1), got [N]",
        ),
        (
            "nll",
            torch.zeros(2, 3),
            torch.tensor([0.5, 1.0]),
            "nll needs whole-number class indices as targets, got fractional values",
        ),
        (
            "kl_div",
            torch.zeros(2, 3),
            torch.zeros(2, 4),
            "kl_div needs pred and target of the same shape, got [N, 3] and [N, 4]",
        ),
    ],
)
def test_shape_and_value_mistakes_raise_clear_errors(
    name: str, pred: torch.Tensor, target: torch.Tensor, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        LOSSES[name](pred, target, {})
    assert str(info.value) == message


def test_unknown_or_malformed_options_are_reported() -> None:
    with pytest.raises(
        ValueError,
        match=r"^cross_entropy has no option 'reduction' \(expected label_smoothing, ignore_index, weight\)$",
    ):
        check_options("cross_entropy", {"reduction": "sum"})
    with pytest.raises(
        ValueError,
        match=r"^cross_entropy has no option 'label_smothing' \(expected .*; did you mean 'label_smoothing'\?\)$",
    ):
        LOSSES["cross_entropy"](LOGITS, LABELS, {"label_smothing": 0.1})
    with pytest.raises(ValueError, match=r"^mse has no option 'beta' \(it takes none\)$"):
        check_options("mse", {"beta": 1})
    with pytest.raises(ValueError, match=r"^huber: option delta must be a number >= 0, got 'big'$"):
        check_options("huber", {"delta": "big"})
    with pytest.raises(
        ValueError, match=r"^cross_entropy: option weight has 3 values but pred has 4 classes$"
    ):
        LOSSES["cross_entropy"](LOGITS, LABELS, {"weight": [1, 1, 1]})


# -- penalties and parameter selection ---------------------------------------------------------------


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Linear(2, 3)
        self.enc2 = nn.Linear(3, 3)
        self.dec = nn.Sequential(nn.Linear(3, 2))


def names(model: nn.Module, patterns, parts=None) -> list[str]:
    return [n for n, _ in select_params(model, patterns, parts)]


def test_penalties_are_sums_of_squares_and_of_absolute_values() -> None:
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([[3.0]])
    assert penalty("l2", [a, b]).item() == 1 + 4 + 9
    assert penalty("l1", [a, b]).item() == 1 + 2 + 3
    assert penalty("l2", []).item() == 0.0
    w = nn.Parameter(torch.tensor([2.0]))
    penalty("l2", [w]).backward()
    assert w.grad.item() == 4.0  # d/dw w^2: no 1/2 factor
    with pytest.raises(ValueError, match="unknown penalty 'l3'"):
        penalty("l3", [a])


def test_globs_match_parameter_names_exactly_as_written() -> None:
    net = Net()
    assert names(net, "*") == [n for n, _ in net.named_parameters()]
    assert names(net, "*.weight") == ["enc1.weight", "enc2.weight", "dec.0.weight"]
    assert names(net, ["enc?.bias", "dec.*"]) == ["enc1.bias", "enc2.bias", "dec.0.weight", "dec.0.bias"]
    assert names(net, "enc1") == ["enc1.weight", "enc1.bias"]  # a bare module name: everything under it


def test_parts_select_the_parameters_of_their_nodes() -> None:
    net, parts = Net(), {"encoder": ["enc1", "enc2"], "decoder": ["dec"]}
    assert names(net, "encoder", parts) == ["enc1.weight", "enc1.bias", "enc2.weight", "enc2.bias"]
    assert names(net, "encoder.*", parts) == names(net, "encoder", parts)
    assert names(net, "encoder.*.weight", parts) == ["enc1.weight", "enc2.weight"]
    assert names(net, ["decoder", "enc2.bias"], parts) == ["enc2.bias", "dec.0.weight", "dec.0.bias"]


def test_a_pattern_that_selects_nothing_is_an_error() -> None:
    with pytest.raises(ValueError) as info:
        select_params(Net(), "encodr.*", {"encoder": ["enc1"]})
    assert str(info.value) == (
        "params pattern 'encodr.*' matches no parameter; did you mean 'encoder'? (parameters look like 'enc1.weight'; parts: encoder)"
    )
    with pytest.raises(
        ValueError,
        match=r"^params pattern 'bias' matches no parameter; did you mean '\*.bias'\? \(parameters look like 'enc1.weight'\)$",
    ):
        select_params(Net(), "bias")


def test_losses_are_finite_scalars_with_gradients() -> None:
    cases = {
        "cross_entropy": (LOGITS, LABELS),
        "nll": (LOGITS.log_softmax(1), LABELS),
        "binary_cross_entropy": (torch.rand(6, 1) * 0.98 + 0.01, torch.randint(0, 2, (6,))),
        "binary_cross_entropy_with_logits": (torch.randn(6, 2), torch.randint(0, 2, (6, 2))),
        "mse": (torch.randn(6, 2), torch.randn(6, 2)),
        "l1": (torch.randn(6, 2), torch.randn(6, 2)),
        "smooth_l1": (torch.randn(6, 2), torch.randn(6, 2)),
        "huber": (torch.randn(6, 2), torch.randn(6, 2)),
        "kl_div": (LOGITS.log_softmax(1), torch.softmax(torch.randn(6, 4), 1)),
        "dice": (SEG_LOGITS, SEG_MASK),
    }
    assert set(cases) == set(LOSSES)
    for name, (pred, target) in cases.items():
        pred = pred.clone().requires_grad_()
        value = LOSSES[name](pred, target, {})
        value.backward()
        assert value.ndim == 0 and math.isfinite(value.item()), name
        assert pred.grad is not None, name


# -- the step loop's direct calls ---------------------------------------------------------------------

_FAST_CASES = [
    ("cross_entropy", LOGITS, LABELS, {}),
    ("cross_entropy", LOGITS, LABELS, {"label_smoothing": 0.2, "ignore_index": 3}),
    ("cross_entropy", SEG_LOGITS, SEG_MASK, {}),
    ("nll", LOGITS.log_softmax(1), LABELS, {"ignore_index": 0}),
    ("mse", LOGITS, LOGITS.flip(0), {}),
    ("l1", LOGITS, LOGITS.flip(0), {}),
    ("smooth_l1", LOGITS, LOGITS.flip(0), {"beta": 0.5}),
    ("huber", LOGITS, LOGITS.flip(0), {"delta": 2.0}),
]


@pytest.mark.parametrize(("name", "pred", "target", "options"), _FAST_CASES)
def test_a_bound_loss_gives_the_checked_losss_value_and_gradient_bitwise(name, pred, target, options) -> None:
    from archspec.training.losses import fast_loss

    fast = fast_loss(name, options)
    assert fast is not None
    a, b = pred.clone().requires_grad_(), pred.clone().requires_grad_()
    value = fast(a, target)
    assert value is not None
    expect = LOSSES[name](b, target, options)
    value.backward()
    expect.backward()
    assert torch.equal(value, expect) and torch.equal(a.grad, b.grad)


@pytest.mark.parametrize(
    ("name", "pred", "target"),
    [
        ("cross_entropy", LOGITS, torch.tensor([0, 9, 1, 2, 3, 0])),  # out of range: torch raises
        ("cross_entropy", LOGITS, LABELS.float()),  # float labels
        ("cross_entropy", LOGITS, LABELS[:, None]),  # [N, 1]
        ("cross_entropy", LOGITS, LOGITS.softmax(1)),  # probabilities
        ("mse", LOGITS, LOGITS[:, :1]),  # broadcastable, not the same shape
        ("mse", LOGITS, LOGITS.double()),
    ],
)
def test_a_bound_loss_declines_what_is_not_its_plain_case(name, pred, target) -> None:
    from archspec.training.losses import fast_loss

    assert fast_loss(name, {})(pred, target) is None  # the caller then takes LOSSES[name]


def test_losses_with_weights_or_bad_options_are_never_bound() -> None:
    from archspec.training.losses import fast_loss

    assert fast_loss("cross_entropy", {"weight": [1.0, 2.0, 1.0, 1.0]}) is None
    assert fast_loss("cross_entropy", {"smoothing": 0.1}) is None
    assert fast_loss("dice", {}) is None
