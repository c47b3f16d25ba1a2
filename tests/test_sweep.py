"""``archspec sweep``: the search space is checked and located; a sweep on the digits finds a
better design than a bad one; over-budget candidates never train; ``best.yaml`` retrains to the
reported value; a sweep killed mid-trial (SIGKILL) continues without losing or repeating a trial.

Every sweep here is small (a few hundred digits, three epochs, a handful of trials)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archspec.cli import cli
from archspec.errors import SpecErrors
from archspec.pipeline import load_text
from archspec.sweep.command import sweep
from archspec.sweep.space import read_space
from tests.conftest import ROOT, csv_column, invoke

optuna = pytest.importorskip("optuna")

EXAMPLE = ROOT / "examples" / "sweep_mlp.yaml"
SMALL = [  # the example on a few hundred digits, for three epochs
    "data.train.limit=256",
    "data.val.limit=128",
    "data.test.limit=64",
    "data.train.batch_size=32",
    "training.epochs=3",
]
SETS = [arg for item in SMALL for arg in ("--set", item)]


@pytest.fixture(autouse=True, scope="module")
def _registered():
    """The command as the CLI group will carry it (the group turns archspec errors into exit codes)."""
    added = "sweep" not in cli.commands
    cli.add_command(sweep)
    yield
    if added:
        cli.commands.pop("sweep")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _space_errors(search: str) -> list[str]:
    text = EXAMPLE.read_text().split("search:")[0] + textwrap.dedent(search)
    try:
        read_space(load_text(text, name="s.yaml"))
    except SpecErrors as exc:
        return [str(e) for e in exc.errors]
    return []


def _rows(sweep_dir: Path) -> list[dict[str, str]]:
    with open(sweep_dir / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


# --- the search space, without torch or training ----------------------------------------------


def test_every_mistake_in_the_space_is_reported_located():
    errors = _space_errors(
        """\
        search:
          sampler: grid
          space:
            param.width: {int: [16, 256]}
            params.depth: {int: [3, 1]}
            training.optimizer.lr: {float: [0.0, 0.1], log: true}
            params.dropout: {float: [0.0, 0.5]}
            training.optimizer.name: {choice: [adam, sgd], when: {training.optimizer.momentum: 0.9}}
        """
    )
    assert errors == [
        "s.yaml:35:5: search.space.param.width: the spec has no 'param' (hint: did you mean 'params'?)",
        "s.yaml:36:25: search.space.params.depth.int: the range [3, 1] is empty: the low end must be below the high end",
        "s.yaml:37:36: search.space.training.optimizer.lr.float: a log scale needs a positive low end, got 0.0 (hint: start the range above 0)",
        "s.yaml:38:5: search.space.params.dropout: grid search needs a finite set of values: give this float range a step (hint: e.g. {float: [0.0, 0.5], step: 0.1}, or list the values with choice: [...])",
        "s.yaml:39:59: search.space.training.optimizer.name.when.training.optimizer.momentum: condition on 'training.optimizer.momentum', which is not an earlier entry of search.space (hint: a condition reads a value chosen before it: list that entry first)",
    ]


def test_a_spec_without_a_search_section_is_a_located_spec_error(tmp_path):
    spec = tmp_path / "mlp.yaml"
    spec.write_text(EXAMPLE.read_text().split("search:")[0])
    result = invoke("sweep", spec, "--trials", "2", "--sweep-dir", tmp_path / "sw")
    assert result.exit_code == 2
    assert f"{spec}:3:1: this spec has no 'search:' section to sweep over" in result.output


def test_the_schema_refuses_an_entry_that_is_not_a_range_or_a_choice():
    text = EXAMPLE.read_text().replace("{int: [1, 3]}", "{ints: [1, 3]}")
    with pytest.raises(SpecErrors) as caught:
        load_text(text, name="s.yaml")
    assert any("search.space.params.depth" in str(e) for e in caught.value.errors), str(caught.value)


def test_conditional_entries_are_sampled_only_when_their_condition_holds():
    text = EXAMPLE.read_text().split("search:")[0] + textwrap.dedent(
        """\
        search:
          space:
            training.optimizer.name: {choice: [adam, sgd]}
            training.optimizer.momentum: {float: [0.5, 0.99], when: {training.optimizer.name: sgd}}
        """
    )
    space = read_space(load_text(text, name="s.yaml"))
    sgd = space.sample(
        optuna.trial.FixedTrial({"training.optimizer.name": "sgd", "training.optimizer.momentum": 0.9})
    )
    adam = space.sample(optuna.trial.FixedTrial({"training.optimizer.name": "adam"}))
    assert sgd == {"training.optimizer.name": "sgd", "training.optimizer.momentum": 0.9}
    assert adam == {"training.optimizer.name": "adam"}
    assert space.overrides(sgd) == ['training.optimizer.name="sgd"', "training.optimizer.momentum=0.9"]


def test_a_grid_lists_every_value_of_every_entry():
    text = EXAMPLE.read_text().replace("{int: [16, 256], log: true}", "{choice: [16, 64]}")
    text = text.replace("{float: [1.0e-4, 3.0e-2], log: true}", "{float: [0.01, 0.03], step: 0.01}")
    space = read_space(load_text(text, name="s.yaml"), sampler="grid")
    assert space.grid() == {
        "params.width": [16, 64],
        "params.depth": [1, 2, 3],
        "params.dropout": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        "training.optimizer.lr": [0.01, 0.02, 0.03],
    }


def test_without_optuna_the_command_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    result = invoke("sweep", EXAMPLE, "--trials", "2", "--sweep-dir", tmp_path / "sw")
    assert result.exit_code == 3
    assert (
        "error: archspec sweep needs Optuna, which is not installed: pip install 'archspec[sweep]' (or: pip install optuna)"
        in result.output
    )


# --- a sweep on the digits ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 12-trial random search of the example, counting how many trials reach training."""
    import archspec.api

    trained: list[str] = []
    real_train = archspec.api.train

    def counting_train(spec, **kw):
        trained.append(str(kw["run_dir"]))
        return real_train(spec, **kw)

    sweep_dir = tmp_path_factory.mktemp("sweep") / "sw"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(archspec.api, "train", counting_train)
        result = invoke(
            "sweep", EXAMPLE, "--trials", "12", "--sampler", "random", "--seed", "3",
            "--sweep-dir", sweep_dir, "--format", "json", *SETS,
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    return sweep_dir, json.loads(result.stdout), trained


def test_the_search_finds_a_better_design_than_a_bad_one(swept, tmp_path):
    sweep_dir, result, _ = swept
    rows = [r for r in _rows(sweep_dir) if r["state"] == "complete"]
    assert len(rows) >= 2
    best, worst = max(float(r["val_accuracy"]) for r in rows), min(float(r["val_accuracy"]) for r in rows)
    assert result["best"]["val_accuracy"] == best > worst
    bad = invoke(
        "train", EXAMPLE, "--run-dir", tmp_path / "bad", "--no-progress", *SETS,
        "--set", "params.width=16", "--set", "training.optimizer.lr=1.0e-4",
    )  # fmt: skip
    assert bad.exit_code == 0, bad.output
    bad_accuracy = max(csv_column(tmp_path / "bad" / "metrics.csv", "val_accuracy"))
    print(
        f"sweep best val_accuracy {best:.4f}, worst {worst:.4f}; a bad design (width 16, lr 1e-4) {bad_accuracy:.4f}"
    )
    assert best > bad_accuracy + 0.1


def test_a_finished_sweep_run_again_trains_nothing_and_prints_the_table_best_first(swept):
    pytest.importorskip("rich")
    sweep_dir, result, _ = swept
    again = invoke(
        "sweep", EXAMPLE, "--trials", "12", "--sampler", "random", "--seed", "3", "--sweep-dir", sweep_dir, *SETS
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "best trials by val_accuracy (maximize)" in again.stdout
    rows = [line for line in again.stdout.splitlines() if line.startswith("│")]
    assert rows and rows[0].split("│")[1].strip() == str(result["best"]["trial"])
    assert len(_rows(sweep_dir)) == 12  # nothing ran twice


def test_over_budget_candidates_are_pruned_without_training(swept):
    sweep_dir, result, trained = swept
    rows = _rows(sweep_dir)
    static = [r for r in rows if "expect.params.max: expected at most 20,000 params" in r["note"]]
    assert static, "the seeded search drew no over-budget candidate"
    for row in static:
        assert row["state"] == "pruned" and row["run_dir"] == ""
        assert not (sweep_dir / "trials" / f"{int(row['trial']):04d}").exists()
    ran = [r for r in rows if r["run_dir"]]
    assert sorted(trained) == sorted(r["run_dir"] for r in ran)
    assert len(trained) + len(static) == len(rows) == result["trials"] == 12
    for row in ran:
        assert (Path(row["run_dir"]) / "checkpoints" / "latest").exists()


def test_best_yaml_is_a_spec_that_trains_to_the_reported_value(swept, tmp_path):
    sweep_dir, result, _ = swept
    best_yaml = Path(result["best_yaml"])
    assert "search:" not in best_yaml.read_text()
    trained = invoke("train", best_yaml, "--run-dir", tmp_path / "again", "--no-progress")
    assert trained.exit_code == 0, trained.output
    again = max(csv_column(tmp_path / "again" / "metrics.csv", "val_accuracy"))
    assert again == pytest.approx(result["best"]["val_accuracy"], abs=1e-6)


def test_the_sweep_writes_results_and_plots(swept):
    sweep_dir, result, _ = swept
    assert (sweep_dir / "study.db").exists()
    assert {Path(p).name for p in result.get("plots", [])} >= {"history.png", "parallel.png"}
    assert result["complete"] + result["pruned"] + result["failed"] == 12


# --- interrupted sweeps -------------------------------------------------------------------------

KILL_AT_TRIAL_2 = """\
import os, signal, sys
from archspec.sweep import objective, run_sweep

reporter = objective.Objective._reporter

def killing_reporter(self, trial):
    inner = reporter(self, trial)
    def on_epoch(row):
        inner(row)
        if trial.number == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # mid-trial: after its first epoch
    return on_epoch

objective.Objective._reporter = killing_reporter
run_sweep(sys.argv[1], trials=4, sweep_dir=sys.argv[2], sampler="random", pruner="none",
          overrides=sys.argv[3:], plots=False)
"""


def test_a_sweep_killed_mid_trial_continues_without_losing_or_repeating_a_trial(tmp_path):
    sweep_dir = tmp_path / "sw"
    script = tmp_path / "kill.py"
    script.write_text(KILL_AT_TRIAL_2)
    no_budget = [*SMALL, "expect.params.max=1.0e9"]  # every candidate trains
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(
        [sys.executable, str(script), str(EXAMPLE), str(sweep_dir), *no_budget],
        env=env,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sorted(p.name for p in (sweep_dir / "trials").iterdir()) == ["0000", "0001", "0002"]

    result = invoke(
        "sweep", EXAMPLE, "--trials", "4", "--sampler", "random", "--pruner", "none", "--no-plots",
        "--sweep-dir", sweep_dir, *[a for item in no_budget for a in ("--set", item)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "trial 2 was interrupted" in result.output
    rows = _rows(sweep_dir)
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3", "4"]  # unique numbers, none lost
    assert [r["state"] for r in rows] == ["complete", "complete", "fail", "complete", "complete"]
    assert rows[2]["note"] == "interrupted (retried as a new trial)"
    assert rows[3]["note"] == "retry of trial 2"
    searched = ["params.width", "params.depth", "params.dropout", "training.optimizer.lr"]
    assert [rows[3][k] for k in searched] == [rows[2][k] for k in searched]
    assert "4 trial(s)" not in result.output  # five trials in the study, four of them counted

    again = invoke(
        "sweep",
        EXAMPLE,
        "--trials",
        "4",
        "--no-plots",
        "--sweep-dir",
        sweep_dir,
        *SETS,
        "--set",
        "expect.params.max=1.0e9",
    )
    assert again.exit_code == 0, again.output
    assert len(_rows(sweep_dir)) == 5  # complete: a rerun trains nothing more


def test_a_sweep_dir_is_not_resumed_with_another_spec(tmp_path):
    sweep_dir = tmp_path / "sw"
    first = invoke(
        "sweep",
        EXAMPLE,
        "--trials",
        "1",
        "--no-plots",
        "--sweep-dir",
        sweep_dir,
        *SETS,
        "--set",
        "expect.params.max=1",
    )
    assert first.exit_code == 0, first.output  # the one candidate is pruned statically: nothing trains
    other = invoke("sweep", EXAMPLE, "--trials", "2", "--no-plots", "--sweep-dir", sweep_dir, *SETS)
    assert other.exit_code == 3
    assert "was made from another spec or search space (hint: give a fresh --sweep-dir" in other.output


@pytest.mark.slow
def test_two_worker_processes_share_one_study_without_duplicates(tmp_path):
    sweep_dir = tmp_path / "sw"
    result = invoke(
        "sweep", EXAMPLE, "--trials", "4", "--workers", "2", "--sampler", "random", "--no-plots",
        "--sweep-dir", sweep_dir, *SETS,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _rows(sweep_dir)
    assert sorted(int(r["trial"]) for r in rows) == [0, 1, 2, 3]
    run_dirs = [r["run_dir"] for r in rows if r["run_dir"]]
    assert len(set(run_dirs)) == len(run_dirs)
    assert len({r["worker"] for r in rows}) == 2  # each process ran its share


def test_budgets_as_objectives_give_a_pareto_front_of_accuracy_against_size(tmp_path):
    spec = tmp_path / "pareto.yaml"
    spec.write_text(EXAMPLE.read_text().replace("search:\n", "search:\n  objectives: [params]\n"))
    result = invoke(
        "sweep", spec, "--trials", "3", "--sampler", "random", "--no-plots", "--format", "json",
        "--sweep-dir", tmp_path / "sw", *SETS, "--set", "training.epochs=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    rows = {r["trial"]: r for r in _rows(tmp_path / "sw")}
    with open(tmp_path / "sw" / "pareto.csv", newline="") as fh:
        front = list(csv.DictReader(fh))
    assert front and all(rows[r["trial"]]["state"] == "complete" for r in front)
    for a in front:  # no trial on the front is beaten on both objectives by another trial
        for b in rows.values():
            if b["state"] == "complete":
                better = float(b["val_accuracy"]) >= float(a["val_accuracy"]) and float(b["params"]) <= float(
                    a["params"]
                )
                strictly = float(b["val_accuracy"]) > float(a["val_accuracy"]) or float(b["params"]) < float(
                    a["params"]
                )
                assert not (better and strictly), (a, b)
    assert summary["best"]["trial"] in {int(r["trial"]) for r in front}
    assert "search:" not in Path(summary["best_yaml"]).read_text()


def test_a_journal_file_can_hold_the_study(tmp_path):
    journal = tmp_path / "study.journal"
    result = invoke(
        "sweep", EXAMPLE, "--trials", "2", "--no-plots", "--storage", journal, "--sweep-dir", tmp_path / "sw",
        *SETS, "--set", "expect.params.max=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output  # both candidates break the budget: nothing trains
    assert journal.stat().st_size > 0 and not (tmp_path / "sw" / "study.db").exists()
    assert [r["state"] for r in _rows(tmp_path / "sw")] == ["pruned", "pruned"]


def test_the_sweep_commands_in_the_docs_name_real_options_and_files():
    text = (ROOT / "docs" / "sweep.md").read_text()
    lines = [ln[2:] for ln in text.splitlines() if ln.startswith("$ archspec sweep ")]
    assert lines
    for line in lines:
        argv = line.split()[2:]
        with sweep.make_context("sweep", list(argv)) as ctx:
            assert (ROOT / ctx.params["spec"]).exists()


def test_a_metric_the_runs_do_not_report_stops_the_sweep_with_a_located_error(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text(EXAMPLE.read_text().replace("metric: val_accuracy ", "metric: val_acc "))
    result = invoke("sweep", spec, "--trials", "3", "--no-plots", "--sweep-dir", tmp_path / "sw", *SETS)
    assert result.exit_code == 2
    assert (
        f"{spec}:33:11: search.metric: the runs report no 'val_acc'; they report train_loss, train_loss_nll, "
        "val_loss, val_accuracy (hint: set search.metric to one of them (validation metrics need a stream with role: val))"
    ) in result.output
    rows = _rows(tmp_path / "sw")  # results.csv is written even when the sweep stops on an error
    assert [r["state"] for r in rows] == ["fail"]  # the first trial's first epoch showed it


def test_a_grid_sweep_stops_when_every_point_was_tried(tmp_path):
    spec = tmp_path / "grid.yaml"
    head = EXAMPLE.read_text().split("search:")[0]
    spec.write_text(head + "search:\n  sampler: grid\n  space:\n    params.width: {choice: [16, 32]}\n")
    result = invoke(
        "sweep", spec, "--trials", "5", "--no-plots", "--sweep-dir", tmp_path / "sw", *SETS,
        "--set", "expect.params.max=1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _rows(tmp_path / "sw")
    assert sorted(r["params.width"] for r in rows) == ["16", "32"]  # each point once, then stop
    assert all(r["state"] == "pruned" and "expect.params.max" in r["note"] for r in rows)


class _PruneNow:
    """An Optuna trial whose pruner always says stop (the reporter's side of pruning)."""

    def __init__(self) -> None:
        self.reported: list[tuple[float, int]] = []
        self.user_attrs: dict[str, object] = {}

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return True

    def set_user_attr(self, key: str, value: object) -> None:
        self.user_attrs[key] = value


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_the_pruner_hears_each_epoch_and_stops_the_run_with_a_reason(pruner):
    from archspec.sweep.objective import Objective
    from archspec.sweep.study import SweepJob, pruner_for

    space = read_space(load_text(EXAMPLE.read_text(), name="s.yaml"), pruner=pruner)
    assert (
        type(pruner_for(space)).__name__ == {"median": "MedianPruner", "hyperband": "HyperbandPruner"}[pruner]
    )
    trial = _PruneNow()
    on_epoch = Objective(SweepJob(str(EXAMPLE), [], Path("unused")), space, "cpu", print)._reporter(trial)
    with pytest.raises(optuna.TrialPruned, match=f"{pruner} pruner after epoch 2: val_accuracy 0.5"):
        on_epoch({"epoch": 2, "train_loss": 1.0, "val_accuracy": 0.5})
    assert trial.reported == [(0.5, 2)]
    assert trial.user_attrs["pruned"] == f"{pruner} pruner after epoch 2: val_accuracy 0.5"


def test_a_malformed_set_is_a_usage_error(tmp_path):
    result = invoke(
        "sweep", EXAMPLE, "--trials", "1", "--sweep-dir", tmp_path / "sw", "--set", "training.epochs"
    )
    assert result.exit_code == 1
    assert "'training.epochs' is not KEY=VALUE (e.g. --set training.optimizer.lr=0.01)" in result.output
    assert not (tmp_path / "sw").exists()


def test_registering_the_command_imports_neither_optuna_nor_torch_nor_any_stage():
    code = "import sys, archspec.sweep.command; print(sorted({m.split('.')[0] for m in sys.modules}))"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.replace("'", '"')))
    assert not {"optuna", "torch", "networkx", "jsonschema", "yaml", "sqlalchemy"} & loaded
