"""Helpers shared by several test files: spec analysis, the CLI in-process, quiet training
runs and reading back what a run wrote, and the ``slow`` marker's opt-in."""

from __future__ import annotations

import csv
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from archspec.cli import cli
from archspec.errors import SpecError, SpecErrors
from archspec.pipeline import analyse, load_text

ROOT = Path(__file__).resolve().parent.parent

# One intra-op thread for torch, here and in every subprocess a test starts (they inherit the
# environment; torch reads it when first imported, which conftest does not do). The tests'
# tensors are tiny, and on a shared 2-core machine a second OpenMP thread only spin-waits: a CLI
# training run of test_reliability_runs measured 2x slower with two threads under load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def spec_errors(text: str, *, shapes: bool = True, name: str = "spec.yaml") -> list[str]:
    """Every error message a spec text produces, as the CLI prints them."""
    try:
        analyse(load_text(textwrap.dedent(text), name=name), shapes=shapes)
    except SpecErrors as exc:
        return [str(e) for e in exc.errors]
    except SpecError as exc:
        return [str(exc)]
    return []


def analysed(text: str, name: str = "spec.yaml"):
    return analyse(load_text(textwrap.dedent(text), name=name))


@pytest.fixture
def examples() -> list[Path]:
    return EXAMPLES


# --- the command line ---------------------------------------------------------------------------


def invoke(*args: str | os.PathLike[str]) -> Result:
    """``archspec ARGS`` in this process, through click's runner (output is stdout + stderr).

    Every command must end on purpose, with success or a domain error: an exception that escaped
    (click's runner would report it as exit 1) or one the CLI caught as an "internal error" (exit
    3) fails the test here, so a test that expects exit 1 or 3 cannot pass on a crash.
    """
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


# --- training runs ------------------------------------------------------------------------------


def quiet(run_dir: Path, **kw):
    """``RunOptions`` for a run in ``run_dir`` with no progress bar and no log lines."""
    from archspec.training.runner import RunOptions

    return RunOptions(run_dir=run_dir, progress=False, log=lambda _: None, **kw)


def latest_checkpoint_of(run_dir: Path, which: str = "latest"):
    """``(weights, state)`` of the checkpoint a run's ``checkpoints/<which>`` pointer names."""
    from archspec.training.checkpoint import latest_checkpoint, load_checkpoint

    path = latest_checkpoint(run_dir / "checkpoints", which)
    assert path is not None, f"{run_dir} has no {which!r} checkpoint"
    return load_checkpoint(path)


def latest_weights(run_dir: Path):
    return latest_checkpoint_of(run_dir)[0]


def csv_column(path: Path, column: str) -> list[float]:
    """One column of a run's ``metrics.csv`` or ``steps.csv`` as floats, in row order."""
    with open(path, newline="") as fh:
        return [float(row[column]) for row in csv.DictReader(fh)]


# --- the ``slow`` marker -------------------------------------------------------------------------


def data_paths(data: object, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path into nested dicts and lists (keys and indices), the root ``()`` first: the
    places the fuzz tests mutate."""
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from data_paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from data_paths(v, prefix + (i,))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``slow`` run only when asked for (``-m slow`` or ``ARCHSPEC_SLOW=1``), so the
    default ``pytest -q`` stays quick; each has a short version that always runs."""
    if item.get_closest_marker("slow") is None or os.environ.get("ARCHSPEC_SLOW"):
        return
    expr = item.config.getoption("markexpr") or ""
    if "slow" not in expr.replace("not slow", ""):
        pytest.skip("slow: run with -m slow or ARCHSPEC_SLOW=1")
