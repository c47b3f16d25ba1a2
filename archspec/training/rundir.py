"""What a run directory says about itself: the spec it was trained from (``spec.yaml`` with the
``--set`` overrides in ``run.json``, or ``resolved.yaml`` for a run started from Python), and
who owns it.

A new run claims its directory before writing anything into it: it creates the marker
``.archspec-run`` exclusively (``O_EXCL``: of two commands started together exactly one
creates it) and holds an advisory lock on it (``flock``) while it trains; a resume takes the
same lock. A directory is a run's only if it is new or empty, or holds that marker; any other
directory holds someone's files, and is refused.

Below both the loop (``training.init_from`` reads an earlier run's parts) and ``session`` (which
reloads a run to resume, evaluate or predict), so neither has to import the other.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX: the exclusive create still decides who starts a run
    fcntl = None  # type: ignore[assignment]

from archspec.errors import CheckpointError
from archspec.graph.dag import Graph
from archspec.pipeline import analyse, load_text

__all__ = [
    "MARKER",
    "RunDirClaim",
    "claim_new_run_dir",
    "claim_run_dir",
    "lock_run_dir",
    "run_graph",
    "run_info",
]

MARKER = ".archspec-run"
# What a run writes into its directory; a run directory whose start failed holds only these.
RUN_FILES = frozenset(
    {MARKER, "spec.yaml", "resolved.yaml", "run.json", "metrics.csv", "steps.csv", "curves.png"}
    | {"checkpoints", "tensorboard"}
)


def run_graph(run_dir: str | Path) -> Graph:
    """The analysed spec a run was trained from (with the overrides it was started with)."""
    run_dir = Path(run_dir)
    spec_path = run_dir / "spec.yaml"
    if not spec_path.exists():
        raise CheckpointError(f"{run_dir}: not a run directory (no spec.yaml)")
    info = run_info(run_dir)
    resolved = run_dir / "resolved.yaml"
    if (
        not info and resolved.exists()
    ):  # started from Python (no run.json): the resolved spec has the overrides
        spec_path = resolved
    spec = load_text(
        spec_path.read_text(encoding="utf-8"), name=str(spec_path), overrides=info.get("overrides", [])
    )
    base = info.get("base_dir")
    if not base or not Path(base).is_dir():
        base = run_dir  # the project moved: data paths are read relative to the run directory
    spec.doc.file = str(Path(base) / "spec.yaml")  # data paths stay relative to the original spec
    return analyse(spec)


def run_info(run_dir: Path) -> dict[str, Any]:
    """``run.json`` (spec file, overrides, base directory), or ``{}`` when there is none."""
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


@dataclass
class RunDirClaim:
    """This process's hold on a run directory: the open, locked marker file."""

    run_dir: Path
    fd: int
    created: bool  # this claim created the marker (the directory was new or empty)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = -1


def claim_run_dir(run_dir: Path) -> RunDirClaim:
    """Claim ``run_dir`` for a new run, before anything is written into it.

    Refused, with the directory left as it was: a directory that already holds a run with a
    checkpoint (resume it instead), one that another archspec process holds, and one that
    holds files that are not a run's. A run directory whose earlier start stopped before its
    first checkpoint is taken over."""
    if (run_dir / "checkpoints" / "latest").exists():
        raise CheckpointError(f"{run_dir} already holds a run; resume it with --resume {run_dir}")
    run_dir.mkdir(parents=True, exist_ok=True)
    marker = run_dir / MARKER
    try:
        fd, created = os.open(marker, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666), True
    except FileExistsError:
        fd, created = os.open(marker, os.O_RDWR), False
    claim = RunDirClaim(run_dir, fd, created)
    try:
        _lock(claim)
        foreign = sorted(p.name for p in run_dir.iterdir() if not _ours(p.name, created))
        if foreign:
            if created:
                marker.unlink()
            raise CheckpointError(_not_a_run(run_dir, foreign))
        if (run_dir / "checkpoints" / "latest").exists():  # a run that got there first
            raise CheckpointError(f"{run_dir} already holds a run; resume it with --resume {run_dir}")
    except BaseException:
        claim.release()
        raise
    return claim


def _ours(name: str, created: bool) -> bool:
    """Whether an entry may be in a directory a new run claims: only the marker in a new or
    empty one; a run's files (and a temporary file a kill left mid-write) in one whose
    earlier start stopped before its first checkpoint."""
    if created:
        return name == MARKER
    return name in RUN_FILES or (name.startswith(".") and ".tmp" in name)


def claim_new_run_dir(base: Path) -> tuple[Path, RunDirClaim]:
    """The first of ``base``, ``base-2``, ``base-3``, ... that this process creates, claimed.
    Creating a directory is atomic, so two runs started together take two directories."""
    path, i = base, 1
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
        except FileExistsError:
            i += 1
            path = Path(f"{base}-{i}")
            continue
        return path, claim_run_dir(path)


def lock_run_dir(run_dir: Path) -> RunDirClaim | None:
    """Hold a run directory while resuming it (refused while another process holds it); None
    for a run written before run directories had a marker."""
    try:
        fd = os.open(run_dir / MARKER, os.O_RDWR)
    except FileNotFoundError:
        return None
    claim = RunDirClaim(run_dir, fd, False)
    try:
        _lock(claim)
    except BaseException:
        claim.release()
        raise
    return claim


def _lock(claim: RunDirClaim) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(claim.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise CheckpointError(
            f"{claim.run_dir} is in use by another archspec process (starting, training or resuming a run "
            "there); wait for it to finish, or choose another --run-dir"
        ) from None


def _not_a_run(run_dir: Path, foreign: list[str]) -> str:
    shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
    return (
        f"{run_dir} is not empty and is not an archspec run (it holds {shown}); nothing was written "
        "(hint: give a new or empty --run-dir, so that none of these files is replaced)"
    )
