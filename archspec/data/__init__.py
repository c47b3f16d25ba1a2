"""Data that needs no download, and readers for the user's own files. numpy only, never torch.

Built-in datasets are looked up by name in :data:`DATASETS`; each entry is called as
``DATASETS[name](split, seed, **options)`` and returns a dict of numpy arrays whose first
dimension is the sample:

==========  ===============================================================================
digits      image float32 [N, 1, 8, 8] (0..1), flat float32 [N, 64], label int64 (0-9)
moons       x float32 [N, 2], label int64 (2 classes)
spirals     x float32 [N, 2], label int64 (``arms`` classes)
xor         x float32 [N, 2], label int64 (2 classes)
shapes      image float32 [N, 1, S, S] (0..1), mask int64 [N, S, S] (0 background, 1..K)
paired      image float32 [N, 1, S, S], sound float32 [N, 1, L], label int64 (4 classes)
==========  ===============================================================================

Use :func:`load_dataset` (adds ``limit`` and did-you-mean errors) and :func:`dataset_info`
(shapes without generating). User data: :func:`read_csv`, :func:`read_npz`, :func:`read_npy`,
:func:`read_image_folder`, then :func:`split_arrays`. Every failure is a
:class:`archspec.errors.DataError`.
"""

from __future__ import annotations

from archspec.data.base import Dataset as Dataset
from archspec.data.base import DatasetInfo as DatasetInfo
from archspec.data.base import FieldInfo as FieldInfo
from archspec.data.base import Option as Option
from archspec.data.readers import list_image_folder as list_image_folder
from archspec.data.readers import load_image as load_image
from archspec.data.readers import read_csv as read_csv
from archspec.data.readers import read_image_folder as read_image_folder
from archspec.data.readers import read_npy as read_npy
from archspec.data.readers import read_npz as read_npz
from archspec.data.registry import DATASETS as DATASETS
from archspec.data.registry import dataset_info as dataset_info
from archspec.data.registry import get_dataset as get_dataset
from archspec.data.registry import load_dataset as load_dataset
from archspec.data.registry import register as register
from archspec.data.splits import SPLITS as SPLITS
from archspec.data.splits import check_lengths as check_lengths
from archspec.data.splits import split_arrays as split_arrays

__all__ = [
    "DATASETS",
    "SPLITS",
    "Dataset",
    "DatasetInfo",
    "FieldInfo",
    "Option",
    "check_lengths",
    "dataset_info",
    "get_dataset",
    "list_image_folder",
    "load_dataset",
    "load_image",
    "read_csv",
    "read_image_folder",
    "read_npy",
    "read_npz",
    "register",
    "split_arrays",
]
