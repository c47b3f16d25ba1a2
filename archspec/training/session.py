"""Run directories as the CLI sees them: start a run, resume one, reload one to evaluate or
predict. A run directory holds ``spec.yaml`` (the text as written), ``run.json`` (the
``--set`` overrides it was started with), ``metrics.csv``, ``steps.csv``, ``curves.png`` and
``checkpoints/``."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archspec.devices import choose_device, resolve_device
from archspec.errors import ArchSpecError, CheckpointError, DataError, SchemaError, UsageError, did_you_mean
from archspec.fileio import path_component, write_atomic
from archspec.graph.dag import Graph
from archspec.lang.model import Spec
from archspec.lang.runcheck import check_training
from archspec.pipeline import analyse, load
from archspec.training.rundir import (
    MARKER,
    RunDirClaim,
    claim_new_run_dir,
    claim_run_dir,
    lock_run_dir,
    run_info,
)
from archspec.training.rundir import run_graph as run_graph
from archspec.training.runner import RunOptions, RunResult, Trainer, train

__all__ = [
    "RunUsageError",
    "default_run_dir",
    "evaluate_run",
    "load_run",
    "predict_run",
    "resume_run",
    "start_run",
]


class RunUsageError(UsageError):
    """A command-line choice that does not fit the run (an unknown stream or role): exit code 1."""


def default_run_dir(name: str, root: str | Path = "runs") -> Path:
    """``root/<name>``; ``name`` is made one path component first (the schema already requires
    one; a name taken from the file name may not be). ``start_run`` takes ``root/<name>-2``,
    ... when it is taken."""
    return Path(root) / path_component(name)


def start_run(
    spec_file: str,
    overrides: Sequence[str],
    options: RunOptions,
    *,
    spec: Spec | None = None,
    graph: Graph | None = None,
) -> RunResult:
    """Train ``spec_file``; ``options.run_dir`` None means ``runs/<spec name>`` (the next free
    one). ``spec`` is the file already loaded with ``overrides``, and ``graph`` that spec
    analysed, when the caller has them (they are then not made again).

    The run directory is claimed (see ``rundir``) before anything is written into it, and held
    until training ends; under ``torchrun`` rank 0 claims it and the other ranks write nothing."""
    spec = spec if spec is not None else load(spec_file, overrides)
    graph = graph if graph is not None else analyse(spec)
    _check_trainable(spec)
    check_training(spec, files=False)  # data plan, loss bindings, metrics, before any tensor
    writer = int(os.environ.get("RANK", "0")) == 0
    claim: RunDirClaim | None = None
    created = False
    if options.run_dir is None:
        run_dir, claim = claim_new_run_dir(default_run_dir(spec.name))
        options, created = dataclasses.replace(options, run_dir=run_dir), True
    elif writer:
        created = not options.run_dir.exists()
        claim = claim_run_dir(options.run_dir)
    info = {
        "spec_file": str(spec_file),
        "overrides": list(overrides),
        "base_dir": str(Path(spec_file).resolve().parent),
    }
    try:
        if writer:
            write_atomic(options.run_dir / "run.json", (json.dumps(info, indent=2) + "\n").encode())
        return train(graph, options)
    except BaseException:
        if claim is not None:
            _remove_if_unstarted(claim, created)
        raise
    finally:
        if claim is not None:
            claim.release()


def _check_trainable(spec: Any) -> None:
    """A spec with neither ``data:`` nor ``losses:`` describes a model, not a training run."""
    if not spec.data and not spec.losses:
        raise SchemaError(
            "nothing to train: the spec has no 'data:' and no 'losses:' section",
            loc=spec.doc.loc(()),
            hint="add both (archspec init NAME -t mlp writes a complete example); validate, summary, render, compile and export need neither",
        )


def _remove_if_unstarted(claim: RunDirClaim, created: bool) -> None:
    """Undo what this command wrote when training failed before its first checkpoint: its
    ``run.json``, and the marker and the directory when nothing else is left in them. A
    directory with the spec and logs of a failed start keeps its marker, so the next start may
    take it over."""
    run_dir = claim.run_dir
    if (run_dir / "checkpoints").exists():
        return
    try:
        (run_dir / "run.json").unlink(missing_ok=True)
        if [p.name for p in run_dir.iterdir()] == [MARKER]:
            (run_dir / MARKER).unlink()
            if created:
                run_dir.rmdir()
    except OSError:
        pass


def resume_run(run_dir: Path, options: RunOptions) -> RunResult:
    graph = run_graph(run_dir)
    options = replace(options, run_dir=run_dir, resume=True)
    before = _checkpoint_step(run_dir)
    claim = lock_run_dir(run_dir) if int(os.environ.get("RANK", "0")) == 0 else None
    try:
        result = train(graph, options)
    finally:
        if claim is not None:
            claim.release()
    if before is not None and result.steps == before:
        options.log(
            f"{run_dir} had already finished (epoch {result.epochs}, step {result.steps}): nothing left to do"
        )
    return result


def _checkpoint_step(run_dir: Path) -> int | None:
    """The step of a run's latest checkpoint, read from its name (``step-00000040-000000``)."""
    from archspec.training.checkpoint import latest_checkpoint

    try:
        path = latest_checkpoint(Path(run_dir) / "checkpoints")
    except (OSError, ArchSpecError):
        return None
    found = re.match(r"step-(\d+)-", path.name) if path is not None else None
    return int(found.group(1)) if found else None


def _require_checkpoint(run_dir: Path) -> None:
    from archspec.training.checkpoint import latest_checkpoint

    root = run_dir / "checkpoints"
    if not root.is_dir() or latest_checkpoint(root) is None and latest_checkpoint(root, "best") is None:
        spec_file = run_info(run_dir).get("spec_file") or "SPEC"
        raise CheckpointError(
            f"{run_dir}: the run has no checkpoint yet (hint: a run saves one every checkpoint_seconds "
            f"(default 60) at the next step or epoch end, every --checkpoint-every steps, and when it ends; "
            f"wait for the first, or train it again: archspec train {spec_file} --run-dir {run_dir})"
        )


def load_run(
    run_dir: str | Path, which: str = "best", device: str = "cpu", *, graph: Graph | None = None
) -> tuple[Graph, torch.nn.Module]:
    """The spec and the trained model of a run (its best checkpoint, else the latest).

    ``graph`` skips re-reading the run's spec when the caller has already analysed it."""
    from archspec.compiler.compile import compile_model

    run_dir = Path(run_dir)
    graph = graph or run_graph(run_dir)
    model = compile_model(graph)
    _load_trained(model, run_dir, which)
    return graph, model.to(resolve_device(device)).eval()


def _load_trained(model: torch.nn.Module, run_dir: Path, which: str = "best") -> None:
    from archspec.training.transfer import load_weights, run_weights

    _require_checkpoint(run_dir)
    weights, path = run_weights(run_dir, which)
    load_weights(model, weights, where=str(path))


def _stream_roles(graph: Graph) -> dict[str, str]:
    return {name: (raw or {}).get("role", "train") for name, raw in graph.spec.data.items()}


def evaluate_run(
    run_dir: str | Path,
    roles: Sequence[str] = ("test", "val"),
    device: str = "auto",
    *,
    reports: list[Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Metrics of the run's best (else latest) checkpoint on its streams with these roles. A
    list passed as ``reports`` receives a :class:`archspec.training.report.ClassReport` per
    classification output and stream, and each is drawn as ``confusion-<stream>-<output>.png``
    in the run directory."""
    graph = run_graph(Path(run_dir))
    streams = _stream_roles(graph)
    if not any(role in roles for role in streams.values()):
        have = ", ".join(f"{n} ({r})" for n, r in streams.items()) or "none"
        raise RunUsageError(
            f"{run_dir}: no stream with role {' or '.join(roles)} to evaluate on (streams: {have}); "
            f"pick one with --role, e.g. --role {next(iter(streams.values()), 'train')}"
        )
    options = RunOptions(run_dir=Path(run_dir), device=device, progress=False)
    trainer = Trainer(graph, options, for_eval=True)
    _load_trained(trainer.model, Path(run_dir))
    metrics = trainer.evaluate_streams(tuple(roles))
    if reports is not None:
        from archspec.training.report import class_reports, plot_confusion

        for report in class_reports(trainer, tuple(roles)):
            reports.append(report)
            png = Path(run_dir) / f"confusion-{report.stream}-{report.output}.png"
            plot_confusion(report, png, log=log or (lambda _: None))
    if not metrics:  # never "nothing" with exit 0: no stream of these roles feeds a loss term
        raise RunUsageError(
            f"{run_dir}: nothing to evaluate: the {'/'.join(roles)} streams give none of the fields the losses read"
        )
    return metrics


def _default_stream(streams: dict[str, str]) -> str | None:
    for role in ("test", "val", "train"):
        found = next((n for n, r in streams.items() if r == role), None)
        if found is not None:
            return found
    return None


def _input_tensors(spec: Any, inputs: str) -> dict[str, torch.Tensor]:
    """The model's inputs from an ``.npz``, checked against the spec's per-sample shapes."""
    from archspec.data import read_npz

    arrays = read_npz(inputs)
    wanted = ", ".join(f"{k} {_shape_text(spec.inputs[k].shape)}" for k in spec.inputs)
    missing = [k for k in spec.inputs if k not in arrays]
    if missing:
        hint = did_you_mean(missing[0], arrays)
        raise DataError(
            f"{inputs}: no array {missing[0]!r}; the file holds {', '.join(sorted(arrays))}"
            + (f" ({hint})" if hint else "")
            + f"; the model's inputs: {wanted}"
        )
    tensors = {}
    for k, inp in spec.inputs.items():
        arr = np.asarray(arrays[k])
        expected = tuple(inp.shape)
        got = tuple(arr.shape[1:])
        if len(got) != len(expected) or any(isinstance(e, int) and e != g for e, g in zip(expected, got)):
            raise DataError(
                f"{inputs}: array {k!r} has shape {list(arr.shape)}, but input {k!r} takes {_shape_text(expected)} per sample "
                f"(hint: give an array of shape [N, {', '.join(map(str, expected))}], N samples)"
            )
        floating = str(inp.dtype).startswith("float")
        if not floating and not np.issubdtype(arr.dtype, np.integer):
            raise DataError(
                f"{inputs}: array {k!r} holds {arr.dtype} values, but input {k!r} takes integers ({inp.dtype})"
            )
        tensors[k] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32 if floating else np.int64))
    lengths = {len(t) for t in tensors.values()}
    if len(lengths) > 1:
        raise DataError(
            f"{inputs}: the input arrays hold different numbers of samples ({', '.join(f'{k}: {len(t)}' for k, t in tensors.items())})"
        )
    return tensors


def _shape_text(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def predict_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    stream: str | None = None,
    inputs: str | None = None,
    device: str = "auto",
    log: Callable[[str], None] | None = None,
    classes: bool = False,
    id_field: str | None = None,
) -> Path:
    """Run the trained model over a stream (or an NPZ of inputs) and save its outputs.

    Without ``stream`` or ``inputs`` it predicts on the test stream, else the validation
    stream, else the first training stream; ``log`` is told when it is not the test stream.
    ``classes`` adds, for each output trained by a classification loss, ``<output>_class``
    (the predicted class) and ``<output>_prob`` (softmax, or sigmoid for binary outputs);
    ``id_field`` copies that field of the stream (or array of the NPZ) first, as ``id_field``."""
    graph = run_graph(Path(run_dir))
    spec = graph.spec
    if inputs is None:
        roles = _stream_roles(graph)
        name = stream if stream is not None else _default_stream(roles)
        if name not in roles:
            hint = did_you_mean(name, roles)
            raise RunUsageError(
                f"no stream {name!r} to predict on"
                + (f" ({hint})" if hint else "")
                + f"; the run's streams: {', '.join(roles) or 'none'}"
                + ("" if roles else " (give the inputs with --inputs FILE.npz)")
            )
    graph, model = load_run(run_dir, device=choose_device(device, spec.training.get("device")), graph=graph)
    if inputs is not None:
        tensors = _input_tensors(spec, inputs)
        source = inputs
        extra = read_npz_field(inputs, id_field) if id_field else None
    else:
        from archspec.training.streams import build_streams, check_model_inputs

        # an image folder is decoded batch by batch through its loader, not all up front
        streams = build_streams(spec, roles=(roles[name],), lazy_files=True)
        check_model_inputs(spec, streams, [name])
        source = f"stream {name!r} ({roles[name]})"
        extra = _stream_field(streams[name], id_field, name) if id_field else None
    results: dict[str, list[np.ndarray]] = {}
    dev = next(model.parameters()).device if any(True for _ in model.parameters()) else torch.device("cpu")
    batches = _tensor_batches(tensors, 256) if inputs is not None else _eval_batches(streams[name], 256)
    n, first = 0, next(iter(spec.inputs))
    with torch.no_grad():
        for batch in batches:
            got = model(*[batch[k].to(dev) for k in spec.inputs])
            got = got if isinstance(got, dict) else {next(iter(spec.outputs)): got}
            for k, v in got.items():
                results.setdefault(k, []).append(v.float().cpu().numpy())
            n += batch[first].shape[0]
    merged = {k: np.concatenate(v) for k, v in results.items()}
    if classes:
        merged = _with_classes(spec, merged)
    if extra is not None:
        merged = {str(id_field): extra, **merged}
    if (
        log is not None and inputs is None and stream is None and roles[name] != "test"
    ):  # not what --help promises
        log(
            f"no test stream: predicted {n:,} samples from {source}: "
            + ", ".join(f"{k} {list(v.shape)}" for k, v in merged.items())
        )
    return _save_predictions(merged, Path(out))


def _eval_batches(stream: Any, size: int) -> Iterator[dict[str, torch.Tensor]]:
    """The stream in order, batch by batch, as the model saw it in evaluation (``normalize``
    applied; it is per sample, so a batch at a time gives what the whole stream at once would)."""
    from archspec.training.augment import apply_augment, eval_augments

    fixed = eval_augments(stream.augment)
    for batch in stream.all_batches(size):
        yield apply_augment(batch, fixed, torch.Generator()) if fixed else batch


def _tensor_batches(tensors: dict[str, torch.Tensor], size: int) -> Iterator[dict[str, torch.Tensor]]:
    n = next(iter(tensors.values())).shape[0]
    for i in range(0, n, size):
        yield {k: v[i : i + size] for k, v in tensors.items()}


def _stream_field(stream: Any, field: str, name: str) -> np.ndarray:
    """A field held in memory (labels, ids; not one decoded from files) as the ``--id`` column."""
    if field not in stream.tensors:
        hint = did_you_mean(field, stream.fields)
        raise RunUsageError(
            f"--id {field}: stream {name!r} has no field {field!r}"
            + (f" ({hint})" if hint else "")
            + f"; its fields: {', '.join(stream.fields)} (map one with fields: in the spec)"
        )
    return _as_ids(stream.tensors[field].numpy())


def read_npz_field(path: str, field: str) -> np.ndarray:
    from archspec.data import read_npz

    arrays = read_npz(path)
    if field not in arrays:
        raise RunUsageError(
            f"--id {field}: {path} has no array {field!r}; it holds {', '.join(sorted(arrays))}"
        )
    return _as_ids(np.asarray(arrays[field]))


def _as_ids(values: np.ndarray) -> np.ndarray:
    """Ids read as floats (a CSV column) are written back as integers when they are whole."""
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return values.astype(np.int64)
    return values


def _with_classes(spec: Any, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each classification output followed by its predicted class and its probabilities."""
    kinds = {raw.get("pred"): raw.get("fn") for raw in spec.losses.values() if isinstance(raw, dict)}
    if len(spec.outputs) == 1:
        kinds.setdefault(next(iter(spec.outputs)), next((r.get("fn") for r in spec.losses.values()), None))
    out: dict[str, np.ndarray] = {}
    for key, value in outputs.items():
        out[key] = value
        fn = kinds.get(key)
        if fn in ("cross_entropy", "nll") and value.ndim == 2:
            t = torch.from_numpy(value)
            prob = t.exp() if fn == "nll" else t.softmax(dim=1)
            out[f"{key}_class"] = value.argmax(axis=1).astype(np.int64)
            out[f"{key}_prob"] = prob.numpy()
        elif fn in ("binary_cross_entropy", "binary_cross_entropy_with_logits") and value.ndim <= 2:
            prob = value if fn == "binary_cross_entropy" else 1 / (1 + np.exp(-value))
            out[f"{key}_class"] = (prob > 0.5).astype(np.int64)
            out[f"{key}_prob"] = prob.astype(np.float32)
    return out


def _formats(columns: list[np.ndarray]) -> list[str]:
    """Integers (classes, ids) as integers, everything else to 7 significant digits."""
    return [("%d" if c.dtype.kind in "iub" else "%.7g") for c in columns for _ in range(c.shape[1])]


def _save_predictions(outputs: dict[str, np.ndarray], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".csv":
        columns, header = [], []
        for k, v in outputs.items():
            flat = v.reshape(v.shape[0], -1)
            columns.append(flat.astype(np.float64) if flat.dtype.kind == "f" else flat)
            header += [k] if flat.shape[1] == 1 else [f"{k}_{j}" for j in range(flat.shape[1])]
        table = np.concatenate([c.astype(np.float64) for c in columns], axis=1)
        import io

        buf = io.StringIO()
        np.savetxt(buf, table, delimiter=",", header=",".join(header), comments="", fmt=_formats(columns))
        write_atomic(out, buf.getvalue().encode())
    else:
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **outputs)
        write_atomic(out, buf.getvalue())
    return out
