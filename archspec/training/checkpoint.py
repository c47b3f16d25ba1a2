"""Checkpoints that a crash cannot corrupt and that load without unpickling code.

A checkpoint is a directory ``checkpoints/<name>/`` holding ``model.safetensors`` (weights and
buffers) and ``state.pt`` (optimiser, scheduler, RNG and data positions: tensors and plain
containers only, read back with ``torch.load(weights_only=True)``). It is written into a
temporary directory *inside* ``checkpoints/``, fsynced, then renamed into place; the pointer
files (``latest``, ``best``) are replaced atomically afterwards. A kill at any moment leaves
either the old checkpoint or the new one, never a half-written one under a final name.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from archspec.errors import CheckpointError
from archspec.fileio import fsync_dir as _fsync_dir
from archspec.fileio import make_temp_dir, write_atomic, write_atomic_many

__all__ = ["latest_checkpoint", "load_checkpoint", "save_checkpoint", "write_atomic"]

WEIGHTS = "model.safetensors"
STATE = "state.pt"


def save_checkpoint(
    root: str | os.PathLike[str],
    name: str,
    weights: Mapping[str, torch.Tensor],
    state: Mapping[str, Any],
    *,
    pointers: tuple[str, ...] = ("latest",),
    keep: int = 2,
) -> Path:
    """Save ``weights`` and ``state`` as ``root/name``; point ``root/<pointer>`` at it."""
    from safetensors import SafetensorError
    from safetensors.torch import save as safetensors_bytes

    root = Path(root)
    final = root / name
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = make_temp_dir(root, f".tmp-{name}-")
    except OSError as exc:
        raise CheckpointError(
            f"could not write checkpoint {final}: {exc.strerror or exc}; the previous checkpoint is intact"
        ) from exc
    try:
        tensors = {k: v.detach().contiguous().cpu() for k, v in weights.items()}
        state_bytes = io.BytesIO()
        torch.save(dict(state), state_bytes)
        # both files are made in memory and written with one open each (torch.save and
        # safetensors' save_file straight to disk cost twice as much CPU), so they get open()'s
        # mode, as every file archspec writes does
        blobs = {
            WEIGHTS: safetensors_bytes(_unshare(tensors), metadata={"format": "archspec-checkpoint-1"}),
            STATE: state_bytes.getbuffer(),
        }
        for f, blob in blobs.items():
            with open(tmp / f, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except (OSError, RuntimeError, SafetensorError) as exc:  # a full disk shows up as any of these
        shutil.rmtree(tmp, ignore_errors=True)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)[:200]
        raise CheckpointError(
            f"could not write checkpoint {final}: {why}; the previous checkpoint is intact"
        ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        write_atomic_many([(root / pointer, (name + "\n").encode()) for pointer in pointers])
    except OSError as exc:
        moved = " and ".join(str(root / p) for p in pointers)
        raise CheckpointError(
            f"wrote {final} but could not update {moved}: {exc.strerror or exc}; a pointer not updated still names its previous checkpoint, which is intact"
        ) from exc
    _prune(root, keep, protect={name, *(_read_pointer(root, p) for p in ("latest", "best"))})
    return final


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory; clone the later ones."""
    seen: set[int] = set()
    out = {}
    for k, v in tensors.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out


def _read_pointer(root: Path, pointer: str) -> str | None:
    try:
        return (root / pointer).read_text().strip() or None
    except OSError:
        return None


def _prune(root: Path, keep: int, protect: set[str | None]) -> None:
    steps = sorted(
        (p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-")), key=lambda p: p.name
    )
    for old in steps[:-keep] if keep > 0 else []:
        if old.name not in protect:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in root.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)  # left by a crash mid-write
    for tmp in (*root.glob(".latest.*"), *root.glob(".best.*")):
        tmp.unlink(missing_ok=True)  # a pointer's temporary file, left by a crash mid-write


def latest_checkpoint(root: str | os.PathLike[str], pointer: str = "latest") -> Path | None:
    """The directory ``root/<pointer>`` names, or None when there is none yet."""
    root = Path(root)
    name = _read_pointer(root, pointer)
    if name is None:
        return None
    path = root / name
    if not _inside(root, name):
        raise CheckpointError(
            f"{root / pointer} names {name!r}, which is not a checkpoint of this run "
            f"(a pointer names a directory in {root})"
        )
    if not path.is_dir():
        raise CheckpointError(f"{root / pointer} names {name!r}, which does not exist")
    return path


def _inside(root: Path, name: str) -> bool:
    """Whether ``root/name`` is an entry of ``root`` itself: one plain name, and not a link out."""
    plain = name not in (".", "..") and not any(sep in name for sep in ("/", "\\", "\0"))
    return plain and (root / name).resolve().parent == root.resolve()


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(weights, state)`` of a checkpoint directory, loaded without unpickling code."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    try:
        weights = load_file(str(path / WEIGHTS))
        state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: incomplete checkpoint ({exc.filename} is missing)") from None
    except (SafetensorError, RuntimeError, EOFError, ValueError, OSError) as exc:
        raise CheckpointError(
            f"{path}: corrupt or unsafe checkpoint ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    except Exception as exc:  # pickle.UnpicklingError for code-carrying pickles, and friends
        raise CheckpointError(f"{path}: refused to load ({type(exc).__name__}: {str(exc)[:200]})") from None
    return weights, state


def dumps_json(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
