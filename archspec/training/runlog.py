"""The run directory's human-facing files: ``spec.yaml``, ``resolved.yaml``, ``steps.csv``,
``metrics.csv``, the optional TensorBoard mirror, and the terminal progress bar.

Kept apart from the loop so that the loop only says *what* to record; this module decides how
it reaches disk. The logs must agree with the checkpoints: ``steps.csv`` is flushed before
every checkpoint, and a resume cuts both CSV files back to the checkpoint it resumes from, so
a killed-and-resumed run leaves the same files as an uninterrupted one.
"""

from __future__ import annotations

import csv
import functools
import io
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from archspec.errors import CheckpointError
from archspec.fileio import write_atomic_many
from archspec.lang.loader import dumps
from archspec.training.checkpoint import write_atomic

__all__ = ["Progress", "RunLog"]

_FLUSH_SECONDS = 2.0  # how long steps.csv rows may wait in memory
# Every row of both CSV files ends in "\n", whoever writes it (csv's default is "\r\n"): rows
# appended, and rows a resume rewrites, so a resumed run's files are byte-identical to an
# uninterrupted run's.
_EOL = "\n"


class RunLog:
    """Writes one run directory. Callers decide which rank writes; this class never checks."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.tb: Any = None  # None: not tried yet; False: tensorboard is not installed
        self._step_rows: list[list[Any]] = []  # steps.csv rows not yet on disk (see log_step)
        self._steps_flushed = time.monotonic()

    def start(self, spec_text: str, resolved: Any) -> None:
        """Begin a fresh run: refuse a directory that already holds one (it would be silently
        mixed with this run's checkpoints), save the spec as given and as resolved, and drop
        stale logs."""
        run = self.run_dir
        if (run / "checkpoints" / "latest").exists():
            raise CheckpointError(
                f"{run} already holds a run; resume it with --resume, or choose another --run-dir"
            )
        run.mkdir(parents=True, exist_ok=True)
        resolved_text = dumps(resolved, sort_keys=False)
        write_atomic_many(
            [(run / "spec.yaml", spec_text.encode()), (run / "resolved.yaml", resolved_text.encode())]
        )
        for name in ("metrics.csv", "steps.csv"):
            (run / name).unlink(missing_ok=True)

    # -- steps.csv ------------------------------------------------------------------------------

    def log_step(self, step: int, values: Mapping[str, float]) -> None:
        """Buffer a steps.csv row. Rows reach the file every 2 s (:meth:`flush_steps_if_due`,
        which the trainer calls after each read-back of step losses), before every checkpoint
        (so the file holds every row a resume from that checkpoint keeps) and at the end."""
        if not self._step_rows:
            self._step_rows.append(["step", *values])  # the header, written only to a new file
        self._step_rows.append([step, *map(repr, values.values())])

    def flush_steps_if_due(self) -> None:
        if time.monotonic() - self._steps_flushed > _FLUSH_SECONDS:
            self.flush_steps()

    def flush_steps(self) -> None:
        """Append the buffered rows; the header only goes to a file that does not exist yet."""
        self._steps_flushed = time.monotonic()
        if len(self._step_rows) <= 1:
            return
        path = self.run_dir / "steps.csv"
        rows = self._step_rows if not path.exists() else self._step_rows[1:]
        with open(path, "a", newline="") as fh:
            csv.writer(fh, lineterminator=_EOL).writerows(rows)
        self._step_rows = []

    # -- metrics.csv ----------------------------------------------------------------------------

    def read_history(self, epochs: int) -> list[dict[str, Any]]:
        """The epoch rows already logged for the first ``epochs`` epochs (those a resume keeps)."""
        path = self.run_dir / "metrics.csv"
        if not path.exists():
            return []
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return [{k: _num(v) for k, v in r.items()} for r in rows if int(r["epoch"]) <= epochs]

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        """Append an epoch row; keys starting with ``_`` are the loop's notes, not metrics."""
        path = self.run_dir / "metrics.csv"
        clean = {k: v for k, v in row.items() if not k.startswith("_")}
        self._tensorboard(clean)
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(clean), lineterminator=_EOL)
            if new:
                writer.writeheader()
            writer.writerow(clean)

    def _tensorboard(self, row: Mapping[str, Any]) -> None:
        """Mirror the epoch row to TensorBoard (runs/<name>/tensorboard) when it is installed."""
        if self.tb is None:
            self.tb = _summary_writer(self.run_dir / "tensorboard")
        if self.tb:
            for key, value in row.items():
                if isinstance(value, float) and key not in ("seconds",):
                    self.tb.add_scalar(key.replace("_", "/", 1), value, int(row["step"]))
            self.tb.flush()

    # -- resume ---------------------------------------------------------------------------------

    def truncate(self, step: int, epoch: int) -> None:
        """Drop log rows written after the checkpoint we resume from (at ``step``, ``epoch``)."""
        self._truncate_file(self.run_dir / "steps.csv", "step", step)
        self._truncate_file(self.run_dir / "metrics.csv", "epoch", epoch + 1)

    @staticmethod
    def _truncate_file(path: Path, key: str, limit: int) -> None:
        """Keep the header and the complete rows whose ``key`` column is below ``limit``."""
        if not path.exists():
            return
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            return
        idx = rows[0].index(key)
        keep = [rows[0]] + [r for r in rows[1:] if len(r) == len(rows[0]) and _before(r[idx], limit)]
        text = io.StringIO()
        csv.writer(text, lineterminator=_EOL).writerows(keep)  # as the rows were first written
        write_atomic(path, text.getvalue().encode())


class Progress:
    """A one-line progress bar on a terminal (epoch, step, loss terms, throughput)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.n = total, label, 0
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, n: int, values: Mapping[str, float]) -> None:
        self.n += n
        if not self.tty:
            return
        rate = self.n / max(time.perf_counter() - self.start, 1e-9)
        width = 24
        done = int(width * self.n / max(self.total, 1))
        terms = " ".join(f"{k}={v:.4g}" for k, v in list(values.items())[:4])
        sys.stderr.write(
            f"\r{self.label} [{'#' * done}{'.' * (width - done)}] {self.n}/{self.total} {terms} {rate:.1f} it/s "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _summary_writer(path: Path) -> Any:
    """A TensorBoard writer, or ``False`` when tensorboard is not installed (it is optional)."""
    writer = _writer_class()
    return writer(str(path)) if writer is not None else False


@functools.cache
def _writer_class() -> Any:
    """TensorBoard's ``SummaryWriter``, or None; looked for once per process (a failed import
    searches every ``sys.path`` entry again each time, ~1 ms a run)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter


def _before(cell: str, limit: int) -> bool:
    """Whether a log row's step/epoch cell is below ``limit`` (a cell cut short by a kill is not)."""
    try:
        return int(float(cell)) < limit
    except ValueError:
        return False


def _num(text: str) -> Any:
    """A CSV cell back as the int or float it was written from; other text stays text."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value
