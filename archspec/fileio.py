"""Atomic file writes: a crash mid-write never leaves a half-written file under the final name.

Everything archspec writes that a user keeps (checkpoints, artefacts, exports, run logs,
predictions) goes through here: the data is written to a temporary file in the destination's
own directory (so the rename cannot cross file systems), flushed, then renamed into place.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["fsync_dir", "write_atomic", "write_atomic_with"]


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort: not every platform allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic_with(dest: str | os.PathLike[str], write: Callable[[str], Any]) -> None:
    """Let ``write(tmp_path)`` produce the file, then rename it to ``dest``.

    The temporary name keeps ``dest``'s suffix, for writers that pick a format from it.
    """
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}", dir=dest.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, fsynced before the rename."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    write_atomic_with(path, write)
