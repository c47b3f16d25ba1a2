from __future__ import annotations

import math

import pytest
import torch

from archspec.lang.schema import AUGMENTS as SCHEMA_AUGMENTS
from archspec.training.augment import (
    AUGMENTS,
    Augment,
    AugmentError,
    _rotate_field,
    apply_augment,
    eval_augments,
    parse_augment,
)

FIELDS = ["image", "mask", "label"]


def seg_batch(n: int = 16, size: int = 12, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random blobs: a float image and the integer mask obtained by thresholding it."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 1, size, size, generator=g)
    return {"image": image, "mask": (image[:, 0] > 0.5).long(), "label": torch.arange(n)}


def run(items: list, batch: dict[str, torch.Tensor], seed: int = 1) -> dict[str, torch.Tensor]:
    augs = parse_augment(items, default_fields=FIELDS)
    return apply_augment(batch, augs, torch.Generator().manual_seed(seed))


# -- parsing --------------------------------------------------------------------------------------


def test_the_augment_names_match_the_schema() -> None:
    assert tuple(SCHEMA_AUGMENTS) == AUGMENTS


def test_names_numbers_and_mappings_parse_to_items_with_defaults() -> None:
    augs = parse_augment(
        [
            "hflip",
            {"vflip": 0.2},
            {"rotate": 10},
            {"translate": {"pixels": 3, "p": 0.5, "fields": ["image"]}},
            {"noise": 0.05},
        ],
        default_fields=["image", "mask"],
    )
    assert augs[0] == Augment("hflip", ("image", "mask"), p=0.5)
    assert augs[1] == Augment("vflip", ("image", "mask"), p=0.2)
    assert augs[2] == Augment("rotate", ("image", "mask"), degrees=10.0)
    assert augs[3] == Augment("translate", ("image",), explicit=True, p=0.5, pixels=3)
    assert augs[4] == Augment("noise", ("image", "mask"), std=0.05)


def test_normalize_takes_per_channel_or_scalar_mean_and_std() -> None:
    (a, b) = parse_augment(
        [{"normalize": {"mean": [0.5, 0.4], "std": [0.2, 0.1]}}, {"normalize": {"mean": 0.5, "std": 2}}],
        default_fields=["x"],
    )
    assert (a.mean, a.std, b.mean, b.std) == ((0.5, 0.4), (0.2, 0.1), 0.5, 2.0)
    assert eval_augments([*parse_augment(["hflip"], default_fields=["x"]), a]) == [a]


@pytest.mark.parametrize(
    ("items", "message", "path"),
    [
        (
            ["hfilp"],
            "unknown augment 'hfilp' (expected one of hflip, vflip, rotate, translate, crop, noise, normalize; did you mean 'hflip'?)",
            (0,),
        ),
        (
            [{"rotate": {"degree": 10}}],
            "augment 'rotate' has no option 'degree' (expected degrees, p, fields; did you mean 'degrees'?)",
            (0, "rotate", "degree"),
        ),
        (["rotate"], "augment 'rotate' needs 'degrees', e.g. {rotate: {degrees: ...}}", (0, "rotate")),
        ([{"hflip": 1.5}], "augment 'hflip': p must be a number in [0, 1], got 1.5", (0, "hflip", "p")),
        (
            [{"crop": 2.5}],
            "augment 'crop': pixels must be a whole number >= 0, got 2.5",
            (0, "crop", "pixels"),
        ),
        (
            [{"normalize": 0.5}],
            "augment 'normalize' takes {normalize: {mean: [...], std: [...]}}, got 0.5",
            (0, "normalize"),
        ),
        (
            [{"normalize": {"mean": [0.5], "std": [0.0]}}],
            "augment 'normalize': std must be a number or a list of positive numbers (one per channel), got [0.0]",
            (0, "normalize", "std"),
        ),
        (
            ["hflip", {"rotate": 5, "noise": 1}],
            "an augment item is a name or a one-key mapping like {rotate: 10}, got {'rotate': 5, 'noise': 1}",
            (1,),
        ),
        (
            [{"noise": {"std": 0.1, "fields": "image"}}],
            "augment 'noise': fields must be a non-empty list of field names, got 'image'",
            (0, "noise", "fields"),
        ),
    ],
)
def test_malformed_items_raise_a_value_error_with_a_path(items: list, message: str, path: tuple) -> None:
    with pytest.raises(AugmentError) as info:
        parse_augment(items, default_fields=["image"])
    assert str(info.value) == message
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


# -- consistency between fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "items",
    [
        ["hflip"],
        ["vflip"],
        [{"hflip": 1.0}, {"vflip": 1.0}],
        [{"translate": 3}],
        [{"crop": 4}],
        ["hflip", {"translate": 2}, "vflip"],
    ],
)
def test_the_mask_follows_the_image_through_flips_and_shifts(items: list) -> None:
    batch = seg_batch()
    out = run(items, batch)
    assert torch.equal(out["mask"], (out["image"][:, 0] > 0.5).long())
    assert not torch.equal(out["image"], batch["image"])  # something happened
    assert torch.equal(out["label"], batch["label"])  # a [N] label has no spatial dims: left alone


def test_quarter_turns_keep_image_and_mask_aligned_exactly() -> None:
    batch = seg_batch(n=4)
    angles = torch.tensor([0.0, math.pi / 2, math.pi, -math.pi / 2], dtype=torch.float64)
    chosen = torch.ones(4, dtype=torch.bool)
    image = _rotate_field(batch["image"], angles, chosen)
    mask = _rotate_field(batch["mask"], angles, chosen)
    assert torch.equal(mask, (image[:, 0] > 0.5).long())
    for k in range(4):  # same as torch.rot90 (counter-clockwise for positive angles here: 1 turn each)
        expect = torch.rot90(batch["image"][k], k={0: 0, 1: 1, 2: 2, 3: -1}[k], dims=(-2, -1))
        assert torch.allclose(image[k], expect, atol=1e-5)


def test_random_rotation_uses_one_angle_per_sample_for_every_field() -> None:
    coarse = torch.randint(0, 2, (16, 4, 4), generator=torch.Generator().manual_seed(0))
    mask = coarse.repeat_interleave(4, 1).repeat_interleave(4, 2)  # 4x4-pixel blocks: flat regions
    out = run(
        [{"rotate": {"degrees": 30, "fields": ["a", "b", "img"]}}],
        {"a": mask, "b": mask.clone(), "img": mask[:, None].float()},
    )
    assert torch.equal(out["a"], out["b"])
    assert not torch.equal(out["a"], mask)
    confident = (
        out["img"][:, 0] - out["img"][:, 0].round()
    ).abs() < 1e-6  # bilinear agrees with nearest where flat
    assert torch.equal(out["img"][:, 0][confident].round().long(), out["a"][confident])
    assert confident.float().mean() > 0.5


def test_integer_fields_keep_their_dtype_and_values_under_rotation() -> None:
    batch = {
        "mask": torch.randint(0, 5, (8, 16, 16), dtype=torch.int32),
        "m4": torch.randint(0, 5, (8, 1, 16, 16)),
    }
    out = run([{"rotate": 25}, {"translate": 2}], batch)
    assert out["mask"].dtype == torch.int32 and out["m4"].dtype == torch.int64
    assert set(out["mask"].unique().tolist()) <= {0, 1, 2, 3, 4}
    assert out["m4"].shape == (8, 1, 16, 16)


def test_one_dimensional_signals_flip_and_shift_along_their_length() -> None:
    signal = torch.arange(10.0).repeat(4, 2, 1)  # [N, C, L]
    out = run([{"hflip": {"p": 1.0, "fields": ["sound"]}}], {"sound": signal})
    assert torch.equal(out["sound"], signal.flip(-1))
    shifted = run([{"translate": {"pixels": 3, "fields": ["sound"]}}], {"sound": signal})["sound"]
    for row in shifted[:, 0]:
        nz = row[row != 0]
        assert torch.equal(nz, nz.sort().values)  # still a run of consecutive values
    assert not torch.equal(shifted, signal)


def test_explicit_fields_that_do_not_fit_are_errors_and_defaults_are_skipped() -> None:
    batch = {"x": torch.rand(4, 3), "y": torch.arange(4)}
    out = run(["hflip", {"rotate": 5}], batch)
    assert torch.equal(out["x"], batch["x"])
    with pytest.raises(
        ValueError,
        match=r"augment 'rotate' needs a \[N, C, H, W\] floating or \[N, H, W\] integer field; 'x' is \[4, 3\] float32",
    ):
        run([{"rotate": {"degrees": 5, "fields": ["x"]}}], batch)
    with pytest.raises(ValueError, match=r"augment 'hflip': the batch has no field 'z' \(fields: x, y\)"):
        run([{"hflip": {"fields": ["z"]}}], batch)


# -- noise, normalize, randomness ----------------------------------------------------------------------


def test_noise_changes_floating_fields_only() -> None:
    batch = seg_batch()
    out = run([{"noise": 0.1}], batch)
    assert torch.equal(out["mask"], batch["mask"]) and torch.equal(out["label"], batch["label"])
    delta = out["image"] - batch["image"]
    assert 0.08 < float(delta.std()) < 0.12
    with pytest.raises(ValueError, match="augment 'noise' needs a floating field; 'mask' is"):
        run([{"noise": {"std": 0.1, "fields": ["mask"]}}], batch)


def test_normalize_subtracts_the_mean_and_divides_by_the_std_per_channel() -> None:
    x = torch.rand(5, 2, 4, 4)
    out = run(
        [{"normalize": {"mean": [0.5, 0.25], "std": [0.5, 2.0]}}],
        {"image": x, "mask": torch.zeros(5, 4, 4, dtype=torch.long)},
    )
    assert torch.allclose(out["image"][:, 0], (x[:, 0] - 0.5) / 0.5)
    assert torch.allclose(out["image"][:, 1], (x[:, 1] - 0.25) / 2.0)
    assert torch.equal(out["mask"], torch.zeros(5, 4, 4, dtype=torch.long))
    with pytest.raises(
        ValueError, match="augment 'normalize': mean has 3 values but field 'image' has 2 channels"
    ):
        run([{"normalize": {"mean": [0.5, 0.5, 0.5], "std": 1}}], {"image": x})


def test_the_same_generator_state_gives_the_same_augmented_batch() -> None:
    items = ["hflip", "vflip", {"rotate": 15}, {"crop": 2}, {"noise": 0.05}]
    batch = seg_batch()
    a, b, c = run(items, batch, seed=7), run(items, batch, seed=7), run(items, batch, seed=8)
    assert all(torch.equal(a[k], b[k]) for k in batch)
    assert not torch.equal(a["image"], c["image"])
    g = torch.Generator().manual_seed(3)
    augs = parse_augment(items, default_fields=FIELDS)
    apply_augment(batch, augs, g)
    state = g.get_state()
    after = apply_augment(batch, augs, g)
    resumed = apply_augment(batch, augs, torch.Generator().set_state(state))
    assert all(torch.equal(after[k], resumed[k]) for k in batch)


def test_probability_gates_each_sample_independently() -> None:
    batch = {"image": torch.rand(400, 1, 4, 4)}
    out = run([{"hflip": 0.25}], batch)
    flipped = (out["image"] != batch["image"]).flatten(1).any(1).float().mean()
    assert 0.15 < float(flipped) < 0.35
    assert torch.equal(run([{"hflip": 0.0}], batch)["image"], batch["image"])


def test_the_input_batch_is_not_modified() -> None:
    batch = seg_batch()
    copy = {k: v.clone() for k, v in batch.items()}
    run(["hflip", {"rotate": 10}, {"noise": 0.1}, {"normalize": {"mean": 0.5, "std": 0.5}}], batch)
    assert all(torch.equal(batch[k], copy[k]) for k in batch)
