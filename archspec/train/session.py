"""Run directories as the CLI sees them: start a run, resume one, reload one to evaluate or
predict. A run directory holds ``spec.yaml`` (the text as written), ``run.json`` (the
``--set`` overrides it was started with), ``metrics.csv``, ``steps.csv``, ``curves.png`` and
``checkpoints/``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archspec.errors import CheckpointError, DataError
from archspec.graph import Graph
from archspec.pipeline import analyse, load, load_text
from archspec.train.checkpoint import write_atomic
from archspec.train.runner import RunOptions, RunResult, Trainer, resolve_device, train

__all__ = ["default_run_dir", "evaluate_run", "load_run", "predict_run", "resume_run", "start_run"]


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    base = Path(root) / name
    path, i = base, 1
    while path.exists():
        i += 1
        path = Path(f"{base}-{i}")
    return path


def start_run(spec_file: str, overrides: Sequence[str], options: RunOptions) -> RunResult:
    spec = load(spec_file, overrides)
    graph = analyse(spec)
    options.run_dir.mkdir(parents=True, exist_ok=True)
    if (options.run_dir / "checkpoints" / "latest").exists():
        raise CheckpointError(f"{options.run_dir} already holds a run; resume it with --resume {options.run_dir}")
    info = {"spec_file": str(spec_file), "overrides": list(overrides), "base_dir": str(Path(spec_file).resolve().parent)}
    if int(os.environ.get("RANK", "0")) == 0:
        write_atomic(options.run_dir / "run.json", (json.dumps(info, indent=2) + "\n").encode())
    return train(graph, options)


def run_graph(run_dir: Path) -> Graph:
    """The analysed spec a run was trained from (with the overrides it was started with)."""
    return _run_graph(Path(run_dir))


def _run_graph(run_dir: Path) -> Graph:
    spec_path = run_dir / "spec.yaml"
    if not spec_path.exists():
        raise CheckpointError(f"{run_dir}: not a run directory (no spec.yaml)")
    info = _info(run_dir)
    resolved = run_dir / "resolved.yaml"
    if not info and resolved.exists():  # started from Python (no run.json): the resolved spec has the overrides
        spec_path = resolved
    spec = load_text(spec_path.read_text(encoding="utf-8"), name=str(spec_path), overrides=info.get("overrides", []))
    base = info.get("base_dir")
    if not base or not Path(base).is_dir():
        base = run_dir  # the project moved: data paths are read relative to the run directory
    spec.doc.file = str(Path(base) / "spec.yaml")  # data paths stay relative to the original spec
    return analyse(spec)


def _info(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def resume_run(run_dir: Path, options: RunOptions) -> RunResult:
    graph = _run_graph(run_dir)
    options.run_dir, options.resume = run_dir, True
    return train(graph, options)


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu") -> tuple[Graph, torch.nn.Module]:
    """The spec and the trained model of a run (its best checkpoint, else the latest)."""
    from archspec.compiler import compile_model
    from archspec.train.transfer import load_weights, run_weights

    run_dir = Path(run_dir)
    graph = _run_graph(run_dir)
    model = compile_model(graph)
    weights, path = run_weights(run_dir, which)
    load_weights(model, weights, where=str(path))
    return graph, model.to(resolve_device(device)).eval()


def evaluate_run(run_dir: str | Path, roles: Sequence[str] = ("test", "val"), device: str = "cpu") -> dict[str, float]:
    graph, model = load_run(run_dir, device=device)
    options = RunOptions(run_dir=Path(run_dir), device=device, progress=False)
    trainer = Trainer(graph, options, for_eval=True)
    trainer.model.load_state_dict(model.state_dict())
    return trainer.evaluate_streams(tuple(roles))


def predict_run(run_dir: str | Path, out: str | Path, *, stream: str | None = None, inputs: str | None = None, device: str = "cpu") -> Path:
    """Run the trained model over a stream (or an NPZ of inputs) and save its outputs."""
    from archspec import data

    graph, model = load_run(run_dir, device=device)
    spec = graph.spec
    if inputs is not None:
        arrays = data.read_npz(inputs)
        missing = [k for k in spec.inputs if k not in arrays]
        if missing:
            raise DataError(f"{inputs}: no array {missing[0]!r} (the model's inputs: {', '.join(spec.inputs)})")
        tensors = {k: torch.from_numpy(np.asarray(arrays[k], dtype=np.float32 if spec.inputs[k].dtype.startswith("float") else np.int64)) for k in spec.inputs}
    else:
        from archspec.train.streams import build_streams

        streams = build_streams(spec)
        name = stream or next((n for n, s in streams.items() if s.role == "test"), None) or next(iter(streams), None)
        if name not in streams:
            raise DataError(f"no stream {name!r} to predict on (streams: {', '.join(streams) or 'none'})")
        tensors = streams[name].tensors
    results: dict[str, list[np.ndarray]] = {}
    dev = next(model.parameters()).device if any(True for _ in model.parameters()) else torch.device("cpu")
    with torch.no_grad():
        n = next(iter(tensors.values())).shape[0]
        for i in range(0, n, 256):
            got = model(*[tensors[k][i : i + 256].to(dev) for k in spec.inputs])
            got = got if isinstance(got, dict) else {next(iter(spec.outputs)): got}
            for k, v in got.items():
                results.setdefault(k, []).append(v.float().cpu().numpy())
    merged = {k: np.concatenate(v) for k, v in results.items()}
    return _save_predictions(merged, Path(out))


def _save_predictions(outputs: dict[str, np.ndarray], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        columns, header = [], []
        for k, v in outputs.items():
            flat = v.reshape(v.shape[0], -1)
            columns.append(flat)
            header += [k] if flat.shape[1] == 1 else [f"{k}_{j}" for j in range(flat.shape[1])]
        table = np.concatenate(columns, axis=1)
        import io

        buf = io.StringIO()
        np.savetxt(buf, table, delimiter=",", header=",".join(header), comments="", fmt="%.7g")
        write_atomic(out, buf.getvalue().encode())
    else:
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **outputs)
        write_atomic(out, buf.getvalue())
    return out
