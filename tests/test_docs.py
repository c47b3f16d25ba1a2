"""The docs run: every ``$ archspec ...`` line of the tutorial, and the README's commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from archspec.cli import cli
from tests.conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"


def _console_commands(text: str) -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", text, re.S)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


def _text_blocks(text: str) -> list[str]:
    return re.findall(r"```text\n(.*?)```", text, re.S)


def _test_scale(argv: list[str]) -> list[str]:
    """Added to an `archspec train` line: no progress bar and, for a new run, a prefix of the
    tutorial's data (the test checks the commands and what they print and write, not the
    accuracy the full run reaches; a resumed run keeps its spec)."""
    if argv[1] != "train":
        return []
    if "--resume" in argv:
        return ["--no-progress"]
    return ["--no-progress", "--set", "data.train.limit=96", "--set", "data.val.limit=32"]


def test_every_tutorial_command_runs_as_shown(tmp_path, monkeypatch):
    text = TUTORIAL.read_text()
    commands = _console_commands(text)
    assert len(commands) >= 10
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    outputs = {}
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "archspec"
        if "broken.yaml" in argv:
            spec = Path("segmenter.yaml").read_text()
            Path("broken.yaml").write_text(spec.replace("in: [up, enc1]", "in: [up, enc2]"))
        result = runner.invoke(cli, [*argv[1:], *_test_scale(argv)])
        expected = 2 if "broken.yaml" in argv else 0
        assert result.exit_code == expected, (command, result.output)
        outputs[command] = result.output
    shown_error = _text_blocks(text)[0].strip()
    assert shown_error in outputs["archspec validate broken.yaml"]
    assert "segmenter.yaml: ok (" in outputs["archspec validate segmenter.yaml"]
    assert "val_iou" in outputs["archspec train segmenter.yaml --run-dir runs/seg --set training.epochs=3"]
    for made in (
        "segmenter.svg",
        "segmenter.html",
        "masks.npz",
        "segmenter.pt",
        "segmenter_model.py",
        "runs/seg/curves.png",
    ):
        assert Path(made).exists(), made


def test_readme_commands_name_real_commands_and_files():
    readme = (ROOT / "README.md").read_text()
    install = re.search(r"```bash\n(python3 -m venv.*?)\n```", readme, re.S).group(1)
    assert "archspec train examples/cnn.yaml" in install
    assert (ROOT / "examples" / "cnn.yaml").exists()
    test_command = re.search(r"Run the test suite:\n\n```bash\n(.*?)\n```", readme, re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines(), "the README's test command must be exactly what CI runs"
    for image in re.findall(r"\]\((docs/gallery/[^)]+)\)", readme):
        assert (ROOT / image).exists(), image


def test_complete_cookbook_specs_validate():
    from archspec.pipeline import analyse, load_text

    text = (ROOT / "docs" / "cookbook.md").read_text()
    specs = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("archspec: 1")]
    assert len(specs) >= 3
    for spec in specs:
        analyse(load_text(spec, name="cookbook.yaml"))


def test_spec_reference_examples_parse():
    """Every complete example in docs/spec.md reads as YAML the loader accepts."""
    from archspec.lang.loader import loads

    text = (ROOT / "docs" / "spec.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    complete = [
        b for b in blocks if "..." not in b and any(not line.startswith("#") for line in b.splitlines())
    ]
    assert len(complete) >= 8
    for block in complete:
        loads(block)


def test_the_readme_error_messages_are_what_archspec_prints():
    from archspec.errors import SpecErrors
    from archspec.pipeline import analyse, load_text

    readme = (ROOT / "README.md").read_text()
    spec = re.search(r"## What a spec looks like\n\n```yaml\n(.*?)```", readme, re.S).group(1)
    shown = re.search(r"```text\n(unet\.yaml.*?)```", readme, re.S).group(1).strip().splitlines()
    analyse(load_text(spec, name="unet.yaml"))  # the spec itself is valid
    for broken, line in (
        (spec.replace("in: [up1, enc1]", "in: [up1, enc3]"), shown[0]),
        (spec.replace("kernel_size: 2, stride: 2}", "kernel_size: 3, stride: 2}"), shown[1]),
    ):
        try:
            analyse(load_text(broken, name="unet.yaml"))
        except SpecErrors as exc:
            assert [str(e) for e in exc.errors] == [line]
        else:
            raise AssertionError("the broken spec validated")


def test_the_readme_python_example_runs(monkeypatch):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    features = namespace["encoder"](namespace["model"].enc1.c1.weight.new_zeros(2, 1, 32, 32))
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        "enc1.a2": (2, 16, 32, 32),
        "enc2.a2": (2, 32, 16, 16),
        "bottom.a2": (2, 64, 8, 8),
    }


def test_the_readme_api_example_trains_evaluates_and_draws(tmp_path, monkeypatch):
    import shutil

    readme = (ROOT / "README.md").read_text()
    code = re.search(r"Every command is also a function.*?```python\n(.*?)```", readme, re.S).group(1)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    run = namespace["run"]
    assert run.epochs == 5 and run.metrics["val_accuracy"] > 0.8
    assert (tmp_path / "unet.html").read_text().lstrip().lower().startswith("<!doctype html")
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert len(rows) > 100


def _layout_map() -> set[str]:
    """Every module the design notes' layout map names, as paths under archspec/."""
    text = (ROOT / "docs" / "design-notes.md").read_text()
    block = re.search(r"## Layout: a package per stage.*?```text\n(.*?)```", text, re.S).group(1)
    named: set[str] = set()
    folders: list[str] = []  # the open folder at each indentation level
    for line in block.splitlines()[1:]:  # the first line is archspec/ itself
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        del folders[depth:]
        words = line.split()
        if words[0].endswith("/"):
            folders.append(words[0].rstrip("/"))
            named.add("/".join([*folders, "__init__.py"]))
            continue
        # a module line lists one file and its purpose, or several files and nothing else
        files = [w for w in words if w.endswith(".py")]
        files = files if len(files) == len(words) else files[:1]
        named |= {"/".join([*folders, f]) for f in files}
    return named


def test_the_layout_map_in_the_design_notes_matches_the_tree():
    package = ROOT / "archspec"
    tree = {p.relative_to(package).as_posix() for p in package.rglob("*.py")}
    assert _layout_map() == tree


def test_the_python_api_page_runs_and_prints_what_it_says(monkeypatch, capsys):
    page = (ROOT / "docs" / "python-api.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    monkeypatch.chdir(ROOT)
    exec(compile(code, "docs/python-api.md", "exec"), {})  # noqa: S102 - our own docs
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "(16, 32, 32)",
        "(2, 4, 32, 32)",
        "<string>:4:11: nodes.a.op: unknown op 'linaer' (hint: did you mean 'linear'?)",
    ]
    for line in printed:
        assert f"# {line}" in page or line in page


def test_no_gallery_file_names_the_checkout_that_made_it():
    """Tooltips carry ``file:line``; the gallery names specs as ``examples/NAME.yaml``."""
    texts = {
        p.name: p.read_text() for p in (ROOT / "docs" / "gallery").iterdir() if p.suffix in {".svg", ".html"}
    }
    assert len(texts) >= 10
    for name, text in texts.items():
        places = re.findall(r"&quot;at&quot;: &quot;(.*?)&quot;", text)
        assert places and all(p.startswith("examples/") for p in places), name
        assert not re.search(r"(?<![\w/:.])/(?:work|home|tmp|root|Users)/", text), name
