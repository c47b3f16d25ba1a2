"""What a run directory says about itself: the spec it was trained from (``spec.yaml`` with the
``--set`` overrides in ``run.json``, or ``resolved.yaml`` for a run started from Python).

Below both the loop (``training.init_from`` reads an earlier run's parts) and ``session`` (which
reloads a run to resume, evaluate or predict), so neither has to import the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from archspec.errors import CheckpointError
from archspec.graph.dag import Graph
from archspec.pipeline import analyse, load_text

__all__ = ["run_graph", "run_info"]


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
