"""Atomic file writes: a crash mid-write never leaves a half-written file under the final name.

Everything archspec writes that a user keeps (checkpoints, artefacts, exports, run logs,
predictions) goes through here: the data is written to a temporary file in the destination's
own directory (so the rename cannot cross file systems), flushed, then renamed into place.
Temporary files and directories are created with the mode ``open`` and ``mkdir`` would give
(0666/0777 less the umask, so 0644/0755 usually), not ``mkstemp``'s private 0600/0700: they
become the user's files under their final names.

``path_component`` turns a spec's name into the one folder name that default output paths
(``build/<name>``, ``runs/<name>``) are built from.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "fsync_dir",
    "make_temp_dir",
    "make_temp_file",
    "path_component",
    "write_atomic",
    "write_atomic_many",
    "write_atomic_with",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TRIES = 100


def path_component(name: str, default: str = "model") -> str:
    """``name`` as one file name that stays inside its parent folder: letters, digits, ``.``,
    ``_`` and ``-`` only (any other run of characters becomes ``_``), not starting with ``.`` or
    ``-`` (so never ``..``), at most 100 characters; ``default`` when nothing is left."""
    return _UNSAFE.sub("_", name).lstrip(".-")[:100] or default


def make_temp_file(parent: str | os.PathLike[str], prefix: str, suffix: str = "") -> Path:
    """A new empty file ``parent/<prefix><random><suffix>``, created exclusively with mode
    0666 less the umask (``open``'s mode), not ``mkstemp``'s 0600."""
    for _ in range(_TRIES):
        path = Path(parent) / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not create a temporary file in {parent}")


def make_temp_dir(parent: str | os.PathLike[str], prefix: str) -> Path:
    """A new empty directory ``parent/<prefix><random>``, mode 0777 less the umask (``mkdir``'s),
    not ``mkdtemp``'s 0700."""
    for _ in range(_TRIES):
        path = Path(parent) / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not create a temporary directory in {parent}")


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
    tmp = str(make_temp_file(dest.parent, f".{dest.stem}.", f".tmp{dest.suffix}"))
    wanted = os.stat(tmp).st_mode
    try:
        write(tmp)
        os.chmod(
            tmp, wanted
        )  # a writer that replaced the file (safetensors makes it 0600) keeps open()'s mode
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(dest.parent)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, fsynced before the rename."""
    write_atomic_many([(path, data)])


def write_atomic_many(files: Sequence[tuple[str | os.PathLike[str], bytes]]) -> None:
    """Write several files atomically, as :func:`write_atomic` does each, with one directory
    fsync per folder instead of one per file: every file is written and fsynced under a
    temporary name first, then all are renamed. A crash leaves each file old or new (not
    necessarily all of them new: a caller must not need them to change together)."""
    written: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            dest = Path(path)
            tmp = str(make_temp_file(dest.parent, f".{dest.stem}.", f".tmp{dest.suffix}"))
            written.append((tmp, dest))
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, dest in written:
            os.replace(tmp, dest)
    except BaseException:
        for tmp, _ in written:
            Path(tmp).unlink(missing_ok=True)
        raise
    for folder in dict.fromkeys(dest.parent for _, dest in written):
        fsync_dir(folder)
