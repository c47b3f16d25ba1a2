"""`validate` checks what `train` will check, without tensors: loss bindings, field mappings,
data files (existence and a CSV's header, not contents), located and with hints."""

from __future__ import annotations

from pathlib import Path

import pytest

from archspec.pipeline import validate_file

HEAD = """\
archspec: 1
inputs: {x: {shape: [2]}}
nodes: {fc: {op: linear, out_features: 2}}
outputs: {logits: fc}
data:
"""
CSV = "  train: {csv: rows.csv, fields: {x: [a, b], label: label}}\n"
LOSS = "losses:\n  ce: {fn: cross_entropy, stream: train, pred: logits, target: label}\n"


def _errors(tmp: Path, data: str = CSV, losses: str = LOSS) -> list[str]:
    (tmp / "rows.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    (tmp / "spec.yaml").write_text(HEAD + data + losses)
    return [e["text"].replace(f"{tmp}/", "") for e in validate_file(str(tmp / "spec.yaml"))["errors"]]


CASES = {
    "pred names a missing output": (
        CSV,
        LOSS.replace("pred: logits", "pred: logit"),
        "spec.yaml:8:48: losses.ce.pred: loss 'ce' reads unknown output 'logit' (hint: did you mean 'logits'?)",
    ),
    "stream names a missing stream": (
        CSV,
        LOSS.replace("stream: train", "stream: trian"),
        "spec.yaml:8:35: losses.ce.stream: loss 'ce' reads unknown stream 'trian' (hint: did you mean 'train'?)",
    ),
    "target names a missing field": (
        CSV,
        LOSS.replace("target: label", "target: lable"),
        "spec.yaml:8:64: losses.ce.target: stream 'train' has no field 'lable' for loss 'ce' "
        "(hint: did you mean 'label'?)",
    ),
    "fields maps to a missing key": (
        "  train: {dataset: moons, fields: {x: x, label: labels}}\n",
        LOSS,
        "spec.yaml:6:49: data.train.fields.label: stream 'train' has no field 'labels' (hint: did you mean 'label'?)",
    ),
    "a missing data file": (
        CSV.replace("rows.csv", "row.csv"),
        LOSS,
        "spec.yaml:6:16: data.train.csv: no such file: row.csv (hint: paths are relative to the spec's folder)",
    ),
    "a CSV column the header does not name": (
        CSV.replace("[a, b]", "[a, bb]"),
        LOSS,
        "spec.yaml:6:42: data.train.fields.x[1]: rows.csv has no column 'bb' (hint: did you mean 'b'?)",
    ),
    "a loss stream that gives no model input": (
        CSV.replace("{x: [a, b]", "{xs: [a, b]"),
        LOSS,
        "spec.yaml:6:3: data.train: stream 'train' does not provide model input 'x' "
        "(hint: map it with fields: {x: <field>}; the stream has label, xs)",
    ),
    "a validation stream that gives no model input": (
        CSV + "  val: {dataset: moons, fields: {label: label}, role: val}\n",
        LOSS,
        "spec.yaml:7:3: data.val: stream 'val' does not provide model input 'x' "
        "(hint: map it with fields: {x: <field>}; the stream has label)",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_validate_reports_what_train_would(tmp_path, case):
    data, losses, message = CASES[case]
    assert _errors(tmp_path, data, losses) == [message]


def test_a_correct_training_spec_validates(tmp_path):
    assert _errors(tmp_path) == []


def test_the_built_in_dataset_fields_table_matches_the_registry():
    import archspec.data as data
    from archspec.lang.runcheck import DATASET_FIELDS

    assert {n: tuple(data.dataset_info(n).fields) for n in data.DATASETS} == dict(DATASET_FIELDS)


def test_train_stops_on_a_missing_model_input_with_the_words_validate_uses(tmp_path):
    from tests.conftest import invoke

    data, losses, message = CASES["a loss stream that gives no model input"]
    _errors(tmp_path, data, losses)
    result = invoke("train", tmp_path / "spec.yaml", "--run-dir", tmp_path / "run", "--no-progress")
    assert result.exit_code != 0
    said = result.output.replace(f"{tmp_path}/", "")
    assert message.split(" (hint")[0] in said and "the stream has" in said
