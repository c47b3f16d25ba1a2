"""``archspec sweep``: hyperparameter and architecture search over a spec, on Optuna.

The steps, in order (each a short function in its module)::

    read_space (space)  ->  open_study + recover (study)  ->  work x K (objective)  ->  summarise (report)
    search: section          storage in the sweep dir        static check, train       results.csv, best.yaml

Optuna is an optional dependency (``pip install 'archspec[sweep]'``); nothing here imports it
before a sweep runs, and importing this package (or the command) imports no other stage, so
registering ``archspec sweep`` costs the CLI nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archspec.sweep.study import INSTALL_HINT, SweepError, SweepJob

__all__ = ["INSTALL_HINT", "SweepError", "SweepJob", "run_sweep"]


def __getattr__(name: str) -> Any:
    """``INSTALL_HINT``, ``SweepError`` and ``SweepJob`` from :mod:`archspec.sweep.study`, on first use."""
    if name in ("INSTALL_HINT", "SweepError", "SweepJob"):
        from archspec.sweep import study

        return getattr(study, name)
    raise AttributeError(f"module 'archspec.sweep' has no attribute {name!r}")


def run_sweep(
    spec_file: str | os.PathLike[str],
    *,
    trials: int,
    workers: int = 1,
    storage: str | None = None,
    sweep_dir: str | os.PathLike[str] | None = None,
    study_name: str | None = None,
    overrides: Sequence[str] = (),
    sampler: str | None = None,
    pruner: str | None = None,
    seed: int | None = None,
    device: str = "auto",
    plots: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Search the spec's ``search:`` space until the study holds ``trials`` finished trials.

    Running it again on the same sweep directory (or ``storage``) continues the study. Returns
    the tally, the best trial and the paths written (see :class:`~archspec.sweep.report.SweepResult`).
    """
    from archspec.pipeline import load
    from archspec.sweep.objective import work
    from archspec.sweep.report import plot, summarise, write_results
    from archspec.sweep.study import (
        SweepJob,
        counted,
        open_study,
        optuna_module,
        recover,
        run_workers,
        study_storage,
    )

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    optuna_module()  # the install hint before anything else
    spec = load(spec_file, overrides)
    job = SweepJob(
        spec_file=str(spec_file),
        overrides=list(overrides),
        sweep_dir=Path(sweep_dir) if sweep_dir is not None else Path("sweeps") / spec.name,
        storage=storage,
        study_name=study_name,
        trials=trials,
        workers=workers,
        device=device,
        sampler=sampler,
        pruner=pruner,
        seed=seed,
    )
    spec, space = job.space()
    storage = study_storage(job)
    study = open_study(job, space, spec, create=True, storage=storage)
    recover(study, storage, log)
    remaining = trials - len(counted(study.get_trials(deepcopy=False)))
    if remaining > 0:
        log(f"sweep {study.study_name}: {remaining} trial(s) to run, in {job.sweep_dir}")
        single = workers == 1
        try:
            run_workers(job, remaining, (lambda j, i, n: work(j, i, n, log)) if single else work)
        except BaseException:
            write_results(study, space, job.sweep_dir / "results.csv")  # what was done, for the record
            raise
    result = summarise(study, space, job, log)
    if plots and result["complete"]:
        result["plots"] = [str(p) for p in plot(study, space, job.sweep_dir, log)]
    return result
