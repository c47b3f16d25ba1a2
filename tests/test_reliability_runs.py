"""Reliability of runs: pickle-free checkpoints, atomic saves under SIGKILL and full disks, exact
resume across processes, non-finite values, and corrupt inputs to every run command.

Tests marked ``slow`` are skipped unless asked for (``-m slow`` or ``ARCHSPEC_SLOW=1``); each
has a short version that runs by default.
"""

from __future__ import annotations

import ast
import errno
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from archspec.errors import CheckpointError, TrainingError
from archspec.pipeline import analyse, load
from archspec.training import checkpoint as ckpt
from archspec.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from archspec.training.runner import Trainer, train
from archspec.training.session import load_run, resume_run, start_run
from tests.conftest import ROOT, invoke, latest_checkpoint_of, latest_weights, quiet

COLUMNS = [f"f{i}" for i in range(8)]
FIELDS = "{x: [" + ", ".join(COLUMNS) + "], y: label}"
SPEC = f"""\
archspec: 1
name: rel
seed: 5
inputs:
  x: {{shape: [8]}}
nodes:
  h: {{op: linear, out_features: 16}}
  act: {{op: relu}}
  drop: {{op: dropout, p: 0.3}}
  logits: {{op: linear, out_features: 3}}
outputs: {{logits: logits}}
data:
  train: {{csv: data.csv, fields: {FIELDS}, batch_size: 8}}
  val: {{csv: data.csv, fields: {FIELDS}, split: val, role: val}}
  test: {{csv: data.csv, fields: {FIELDS}, split: test, role: test}}
losses:
  ce: {{fn: cross_entropy, stream: train, pred: logits, target: y}}
training:
  optimizer: {{name: adam, lr: 0.01}}
  epochs: 3
"""


def write_project(where: Path, spec: str = SPEC) -> Path:
    """A spec with dropout and a shuffled CSV stream, and its data; returns the spec path."""
    where.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    x = rng.randn(200, 8)
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    lines = [",".join([*COLUMNS, "label"])] + [
        ",".join(f"{v:.5f}" for v in r) + f",{c}" for r, c in zip(x, y)
    ]
    (where / "data.csv").write_text("\n".join(lines) + "\n")
    (where / "spec.yaml").write_text(spec)
    return where / "spec.yaml"


def tree_hash(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def latest_state(run_dir: Path) -> dict:
    return latest_checkpoint_of(run_dir)[1]


def assert_same_tensors(a, b) -> None:
    """Nested dicts/lists of tensors and plain values are exactly equal."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_tensors(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_tensors(x, y)
    else:
        assert a == b


def metrics_without_time(run_dir: Path) -> list[list[str]]:
    rows = [r.split(",") for r in (run_dir / "metrics.csv").read_text().splitlines()]
    col = rows[0].index("seconds")
    return [r[:col] + r[col + 1 :] for r in rows]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished run (checkpoint every 5 steps), trained once per module; copy before changing."""
    base = tmp_path_factory.mktemp("trained")
    spec = write_project(base)
    start_run(str(spec), [], quiet(base / "run", checkpoint_every=5))
    return base


@pytest.fixture
def project(trained, tmp_path) -> Path:
    """A private copy of the trained project: tmp_path/spec.yaml, data.csv and run/."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    info["base_dir"] = str(tmp_path)  # run.json holds the spec's absolute directory: point it at the copy
    (tmp_path / "run" / "run.json").write_text(json.dumps(info))
    return tmp_path


# --- 8. no pickle code on load ------------------------------------------------------------------


def test_every_torch_load_in_the_package_passes_weights_only_true():
    calls = []
    for path in sorted((ROOT / "archspec").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = node.func if isinstance(node, ast.Call) else None
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "load"
                and isinstance(func.value, ast.Name)
                and func.value.id == "torch"
            ):
                safe = any(
                    k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords
                )
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", safe))
    assert calls, "expected at least the checkpoint loader"
    assert [where for where, safe in calls if not safe] == []


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_whose_state_carries_code_is_refused_and_the_code_never_runs(project):
    marker = project / "pwned"
    path = latest_checkpoint(project / "run" / "checkpoints")
    torch.save({"optimizer": _Payload(marker)}, path / "state.pt")
    with pytest.raises(CheckpointError, match=r"refused to load|corrupt or unsafe checkpoint"):
        load_checkpoint(path)
    result = invoke("train", "--resume", str(project / "run"), "--no-progress")
    assert result.exit_code == 3
    assert not marker.exists()


def test_rng_states_and_the_whole_training_state_are_tensors_and_plain_values(trained):
    state = latest_state(trained / "run")
    assert isinstance(state["rng_torch"], torch.Tensor) and state["rng_torch"].dtype == torch.uint8
    assert isinstance(state["rng_augment"], torch.Tensor)

    def leaves(value):
        if isinstance(value, dict):
            for k, v in value.items():
                assert isinstance(k, (str, int))
                yield from leaves(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    assert {type(v) for v in leaves(state)} <= {torch.Tensor, int, float, bool, str, type(None)}


# --- 9. atomic saves ----------------------------------------------------------------------------

BIG = 1_300_000  # float32 values: a ~5 MB model


def _save_forever(root: Path) -> None:
    """The child: save checkpoint after checkpoint; every tensor holds its step number.

    Tensors come from numpy: a forked child must not enter torch's intra-op thread pool.
    """
    step = int((root / "next").read_text()) if (root / "next").exists() else 0
    while True:
        step += 1
        weights = {
            "w": torch.from_numpy(np.full(BIG, step, np.float32)),
            "b": torch.from_numpy(np.full(7, step, np.float32)),
        }
        save_checkpoint(
            root, f"step-{step:08d}-000000", weights, {"step": step, "rng": torch.get_rng_state()}
        )


def _check_consistent(root: Path) -> int:
    path = latest_checkpoint(root)
    if path is None:
        return 0
    weights, state = load_checkpoint(path)
    step = state["step"]
    assert path.name == f"step-{step:08d}-000000"
    assert torch.equal(weights["w"], torch.full((BIG,), float(step))) and float(weights["b"][0]) == step
    return step


def _kill_during_saves(tmp_path: Path, kills: int) -> None:
    root = tmp_path / "checkpoints"
    rng = random.Random(1234)
    good = 0
    for _ in range(kills):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            try:
                _save_forever(root)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        step = _check_consistent(root)
        assert step >= good  # the latest pointer never goes back to an older (or no) checkpoint
        good = step
        (root / "next").parent.mkdir(exist_ok=True)
        (root / "next").write_text(str(step + 1000))  # next child writes fresh names
    assert good > 0, "no save ever finished: lengthen the delays"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints"]  # temporaries stay inside


def test_sigkill_at_random_points_of_save_checkpoint_leaves_a_loadable_checkpoint(tmp_path):
    _kill_during_saves(tmp_path, kills=15)


@pytest.mark.slow
def test_sigkill_soak_of_save_checkpoint(tmp_path):
    _kill_during_saves(tmp_path, kills=150)


def _a_first_checkpoint(root: Path) -> None:
    save_checkpoint(root, "step-00000001-000000", {"w": torch.ones(3)}, {"step": 1})


def test_temporary_files_are_made_in_the_checkpoint_directory(tmp_path, monkeypatch):
    import archspec.fileio as fileio

    seen = []
    for module, fn in ((ckpt, "make_temp_dir"), (fileio, "make_temp_file")):
        real = getattr(module, fn)
        monkeypatch.setattr(
            module, fn, lambda parent, *a, _real=real: seen.append(parent) or _real(parent, *a)
        )
    _a_first_checkpoint(tmp_path / "c")
    assert seen and {Path(d) for d in seen} == {tmp_path / "c"}
    assert [p.name for p in (tmp_path / "c").iterdir() if p.name.startswith(".")] == []


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _torch_no_space(*args, **kwargs):
    raise RuntimeError(
        "[enforce fail at inline_container.cc] PytorchStreamWriter failed writing file data/0: file write failed"
    )


def _full_disk_writing(name: str):
    """``open`` for the checkpoint module whose files named ``name`` fail to write (ENOSPC)."""

    class Full(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(path, mode="r", *args, **kwargs):
        return (
            Full(path, "w") if Path(path).name == name and "w" in mode else open(path, mode, *args, **kwargs)
        )

    return fake_open


@pytest.mark.parametrize(
    "where", ["the directory rename", "the weights file", "the state file", "the state's serialisation"]
)
def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path, monkeypatch, where):
    root = tmp_path / "c"
    _a_first_checkpoint(root)
    before = tree_hash(root)
    if where == "the directory rename":
        monkeypatch.setattr(ckpt.os, "replace", _no_space)
    elif where == "the weights file":
        monkeypatch.setattr(ckpt, "open", _full_disk_writing(ckpt.WEIGHTS), raising=False)
    elif where == "the state file":
        monkeypatch.setattr(ckpt, "open", _full_disk_writing(ckpt.STATE), raising=False)
    else:
        monkeypatch.setattr(ckpt.torch, "save", _torch_no_space)
    with pytest.raises(
        CheckpointError,
        match=r"could not write checkpoint .*step-00000002-000000: .*; the previous checkpoint is intact",
    ):
        save_checkpoint(root, "step-00000002-000000", {"w": torch.zeros(3)}, {"step": 2})
    monkeypatch.undo()
    assert tree_hash(root) == before  # no temporary left, latest unchanged
    assert torch.equal(load_checkpoint(latest_checkpoint(root))[0]["w"], torch.ones(3))


def test_a_full_disk_while_moving_the_pointer_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    root = tmp_path / "c"
    _a_first_checkpoint(root)

    monkeypatch.setattr(ckpt, "write_atomic_many", _no_space)
    with pytest.raises(CheckpointError, match="still names its previous checkpoint, which is intact"):
        save_checkpoint(root, "step-00000002-000000", {"w": torch.zeros(3)}, {"step": 2})
    assert latest_checkpoint(root).name == "step-00000001-000000"


# --- 10. exact resume ----------------------------------------------------------------------------


CLI_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _train_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "archspec.cli", "train", *args, "--checkpoint-every", "1", "--no-progress"]


def _steps_logged(run_dir: Path) -> int:
    try:
        return max(0, len((run_dir / "steps.csv").read_text().splitlines()) - 1)
    except OSError:
        return 0


def test_a_run_killed_mid_epoch_and_resumed_in_a_new_process_ends_bit_identical(trained, tmp_path):
    # The reference is the module's uninterrupted run, trained in this process with a checkpoint
    # every 5 steps: neither the process nor how often it checkpoints may change a bit.
    spec = write_project(tmp_path)
    killed = subprocess.Popen(
        _train_cli(str(spec), "--run-dir", str(tmp_path / "killed")),
        cwd=tmp_path,
        env=CLI_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _steps_logged(tmp_path / "killed") < 27 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert 0 < _steps_logged(tmp_path / "killed") < 60, "the run was not killed mid-way"
    resumed = subprocess.run(
        _train_cli("--resume", str(tmp_path / "killed")),
        cwd=tmp_path,
        env=CLI_ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from step-" in resumed.stderr
    a, b = trained / "run", tmp_path / "killed"
    assert_same_tensors(latest_weights(a), latest_weights(b))
    assert_same_tensors(latest_state(a)["optimizer"], latest_state(b)["optimizer"])
    assert (a / "steps.csv").read_text() == (b / "steps.csv").read_text()
    assert metrics_without_time(a) == metrics_without_time(b)


class _Crash(Exception):
    pass


def _crash_at(monkeypatch, step: int) -> None:
    real = Trainer._log_step

    def log_then_crash(self, at, values):
        real(self, at, values)
        if at == step:
            raise _Crash

    monkeypatch.setattr(Trainer, "_log_step", log_then_crash)


def _interrupted_then_resumed(
    project: Path, monkeypatch, *, every: int, crash: int, rng_restore: bool = True
) -> Path:
    run = project / "again"
    with monkeypatch.context() as m:
        _crash_at(m, crash)
        with pytest.raises(_Crash):
            start_run(str(project / "spec.yaml"), [], quiet(run, checkpoint_every=every))
    with monkeypatch.context() as m:
        if not rng_restore:
            m.setattr(torch, "set_rng_state", lambda state: None)
        resume_run(run, quiet(run, checkpoint_every=every))
    return run


def _bytes_without_time(path: Path) -> list[bytes]:
    """A CSV's raw lines (line ends kept) without the wall-clock ``seconds`` column."""
    lines = path.read_bytes().split(b"\n")
    col = lines[0].split(b",").index(b"seconds")
    return [b",".join(c for i, c in enumerate(line.split(b",")) if i != col) for line in lines]


def test_resume_from_a_checkpoint_every_k_steps_is_exact(project, monkeypatch):
    run = _interrupted_then_resumed(project, monkeypatch, every=5, crash=27)  # resumes from step 25
    assert_same_tensors(latest_weights(project / "run"), latest_weights(run))
    assert_same_tensors(latest_state(project / "run")["optimizer"], latest_state(run)["optimizer"])
    # the logs too, byte for byte: one line end ("\n") in the rows kept, rewritten and appended
    assert (project / "run" / "steps.csv").read_bytes() == (run / "steps.csv").read_bytes()
    assert _bytes_without_time(project / "run" / "metrics.csv") == _bytes_without_time(run / "metrics.csv")
    assert b"\r" not in (run / "steps.csv").read_bytes() + (run / "metrics.csv").read_bytes()
    assert (project / "run" / "steps.csv").read_text() == (run / "steps.csv").read_text()
    assert metrics_without_time(project / "run") == metrics_without_time(run)


def test_resume_without_restoring_the_torch_rng_is_not_exact(project, monkeypatch):
    run = _interrupted_then_resumed(project, monkeypatch, every=5, crash=27, rng_restore=False)
    ours, reference = latest_weights(run), latest_weights(project / "run")
    assert not all(torch.equal(ours[k], reference[k]) for k in ours)  # dropout masks differed


NAMES_AT_TRAIN_TIME = {
    "loss": (
        "losses:\n  ce: {fn: os.system, stream: t, pred: output, target: y}\n",
        2,
        "losses.ce.fn: unknown value 'os.system'",
    ),
    "dataset": (
        "losses:\n  ce: {fn: cross_entropy, stream: t, pred: output, target: y}\n",
        2,
        "unknown value 'logging.os.system'",
    ),
}


@pytest.mark.parametrize("what", list(NAMES_AT_TRAIN_TIME))
def test_loss_and_dataset_names_are_refused_when_a_run_binds_them(tmp_path, what):
    losses, code, message = NAMES_AT_TRAIN_TIME[what]
    stream = (
        "{dataset: logging.os.system}"
        if what == "dataset"
        else "{dataset: digits, fields: {x: flat, y: label}}"
    )
    spec = "archspec: 1\ninputs:\n  x: {shape: [64]}\nnodes:\n  a: {op: linear, out_features: 10}\n"
    (tmp_path / "spec.yaml").write_text(spec + f"data:\n  t: {stream}\n" + losses)
    result = invoke("train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run"), "--no-progress")
    assert result.exit_code == code and message in result.output
    assert "logging.os" not in sys.modules and "archspec_evil" not in sys.modules


def test_an_unknown_metric_name_is_a_spec_error(project):
    (project / "spec.yaml").write_text(SPEC.replace("epochs: 3", "epochs: 1\n  metrics: [os.system]"))
    result = invoke("train", project / "spec.yaml", "--run-dir", project / "m", "--no-progress")
    assert result.exit_code == 2 and "unknown metric 'os.system'" in result.output


# --- 11. non-finite values -------------------------------------------------------------------------

NPZ_SPEC = """\
archspec: 1
name: nonfinite
inputs:
  x: {shape: [4]}
nodes:
  a: {op: linear, out_features: 3}
data:
  t: {npz: data.npz, split: all, batch_size: 8, shuffle: false}
losses:
  LOSS
training: {optimizer: {name: sgd, lr: LR}, epochs: 2}
"""
CE = "ce: {fn: cross_entropy, stream: t, pred: output, target: y}"
MSE = "fit: {fn: mse, stream: t, pred: output, target: z}"


def _npz_run(tmp_path: Path, *, nan_row: int | None = None, lr: str = "0.1", loss: str = CE, **kw) -> Path:
    rng = np.random.RandomState(0)
    x = rng.randn(32, 4).astype("float32")
    if nan_row is not None:
        x[nan_row, 2] = np.nan
    np.savez(tmp_path / "data.npz", x=x, y=np.arange(32) % 3, z=rng.randn(32, 3).astype("float32") * 10)
    (tmp_path / "spec.yaml").write_text(NPZ_SPEC.replace("LOSS", loss).replace("LR", lr))
    run = tmp_path / "run"
    train(analyse(load(tmp_path / "spec.yaml")), quiet(run, checkpoint_every=1, **kw))
    return run


def _finite_checkpoints(run: Path) -> list[str]:
    """The names of the run's checkpoints, after checking that each holds only finite weights."""
    root = run / "checkpoints"
    paths = sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []
    for path in paths:
        weights, _ = load_checkpoint(path)
        assert all(torch.isfinite(v).all() for v in weights.values()), path
    return [p.name for p in paths]


BEFORE_STEP_2 = ["step-00000001-000001", "step-00000002-000002"]  # saved after steps 0 and 1


def test_a_nan_in_a_batch_stops_at_that_step_naming_the_loss_term(tmp_path):
    with pytest.raises(TrainingError) as info:
        _npz_run(tmp_path, nan_row=20)  # the third batch (step 2)
    assert str(info.value).startswith("loss term 'ce' (cross_entropy) is nan at step 2; stopping")
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step-00000002-000002"
    assert _finite_checkpoints(tmp_path / "run") == BEFORE_STEP_2


def test_detect_anomaly_names_the_first_node_with_a_non_finite_output(tmp_path):
    with pytest.raises(TrainingError) as info:
        _npz_run(tmp_path, nan_row=20, detect_anomaly=True)
    assert str(info.value) == (
        "node 'a' (Linear) produced a non-finite output because its input already was (check the data) at step 2; stopping without saving"
    )
    assert _finite_checkpoints(tmp_path / "run") == BEFORE_STEP_2


def test_a_learning_rate_of_1e10_stops_within_a_step_of_the_blow_up(tmp_path):
    with pytest.raises(TrainingError, match=r"loss term 'fit' \(mse\) is inf at step \d+; stopping") as info:
        _npz_run(tmp_path, lr="1e10", loss=MSE)
    step = int(str(info.value).split("at step ")[1].split(";")[0])
    assert 1 <= step <= 3
    saved = _finite_checkpoints(tmp_path / "run")
    assert saved and saved[-1].startswith(f"step-{step:08d}-")  # every step before the blow-up was kept
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == saved[-1]


def test_a_step_that_overflows_a_parameter_names_it_and_saves_nothing(tmp_path):
    with pytest.raises(
        TrainingError,
        match=r"^parameter 'a\.(weight|bias)' became non-finite at step 1; stopping without saving",
    ):
        _npz_run(tmp_path, lr="1e38", loss=MSE)
    assert _finite_checkpoints(tmp_path / "run") == []
    assert latest_checkpoint(tmp_path / "run" / "checkpoints") is None


def test_a_nan_stops_the_cli_with_exit_3_and_no_traceback(tmp_path):
    with pytest.raises(TrainingError):
        _npz_run(tmp_path, nan_row=3)
    result = invoke(
        "train",
        str(tmp_path / "spec.yaml"),
        "--run-dir",
        str(tmp_path / "cli"),
        "--no-progress",
        "--detect-anomaly",
    )
    assert result.exit_code == 3
    assert "error: node 'a' (Linear) produced a non-finite output" in result.output


# --- 12. corrupt inputs to every command --------------------------------------------------------


def _truncate_all(run: Path, name: str) -> None:
    paths = list((run / "checkpoints").glob(f"step-*/{name}"))
    assert paths, f"no checkpoint of {run} holds {name}"
    for path in paths:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("name", ["model.safetensors", "state.pt"])
def test_a_truncated_checkpoint_is_exit_3_for_evaluate_predict_and_resume_and_changes_nothing(project, name):
    run = project / "run"
    _truncate_all(run, name)
    before = tree_hash(run)
    commands = [["train", "--resume", str(run), "--no-progress"]]
    if name == "model.safetensors":  # evaluate and predict read only the weights
        commands += [["evaluate", str(run)], ["predict", str(run), "-o", str(project / "out.npz")]]
    for args in commands:
        result = invoke(*args)
        assert result.exit_code == 3, (args, result.output)
        assert "corrupt or unsafe checkpoint" in result.output
    assert tree_hash(run) == before
    assert not (project / "out.npz").exists()


def test_resuming_with_another_spec_is_refused_and_changes_nothing(project):
    run = project / "run"
    (run / "spec.yaml").write_text(SPEC.replace("lr: 0.01", "lr: 0.02"))
    before = tree_hash(run)
    result = invoke("train", "--resume", str(run), "--no-progress")
    assert result.exit_code == 3
    assert f"error: {run} was trained from another spec; resume with the run's own spec.yaml" in result.output
    assert tree_hash(run) == before


def test_weights_that_no_longer_fit_the_spec_name_the_tensor_and_both_shapes(project):
    run = project / "run"
    (run / "spec.yaml").write_text(SPEC.replace("out_features: 16", "out_features: 12"))
    before = tree_hash(run)
    with pytest.raises(
        CheckpointError, match=r"'h\.bias' has shape \[16\] in the saved weights but \[12\] in this spec"
    ):
        load_run(run)
    result = invoke("evaluate", str(run))
    assert (
        result.exit_code == 3
        and "'h.bias' has shape [16] in the saved weights but [12] in this spec" in result.output
    )
    assert tree_hash(run) == before


def test_a_missing_data_file_is_a_data_error_for_evaluate_and_train(project):
    run = project / "run"
    (project / "data.csv").rename(project / "moved.csv")
    before = tree_hash(run)
    result = invoke("evaluate", str(run))
    assert result.exit_code == 3 and f"error: {project / 'data.csv'}: no such file" in result.output
    result = invoke("train", str(project / "spec.yaml"), "--run-dir", str(project / "fresh"), "--no-progress")
    assert result.exit_code == 3 and "no such file" in result.output
    assert not (project / "fresh" / "checkpoints").exists()
    assert tree_hash(run) == before


def test_a_csv_without_a_named_column_is_a_data_error_for_every_command(project):
    run = project / "run"
    text = (project / "data.csv").read_text()
    (project / "data.csv").write_text(text.replace("f3,", "g3,", 1))
    before = tree_hash(run)
    for args in (
        ["evaluate", str(run)],
        ["predict", str(run), "-o", str(project / "o.npz")],
        ["train", "--resume", str(run), "--no-progress"],
    ):
        result = invoke(*args)
        assert result.exit_code == 3, (args, result.output)
        assert "no column 'f3' in the header" in result.output
    assert tree_hash(run) == before


def test_starting_over_an_existing_run_is_refused_and_changes_nothing(project):
    run = project / "run"
    before = tree_hash(run)
    result = invoke("train", str(project / "spec.yaml"), "--run-dir", str(run), "--no-progress")
    assert result.exit_code == 3 and "already holds a run" in result.output
    assert tree_hash(run) == before
