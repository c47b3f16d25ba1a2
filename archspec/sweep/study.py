"""The Optuna side of a sweep: storage, study, sampler, pruner, workers and resuming.

A sweep directory holds ``study.db`` (Optuna's SQLite storage, unless ``--storage`` names
another), ``trials/NNNN/`` (one ordinary run directory per trained trial), and at the end
``results.csv``, ``best.yaml`` and the plots. Every fact about the sweep lives in the storage,
so a killed sweep is continued by running the same command again:

* ``--trials N`` is the size of the whole study: a rerun runs only the trials still missing;
* a trial that was running when its process died (its pid is gone) is marked failed and
  ``interrupted``, and the same values are queued again as a new trial (``retry_of``); on a
  shared database, Optuna's heartbeat does the same for workers on other machines;
* trial numbers come from the storage, so they are unique across processes and machines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from archspec.errors import RunError, SchemaError
from archspec.pipeline import load
from archspec.sweep.space import SearchSpace, fingerprint, read_space

__all__ = ["INSTALL_HINT", "SweepError", "SweepJob", "counted", "open_study", "optuna_module", "run_workers"]

INSTALL_HINT = "pip install 'archspec[sweep]' (or: pip install optuna)"
_HEARTBEAT_S, _GRACE_S = 60, 180


class SweepError(RunError):
    """A sweep that cannot go on: Optuna missing, a sweep directory of another spec."""


def optuna_module() -> Any:
    """Optuna, quietened, or a clear error saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise SweepError(f"archspec sweep needs Optuna, which is not installed: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


@dataclasses.dataclass
class SweepJob:
    """Everything a worker process needs (plain data, so it crosses a process boundary)."""

    spec_file: str
    overrides: list[str]
    sweep_dir: Path
    storage: str | None = None  # None: sqlite in the sweep directory
    study_name: str | None = None
    trials: int = 20
    workers: int = 1
    device: str = "auto"
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = None

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(self.sweep_dir / 'study.db').resolve()}"

    def trial_dir(self, number: int) -> Path:
        return self.sweep_dir / "trials" / f"{number:04d}"

    def space(self) -> tuple[Any, SearchSpace]:
        """The spec (with ``--set`` applied) and its checked search space."""
        spec = load(self.spec_file, self.overrides)
        return spec, read_space(spec, sampler=self.sampler, pruner=self.pruner, seed=self.seed)


# -- storage and study ---------------------------------------------------------------------------


def _storage(job: SweepJob) -> Any:
    """SQLite in the sweep directory by default; any RDB URL Optuna takes; a ``.journal`` /
    ``.log`` file path for Optuna's journal-file storage (no database server at all)."""
    optuna = optuna_module()
    url = job.storage_url
    if "://" not in url:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(Path(url).resolve())))
    sqlite = url.startswith("sqlite")
    storage = optuna.storages.RDBStorage(
        url,
        engine_kwargs={"connect_args": {"timeout": 120}} if sqlite else None,
        heartbeat_interval=_HEARTBEAT_S,
        grace_period=_GRACE_S,
        heartbeat_stale_trial_callback=_retry_failed,
    )
    if sqlite:
        _write_ahead(storage.engine)
    return storage


def _write_ahead(engine: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: a commit no longer waits for the disk
    (a trial makes ~20 of them), and a killed process still loses nothing (the WAL survives it;
    only a power cut may drop the last commits)."""
    from sqlalchemy import event

    def on_connect(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener are replaced by ones that have it


def _retry_failed(study: Any, trial: Any) -> None:
    """Optuna's heartbeat found a trial whose worker went silent: queue its values again."""
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)


def open_study(job: SweepJob, space: SearchSpace, spec: Any, *, create: bool, storage: Any = None) -> Any:
    """The sweep's study, created on first use; a study made from another spec is refused.
    ``storage`` (from :func:`study_storage`) is made here when not given."""
    optuna = optuna_module()
    name = job.study_name or spec.name
    if create:
        job.sweep_dir.mkdir(parents=True, exist_ok=True)
    storage = storage if storage is not None else _storage(job)
    if create:
        study = optuna.create_study(
            storage=storage, study_name=name, directions=space.directions, load_if_exists=True
        )
    else:
        study = optuna.load_study(storage=storage, study_name=name)
    stamp = fingerprint(spec)
    seen = study.user_attrs.get("spec")
    if seen is None and create:
        study.set_user_attr("spec", stamp)
        study.set_user_attr("objectives", space.names)
    elif seen is not None and seen != stamp:
        raise SweepError(
            f"study {name!r} in {job.storage_url} was made from another spec or search space "
            "(hint: give a fresh --sweep-dir, or another --study-name)"
        )
    if [d.name.lower() for d in study.directions] != space.directions:
        raise SchemaError(
            "the study's objectives differ from search: section's", loc=spec.doc.loc(("search",))
        )
    return study


def sampler_for(space: SearchSpace, seed: int) -> Any:
    optuna = optuna_module()
    if space.sampler == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner_for(space: SearchSpace) -> Any:
    optuna = optuna_module()
    if space.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)  # never after epoch 1
    if space.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto")
    return optuna.pruners.NopPruner()


# -- counting and recovery -----------------------------------------------------------------------


def counted(trials: list[Any]) -> list[Any]:
    """The trials that count towards ``--trials``: finished ones, except failures that were
    interrupted or retried (their retry counts instead)."""
    states = _states()
    retried = {t.user_attrs.get("retry_of") for t in trials}
    return [
        t
        for t in trials
        if t.state in (states.COMPLETE, states.PRUNED)
        or (t.state == states.FAIL and not t.user_attrs.get("interrupted") and t.number not in retried)
    ]


def study_storage(job: SweepJob) -> Any:
    """The storage object a sweep's study lives in (kept by the caller: failing another
    process's trial goes through the storage's public API, which ``Study`` does not offer)."""
    job.sweep_dir.mkdir(parents=True, exist_ok=True)
    return _storage(job)


def recover(study: Any, storage: Any, log: Callable[[str], None]) -> None:
    """Mark trials whose local process died as failed (interrupted) and queue each again."""
    states = _states()
    host = socket.gethostname()
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
        worker = t.user_attrs.get("worker") or ""
        whose, _, pid = worker.rpartition(":")
        if whose == host and pid.isdigit() and not _alive(int(pid)):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            storage.set_trial_user_attr(trial_id, "interrupted", True)
            storage.set_trial_state_values(trial_id, states.FAIL)
            log(f"trial {t.number} was interrupted (its process {pid} is gone): marked failed")
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for t in trials:
        if t.state == states.FAIL and t.user_attrs.get("interrupted") and t.number not in retried:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
            log(f"trial {t.number} will run again as a new trial")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _states() -> Any:
    return optuna_module().trial.TrialState


# -- workers -------------------------------------------------------------------------------------


def run_workers(job: SweepJob, remaining: int, work: Callable[[SweepJob, int, int], None]) -> None:
    """Run ``remaining`` trials: here when one worker is asked for, else in ``job.workers``
    fresh processes (spawned, so none inherits torch's threads) sharing the study."""
    shares = [remaining // job.workers + (i < remaining % job.workers) for i in range(job.workers)]
    shares = [s for s in shares if s > 0]
    if len(shares) == 1:
        work(job, 0, shares[0])
        return
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=work, args=(job, i, n), daemon=False) for i, n in enumerate(shares)]
    with _all_stopped(procs):
        for p in procs:
            p.start()
        for p in procs:
            p.join()
    failed = [p.exitcode for p in procs if p.exitcode]
    if failed:
        raise SweepError(
            f"{len(failed)} of {len(procs)} worker processes stopped with an error (exit {failed[0]})"
        )


@contextlib.contextmanager
def _all_stopped(procs: list[Any]) -> Iterator[None]:
    """Ctrl-C stops the workers too (their running trials are then retried on the next run)."""
    try:
        yield
    except BaseException:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join()
        raise


def worker_device(device: str, index: int) -> str:
    """Spread workers over the GPUs when there are several and the device is not pinned."""
    if device not in ("auto", "cuda"):
        return device
    import torch

    count = torch.cuda.device_count()
    return f"cuda:{index % count}" if count > 1 else device


def threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)
