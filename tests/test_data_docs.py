"""docs/data.md runs as written: its script makes the CSV, its spec trains on it (the loss
falls, the accuracy rises far above chance), and its commands evaluate and predict."""

from __future__ import annotations

import csv
import re
import shlex
import subprocess
import sys

from tests.conftest import ROOT, invoke

DOC = (ROOT / "docs" / "data.md").read_text()


def _block(kind: str) -> str:
    blocks = re.findall(rf"```{kind}\n(.*?)```", DOC, re.S)
    return blocks[-1]


def test_the_your_own_data_example_trains_on_the_csv_it_generates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run([sys.executable, "-c", _block("python")], check=True, cwd=tmp_path)
    (tmp_path / "flowers.yaml").write_text(_block("yaml"))
    outputs = {}
    for line in _block("console").splitlines():
        argv = shlex.split(line.removeprefix("$ "))
        extra = ["--no-progress"] if argv[1] == "train" else []
        result = invoke(*argv[1:], *extra)
        assert result.exit_code == 0, (line, result.output)
        outputs[argv[1]] = result.output
    with open("runs/flowers/metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[-1]["val_loss"]) < 0.5 * float(rows[0]["val_loss"])
    assert float(rows[-1]["val_accuracy"]) > 0.8  # chance is 1/3
    assert "evaluate and predict use the best by val_accuracy (max) checkpoint" in outputs["train"]
    assert (tmp_path / "runs" / "flowers" / "confusion-test-logits.png").exists()
    with open("predictions.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 30 and list(table[0])[:1] == ["id"]
    assert list(table[0])[4:] == ["logits_class", "logits_prob_0", "logits_prob_1", "logits_prob_2"]
