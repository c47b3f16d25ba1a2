"""The runner benchmark runs end to end in its smoke mode (its numbers mean nothing there: this
only keeps the script from rotting; docs/performance.md quotes full runs)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_the_runner_benchmark_runs_every_comparison_in_smoke_mode():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "runner_speed.py"), "--quick", "--only", "mlp"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for line in (
        "step loop (20 steps a sample)",
        "whole run (2 epochs with validation, checkpoints, logs, curves.png)",
        "same, hand saves made durable",
        "same, runner with --no-plots",
        "semi-supervised step",
        "runner semi / hand semi",
    ):
        assert line in out, out
    assert "lightning Trainer.fit vs" in out or "lightning: skipped" in out
