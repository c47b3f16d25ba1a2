"""Built-in datasets: shapes and dtypes as promised by their info, seeds, splits and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import archspec.data as data
from archspec.data import DATASETS, dataset_info, load_dataset
from archspec.errors import DataError

NAMES = sorted(DATASETS)
GENERATED = [n for n in NAMES if n != "digits"]
REPO = Path(__file__).resolve().parents[1]


def _rows(fields: dict[str, np.ndarray]) -> set[bytes]:
    """Each sample's bytes across all fields, for set comparisons between splits."""
    n = len(next(iter(fields.values())))
    return {b"".join(np.ascontiguousarray(a[i]).tobytes() for a in fields.values()) for i in range(n)}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("split", ["train", "val", "test", "all"])
def test_every_split_has_the_fields_shapes_and_dtypes_its_info_promises(name: str, split: str) -> None:
    info = dataset_info(name)
    fields = load_dataset(name, split)
    assert list(fields) == list(info.fields)
    for key, arr in fields.items():
        assert arr.shape == (info.sizes[split], *info.fields[key].shape), key
        assert arr.dtype == np.dtype(info.fields[key].dtype), key
    for key in ("label", "mask"):
        if key in fields:
            assert fields[key].min() >= 0 and fields[key].max() < info.num_classes


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_arrays_and_another_seed_does_not(name: str) -> None:
    a, b, c = load_dataset(name, seed=3), load_dataset(name, seed=3), load_dataset(name, seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[key], c[key]) for key in a)


@pytest.mark.parametrize("name", NAMES)
def test_train_val_and_test_are_disjoint_and_make_up_all(name: str) -> None:
    train, val, test, everything = (load_dataset(name, s, seed=1) for s in ("train", "val", "test", "all"))
    assert (
        not (_rows(train) & _rows(val))
        and not (_rows(train) & _rows(test))
        and not (_rows(val) & _rows(test))
    )
    assert _rows(train) | _rows(val) | _rows(test) == _rows(everything)


@pytest.mark.parametrize("name", GENERATED)
def test_generated_all_is_train_val_test_in_order(name: str) -> None:
    parts = [load_dataset(name, s) for s in ("train", "val", "test")]
    everything = load_dataset(name, "all")
    for key in everything:
        np.testing.assert_array_equal(everything[key], np.concatenate([p[key] for p in parts]))


def test_digits_are_the_1797_bundled_uci_samples_scaled_to_0_1() -> None:
    digits = load_dataset("digits", "all")
    assert len(digits["label"]) == 1797
    assert np.bincount(digits["label"]).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert digits["image"].min() == 0.0 and digits["image"].max() == 1.0
    np.testing.assert_array_equal(digits["flat"], digits["image"].reshape(1797, 64))
    assert {len(load_dataset("digits", s)["label"]) for s in ("train", "val", "test")} == {1258, 269, 270}


def test_the_bundled_digits_file_is_small_uint8_with_a_license_note() -> None:
    folder = REPO / "archspec" / "data"
    assert (folder / "digits.npz").stat().st_size < 100_000
    with np.load(folder / "digits.npz", allow_pickle=False) as z:
        assert z["images"].shape == (1797, 8, 8) and z["images"].dtype == np.uint8 and z["images"].max() == 16
        assert z["labels"].shape == (1797,) and z["labels"].dtype == np.uint8
    note = (folder / "DIGITS_LICENSE.txt").read_text()
    assert "CC BY 4.0" in note and "10.24432/C50P49" in note


def test_limit_keeps_a_prefix_of_the_shuffled_split() -> None:
    full = load_dataset("digits", "train", seed=7)
    few = load_dataset("digits", "train", seed=7, limit=200)
    assert len(few["label"]) == 200
    for key in full:
        np.testing.assert_array_equal(few[key], full[key][:200])
    assert len(np.unique(few["label"])) == 10  # shuffled, not the file's order


def test_asking_for_one_generated_split_never_changes_another() -> None:
    small = load_dataset("moons", "train", options={"n": 100})
    assert len(small["x"]) == 70
    again = load_dataset("moons", "train", options={"n": 100})
    np.testing.assert_array_equal(small["x"], again["x"])


def test_options_reach_both_the_data_and_the_info() -> None:
    opts = {"size": 24, "kinds": ["square", "circle"], "n": 40}
    shapes = load_dataset("shapes", "train", options=opts)
    info = dataset_info("shapes", opts)
    assert shapes["image"].shape == (28, 1, 24, 24) and info.fields["mask"].shape == (24, 24)
    assert info.classes == ("background", "square", "circle") and shapes["mask"].max() <= 2
    spirals = load_dataset("spirals", "all", options={"arms": 4})
    assert (
        sorted(np.unique(spirals["label"])) == [0, 1, 2, 3]
        and dataset_info("spirals", {"arms": 4}).num_classes == 4
    )
    assert load_dataset("paired", "val", options={"length": 32, "n": 20})["sound"].shape == (3, 1, 32)


def test_xor_labels_are_the_sign_of_the_product_without_noise() -> None:
    xor = load_dataset("xor", "all")
    np.testing.assert_array_equal(xor["label"], (xor["x"][:, 0] * xor["x"][:, 1] < 0).astype(np.int64))


def test_moons_are_not_linearly_separable_but_nearly_balanced() -> None:
    moons = load_dataset("moons", "all")
    assert 0.4 < moons["label"].mean() < 0.6
    x, y = moons["x"], moons["label"]
    # the best least-squares linear separator still misclassifies a clear share of points
    design = np.hstack([x, np.ones((len(x), 1))])
    w = np.linalg.lstsq(design, 2.0 * y - 1, rcond=None)[0]
    assert 0.05 < np.mean((design @ w > 0) != y) < 0.3


def test_shapes_masks_mark_bright_shapes_on_a_darker_background() -> None:
    shapes = load_dataset("shapes", "val")
    image, mask = shapes["image"][:, 0], shapes["mask"]
    assert (mask.reshape(len(mask), -1).max(axis=1) > 0).all()  # every image has a shape
    assert image[mask > 0].mean() > image[mask == 0].mean() + 0.4
    assert set(np.unique(mask)) == {0, 1, 2, 3}
    assert image.min() >= 0.0 and image.max() <= 1.0


def _nearest_centroid_accuracy(
    train: np.ndarray, y: np.ndarray, test: np.ndarray, y_test: np.ndarray
) -> float:
    centroids = np.stack([train[y == k].mean(axis=0) for k in range(4)])
    guess = ((test[:, None, :] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)
    return float((guess == y_test).mean())


def _paired_features(fields: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Phase-free features: spectral magnitudes of the image and of the sound."""
    image = np.abs(np.fft.fft2(fields["image"][:, 0])).reshape(len(fields["label"]), -1)
    sound = np.abs(np.fft.rfft(fields["sound"][:, 0]))
    return image / image.std(), sound / sound.std()


def test_paired_label_needs_both_modalities() -> None:
    train, test = load_dataset("paired", "train"), load_dataset("paired", "test")
    (image, sound), (image_t, sound_t) = _paired_features(train), _paired_features(test)
    y, y_t = train["label"], test["label"]
    image_only = _nearest_centroid_accuracy(image, y, image_t, y_t)
    sound_only = _nearest_centroid_accuracy(sound, y, sound_t, y_t)
    both = _nearest_centroid_accuracy(np.hstack([image, sound]), y, np.hstack([image_t, sound_t]), y_t)
    assert image_only < 0.65 and sound_only < 0.65
    assert both > 0.95


def test_unknown_dataset_names_the_closest_one() -> None:
    with pytest.raises(DataError) as err:
        load_dataset("digit")
    assert str(err.value) == (
        "unknown dataset 'digit' (did you mean 'digits'?); "
        "datasets are 'digits', 'moons', 'paired', 'reverse', 'shapes', 'sort', 'spirals', 'xor'"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"split": "trian"},
            "dataset 'moons' has no split 'trian' (did you mean 'train'?); splits are 'train', 'val', 'test', 'all'",
        ),
        (
            {"options": {"nosie": 0.2}},
            "dataset 'moons' has no option 'nosie' (did you mean 'noise'?); options are 'n', 'noise'",
        ),
        ({"options": {"noise": -1}}, "dataset 'moons': option 'noise' must be at least 0, got -1"),
        ({"options": {"n": 10.5}}, "dataset 'moons': option 'n' must be an integer, got 10.5"),
        ({"options": {"n": "big"}}, "dataset 'moons': option 'n' must be a number, got 'big'"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
        ({"limit": 0}, "limit must be a positive integer, got 0"),
        ({"limit": 701}, "limit 701 is more than the 700 samples in dataset 'moons', split 'train'"),
    ],
)
def test_bad_arguments_are_data_errors_with_exact_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("moons", **kwargs)
    assert str(err.value) == message


def test_bad_list_options_name_the_item_and_the_choices() -> None:
    with pytest.raises(DataError) as err:
        dataset_info("shapes", {"kinds": ["circle", "sqaure"]})
    assert str(err.value) == (
        "dataset 'shapes': option 'kinds': unknown item 'sqaure' (did you mean 'square'?); "
        "choose from 'circle', 'square', 'triangle'"
    )
    with pytest.raises(DataError, match="it takes no options"):
        load_dataset("digits", options={"n": 5})


def test_every_dataset_is_callable_as_split_seed_options() -> None:
    fields = DATASETS["spirals"]("val", 0, arms=3, n=100)
    assert fields["x"].shape == (15, 2) and fields["label"].max() <= 2


def test_info_is_json_serialisable_for_docs() -> None:
    for name in NAMES:
        doc = json.loads(json.dumps(dataset_info(name).to_dict()))
        assert doc["name"] == name and doc["sizes"]["all"] == sum(
            doc["sizes"][s] for s in ("train", "val", "test")
        )


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        data.register(DATASETS["xor"])


def test_the_data_package_never_imports_torch() -> None:
    code = (
        "import sys, archspec.data as d\n"
        "for name in d.DATASETS: d.load_dataset(name, 'val', limit=2)\n"
        "d.dataset_info('shapes')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


@pytest.mark.parametrize(("name", "answer"), [("reverse", lambda s: s[:, ::-1]), ("sort", np.sort)])
def test_digit_strings_hold_the_string_the_separator_and_the_answer_shifted_right(name, answer) -> None:
    data = load_dataset(name, "test", options={"length": 5})
    tokens, target = data["tokens"], data["target"]
    assert tokens.shape == (600, 10) and target.shape == (600, 5)
    np.testing.assert_array_equal(target, answer(tokens[:, :5]))
    assert (tokens[:, 5] == 10).all()
    np.testing.assert_array_equal(tokens[:, 6:], target[:, :-1])
    train = load_dataset(name, "train", options={"length": 5})["tokens"][:, :5]
    assert not {r.tobytes() for r in train} & {r.tobytes() for r in tokens[:, :5]}  # unseen strings
