"""Files archspec writes go only where the user asked, with the usual modes, and never over the
user's own files: output paths from a spec's name, run directories claimed atomically,
checkpoint pointers kept inside their run, checkpoint fields type-checked, and CSV logs that
a resume leaves byte-identical (issue 16, "Files")."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from archspec.errors import CheckpointError
from archspec.fileio import path_component, write_atomic, write_atomic_many, write_atomic_with
from archspec.training.checkpoint import latest_checkpoint, save_checkpoint
from archspec.training.rundir import claim_run_dir
from tests.conftest import invoke


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- modes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_written_files_and_checkpoint_directories_get_the_mode_the_umask_gives(
    tmp_path, umask, mask, file_mode, dir_mode
):
    umask(mask)
    write_atomic(tmp_path / "a.json", b"{}\n")
    write_atomic_with(tmp_path / "w.safetensors", lambda tmp: save_file({"w": torch.ones(2)}, tmp))
    final = save_checkpoint(tmp_path / "c", "step-00000001-000000", {"w": torch.ones(2)}, {"step": 1})
    assert mode(tmp_path / "a.json") == mode(tmp_path / "w.safetensors") == file_mode
    assert mode(final) == dir_mode
    assert {p.name: mode(p) for p in final.iterdir()} == {
        "model.safetensors": file_mode,
        "state.pt": file_mode,
    }
    assert mode(tmp_path / "c" / "latest") == file_mode


# --- names become one path component -------------------------------------------------------------


def test_several_files_written_together_take_one_directory_fsync(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    (tmp_path / "b").write_text("old\n")
    write_atomic_many([(tmp_path / "a", b"one\n"), (tmp_path / "b", b"two\n")])
    assert (tmp_path / "a").read_text() == "one\n" and (tmp_path / "b").read_text() == "two\n"
    assert len(synced) == 2 + 1  # each file, then the folder once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_a_failed_group_write_leaves_every_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    (tmp_path / "a").write_text("old a\n")
    (tmp_path / "b").write_text("old b\n")
    real_open, opened = open, []

    def full_on_second(path, *args, **kwargs):
        opened.append(path)
        if len(opened) == 2:
            raise OSError(28, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_on_second)
    with pytest.raises(OSError, match="No space"):
        write_atomic_many([(tmp_path / "a", b"new a\n"), (tmp_path / "b", b"new b\n")])
    monkeypatch.undo()
    assert (tmp_path / "a").read_text() == "old a\n" and (tmp_path / "b").read_text() == "old b\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


@pytest.mark.parametrize(
    ("name", "component"),
    [
        ("unet-small", "unet-small"),
        ("v1.2_final", "v1.2_final"),
        ("../../x", "_.._x"),
        ("/etc/passwd", "_etc_passwd"),
        ("..", "model"),
        (".hidden", "hidden"),
        ("-rf", "rf"),
        ("a\\b", "a_b"),
        ("my net\n", "my_net_"),
        ("", "model"),
        ("x" * 300, "x" * 100),
    ],
)
def test_a_name_becomes_one_path_component_that_stays_inside_its_folder(name, component):
    assert path_component(name) == component
    assert (Path("/root") / component).resolve().parent == Path("/root")


# --- run directories -----------------------------------------------------------------------------

SPEC = """\
archspec: 1
name: tiny
inputs:
  x: {shape: [2]}
nodes:
  h: {op: linear, out_features: 4}
  out: {op: linear, out_features: 2}
outputs: {logits: out}
data:
  train: {dataset: moons, split: train, batch_size: 350}
losses:
  ce: {fn: cross_entropy, stream: train, pred: logits, target: label}
training:
  epochs: 1
"""


@pytest.fixture
def spec_file(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPEC)
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def train_cli(spec_file: Path, *args: str):
    return invoke("train", str(spec_file), "--no-progress", "--device", "cpu", *args)


def test_a_run_dir_holding_a_users_files_is_refused_and_left_as_it_was(spec_file, tmp_path):
    mine = tmp_path / "existing"
    mine.mkdir()
    (mine / "spec.yaml").write_text("my notes\n")
    (mine / "metrics.csv").write_text("a,b\n1,2\n")
    before = tree(mine)
    result = train_cli(spec_file, "--run-dir", str(mine))
    assert result.exit_code == 3, result.output
    assert result.output == (
        f"error: {mine} is not empty and is not an archspec run (it holds metrics.csv, spec.yaml); "
        "nothing was written (hint: give a new or empty --run-dir, so that none of these files is replaced)\n"
    )
    assert tree(mine) == before and sorted(p.name for p in mine.iterdir()) == ["metrics.csv", "spec.yaml"]


def test_an_empty_run_dir_is_fine_and_becomes_a_run(spec_file, tmp_path):
    (tmp_path / "empty").mkdir()
    result = train_cli(spec_file, "--run-dir", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / ".archspec-run").is_file()
    assert (tmp_path / "empty" / "checkpoints" / "latest").is_file()


def test_a_run_dir_another_process_holds_is_refused_and_nothing_is_written(spec_file, tmp_path):
    # The loser of two starts into one new directory: the winner has claimed it and written its
    # run.json, and is still training (it holds the claim).
    run = tmp_path / "run"
    winner = claim_run_dir(run)
    (run / "run.json").write_text('{"winner": true}\n')
    try:
        before = tree(run)
        result = train_cli(spec_file, "--run-dir", str(run))
        assert result.exit_code == 3, result.output
        assert result.output == (
            f"error: {run} is in use by another archspec process (starting, training or resuming a run there); "
            "wait for it to finish, or choose another --run-dir\n"
        )
        assert tree(run) == before
    finally:
        winner.release()


def test_of_two_claims_on_one_new_directory_exactly_one_wins(tmp_path):
    run = tmp_path / "run"
    first = claim_run_dir(run)
    try:
        with pytest.raises(CheckpointError, match="is in use by another archspec process"):
            claim_run_dir(run)
    finally:
        first.release()
    assert first.created and [p.name for p in run.iterdir()] == [".archspec-run"]


def test_a_start_that_failed_before_its_first_checkpoint_can_be_started_again(spec_file, tmp_path):
    run = tmp_path / "run"
    claim_run_dir(run).release()  # a start that was killed before it wrote more than the marker
    (run / "spec.yaml").write_text(SPEC)
    result = train_cli(spec_file, "--run-dir", str(run))
    assert result.exit_code == 0, result.output
    assert invoke("train", "--resume", str(run), "--no-progress", "--device", "cpu").exit_code == 0


def test_default_run_dirs_are_claimed_one_per_start(spec_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "tiny").mkdir(parents=True)  # taken (by anyone)
    result = train_cli(spec_file)
    assert result.exit_code == 0, result.output
    assert f"run saved to {Path('runs', 'tiny-2')}" in result.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["tiny", "tiny-2"]
    assert list((tmp_path / "runs" / "tiny").iterdir()) == []


# --- checkpoints ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished two-epoch run of SPEC (a checkpoint per epoch); copy it before changing it."""
    base = tmp_path_factory.mktemp("finished")
    (base / "tiny.yaml").write_text(SPEC)
    result = invoke(
        "train",
        str(base / "tiny.yaml"),
        "--run-dir",
        str(base / "run"),
        "--no-progress",
        "--device",
        "cpu",
        "--set",
        "training.epochs=2",
    )
    assert result.exit_code == 0, result.output
    return base / "run"


@pytest.fixture
def run(finished, tmp_path) -> Path:
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def resume_cli(run: Path):
    return invoke("train", "--resume", str(run), "--no-progress", "--device", "cpu")


def test_a_pointer_that_leaves_the_run_is_refused_and_changes_nothing(run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    name = (run / "checkpoints" / "latest").read_text().strip()
    (run / "checkpoints" / "latest").write_text(f"../../other/checkpoints/{name}\n")
    before = tree(run)
    for args in (["train", "--resume", str(run), "--no-progress"], ["evaluate", str(run), "--role", "train"]):
        result = invoke(*args, "--device", "cpu")
        assert result.exit_code == 3, result.output
        assert result.output == (
            f"error: {run / 'checkpoints' / 'latest'} names '../../other/checkpoints/{name}', which is not a "
            f"checkpoint of this run (a pointer names a directory in {run / 'checkpoints'})\n"
        )
    assert tree(run) == before


def test_a_pointer_to_a_link_out_of_the_run_is_refused(run, tmp_path):
    name = (run / "checkpoints" / "latest").read_text().strip()
    shutil.copytree(run / "checkpoints" / name, tmp_path / "elsewhere")
    (run / "checkpoints" / "link").symlink_to(tmp_path / "elsewhere")
    (run / "checkpoints" / "best").write_text("link\n")
    with pytest.raises(CheckpointError, match="names 'link', which is not a checkpoint of this run"):
        latest_checkpoint(run / "checkpoints", "best")


def change_state(run: Path, change) -> Path:
    path = latest_checkpoint(run / "checkpoints")
    state = torch.load(path / "state.pt", weights_only=True)
    change(state)
    torch.save(state, path / "state.pt")
    return path


@pytest.mark.parametrize(
    ("change", "field", "wanted", "shown"),
    [
        (lambda s: s["counters"].update(step="abc"), "counters.step", "an integer >= 0", "'abc'"),
        (lambda s: s["counters"].update(epoch=1.5), "counters.epoch", "an integer >= 0", "1.5"),
        (
            lambda s: s.update(rng_torch=s["rng_torch"].float()),
            "rng_torch",
            "a uint8 tensor (an RNG state)",
            "a torch.float32 tensor",
        ),
        (lambda s: s.update(rng_augment=[1, 2]), "rng_augment", "a uint8 tensor (an RNG state)", "[1, 2]"),
        (lambda s: s.update(best="x"), "best", "a number", "'x'"),
        (lambda s: s.update(positions={"u": [0, "1"]}), "positions.u", "[epoch, step]", "[0, '1']"),
        (lambda s: s.update(optimizer=[]), "optimizer", "an optimiser state", "[]"),
    ],
    ids=["step", "epoch", "float rng", "list rng", "best", "position", "optimizer"],
)
def test_a_checkpoint_with_a_wrongly_typed_field_names_the_field_and_changes_nothing(
    run, change, field, wanted, shown
):
    path = change_state(run, change)
    before = tree(run)
    result = resume_cli(run)
    assert result.exit_code == 3, result.output
    assert result.output == f"error: {path}: field {field!r} of state.pt should be {wanted}, got {shown}\n"
    assert tree(run) == before


def test_an_optimizer_state_that_does_not_fit_names_the_field(run):
    path = change_state(run, lambda s: s["optimizer"].update(param_groups=[{"params": "x"}]))
    result = resume_cli(run)
    assert result.exit_code == 3, result.output
    assert result.output.startswith(f"error: {path}: field 'optimizer' of state.pt does not fit this run (")


def test_an_untouched_copy_still_resumes(run):
    assert resume_cli(run).exit_code == 0
