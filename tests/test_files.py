"""Files archspec writes go only where the user asked, with the usual modes, and never over the
user's own files: output paths from a spec's name, run directories claimed atomically,
checkpoint pointers kept inside their run, checkpoint fields type-checked, and CSV logs that
a resume leaves byte-identical (issue 16, "Files")."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from archspec.fileio import path_component, write_atomic, write_atomic_with
from archspec.training.checkpoint import save_checkpoint


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
