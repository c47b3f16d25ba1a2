"""Readers for the user's own data: CSV, ``.npz``/``.npy`` and class-per-folder images.

Every reader returns a dict of named numpy arrays that share their first (sample) dimension,
ready for :func:`archspec.data.split_arrays`. Every failure is a :class:`DataError` that names
the file (and for CSV the line and column). Pickled data is never loaded; Pillow is imported
only when an image folder is read.
"""

from __future__ import annotations

import csv
import functools
import math
import os
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from archspec.data.splits import check_lengths
from archspec.errors import DataError, did_you_mean

__all__ = [
    "IMAGE_SUFFIXES",
    "list_image_folder",
    "image_reader",
    "load_image",
    "read_csv",
    "read_image_folder",
    "read_npy",
    "read_npz",
]

PathLike = str | os.PathLike[str]
CSV_DTYPES = ("float32", "float64", "int64")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# --- CSV --------------------------------------------------------------------------------------


def read_csv(
    path: PathLike,
    columns: Mapping[str, str | Sequence[str]],
    *,
    dtypes: Mapping[str, str] | None = None,
    delimiter: str = ",",
) -> dict[str, np.ndarray]:
    """Read numeric columns of a CSV file (with a header line) into named fields.

    ``columns`` maps each field to one column name (field shape ``[N]``) or a list of names
    (``[N, len(list)]``). Fields are float32 unless ``dtypes`` says ``float64`` or ``int64``.
    Blank lines are skipped; every other line must have as many cells as the header.
    """
    src = str(path)
    wanted = _check_columns(src, columns)
    kinds = _check_dtypes(src, columns, dtypes or {})
    with _open_text(path) as f:
        rows = _rows(src, csv.reader(f, delimiter=delimiter))
        header_line, header = next(rows, (0, None))
        if header is None:
            raise DataError(f"{src}: empty file; expected a header line naming the columns")
        index = _column_index(src, header_line, header, wanted)
        values = {field: [] for field in columns}  # type: dict[str, list[list[float]]]
        for line, row in rows:
            if len(row) != len(header):
                raise DataError(
                    f"{src}:{line}: expected {len(header)} cells as in the header, got {len(row)}"
                )
            for field, names in wanted.items():
                values[field].append([_cell(src, line, index[c], c, row, kinds[field]) for c in names])
    if not values or not next(iter(values.values())):
        raise DataError(f"{src}: no data rows after the header")
    return {field: _to_array(values[field], kinds[field], columns[field]) for field in columns}


def _open_text(path: PathLike):
    try:
        return open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - returned to a with
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e


def _rows(src: str, reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) for every non-blank line; decoding errors become DataErrors."""
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, row
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{src}:{reader.line_num + 1}: not a readable UTF-8 CSV file ({e})") from e


def _check_columns(src: str, columns: Mapping[str, Any]) -> dict[str, list[str]]:
    if not isinstance(columns, Mapping) or not columns:
        raise DataError(
            f"{src}: columns must map each field to a column name or a list of them, got {columns!r}"
        )
    wanted: dict[str, list[str]] = {}
    for field, spec in columns.items():
        names = [spec] if isinstance(spec, str) else spec
        if not isinstance(names, Sequence) or not names or not all(isinstance(c, str) for c in names):
            raise DataError(f"{src}: field {field!r} must name a column or a list of columns, got {spec!r}")
        wanted[field] = list(names)
    return wanted


def _check_dtypes(src: str, columns: Mapping[str, Any], dtypes: Mapping[str, str]) -> dict[str, str]:
    for field, dtype in dtypes.items():
        if field not in columns:
            hint = did_you_mean(field, columns)
            raise DataError(
                f"{src}: dtypes names field {field!r}, which columns does not"
                + (f" ({hint})" if hint else "")
            )
        if dtype not in CSV_DTYPES:
            raise DataError(
                f"{src}: field {field!r}: dtype must be one of {', '.join(CSV_DTYPES)}, got {dtype!r}"
            )
    return {field: dtypes.get(field, "float32") for field in columns}


def _column_index(src: str, line: int, header: list[str], wanted: dict[str, list[str]]) -> dict[str, int]:
    names = [h.strip() for h in header]
    index: dict[str, int] = {}
    for column in (c for cols in wanted.values() for c in cols):
        if names.count(column) > 1:
            raise DataError(
                f"{src}:{line}: column {column!r} appears {names.count(column)} times in the header"
            )
        if column not in names:
            hint = did_you_mean(column, names)
            listed = ", ".join(repr(n) for n in names)
            raise DataError(
                f"{src}:{line}: no column {column!r} in the header"
                + (f" ({hint})" if hint else "")
                + f"; columns are {listed}"
            )
        index[column] = names.index(column)
    return index


def _cell(src: str, line: int, col: int, name: str, row: list[str], kind: str) -> float:
    text = row[col].strip()
    where = f"{src}:{line}:{col + 1}: column {name!r}"
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: expected a finite number, got {text!r}")
    if kind == "int64" and not value.is_integer():
        raise DataError(f"{where}: expected an integer, got {text!r}")
    return value


def _to_array(rows: list[list[float]], kind: str, spec: str | Sequence[str]) -> np.ndarray:
    arr = np.asarray(rows, dtype=np.float64).astype(kind)
    return arr[:, 0] if isinstance(spec, str) else arr


# --- numpy files ------------------------------------------------------------------------------


def read_npz(path: PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, by its name. Object (pickled) arrays are refused."""
    src = str(path)
    loaded = _np_load(path)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(
            f"{src}: holds a single array, not an .npz archive of named arrays; use read_npy(path, field)"
        )
    with loaded:
        fields = {key: _npz_member(src, loaded, key) for key in loaded.files}
    if not fields:
        raise DataError(f"{src}: the archive holds no arrays")
    check_lengths(fields, source=src)
    return fields


def read_npy(path: PathLike, field: str) -> dict[str, np.ndarray]:
    """The one array of an ``.npy`` file as ``{field: array}``."""
    src = str(path)
    loaded = _np_load(path)
    if not isinstance(loaded, np.ndarray):
        loaded.close()
        raise DataError(f"{src}: is an .npz archive of named arrays, not an .npy file; use read_npz(path)")
    fields = {field: loaded}
    check_lengths(fields, source=src)
    return fields


def _np_load(path: PathLike) -> Any:
    src = str(path)
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{src}: no such file") from None
    except ValueError as e:
        raise DataError(_pickle_message(src, None, e)) from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{src}: not a readable .npy/.npz file ({e})") from e


def _npz_member(src: str, archive: Any, key: str) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as e:
        raise DataError(_pickle_message(src, key, e)) from e
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{src}: array {key!r} is corrupt ({e})") from e


def _pickle_message(src: str, key: str | None, err: ValueError) -> str:
    if "Object arrays" in str(err):
        what = f"array {key!r}" if key else "the array"
        return (
            f"{src}: {what} holds Python objects (dtype=object), which archspec never unpickles; "
            "save it with a numeric dtype"
        )
    return f"{src}: not an .npy/.npz file (numpy would have to unpickle it, which archspec never does)"


# --- image folders ----------------------------------------------------------------------------


def read_image_folder(
    root: PathLike,
    size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Images laid out one subfolder per class: ``root/cat/1.png``, ``root/dog/7.jpg``, ...

    Returns ``({"image": float32 [N, C, H, W] in 0..1, "label": int64 [N]}, class_names)``;
    classes are the sorted subfolder names and ``label`` indexes them. ``C`` is 1 with
    ``grayscale`` and 3 otherwise. Without ``size`` every image must already have the same size;
    ``size`` (an int or ``(height, width)``) resizes them all. Needs Pillow.
    """
    image_module = _pillow()
    target = _check_size(size)
    classes, files = list_image_folder(root)
    images: list[np.ndarray] = []
    labels: list[int] = []
    first: tuple[Path, tuple[int, int]] | None = None
    for label, path in files:
        arr = _load_image(image_module, path, target, "L" if grayscale else "RGB")
        if first is None:
            first = (path, arr.shape[:2])
        elif arr.shape[:2] != first[1]:
            raise DataError(
                f"{path}: image is {arr.shape[0]}x{arr.shape[1]} (HxW) but {first[0]} is "
                f"{first[1][0]}x{first[1][1]}; pass size=(height, width) to resize every image"
            )
        images.append(arr)
        labels.append(label)
    stacked = np.stack(images)
    stacked = stacked[:, None] if grayscale else stacked.transpose(0, 3, 1, 2)
    return {"image": np.ascontiguousarray(stacked), "label": np.asarray(labels, np.int64)}, classes


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "reading an image folder needs Pillow, which is not installed; run 'pip install Pillow'"
        ) from None
    return Image


def _check_size(size: object) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (size, size) if isinstance(size, int) and not isinstance(size, bool) else size
    if (
        not isinstance(pair, Sequence)
        or len(pair) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in pair)
    ):
        raise DataError(f"size must be a positive int or (height, width), got {size!r}")
    return int(pair[0]), int(pair[1])


def list_image_folder(root: PathLike) -> tuple[list[str], list[tuple[int, Path]]]:
    """The class names (sorted subfolders) and every image as ``(label, path)``, in a fixed
    order (by class, then file name), without opening one."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(
            f"{root}: no class folders; expected one subfolder of images per class, e.g. {root / 'cat'}"
        )
    files: list[tuple[int, Path]] = []
    for label, name in enumerate(classes):
        found = sorted(
            p
            for p in (root / name).iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not found:
            raise DataError(f"{root / name}: class folder has no images ({', '.join(IMAGE_SUFFIXES)})")
        files.extend((label, p) for p in found)
    return classes, files


def _load_image(image_module: Any, path: Path, size: tuple[int, int] | None, mode: str) -> np.ndarray:
    try:
        with image_module.open(path) as im:
            im = im.convert(mode)
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), image_module.BILINEAR)
            return np.asarray(im, dtype=np.float32) / np.float32(255.0)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from e


def load_image(path: PathLike, size: tuple[int, int], grayscale: bool) -> np.ndarray:
    """One image as float32 ``[C, H, W]`` in 0..1, resized to ``size`` (height, width): what
    :func:`read_image_folder` holds for it. For many images take :func:`image_reader` once (as
    the training streams' loader does): this looks for Pillow and checks ``size`` on every call."""
    return image_reader(size, grayscale)(path)


def image_reader(size: tuple[int, int], grayscale: bool) -> Callable[[PathLike], np.ndarray]:
    """:func:`load_image` with Pillow found and ``size`` checked once, not per image."""
    _pillow()  # the clear error without Pillow, before any worker starts
    return functools.partial(_read_checked, _check_size(size), grayscale)  # pickles: spawned workers


def _read_checked(size: tuple[int, int] | None, grayscale: bool, path: PathLike) -> np.ndarray:
    from PIL import Image

    arr = _load_image(Image, path, size, "L" if grayscale else "RGB")  # type: ignore[arg-type]
    return arr[None] if grayscale else np.ascontiguousarray(arr.transpose(2, 0, 1))
