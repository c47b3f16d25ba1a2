from __future__ import annotations

import math

import pytest
import torch

from archspec.training.losses import LOSSES
from archspec.training.metrics import default_metrics, make_metric


def scores_for(labels: list[int], classes: int) -> torch.Tensor:
    """Logits whose argmax is ``labels``."""
    return torch.nn.functional.one_hot(torch.tensor(labels), classes).float() * 5.0


def test_accuracy_accumulates_over_batches() -> None:
    m = make_metric("accuracy")
    m.update(scores_for([0, 1, 2], 3), torch.tensor([0, 1, 1]))  # 2 of 3
    m.update(scores_for([2], 3), torch.tensor([2]))  # 1 of 1
    assert m.compute() == pytest.approx(3 / 4)
    assert (m.name, m.mode) == ("accuracy", "max")
    m.reset()
    assert math.isnan(m.compute())


def test_accuracy_is_per_pixel_and_skips_ignored_targets() -> None:
    pred = torch.zeros(1, 2, 2, 2)
    pred[0, 1, 0, :] = 1.0  # predicted: [[1, 1], [0, 0]]
    target = torch.tensor([[[1, 0], [0, 255]]])  # 255: ignore
    m = make_metric("accuracy")
    m.update(pred, target)
    assert m.compute() == pytest.approx(2 / 3)


def test_binary_accuracy_thresholds_logits_at_zero_or_probabilities_at_the_given_value() -> None:
    logits = torch.tensor([[-1.0], [2.0], [0.5], [-3.0]])
    labels = torch.tensor([0, 1, 0, 0])
    m = make_metric("accuracy")
    m.update(logits, labels)
    assert m.compute() == pytest.approx(3 / 4)
    p = make_metric("accuracy:0.5")
    p.update(torch.tensor([0.2, 0.9, 0.6, 0.4]), labels.float())
    assert p.compute() == pytest.approx(3 / 4)


def test_soft_targets_are_compared_by_their_argmax() -> None:
    m = make_metric("accuracy")
    m.update(scores_for([0, 1], 3), torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    assert m.compute() == pytest.approx(1 / 2)


def test_top_k_counts_the_target_among_the_k_best_scores() -> None:
    pred = torch.tensor([[0.1, 0.5, 0.4, 0.0, -0.1, -0.2], [0.9, 0.05, 0.04, 0.0, -0.1, -0.2]])
    target = torch.tensor([2, 3])
    top2 = make_metric("topk:2")
    top2.update(pred, target)
    assert (top2.name, top2.compute()) == ("top2", 0.5)
    top5 = make_metric("top5")
    top5.update(pred, target)
    assert top5.compute() == 1.0
    top1 = make_metric("top1")
    top1.update(pred, target)
    assert top1.compute() == 0.0
    with pytest.raises(
        ValueError, match=r"metric 'top5' needs pred \[N, C, \.\.\.\] with at least 5 classes, got \[N, 3\]"
    ):
        make_metric("top5").update(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_iou_and_dice_average_over_classes_present() -> None:
    # predicted 0 0 1 1 2 2 ; target 0 1 1 1 2 0 ; class 3 appears in neither and is left out
    pred = scores_for([0, 0, 1, 1, 2, 2], 4).T[None]  # [1, 4, 6]
    target = torch.tensor([[0, 1, 1, 1, 2, 0]])
    iou, dice = make_metric("iou"), make_metric("dice")
    for m in (iou, dice):
        m.update(pred[..., :3], target[..., :3])  # two batches: totals add up
        m.update(pred[..., 3:], target[..., 3:])
    # class 0: inter 1, |P| 2, |T| 2 ; class 1: inter 2, |P| 2, |T| 3 ; class 2: inter 1, |P| 2, |T| 1
    assert iou.compute() == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert dice.compute() == pytest.approx((2 / 4 + 4 / 5 + 2 / 3) / 3)


def test_binary_segmentation_iou_counts_background_and_foreground() -> None:
    logits = torch.tensor([[[[3.0, -3.0], [3.0, 3.0]]]])  # [1, 1, 2, 2] -> predicted 1 0 / 1 1
    mask = torch.tensor([[[1, 0], [0, 1]]])  # [1, 2, 2]
    m = make_metric("iou")
    m.update(logits, mask)
    # background: inter 1, union 2 ; foreground: inter 2, union 3
    assert m.compute() == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_regression_metrics_are_mean_errors_per_element_and_lower_is_better() -> None:
    mse, mae = make_metric("mse"), make_metric("mae")
    for m in (mse, mae):
        m.update(torch.tensor([[1.0], [2.0]]), torch.tensor([1, 4]))  # [N] ints for a [N, 1] output
        m.update(torch.tensor([[0.0]]), torch.tensor([1.0]))
    assert mse.compute() == pytest.approx((0 + 4 + 1) / 3)
    assert mae.compute() == pytest.approx((0 + 2 + 1) / 3)
    assert mse.mode == mae.mode == "min"
    with pytest.raises(
        ValueError, match=r"metric 'mse' needs pred and target of the same shape, got \[N, 10\] and \[N\]"
    ):
        mse.update(torch.zeros(2, 10), torch.zeros(2))


def test_totals_are_one_additive_tensor_for_data_parallel_reduction() -> None:
    a, b, both = make_metric("iou"), make_metric("iou"), make_metric("iou")
    p1, t1 = torch.randn(4, 3, 5), torch.randint(0, 3, (4, 5))
    p2, t2 = torch.randn(4, 3, 5), torch.randint(0, 3, (4, 5))
    a.update(p1, t1)
    b.update(p2, t2)
    both.update(p1, t1)
    both.update(p2, t2)
    a.totals += b.totals  # what all_reduce(SUM) does across workers
    assert a.compute() == pytest.approx(both.compute())


def test_unknown_metric_names_are_reported_with_a_suggestion() -> None:
    with pytest.raises(
        ValueError, match=r"^unknown metric 'acuracy' \(expected one of .*; did you mean 'accuracy'\?\)$"
    ):
        make_metric("acuracy")
    with pytest.raises(ValueError, match="metric 'mse' takes no ':' argument"):
        make_metric("mse:2")
    with pytest.raises(
        ValueError, match=r"metric 'accuracy:high': the part after ':' is a threshold, e.g. accuracy:0.5"
    ):
        make_metric("accuracy:high")


def test_default_metrics_fit_their_loss() -> None:
    assert default_metrics("cross_entropy") == ["accuracy"]
    assert default_metrics("mse") == ["mse"]
    assert default_metrics("binary_cross_entropy") == ["accuracy:0.5"]
    assert default_metrics("l2") == []
    for loss in LOSSES:
        for name in default_metrics(loss):
            make_metric(name)
