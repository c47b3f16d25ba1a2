"""Readers for user data (CSV, npz/npy, image folders) and split_arrays."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from archspec.data import read_csv, read_image_folder, read_npy, read_npz, split_arrays
from archspec.errors import DataError

# --- split_arrays -----------------------------------------------------------------------------


def test_split_arrays_partitions_a_seeded_shuffle_80_10_10() -> None:
    fields = {"x": np.arange(100).reshape(50, 2), "y": np.arange(50)}
    parts = {s: split_arrays(fields, split=s, seed=5) for s in ("train", "val", "test")}
    assert [len(p["y"]) for p in parts.values()] == [40, 5, 5]
    assert sorted(np.concatenate([p["y"] for p in parts.values()]).tolist()) == list(range(50))
    np.testing.assert_array_equal(parts["train"]["x"][:, 1], 2 * parts["train"]["y"] + 1)  # rows stay aligned
    assert parts["train"]["y"].tolist() != sorted(parts["train"]["y"].tolist())
    np.testing.assert_array_equal(split_arrays(fields, split="train", seed=5)["y"], parts["train"]["y"])
    everything = split_arrays(fields, split="all", seed=5)["y"]
    np.testing.assert_array_equal(everything, np.concatenate([p["y"] for p in parts.values()]))


def test_split_arrays_takes_custom_fractions() -> None:
    fields = {"y": np.arange(10)}
    assert len(split_arrays(fields, {"fit": 0.5, "holdout": 0.5}, split="holdout")["y"]) == 5


@pytest.mark.parametrize(
    ("fields", "kwargs", "message"),
    [
        (
            {"x": np.zeros((4, 2)), "y": np.zeros(3)},
            {},
            "data: fields have different numbers of samples: 'x' has 4, 'y' has 3",
        ),
        ({"y": np.zeros(4)}, {"fractions": {"train": 0.5, "test": 0.4}}, "split fractions must add up to 1"),
        (
            {"y": np.zeros(4)},
            {"split": "valid"},
            "split_arrays has no split 'valid' (did you mean 'val'?); splits are 'train', 'val', 'test', 'all'",
        ),
        ({}, {}, "data: no fields"),
    ],
)
def test_split_arrays_refuses_bad_input(fields: dict, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError) as err:
        split_arrays(fields, **kwargs)
    assert str(err.value).startswith(message)


# --- CSV --------------------------------------------------------------------------------------

CSV = "\ufeffheight, width ,label,name\n1.5,2,0,a\n\n3,4.25,1,b\n-1e-3,0,2,c\n"


def _csv(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_csv_reads_single_and_grouped_columns_with_dtypes(tmp_path: Path) -> None:
    fields = read_csv(
        _csv(tmp_path), {"x": ["height", "width"], "y": "label", "h": "height"}, dtypes={"y": "int64"}
    )
    np.testing.assert_array_equal(fields["x"], np.array([[1.5, 2], [3, 4.25], [-1e-3, 0]], np.float32))
    assert fields["x"].dtype == np.float32 and fields["h"].shape == (3,)
    assert fields["y"].dtype == np.int64 and fields["y"].tolist() == [0, 1, 2]


def test_read_csv_takes_another_delimiter(tmp_path: Path) -> None:
    fields = read_csv(_csv(tmp_path, "a;b\n1;2\n3;4\n"), {"ab": ["a", "b"]}, delimiter=";")
    assert fields["ab"].tolist() == [[1, 2], [3, 4]]


def _csv_error(tmp_path: Path, text: str, columns: dict, **kwargs) -> str:
    path = _csv(tmp_path, text)
    with pytest.raises(DataError) as err:
        read_csv(path, columns, **kwargs)
    return str(err.value).replace(str(path), "data.csv")


def test_read_csv_names_a_misspelt_column_and_lists_the_header(tmp_path: Path) -> None:
    assert _csv_error(tmp_path, CSV, {"y": "lable"}) == (
        "data.csv:1: no column 'lable' in the header (did you mean 'label'?); "
        "columns are 'height', 'width', 'label', 'name'"
    )


@pytest.mark.parametrize(
    ("text", "columns", "kwargs", "message"),
    [
        ("a,b\n1,2\n3,x\n", {"v": ["a", "b"]}, {}, "data.csv:3:2: column 'b': expected a number, got 'x'"),
        ("a,b\n1,2\n3,\n", {"v": "b"}, {}, "data.csv:3:2: column 'b': expected a number, got ''"),
        ("a,b\n1,nan\n", {"v": "b"}, {}, "data.csv:2:2: column 'b': expected a finite number, got 'nan'"),
        (
            "a,b\n1,2.5\n",
            {"v": "b"},
            {"dtypes": {"v": "int64"}},
            "data.csv:2:2: column 'b': expected an integer, got '2.5'",
        ),
        ("a,b\n1,2\n3\n", {"v": "a"}, {}, "data.csv:3: expected 2 cells as in the header, got 1"),
        ("a,a\n1,2\n", {"v": "a"}, {}, "data.csv:1: column 'a' appears 2 times in the header"),
        ("", {"v": "a"}, {}, "data.csv: empty file; expected a header line naming the columns"),
        ("a,b\n\n", {"v": "a"}, {}, "data.csv: no data rows after the header"),
        (
            "a\n1\n",
            {"v": "a"},
            {"dtypes": {"v": "int32"}},
            "data.csv: field 'v': dtype must be one of float32, float64, int64, got 'int32'",
        ),
        (
            "a\n1\n",
            {"v": "a"},
            {"dtypes": {"w": "int64"}},
            "data.csv: dtypes names field 'w', which columns does not",
        ),
        ("a\n1\n", {"v": []}, {}, "data.csv: field 'v' must name a column or a list of columns, got []"),
    ],
)
def test_read_csv_errors_name_file_line_and_column(
    tmp_path: Path, text: str, columns: dict, kwargs: dict, message: str
) -> None:
    assert _csv_error(tmp_path, text, columns, **kwargs) == message


def test_read_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        read_csv(tmp_path / "nope.csv", {"v": "a"})
    assert str(err.value) == f"{tmp_path / 'nope.csv'}: no such file"


# --- npz / npy --------------------------------------------------------------------------------


def test_read_npz_returns_every_named_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.ones((3, 2), np.float32), y=np.arange(3))
    fields = read_npz(tmp_path / "d.npz")
    assert list(fields) == ["x", "y"] and fields["x"].shape == (3, 2) and fields["y"].tolist() == [0, 1, 2]


def test_read_npz_refuses_object_arrays_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "o.npz"
    np.savez(path, y=np.arange(2), x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError) as err:
        read_npz(path)
    assert str(err.value) == (
        f"{path}: array 'x' holds Python objects (dtype=object), which archspec never unpickles; "
        "save it with a numeric dtype"
    )


def test_read_npy_refuses_object_arrays_and_pickles(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"the array holds Python objects \(dtype=object\)"):
        read_npy(tmp_path / "o.npy", "x")
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(DataError) as err:
        read_npy(tmp_path / "junk.npy", "x")
    assert str(err.value) == (
        f"{tmp_path / 'junk.npy'}: not an .npy/.npz file (numpy would have to unpickle it, which archspec never does)"
    )


def test_read_npy_wraps_one_array_as_a_field(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 3)))
    assert read_npy(tmp_path / "x.npy", "x")["x"].shape == (4, 3)
    with pytest.raises(DataError, match="use read_npy"):
        read_npz(tmp_path / "x.npy")


def test_read_npz_checks_that_fields_have_one_length(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.ones((3, 2)), y=np.arange(4))
    with pytest.raises(DataError) as err:
        read_npz(tmp_path / "d.npz")
    assert (
        str(err.value)
        == f"{tmp_path / 'd.npz'}: fields have different numbers of samples: 'x' has 3, 'y' has 4"
    )


def test_read_npz_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        read_npz(tmp_path / "none.npz")
    assert str(err.value) == f"{tmp_path / 'none.npz'}: no such file"


# --- image folders ----------------------------------------------------------------------------


def _image_folder(tmp_path: Path, sizes: tuple[tuple[int, int], ...] = ((4, 6), (4, 6), (4, 6))) -> Path:
    image = pytest.importorskip("PIL.Image")
    root = tmp_path / "pets"
    colours = {"cat": (255, 0, 0), "dog": (0, 0, 255)}
    for i, (w, h) in enumerate(sizes):
        name = "cat" if i % 2 == 0 else "dog"
        (root / name).mkdir(parents=True, exist_ok=True)
        image.new("RGB", (w, h), colours[name]).save(root / name / f"{i}.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def test_read_image_folder_labels_images_by_subfolder(tmp_path: Path) -> None:
    fields, classes = read_image_folder(_image_folder(tmp_path))
    assert classes == ["cat", "dog"]
    assert fields["image"].shape == (3, 3, 6, 4) and fields["image"].dtype == np.float32
    assert fields["label"].tolist() == [0, 0, 1]
    np.testing.assert_allclose(fields["image"][0, :, 0, 0], [1, 0, 0])
    np.testing.assert_allclose(fields["image"][2, :, 0, 0], [0, 0, 1])


def test_read_image_folder_grayscale_and_resize(tmp_path: Path) -> None:
    root = _image_folder(tmp_path, ((4, 6), (8, 8), (5, 5)))
    fields, _ = read_image_folder(root, size=(3, 2), grayscale=True)
    assert fields["image"].shape == (3, 1, 3, 2)
    assert fields["image"].min() >= 0.0 and fields["image"].max() <= 1.0


def test_read_image_folder_refuses_mixed_sizes_without_size(tmp_path: Path) -> None:
    root = _image_folder(tmp_path, ((4, 6), (8, 8)))
    with pytest.raises(DataError) as err:
        read_image_folder(root)
    assert str(err.value) == (
        f"{root / 'dog' / '1.png'}: image is 8x8 (HxW) but {root / 'cat' / '0.png'} is 6x4; "
        "pass size=(height, width) to resize every image"
    )


def test_read_image_folder_needs_class_folders(tmp_path: Path) -> None:
    pytest.importorskip("PIL.Image")
    with pytest.raises(DataError) as err:
        read_image_folder(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: no class folders; expected one subfolder of images per class, e.g. {tmp_path / 'cat'}"
    )


def test_read_image_folder_says_how_to_get_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(DataError) as err:
        read_image_folder(tmp_path)
    assert (
        str(err.value)
        == "reading an image folder needs Pillow, which is not installed; run 'pip install Pillow'"
    )


def test_read_image_folder_names_an_unreadable_image(tmp_path: Path) -> None:
    root = _image_folder(tmp_path)
    (root / "dog" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png: cannot read image"):
        read_image_folder(root)


def test_read_csv_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,\xff\n")
    with pytest.raises(DataError, match=r"data\.csv:\d+: not a readable UTF-8 CSV file"):
        read_csv(path, {"v": "a"})
