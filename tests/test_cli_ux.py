"""The command line as a new user meets it: clear, located messages with hints, the right exit
codes (0 ok, 1 usage, 2 spec, 3 runtime), never a traceback or "internal error"."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, invoke


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """A project from `archspec init` (mlp on digits) with one trained run, built once."""
    base = tmp_path_factory.mktemp("ux")
    assert invoke("init", "net", "-d", str(base)).exit_code == 0
    result = invoke(
        "train",
        str(base / "net.yaml"),
        "--run-dir",
        str(base / "runs" / "net"),
        "--set",
        "training.epochs=1",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    return base


# -- help ------------------------------------------------------------------------------------------


def test_the_command_list_is_not_cut_off_mid_sentence():
    out = invoke("--help").output
    assert "..." not in out.split("Commands:")[1]
    assert "check-init  Activation and gradient statistics of the initialised network." in out


@pytest.mark.parametrize(
    "command",
    [
        "validate",
        "summary",
        "init",
        "check-init",
        "diff",
        "evaluate",
        "predict",
        "render",
        "train",
        "compile",
        "export",
    ],
)
def test_every_main_command_shows_examples(command):
    assert "Examples:" in invoke(command, "--help").output


def test_train_usage_shows_the_spec_is_optional():
    assert "Usage: archspec train [OPTIONS] [SPEC]" in invoke("train", "--help").output


# -- directories where a file is expected, and the other way round -------------------------------


def test_a_directory_as_spec_is_a_usage_error_with_a_hint(tmp_path):
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"'{tmp_path}' is a directory; give a spec file (e.g. {tmp_path}/*.yaml)" in result.output


def test_training_a_run_directory_points_at_resume(made):
    run_dir = str(made / "runs" / "net")
    result = invoke("train", run_dir)
    assert result.exit_code == 1
    assert (
        f"Invalid value for 'SPEC': '{run_dir}' is a training run, not a spec; continue it with: archspec train --resume {run_dir}"
        in result.output
    )


def test_evaluating_a_missing_directory_is_a_usage_error(tmp_path):
    result = invoke("evaluate", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert (
        f"'{tmp_path / 'nope'}' does not exist (a run directory is what `archspec train --run-dir DIR` writes)"
        in result.output
    )


def test_a_directory_that_is_not_a_run_lists_the_runs_inside_it(made):
    result = invoke("evaluate", str(made / "runs"))
    assert result.exit_code == 1
    assert f"is not a training run (no spec.yaml); runs in it: {made / 'runs' / 'net'}" in result.output


def test_a_plain_directory_is_not_a_run_for_resume_evaluate_or_predict(tmp_path):
    for args in (
        ["train", "--resume", str(tmp_path)],
        ["evaluate", str(tmp_path)],
        ["predict", str(tmp_path), "-o", str(tmp_path / "o.npz")],
    ):
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert f"'{tmp_path}' is not a training run (no spec.yaml)" in result.output


def test_evaluating_a_spec_file_says_to_train_it_first(made):
    result = invoke("evaluate", str(made / "net.yaml"))
    assert result.exit_code == 1
    assert (
        f"is a spec, not a training run; train it first: archspec train {made / 'net.yaml'}" in result.output
    )


def test_a_run_without_a_checkpoint_says_so_with_a_hint(made, tmp_path):
    run_dir = tmp_path / "young"
    (run_dir / "checkpoints").mkdir(parents=True)
    shutil.copy(made / "runs" / "net" / "spec.yaml", run_dir / "spec.yaml")
    shutil.copy(made / "runs" / "net" / "run.json", run_dir / "run.json")
    for args in (
        ["evaluate", str(run_dir)],
        ["predict", str(run_dir), "-o", str(tmp_path / "o.npz")],
        ["export", str(run_dir), "--to", "torchscript", "-o", str(tmp_path / "m.pt")],
    ):
        result = invoke(*args)
        assert result.exit_code == 3, args
        assert (
            f"error: {run_dir}: the run has no checkpoint yet (hint: a run saves one every checkpoint_seconds "
            "(default 60) at the next step or epoch end, every --checkpoint-every steps, and when it ends; "
            "wait for the first, or train it again: " in result.output
        )
        assert f"archspec train {made / 'net.yaml'} --run-dir {run_dir})" in result.output


def test_export_of_a_directory_that_is_neither_run_nor_artefact(tmp_path):
    result = invoke("export", str(tmp_path), "--to", "torchscript", "-o", str(tmp_path / "m.pt"))
    assert result.exit_code == 1
    assert (
        "is a directory but neither a training run (no spec.yaml) nor an artefact of `archspec compile`"
        in result.output
    )


# -- --set -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("training.epochs", "'training.epochs' is not KEY=VALUE (e.g. --set training.optimizer.lr=0.01)"),
        ("=3", "'=3' is not KEY=VALUE"),
        ("a..b=1", "'a..b=1': the key 'a..b' has an empty part"),
        ("x=[1,2", "'x=[1,2': invalid YAML"),
    ],
)
def test_malformed_set_is_a_usage_error(made, item, message):
    result = invoke("validate", str(made / "net.yaml"), "--set", item)
    assert result.exit_code == 1
    assert f"Invalid value for '--set': {message}" in result.output


def test_set_of_an_unknown_key_is_a_located_spec_error(made):
    result = invoke("validate", str(made / "net.yaml"), "--set", "training.epoch=3")
    assert result.exit_code == 2
    assert "training.epoch: unknown key 'epoch' (hint: did you mean 'epochs'?)" in result.output


# -- train -----------------------------------------------------------------------------------------


def test_a_spec_with_no_data_and_no_losses_cannot_train_and_leaves_no_directory(made, tmp_path):
    text = (made / "net.yaml").read_text().split("data:")[0]
    (tmp_path / "model.yaml").write_text(text)
    result = invoke(
        "train", str(tmp_path / "model.yaml"), "--run-dir", str(tmp_path / "run"), "--no-progress"
    )
    assert result.exit_code == 2
    assert (
        "nothing to train: the spec has no 'data:' and no 'losses:' section (hint: add both" in result.output
    )
    assert not (tmp_path / "run").exists()


def test_a_failing_start_removes_the_run_directory_it_created(made, tmp_path):
    text = (made / "net.yaml").read_text()
    (tmp_path / "spec.yaml").write_text(
        text.replace("losses:\n  nll: {fn: cross_entropy, stream: train, pred: logits, target: label}\n", "")
    )
    result = invoke("train", str(tmp_path / "spec.yaml"), "--run-dir", str(tmp_path / "run"), "--no-progress")
    assert result.exit_code == 2 and "training needs a 'losses:' section" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("device", "name"), [("cuda", "CUDA"), ("mps", "Apple MPS")])
def test_an_absent_device_fails_before_any_work(made, tmp_path, device, name):
    import torch

    if (
        device == "cuda"
        and torch.cuda.is_available()
        or device == "mps"
        and torch.backends.mps.is_available()
    ):
        pytest.skip(f"this machine has {name}")
    result = invoke("train", str(made / "net.yaml"), "--device", device, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 3
    assert (
        f"error: --device {device}: torch {torch.__version__} sees no {name} device here (hint: use --device cpu"
        in result.output
    )
    assert not (tmp_path / "run").exists()
    assert invoke("evaluate", str(made / "runs" / "net"), "--device", device).exit_code == 3


def test_run_dir_under_a_file_is_refused_up_front(made):
    result = invoke("train", str(made / "net.yaml"), "--run-dir", str(made / "net.yaml" / "run"))
    assert result.exit_code == 1
    assert (
        f"cannot write '{made / 'net.yaml' / 'run' / 'run.json'}': '{made / 'net.yaml'}' is a file, not a directory"
        in result.output
    )


def test_resuming_a_finished_run_says_there_is_nothing_to_do(made, tmp_path):
    copy = tmp_path / "net"
    shutil.copytree(made / "runs" / "net", copy)
    result = invoke("train", "--resume", str(copy), "--no-progress")
    assert result.exit_code == 0
    assert f"{copy} had already finished (epoch 1, step 20): nothing left to do" in result.output


# -- evaluate and predict ------------------------------------------------------------------------


def test_evaluate_with_a_role_the_run_lacks_says_which_it_has(made):
    result = invoke("evaluate", str(made / "runs" / "net"), "--role", "test")
    assert result.exit_code == 1
    assert (
        "no stream with role test to evaluate on (streams: train (train), val (val)); pick one with --role, e.g. --role train"
        in result.output
    )
    assert invoke("evaluate", str(made / "runs" / "net"), "--role", "bogus").exit_code == 1


def test_evaluate_aligns_its_table(made):
    result = invoke("evaluate", str(made / "runs" / "net"), "--role", "val", "--role", "train")
    lines = [line for line in result.output.splitlines() if line.startswith(("train_", "val_"))]
    assert result.exit_code == 0 and len(lines) == 4  # loss and accuracy on each stream
    assert len({len(line) - len(line.split()[-1]) for line in lines}) == 1  # values in one column


def test_predict_says_which_stream_it_used_and_defaults_to_val_before_train(made, tmp_path):
    result = invoke("predict", str(made / "runs" / "net"), "-o", str(tmp_path / "p.csv"))
    assert result.exit_code == 0
    assert "no test stream: predicted 269 samples from stream 'val' (val): logits [269, 10]" in result.output
    assert (tmp_path / "p.csv").read_text().startswith("logits_0,")


def test_predict_refuses_an_output_it_cannot_name_the_format_of(made, tmp_path):
    result = invoke("predict", str(made / "runs" / "net"), "-o", str(tmp_path / "p.txt"))
    assert result.exit_code == 1
    assert "the file name must end in .npz or .csv" in result.output
    assert not (tmp_path / "p.txt").exists()


def test_predict_an_unknown_stream_suggests_one(made, tmp_path):
    result = invoke("predict", str(made / "runs" / "net"), "--stream", "vall", "-o", str(tmp_path / "p.npz"))
    assert result.exit_code == 1
    assert (
        "error: no stream 'vall' to predict on (did you mean 'val'?); the run's streams: train, val"
        in result.output
    )


def test_predict_an_npz_without_the_input_names_what_it_holds(made, tmp_path):
    np.savez(tmp_path / "x.npz", pixels=np.zeros((3, 64), "float32"))
    result = invoke(
        "predict",
        str(made / "runs" / "net"),
        "--inputs",
        str(tmp_path / "x.npz"),
        "-o",
        str(tmp_path / "o.npz"),
    )
    assert result.exit_code == 3
    assert (
        f"error: {tmp_path / 'x.npz'}: no array 'image'; the file holds pixels; the model's inputs: image [64]"
        in result.output
    )


def test_predict_an_npz_of_the_wrong_shape_is_a_data_error_not_a_crash(made, tmp_path):
    np.savez(tmp_path / "x.npz", image=np.zeros((3, 10), "float32"))
    result = invoke(
        "predict",
        str(made / "runs" / "net"),
        "--inputs",
        str(tmp_path / "x.npz"),
        "-o",
        str(tmp_path / "o.npz"),
    )
    assert result.exit_code == 3
    assert (
        "array 'image' has shape [3, 10], but input 'image' takes [64] per sample (hint: give an array of shape [N, 64], N samples)"
        in result.output
    )


def test_predict_an_npz_that_fits(made, tmp_path):
    np.savez(tmp_path / "x.npz", image=np.zeros((3, 64), "float32"))
    result = invoke(
        "predict",
        str(made / "runs" / "net"),
        "--inputs",
        str(tmp_path / "x.npz"),
        "-o",
        str(tmp_path / "o.npz"),
    )
    assert result.exit_code == 0
    assert result.output == f"wrote {tmp_path / 'o.npz'}\n"
    assert np.load(tmp_path / "o.npz")["logits"].shape == (3, 10)


# -- export and compile --------------------------------------------------------------------------


def test_an_unknown_part_is_the_compilers_located_error_from_export_render_and_build(tmp_path):
    import archspec
    from archspec.errors import GraphError

    spec = str(ROOT / "examples" / "autoencoder.yaml")
    message = f"{spec}:9:3: parts: unknown part 'encodr' (hint: did you mean 'encoder'?)"
    exported = invoke("export", spec, "--to", "torchscript", "--part", "encodr", "-o", str(tmp_path / "e.pt"))
    assert (exported.exit_code, exported.output) == (2, message + "\n")
    rendered = invoke("render", spec, "--part", "encodr")
    assert (rendered.exit_code, rendered.output) == (2, message + "\n")
    with pytest.raises(GraphError) as built:
        archspec.build(spec, part="encodr")
    assert str(built.value) == message
    assert not (tmp_path / "e.pt").exists()


def test_export_to_a_part_of_a_spec_without_parts(made, tmp_path):
    result = invoke(
        "export",
        str(made / "net.yaml"),
        "--to",
        "torchscript",
        "--part",
        "encoder",
        "-o",
        str(tmp_path / "e.pt"),
    )
    assert result.exit_code == 2
    assert "parts: unknown part 'encoder' (hint: declare parts: in the spec)" in result.output


def test_export_refuses_a_file_name_of_another_format(made, tmp_path):
    result = invoke("export", str(made / "net.yaml"), "--to", "torchscript", "-o", str(tmp_path / "m.onnx"))
    assert result.exit_code == 1
    assert (
        "'m.onnx' names a .onnx file, but --to is torchscript (use --to onnx, or a .pt file name)"
        in result.output.replace(str(tmp_path) + "/", "")
    )


def test_compile_checks_emit_python_before_writing_anything(made, tmp_path):
    result = invoke(
        "compile",
        str(made / "net.yaml"),
        "-o",
        str(tmp_path / "build"),
        "--emit-python",
        str(tmp_path / "model.txt"),
    )
    assert result.exit_code == 1 and "the file name must end in .py" in result.output
    assert not (tmp_path / "build").exists()


def test_compile_emits_python_into_a_folder_that_does_not_exist_yet(made, tmp_path):
    emitted = tmp_path / "new" / "dir" / "model.py"
    result = invoke(
        "compile", str(made / "net.yaml"), "-o", str(tmp_path / "build"), "--emit-python", str(emitted)
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {emitted}" in result.output and "class " in emitted.read_text()


def test_an_unwritable_output_is_an_error_not_a_crash(made, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for args in (
        ["render", str(made / "net.yaml"), "-o", str(blocker / "x.svg")],
        ["schema", "-o", str(blocker / "s.json")],
        ["predict", str(made / "runs" / "net"), "-o", str(blocker / "p.npz")],
        ["export", str(made / "net.yaml"), "--to", "torchscript", "-o", str(blocker / "m.pt")],
    ):
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert "is a file, not a directory" in result.output, args


def test_an_os_error_is_reported_as_an_error_with_exit_3(monkeypatch, made, tmp_path):
    import archspec.cli.draw

    monkeypatch.setattr(archspec.cli.draw, "check_output", lambda *a, **k: None)  # as if the check passed
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = invoke("render", str(made / "net.yaml"), "-o", str(blocker / "x.svg"))
    assert result.exit_code == 3
    assert f"error: {blocker / 'x.svg'}: Not a directory" in result.output


def test_diff_checks_its_diagram_format_before_printing(made):
    result = invoke("diff", str(made / "net.yaml"), str(made / "net.yaml"), "-o", "d.png")
    assert result.exit_code == 1
    assert "the diff diagram is written as .svg or .html" in result.output
    assert "params:" not in result.output
