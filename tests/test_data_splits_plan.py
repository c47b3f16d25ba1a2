"""One split per data source: every way a user can declare splits gives streams of different
roles disjoint rows (row ids followed through every stream), or a located error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from archspec.errors import SpecErrors
from archspec.pipeline import load
from archspec.training.streams import build_streams

ROWS = 200
HEAD = """\
archspec: 1
inputs: {x: {shape: [2]}}
nodes: {fc: {op: linear, out_features: 2}}
"""
FIELDS = "fields: {x: [a, b], y: label, id: id}"


def _csv(tmp: Path) -> None:
    lines = ["id,a,b,label", *(f"{i},{i * 0.5},{-i},{i % 2}" for i in range(ROWS))]
    (tmp / "rows.csv").write_text("\n".join(lines) + "\n")


def _spec(tmp: Path, data: str) -> Path:
    _csv(tmp)
    path = tmp / "spec.yaml"
    path.write_text(HEAD + "data:\n" + textwrap.indent(textwrap.dedent(data), "  "))
    return path


def _ids(tmp: Path, data: str) -> dict[str, set[int]]:
    streams = build_streams(load(_spec(tmp, data)))
    return {name: {int(i) for i in s.tensors["id"].tolist()} for name, s in streams.items()}


def _errors(tmp: Path, data: str) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        build_streams(load(_spec(tmp, data)))
    return [str(e).replace(f"{tmp}/", "") for e in info.value.errors]


def _disjoint(ids: dict[str, set[int]], roles: dict[str, str]) -> None:
    for a in ids:
        for b in ids:
            if a < b and roles[a] != roles[b]:
                assert not ids[a] & ids[b], (a, b, sorted(ids[a] & ids[b])[:5])


ROLES3 = {"train": "train", "val": "val", "test": "test"}
DECLARED = {
    "defaults (80/10/10 by role)": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val}}
        test:  {{csv: rows.csv, {FIELDS}, role: test}}
        """,
        {"train": 160, "val": 20, "test": 20},
    ),
    "splits on the train stream only (the others share it)": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, splits: {{train: 0.95, val: 0.025, test: 0.025}}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val}}
        test:  {{csv: rows.csv, {FIELDS}, role: test}}
        """,
        {"train": 190, "val": 5, "test": 5},
    ),
    "the same splits on every stream, in any key order": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, splits: {{train: 0.5, val: 0.25, test: 0.25}}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val, splits: {{test: 0.25, train: 0.5, val: 0.25}}}}
        test:  {{csv: rows.csv, {FIELDS}, role: test, splits: {{val: 0.25, test: 0.25, train: 0.5}}}}
        """,
        {"train": 100, "val": 50, "test": 50},
    ),
    "explicit split: names, a seed on one stream": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, split: train, seed: 7}}
        val:   {{csv: rows.csv, {FIELDS}, split: val, role: val}}
        test:  {{csv: rows.csv, {FIELDS}, split: test, role: test}}
        """,
        {"train": 160, "val": 20, "test": 20},
    ),
    "two training streams on the same split (semi-supervised)": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, limit: 10}}
        extra: {{csv: rows.csv, fields: {{x: [a, b], id: id}}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val}}
        test:  {{csv: rows.csv, {FIELDS}, role: test}}
        """,
        {"train": 10, "extra": 160, "val": 20, "test": 20},
    ),
    "two-way split with named fractions": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, splits: {{train: 0.75, val: 0.25}}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val}}
        """,
        {"train": 150, "val": 50},
    ),
}


@pytest.mark.parametrize("case", DECLARED)
def test_streams_of_different_roles_never_share_a_row(tmp_path, case):
    data, sizes = DECLARED[case]
    ids = _ids(tmp_path, data)
    assert {k: len(v) for k, v in ids.items()} == sizes
    _disjoint(ids, {**ROLES3, "extra": "train"})
    assert ids["extra"] == ids["train"] | ids["extra"] if "extra" in ids else True


def test_a_file_read_by_one_role_only_is_read_whole(tmp_path):
    ids = _ids(tmp_path, f"train: {{csv: rows.csv, {FIELDS}}}\n")
    assert ids["train"] == set(range(ROWS))


def test_the_split_of_a_stream_does_not_depend_on_the_other_streams_seeds(tmp_path):
    plain = _ids(tmp_path, DECLARED["defaults (80/10/10 by role)"][0])
    seeded = _ids(tmp_path, DECLARED["explicit split: names, a seed on one stream"][0])
    assert plain["val"] != seeded["val"]  # seed 7 moved the cut for every stream of the source
    _disjoint(seeded, ROLES3)


def test_an_npz_source_is_split_once_too(tmp_path):
    np.savez(tmp_path / "rows.npz", x=np.zeros((50, 2), np.float32), id=np.arange(50))
    (tmp_path / "spec.yaml").write_text(
        HEAD + "data:\n  tr: {npz: rows.npz, splits: {train: 0.6, val: 0.2, test: 0.2}}\n"
        "  va: {npz: rows.npz, role: val}\n  te: {npz: ./rows.npz, role: test}\n"
    )
    streams = build_streams(load(tmp_path / "spec.yaml"))
    ids = {n: set(s.tensors["id"].tolist()) for n, s in streams.items()}
    assert sorted(len(v) for v in ids.values()) == [10, 10, 30]
    assert set().union(*ids.values()) == set(range(50))


OVERLAPS = {
    "different fractions": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, splits: {{train: 0.9, val: 0.1}}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val, splits: {{train: 0.8, val: 0.2}}}}
        """,
        "spec.yaml:6:84: data.val.splits: streams 'train' and 'val' read the same source with different "
        "splits: {train: 0.9, val: 0.1} and {train: 0.8, val: 0.2}; a source is split once, for every stream "
        "that reads it (hint: declare splits: on one of the streams only, or give them the same fractions)",
    ),
    "different seeds": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, seed: 1}}
        val:   {{csv: rows.csv, {FIELDS}, role: val, seed: 2}}
        """,
        "spec.yaml:6:82: data.val.seed: streams 'train' and 'val' read the same source with different seed: "
        "1 and 2; a source is split once, for every stream that reads it "
        "(hint: declare seed: on one of the streams only, or give them the same seeds)",
    ),
    "the same split for two roles": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val, split: train}}
        """,
        "spec.yaml:6:83: data.val.split: stream 'val' (role val) and stream 'train' (role train) would read "
        "the same rows of csv rows.csv: split 'train' and split 'train' (hint: give stream 'val' split: val; "
        "streams of different roles read different splits of a source)",
    ),
    "split: all beside another role": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, split: all}}
        test:  {{csv: rows.csv, {FIELDS}, role: test}}
        """,
        "spec.yaml:6:3: data.test: stream 'test' (role test) and stream 'train' (role train) would read "
        "the same rows of csv rows.csv: split 'test' and split 'all' (hint: give stream 'train' split: "
        "train; streams of different roles read different splits of a source)",
    ),
    "a role with no fraction": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, splits: {{train: 0.9, val: 0.1}}}}
        test:  {{csv: rows.csv, {FIELDS}, role: test}}
        """,
        "spec.yaml:6:3: data.test: stream 'test' reads split 'test' of csv rows.csv, which its role 'test' picks, "
        "but the source is split into 'train', 'val' (hint: give the stream split: with one of those, add the "
        "split to splits:, or use split: all)",
    ),
    "fractions that do not add up": (
        f"""\
        train: {{csv: rows.csv, {FIELDS}, splits: {{train: 0.9, val: 0.2}}}}
        val:   {{csv: rows.csv, {FIELDS}, role: val}}
        """,
        "spec.yaml:5:73: data.train.splits: split fractions must add up to 1, got 1.1 from {'train': 0.9, 'val': 0.2}",
    ),
}


@pytest.mark.parametrize("case", OVERLAPS)
def test_overlapping_splits_are_refused_with_a_located_error(tmp_path, case):
    data, message = OVERLAPS[case]
    assert _errors(tmp_path, data) == [message]


def test_built_in_datasets_are_read_by_role_and_refuse_splits(tmp_path):
    spec = """\
    train: {dataset: moons, fields: {x: x, y: label}}
    val:   {dataset: moons, fields: {x: x, y: label}, role: val}
    """
    streams = build_streams(load(_spec(tmp_path, spec)))
    assert (streams["train"].size, streams["val"].size) == (700, 150)  # val reads split val
    errors = _errors(tmp_path, spec.replace("role: val}", "role: val, splits: {train: 0.5, val: 0.5}}"))
    assert errors == [
        "spec.yaml:6:64: data.val.splits: built-in dataset 'moons' has its own train/val/test split (70/15/15); "
        "splits: applies to your own files (hint: remove splits:, and pick a part with split: train, val, test or all)"
    ]
