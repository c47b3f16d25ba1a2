"""One trial: sample values, reject a bad candidate statically, else train it as an ordinary run.

Static pruning comes first and costs milliseconds without torch: the candidate (the spec with
the trial's values as ``--set`` items) is validated, expanded, shape-inferred and held to its
``expect:`` budgets. A candidate that fails is recorded as *pruned* with the error as its
reason, and nothing is trained or written for it. A valid one trains into ``trials/NNNN/``;
after every epoch its validation metric is reported to the pruner, which may stop it there.
"""

from __future__ import annotations

import math
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from archspec.errors import ArchSpecError, SchemaError, SpecError
from archspec.graph.shapes import totals
from archspec.pipeline import analyse, load
from archspec.sweep.space import SearchSpace
from archspec.sweep.study import (
    SweepJob,
    counted,
    open_study,
    optuna_module,
    pruner_for,
    sampler_for,
    threads_per_worker,
    worker_device,
)

__all__ = ["Objective", "TrialFailed", "check_candidate", "work"]


class TrialFailed(Exception):
    """A trial that trained and failed (a non-finite loss, unreadable data): the sweep goes on."""


def check_candidate(job: SweepJob, overrides: list[str]) -> Any:
    """The candidate's analysed graph, or the :class:`SpecError` that rejects it (no torch)."""
    return analyse(load(job.spec_file, overrides))


class Objective:
    """Called by Optuna once per trial; returns the metric (and budgets, when they are objectives)."""

    def __init__(self, job: SweepJob, space: SearchSpace, device: str, log: Callable[[str], None]) -> None:
        self.job, self.space, self.device, self.log = job, space, device, log

    def __call__(self, trial: Any) -> float | tuple[float, ...]:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            return self._run(trial)
        except KeyboardInterrupt:  # Optuna fails the trial; the next run retries it
            trial.set_user_attr("interrupted", True)
            raise

    def _run(self, trial: Any) -> float | tuple[float, ...]:
        optuna = optuna_module()
        overrides = [*self.job.overrides, *self.space.overrides(self.space.sample(trial))]
        trial.set_user_attr("overrides", overrides)
        try:
            graph = check_candidate(self.job, overrides)
        except SpecError as exc:
            trial.set_user_attr("pruned", str(exc))
            raise optuna.TrialPruned(str(exc)) from None
        sizes = totals(graph)
        budgets = {name: int(sizes[name]) for name in ("params", "macs")}
        for name, value in budgets.items():
            trial.set_user_attr(name, value)
        value = self._train(trial, overrides)
        if not self.space.objectives:
            return value
        return (value, *(float(budgets[name]) for name in self.space.objectives))

    def _train(self, trial: Any, overrides: list[str]) -> float:
        from archspec.api import train

        run_dir = self.job.trial_dir(trial.number)
        trial.set_user_attr("run_dir", str(run_dir))
        trial.set_user_attr("trained", True)
        try:
            result = train(
                self.job.spec_file,
                run_dir=run_dir,
                overrides=overrides,
                device=self.device,
                progress=False,
                log=lambda _line: None,
                on_epoch=self._reporter(trial),
            )
        except _MetricMissing:
            raise
        except ArchSpecError as exc:
            trial.set_user_attr("failed", str(exc))
            raise TrialFailed(str(exc)) from exc
        return _best(result.history, self.space)

    def _reporter(self, trial: Any) -> Callable[[dict[str, Any]], None]:
        """Per epoch: the metric to the pruner (single-objective only: Optuna prunes on one value)."""
        optuna = optuna_module()
        metric, prune = self.space.metric, self.space.pruner != "none" and not self.space.objectives

        def on_epoch(row: dict[str, Any]) -> None:
            if metric not in row:
                raise _MetricMissing(self.job, metric, row)
            if not prune or _nan(row[metric]):
                return
            trial.report(float(row[metric]), int(row["epoch"]))
            if trial.should_prune():
                reason = f"{self.space.pruner} pruner after epoch {row['epoch']}: {metric} {row[metric]:.4g}"
                trial.set_user_attr("pruned", reason)
                raise optuna.TrialPruned(reason)

        return on_epoch


class _MetricMissing(SchemaError):
    """Every trial would fail alike: the sweep stops."""

    def __init__(self, job: SweepJob, metric: str, row: dict[str, Any]) -> None:
        from archspec.pipeline import load

        reported = [k for k, v in row.items() if isinstance(v, float) and k not in ("lr", "seconds")]
        doc = load(job.spec_file, job.overrides).doc
        where = ("search", "metric") if "metric" in doc.data["search"] else ("search",)
        super().__init__(
            f"the runs report no {metric!r}; they report {', '.join(reported)}",
            loc=doc.loc(where),
            hint="set search.metric to one of them (validation metrics need a stream with role: val)",
        )


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _best(history: list[dict[str, Any]], space: SearchSpace) -> float:
    """The metric at the run's best epoch (the ``best`` checkpoint ``archspec evaluate`` reads)."""
    values = [float(row[space.metric]) for row in history if not _nan(row.get(space.metric))]
    if not values:
        return math.nan
    return max(values) if space.direction == "maximize" else min(values)


# -- a worker ------------------------------------------------------------------------------------


def work(job: SweepJob, index: int, trials: int, log: Callable[[str], None] | None = None) -> None:
    """Run up to ``trials`` trials of the sweep's study in this process (worker ``index``)."""
    if job.workers > 1:  # share the cores; a lone worker keeps the threads torch was given
        import torch

        torch.set_num_threads(threads_per_worker(job.workers))
    spec, space = job.space()
    study = open_study(job, space, spec, create=False)
    study.sampler = sampler_for(space, seed=space.seed + 1009 * len(study.trials) + index)
    study.pruner = pruner_for(space)
    objective = Objective(job, space, worker_device(job.device, index), log or (lambda _m: None))
    after = _AfterTrial(space, job.trials, log or _stderr)
    study.optimize(objective, n_trials=trials, catch=(TrialFailed,), callbacks=[after])


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class _AfterTrial:
    """After each trial (one read of the study): a progress line — what happened, the tally,
    the best so far — and a stop once the study holds ``--trials`` counted trials, whichever
    workers and machines ran them."""

    def __init__(self, space: SearchSpace, total: int, log: Callable[[str], None]) -> None:
        self.space, self.total, self.log = space, total, log

    def __call__(self, study: Any, trial: Any) -> None:
        trials = study.get_trials(deepcopy=False)
        self.log(f"trial {trial.number} {_outcome(trial, self.space)} | {_tally(trials, self.space)}")
        if len(counted(trials)) >= self.total:
            study.stop()


def _outcome(trial: Any, space: SearchSpace) -> str:
    states = optuna_module().trial.TrialState
    if trial.state == states.COMPLETE:
        return f"complete: {space.metric} {trial.values[0]:.4g}"
    if trial.state == states.PRUNED:
        return f"pruned: {trial.user_attrs.get('pruned', '').splitlines()[0]}"
    why = trial.user_attrs.get("failed") or (
        "interrupted" if trial.user_attrs.get("interrupted") else "no value"
    )
    return f"failed: {why.splitlines()[0]}"


def _tally(trials: list[Any], space: SearchSpace) -> str:
    states = optuna_module().trial.TrialState
    count = {s: sum(t.state == s for t in trials) for s in (states.COMPLETE, states.PRUNED, states.FAIL)}
    text = f"{count[states.COMPLETE]} complete, {count[states.PRUNED]} pruned, {count[states.FAIL]} failed"
    done = [t for t in trials if t.state == states.COMPLETE and not _nan(t.values[0])]
    if done:
        pick = max if space.direction == "maximize" else min
        best = pick(done, key=lambda t: t.values[0])
        text += f" | best {space.metric} {best.values[0]:.4g} (trial {best.number})"
    return text
