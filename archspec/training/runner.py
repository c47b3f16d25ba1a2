"""The training loop: streams -> model -> combined loss -> optimiser, with exact resume.

An *epoch* is one pass over the primary stream (``training.primary``, else the first stream a
loss reads). Other training streams are drawn in step with it and start a new pass of their
own whenever they run out, so a small labelled stream cycles while a large unlabelled one
streams through. Validation runs after every epoch on the streams with ``role: val``.

Everything that decides the next step — weights, optimiser and scheduler state, RNG states,
each stream's (epoch, step) position, early-stopping counters — is in the checkpoint, so a run
killed at any point and resumed with ``--resume`` ends with exactly the same weights.
Only rank 0 writes files when running under ``torchrun``.

This module holds the loop itself (set-up, epochs, steps, gradients, evaluation, early
stopping). The loop's position is a ``LoopState`` (``loop_state``); what a checkpoint holds
besides is in ``resume``, the run directory's logs in ``runlog``, the closed-form solver in
``closed_form`` and ``torch.distributed`` in ``distributed``.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from archspec.devices import choose_device
from archspec.devices import resolve_device as resolve_device
from archspec.errors import DataError, SpecError, SpecErrors, TrainingError
from archspec.graph.dag import Graph
from archspec.training.checkpoint import save_checkpoint
from archspec.training.closed_form import fit_closed_form, linear_node
from archspec.training.distributed import dist_info as _dist_info
from archspec.training.distributed import lost_ranks, mean_over_ranks, wrap_ddp
from archspec.training.loop_state import LoopState
from archspec.training.objective import bind_objective
from archspec.training.resume import checkpoint_state, load_latest, resolved_fingerprint, restore_state
from archspec.training.resume import spec_fingerprint as spec_fingerprint
from archspec.training.runlog import Progress, RunLog
from archspec.training.streams import Stream, build_streams, check_model_inputs

__all__ = ["RunOptions", "RunResult", "Trainer", "resolve_device", "spec_fingerprint", "train"]

CHECKPOINT_SECONDS = 60.0  # the default time between checkpoints (training.checkpoint_seconds)
SYNC_SECONDS = 2.0  # how long step losses may stay on the device before they are read and checked
PLOT_SECONDS = 120.0  # curves.png is redrawn during a run at most this often (and at the end)


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what to train: that is the spec's ``training:``). Read, never changed:
    derive another with ``dataclasses.replace``."""

    run_dir: Path | None  # None (start_run only): runs/<spec name>, or runs/<name>-2, ... if taken
    device: str = "auto"
    resume: bool = False
    progress: bool = True
    checkpoint_every: int | None = None  # also every N optimiser steps (see ``checkpoint_seconds``)
    # a checkpoint at most this often (at the first epoch end or step after it), besides the run's
    # last state; ``best`` is kept in memory meanwhile (None: training.checkpoint_seconds, else 60)
    checkpoint_seconds: float | None = None
    max_steps: int | None = None
    detect_anomaly: bool = False
    plots: bool = True  # draw curves.png (at the end, and at most every PLOT_SECONDS during a run)
    log: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr))
    # called with each epoch's row once it is checkpointed; an exception it raises ends the run
    # there (``archspec sweep`` feeds its pruner this way)
    on_epoch: Callable[[dict[str, Any]], None] | None = None


@dataclass
class RunResult:
    run_dir: Path
    steps: int
    epochs: int
    metrics: dict[str, float]
    history: list[dict[str, Any]]
    stopped_early: bool = False
    checkpoint: Path | None = None  # the one `archspec evaluate` and `predict` use (best, else latest)
    checkpoint_rule: str = ""  # why that one: "best by val_accuracy (max)" or "latest"
    test_metrics: dict[str, float] = field(default_factory=dict)  # the test streams, on that checkpoint


def train(graph: Graph, options: RunOptions) -> RunResult:
    """Train the spec behind ``graph`` as its ``training:`` section says."""
    if graph.spec.training.get("solver") == "closed_form":
        linear_node(graph)  # refuse a model the solver cannot fit before any data is read
    with lost_ranks():  # under torchrun: a rank that died or froze is our error, not gloo's
        return Trainer(graph, options).run()


class Trainer:
    def __init__(self, graph: Graph, options: RunOptions, *, for_eval: bool = False) -> None:
        # The order matters for exact reproduction: the seed is set before the streams are
        # built and the model is compiled, since both draw from torch's RNG.
        from archspec.compiler.compile import compile_model

        self.graph, self.spec, self.opt = graph, graph.spec, options
        self.cfg = self.spec.training
        self.device = resolve_device(choose_device(options.device, self.cfg.get("device")))
        self.rank, self.world, self.device = _dist_info(self.device)
        torch.manual_seed(self._seed())  # dropout and friends
        self.streams = build_streams(
            self.spec,
            rank=self.rank,
            world=self.world,
            lazy_files=True,
            pin_memory=self.device.type == "cuda",
        )
        self.objective = bind_objective(self.spec, {k: set(s.fields) for k, s in self.streams.items()})
        _check_metrics(self.spec, self.holds_labels)
        self._check_inputs()
        self.objective.check_labels(graph, {k: s.tensors for k, s in self.streams.items()})
        self.model = compile_model(graph).to(self.device)
        self.frozen_norms: list[torch.nn.Module] = []
        if not for_eval:
            self._init_from()
        self.objective.bind_params(self.model)
        self.module = wrap_ddp(self.model, self.device, self.world)
        self._build_optimisation()
        self.aug_gen = torch.Generator().manual_seed(self._seed() + 17)
        self._clean_targets = self._streams_with_clean_targets()
        self.loop = LoopState()
        self._clock = time.perf_counter()  # when the run started, less the seconds it resumed at
        self.amp = self._amp()
        # fp16 autocast needs loss scaling against underflow; bf16 has float32's range
        self.scaler = torch.amp.GradScaler(self.device.type) if self.amp[1] == torch.float16 else None
        self.runlog = RunLog(options.run_dir)
        # step losses not yet read back: (step, (total, *terms), the terms' weights at that step
        # when the step recorded them, else None: _sync then works them out)
        self._pending: list[tuple[int, tuple[torch.Tensor, ...], tuple[float, ...] | None]] = []
        self._last_values: dict[str, float] = {}  # the last step's losses read back (progress bar)
        self._synced = self._saved = self._plotted = time.monotonic()
        self._saved_step = -1  # the step of the last checkpoint written (or resumed from)
        self._best_weights: tuple[str, dict[str, torch.Tensor]] | None = None  # a best not on disk yet
        self._fingerprint: str | None = None
        self._loss_streams = self.objective.streams  # (a property that builds a list)
        # what the step loop would otherwise look up every step
        self._inputs = tuple(self.spec.inputs)
        self._other_streams = [n for n in self._loss_streams if n != self.primary]
        self._plain_batches = self.device.type == "cpu" and not any(s.augment for s in self.streams.values())
        self._clip = self.cfg.get("grad_clip")
        self._plateau = isinstance(self.schedule, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self._step = self._lean_step() or self._train_step  # what the epoch loop calls per batch
        self.host_syncs = 0  # how often the loop has read losses back from the device (tests)

    # -- set-up ---------------------------------------------------------------------------------

    def _seed(self) -> int:
        return int(self.cfg.get("seed", self.spec.seed))

    def _build_optimisation(self) -> None:
        """Optimiser, run length and schedule: the schedule needs the run's total step count,
        and a plateau schedule the early-stopping monitor's mode, hence the metric plan."""
        from archspec.training.optim import build_optimizer, build_schedule

        self.optimizer = build_optimizer(
            self.model, self.cfg.get("optimizer", {"name": "adam"}), self.spec.parts
        )
        self.primary = self._primary()
        self._plan_length()
        self.metrics = self._metric_plan()
        self.schedule = build_schedule(
            self.optimizer, self.cfg.get("schedule"), self.total_steps, mode=self._monitor()[1]
        )

    def _plan_length(self) -> None:
        """Epochs, optimiser steps per run, and when to checkpoint. The CLI flags win over
        ``training:``; the trainer keeps a copy of the options with both settled, so that the
        loop reads one place (the caller's options are left as they were)."""
        self.opt = options = replace(
            self.opt,
            max_steps=self.opt.max_steps or self.cfg.get("max_steps"),  # the CLI flag wins
            checkpoint_every=self.opt.checkpoint_every or self.cfg.get("checkpoint_every"),
            checkpoint_seconds=_first_set(
                self.opt.checkpoint_seconds, self.cfg.get("checkpoint_seconds"), CHECKPOINT_SECONDS
            ),
        )
        self.epochs = int(self.cfg.get("epochs", 10))
        self.accumulate = int(self.cfg.get("accumulate", 1))
        steps = self.epochs * self.streams[self.primary].steps_per_epoch() // self.accumulate
        self.total_steps = min(steps, options.max_steps or steps)
        self.objective.total_steps = self.total_steps

    def _check_inputs(self) -> None:
        """The streams the loss reads and those evaluated (val, test) all feed the model."""
        evaluated = [name for name, s in self.streams.items() if s.role in ("val", "test")]
        check_model_inputs(self.spec, self.streams, [*self.objective.streams, *evaluated])

    def _primary(self) -> str:
        primary = self.cfg.get("primary") or self.objective.streams[0]
        if primary not in self.streams:
            raise SpecError(
                f"unknown primary stream {primary!r}", loc=self.spec.doc.loc(("training", "primary"))
            )
        return primary

    def _init_from(self) -> None:
        from archspec.training.transfer import freeze, init_from

        init_from(self.model, self.spec, self.cfg.get("init_from") or {}, base=Path(self.spec.file).parent)
        self.frozen_norms = freeze(self.model, self.cfg.get("freeze") or [], self.spec.parts)

    def _train_mode(self) -> None:
        """Training mode, except for frozen normalisation layers (see ``transfer.freeze``)."""
        self.module.train()
        for norm in self.frozen_norms:
            norm.eval()

    def _amp(self) -> tuple[bool, torch.dtype | None]:
        precision = str(self.cfg.get("precision", "auto"))
        if self.device.type != "cuda" or precision == "32":
            return (False, None)
        return (True, torch.float16 if precision == "fp16" else torch.bfloat16)

    def _metric_plan(self) -> list[tuple[str, str, str, str]]:
        """(val stream, metric name, output, target) for every metric to report per epoch."""
        plan = []
        for stream_name, stream in self.streams.items():
            if stream.role == "val":
                plan += [(stream_name, m, p, t) for m, p, t in _plan_for(self, stream)]
        return plan

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> RunResult:
        if self.cfg.get("solver") == "closed_form":
            return self._run_closed_form()
        ckpt_root = self.opt.run_dir / "checkpoints"
        if self.opt.resume:
            self._restore(ckpt_root)
        elif self.rank == 0:
            self._start_run_dir()
        self._clock = time.perf_counter() - self.loop.seconds
        history = self._read_history()
        if self.opt.detect_anomaly:
            self._watch_non_finite()
        # anomaly mode is the run's only: it used to stay on in the caller's process afterwards
        with torch.autograd.set_detect_anomaly(True) if self.opt.detect_anomaly else contextlib.nullcontext():
            self._epochs(ckpt_root, history)
        self._finish(history)
        return self._tested(self._result(history))

    def _epochs(self, ckpt_root: Path, history: list[dict[str, Any]]) -> None:
        primary = self.streams[self.primary]
        while self.loop.epoch < self.epochs and not self.loop.stopped and not self._out_of_steps():
            epoch = self.loop.epoch
            sums = self._train_epoch(epoch, primary, ckpt_root)
            if self._out_of_steps() and self.loop.epoch_step < primary.steps_per_epoch():
                break  # stopped mid-epoch by max_steps: no epoch row for a partial epoch
            row = self._end_epoch(epoch, sums, self._seconds())
            history.append(row)
            self._epoch_saves(ckpt_root, row, history)
            if self.opt.on_epoch is not None:
                self.opt.on_epoch(row)
        if self._saved_step != self.loop.step:
            self._save(ckpt_root, None)  # the run's last state (stopped by max_steps mid-epoch)

    def _run_closed_form(self) -> RunResult:
        """``solver: closed_form``: one exact least-squares fit, recorded as the run's one epoch."""
        self._clock = time.perf_counter()
        fit_closed_form(self.graph, self.objective.terms, self.streams, self.model)
        if not self.opt.resume:
            self._start_run_dir()
        row = self._end_epoch(0, {}, self._seconds())
        row["epochs"] = 1
        self._save(self.opt.run_dir / "checkpoints", {**row, "_better": True})
        self._finish([row])
        metrics = {k: v for k, v in row.items() if isinstance(v, float)}
        return self._tested(RunResult(self.opt.run_dir, 0, 1, metrics, [row]))

    def _tested(self, result: RunResult) -> RunResult:
        """Name the checkpoint ``evaluate`` will use and score the test streams with it, here,
        so a finished run reports its test numbers without a second process importing torch.
        (Single-process runs only: evaluation is not a collective step under torchrun.)"""
        from archspec.training.checkpoint import latest_checkpoint
        from archspec.training.transfer import load_weights, run_weights

        root = self.opt.run_dir / "checkpoints"
        latest = latest_checkpoint(root) if self.rank == 0 and root.is_dir() else None
        if latest is None:
            return result
        best = latest_checkpoint(root, "best")
        result.checkpoint = best or latest  # as run_weights picks it
        key, mode = self._monitor()
        result.checkpoint_rule = f"best by {key} ({mode})" if best is not None else "latest"
        if self.world == 1 and any(s.role == "test" for s in self.streams.values()):
            weights, path = run_weights(self.opt.run_dir, "best")  # read only when there is a test
            load_weights(self.model, weights, where=str(path))
            result.test_metrics = self.evaluate_streams(("test",))
        return result

    def _result(self, history: list[dict[str, Any]]) -> RunResult:
        last = history[-1] if history else {}
        metrics = {k: v for k, v in last.items() if isinstance(v, float)}
        return RunResult(
            self.opt.run_dir, self.loop.step, self.loop.epoch, metrics, history, self.loop.stopped
        )

    def _seconds(self) -> float:
        """Training time so far, counting the time before every resume."""
        return time.perf_counter() - self._clock

    def _out_of_steps(self) -> bool:
        return self.opt.max_steps is not None and self.loop.step >= self.opt.max_steps

    def _train_epoch(self, epoch: int, primary: Stream, ckpt_root: Path) -> dict[str, float]:
        """One pass over the primary stream, from wherever a resume left it. The running sums
        live in the loop state so that a checkpoint taken mid-epoch resumes the epoch's means too."""
        self._train_mode()
        loop = self.loop
        steps = primary.steps_per_epoch()
        bar = self._bar(steps, epoch)
        max_steps, every, name = self.opt.max_steps, self.opt.checkpoint_every, self.primary
        monotonic, train_step = time.monotonic, self._step
        due = self._next_due()  # the next sync or time-based checkpoint: one clock read a step
        for step, batch in primary.batches(epoch, loop.epoch_step):
            train_step({name: batch})
            loop.epoch_step = step + 1
            if every or monotonic() >= due:
                if monotonic() - self._synced >= SYNC_SECONDS:
                    self._sync()
                self._checkpoint_within_epoch(ckpt_root, steps)
                due = self._next_due()
            if bar is not None:
                bar.update(1, self._last_values)
            if max_steps is not None and loop.step >= max_steps:
                break
        if bar is not None:
            bar.close()
        self._sync()
        means = loop.epoch_means()
        if loop.epoch_step >= steps:
            loop.clear_sums()
        return means

    def _next_due(self) -> float:
        return min(self._synced + SYNC_SECONDS, self._saved + self.opt.checkpoint_seconds)

    def _checkpoint_within_epoch(self, ckpt_root: Path, steps: int) -> None:
        """Every ``checkpoint_every`` steps, and when ``checkpoint_seconds`` have passed since
        the last save; the epoch's last step is left to the epoch's end (``_epoch_saves``)."""
        if self.loop.epoch_step < steps and self._checkpoint_due():
            self._save(ckpt_root, None)

    def _checkpoint_due(self) -> bool:
        every = self.opt.checkpoint_every
        if every and self.loop.step % every == 0 and self.loop.step != self._saved_step:
            return True
        return time.monotonic() - self._saved >= self.opt.checkpoint_seconds

    def _epoch_saves(self, root: Path, row: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """At an epoch's end: log its row; checkpoint when one is due, at the run's end and when
        a sweep watches the run; otherwise keep a new best's weights in memory until the next
        checkpoint writes them (``best`` on disk is then at most ``checkpoint_seconds`` behind)."""
        ending = self.loop.epoch >= self.epochs or self.loop.stopped or self._out_of_steps()
        if ending or self.opt.on_epoch is not None or self._checkpoint_due():
            self._save(root, row)
        else:
            self._log_row(row)
            if row.get("_better"):
                weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                self._best_weights = (self.loop.checkpoint_name(), weights)
        if self.opt.plots and time.monotonic() - self._plotted >= PLOT_SECONDS and self.rank == 0:
            self._plot(history)

    def _next_batches(
        self, batches: dict[str, dict[str, torch.Tensor]]
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Add a batch from every other training stream the loss reads (cycling as needed)."""
        for name in self._loss_streams:
            if name in batches:
                continue
            stream = self.streams[name]
            ep, st = self.loop.positions.get(name, (0, 0))
            if st >= stream.steps_per_epoch():
                ep, st = ep + 1, 0
            self.loop.positions[name] = (ep, st + 1)
            batches[name] = stream.batch(ep, st)
        return batches

    def _prepare(
        self, name: str, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The augmented batch for the model, and the batch the loss targets read.

        They are the same dict unless a loss reconstructs a model input that ``noise`` is
        added to (a denoising autoencoder): its target then gets every geometric transform
        the input got — with the same random draws — but not the noise.
        """
        stream = self.streams[name]
        targets = batch
        if stream.augment:
            from archspec.training.augment import apply_augment

            if name in self._clean_targets:
                batch, targets = self._augment_apart(batch, stream.augment)
            else:
                batch = targets = apply_augment(batch, stream.augment, self.aug_gen)
        if self.device.type != "cpu":
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            targets = (
                batch
                if targets is batch
                else {k: v.to(self.device, non_blocking=True) for k, v in targets.items()}
            )
        return batch, targets

    def _augment_apart(
        self, batch: dict[str, torch.Tensor], augs: list[Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        from archspec.training.augment import apply_augment

        inputs, targets = batch, batch
        for aug in augs:
            if aug.name == "noise":
                inputs = apply_augment(inputs, [aug], self.aug_gen)
                continue
            state = self.aug_gen.get_state()
            inputs = apply_augment(inputs, [aug], self.aug_gen)
            self.aug_gen.set_state(state)  # the targets get exactly the same flip/rotation/shift
            targets = apply_augment(targets, [aug], self.aug_gen)
        return inputs, targets

    def _streams_with_clean_targets(self) -> set[str]:
        """Streams whose loss targets include a model input that gets noise."""
        noisy = {n for n, s in self.streams.items() if any(a.name == "noise" for a in s.augment)}
        return {t.stream for t in self.objective.terms if t.stream in noisy and t.target in self.spec.inputs}

    def _watch_non_finite(self) -> None:
        """--detect-anomaly: stop at the first node whose output holds a NaN or an infinity."""
        for node in self.model.graph.nodes:
            if node.op == "call_module":
                self.model.get_submodule(node.target).register_forward_hook(
                    self._non_finite_hook(str(node.target))
                )

    def _non_finite_hook(self, node_id: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            outs = (
                output.values()
                if isinstance(output, Mapping)
                else output
                if isinstance(output, (tuple, list))
                else (output,)
            )
            if all(
                torch.isfinite(o).all() for o in outs if isinstance(o, torch.Tensor) and o.is_floating_point()
            ):
                return
            inputs_ok = all(
                torch.isfinite(a).all() for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()
            )
            why = "from finite inputs" if inputs_ok else "because its input already was (check the data)"
            raise TrainingError(
                f"node {node_id!r} ({type(module).__name__}) produced a non-finite output {why} at step {self.loop.step}; stopping without saving"
            )

        return hook

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.module(*[batch[name] for name in self._inputs])
        return out if isinstance(out, dict) else {next(iter(self.spec.outputs)): out}

    # -- one step -------------------------------------------------------------------------------

    def _train_step(self, batches: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        """Forward and backward one micro-batch; every ``accumulate`` of them, one update."""
        if self._other_streams:
            batches = self._next_batches(batches)
        if self._plain_batches:  # no augmentation, no device copy: the batches are the inputs
            inputs = targets = batches
        else:
            inputs, targets = {}, {}
            for name, batch in batches.items():
                inputs[name], targets[name] = self._prepare(name, batch)
        step = self.loop.step
        total, terms = self._loss(inputs, step, targets)
        loss = total / self.accumulate if self.accumulate > 1 else total  # no extra node at 1
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        self.loop.micro += 1
        if self.loop.micro % self.accumulate == 0:
            self._apply_gradients(step)
        # the values stay on the device until the next ``_sync``: no host sync per step
        done = total.detach()
        if len(terms) == 1 and next(iter(terms.values())) is total:
            self._pending.append((step, (done, done), None))
        else:
            self._pending.append((step, (done, *(v.detach() for v in terms.values())), None))

    def _lean_step(self) -> Callable[[dict[str, dict[str, torch.Tensor]]], None] | None:
        """``_train_step`` for the plain case, with every per-step decision taken here, once:
        streams with nothing to augment or copy to a device (the primary one, plus a batch from
        each other stream a loss reads: a semi-supervised run's unlabelled stream), no mixed
        precision, accumulation, clipping or penalties, and losses that ``losses.fast_loss``
        binds. A scheduled weight is worked out once per step and kept with the step's losses.
        It computes what ``_train_step`` computes, in the same order (bitwise the same weights,
        tested); anything else returns None and takes the general path."""
        terms = self.objective.terms
        fast = self.objective.fast
        if (
            not self._plain_batches
            or self.amp[0]
            or self.scaler is not None
            or self.accumulate != 1
            or self._clip
            or not self._inputs
            or any(t.is_penalty or fast.get(t.name) is None for t in terms)
        ):
            return None
        plan = [(t, t.stream, t.pred, t.target, fast[t.name], t.weight) for t in terms]
        scheduled = any(not isinstance(t.weight, float) for t in terms)
        module, optimizer, loop, pending = self.module, self.optimizer, self.loop, self._pending
        objective, inputs = self.objective, self._inputs
        name = inputs[0] if len(inputs) == 1 else None
        next_batches = self._next_batches if self._other_streams else None
        schedule = self.schedule if self.schedule is not None and not self._plateau else None
        single = len(plan) == 1 and plan[0][5] == 1.0  # the term is the total (1.0: not a schedule)

        def step(batches: dict[str, dict[str, torch.Tensor]]) -> None:
            if next_batches is not None:
                batches = next_batches(batches)
            # one forward per stream, in the batches' order (the primary stream first), as _loss_now
            if name is not None:
                outs = {s: module(batch[name]) for s, batch in batches.items()}
            else:
                outs = {s: module(*[batch[n] for n in inputs]) for s, batch in batches.items()}
            total, values, weights = None, [], []
            at = loop.step
            for term, stream, pred_name, target_name, loss, weight in plan:
                out = outs[stream]
                pred, target = (
                    (out[pred_name] if isinstance(out, dict) else out),
                    batches[stream][target_name],
                )
                value = loss(pred, target)
                if value is None:
                    value = objective.checked_value(term, pred, target)
                values.append(value)
                if scheduled:
                    if not isinstance(weight, float):
                        weight = term.weight_at(at, loop.epoch, objective.total_steps)
                    weights.append(weight)
                weighted = value if weight == 1.0 else value * weight
                total = weighted if total is None else total + weighted
            assert total is not None
            total.backward()
            loop.micro += 1
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if schedule is not None:
                schedule.step()
            loop.step = at + 1
            done = total.detach()
            if single:
                pending.append((at, (done, done), None))
            elif len(values) == 1 and total is values[0]:  # a scheduled weight of 1 at this step
                pending.append((at, (done, done), tuple(weights)))
            else:
                pending.append(
                    (at, (done, *(v.detach() for v in values)), tuple(weights) if scheduled else None)
                )

        return step

    def _sync(self) -> None:
        """Read the pending step losses back in one transfer (one host sync), stop at the first
        non-finite one with the error the objective words, then log them and add them to the
        epoch's sums. Called every ``SYNC_SECONDS``, at the end of every epoch and before
        every checkpoint, so a non-finite loss never outlives the next checkpoint."""
        if not self._pending:
            return
        self.host_syncs += 1
        self._synced = time.monotonic()
        pending = self._pending[:]
        self._pending.clear()  # in place: the lean step holds this list
        values_read = [v for _, row, _ in pending for v in row]
        try:  # one conversion for the lot (the values are float32 unless mixed precision made them not)
            flat = torch.stack(values_read).float().tolist()
        except (RuntimeError, TypeError):
            flat = torch.stack([v.float() for v in values_read]).tolist()
        width = len(pending[0][1])
        keys = ["loss", *(f"loss_{t.name}" for t in self.objective.terms)]
        finite = all(map(math.isfinite, flat))  # one pass in C; the rows are checked one by one only if not
        for i, (step, _, weights) in enumerate(pending):
            row = flat[i * width : (i + 1) * width]
            if not finite:
                error = self.objective.non_finite_error(step, row)
                if error is not None:
                    raise error
            values = dict(zip(keys, row))
            self._log_step(step, values)
            self.loop.add_step(values if len(keys) == 2 else self._with_weighted(step, values, weights))
        self._last_values = values
        if self.rank == 0:
            self.runlog.flush_steps_if_due()

    def _with_weighted(
        self, step: int, values: dict[str, float], weights: tuple[float, ...] | None = None
    ) -> dict[str, float]:
        """A step's losses and, with several terms, ``weighted_<term>``: the term times its weight
        at that step, as it entered the total (metrics.csv's ``train_weighted_<term>``, which
        sum to ``train_loss``; under a scheduled weight an epoch's mean of the products is not
        the weight times the mean, hence a column of its own)."""
        terms = self.objective.terms
        if len(terms) == 1:
            return values
        if weights is None:  # the step did not record them: work them out as it did
            epoch, total = self.loop.epoch, self.objective.total_steps
            weights = tuple(t.weight_at(step, epoch, total) for t in terms)
        weighted = {f"weighted_{t.name}": values[f"loss_{t.name}"] * w for t, w in zip(terms, weights)}
        return {**values, **weighted}

    def _loss(
        self,
        batches: dict[str, dict[str, torch.Tensor]],
        step: int,
        targets: dict[str, dict[str, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The combined loss and its terms, under autocast when mixed precision is on."""
        use_amp, dtype = self.amp
        if use_amp:
            with torch.autocast(self.device.type, dtype=dtype):
                return self._loss_now(batches, step, targets)
        return self._loss_now(batches, step, targets)

    def _loss_now(
        self,
        batches: dict[str, dict[str, torch.Tensor]],
        step: int,
        targets: dict[str, dict[str, torch.Tensor]] | None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        outputs = {name: self.forward(batch) for name, batch in batches.items()}
        return self.objective.compute(
            self.model, outputs, targets or batches, step, self.loop.epoch, check=False
        )

    def _apply_gradients(self, step: int) -> None:
        clip = self._clip
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
        if clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), float(clip))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.schedule is not None and not self._plateau:
            self.schedule.step()
        self.loop.step = step + 1

    def _check_params(self, step: int) -> None:
        """Stop if an update made a parameter NaN/inf. Called before every save and when a loss
        turns non-finite (the next step's loss always does), not after every step: a broken
        parameter can never reach a checkpoint, and the hot loop stays as lean as a hand loop."""
        params = [p for p in self.model.parameters() if p.numel()]
        if not params or bool(torch.isfinite(torch.stack(torch._foreach_norm(params, math.inf))).all()):
            return  # one fused check (max |p| is NaN or inf iff p holds one), not one per tensor
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():
                raise TrainingError(
                    f"parameter {name!r} became non-finite at step {step}; stopping without saving (hint: lower the learning rate or clip gradients with training.grad_clip)"
                )

    # -- end of an epoch ------------------------------------------------------------------------

    def _end_epoch(self, epoch: int, train_means: dict[str, float], elapsed: float) -> dict[str, Any]:
        """Evaluate, build the epoch's row, and let early stopping and a plateau schedule see it."""
        metrics = self.evaluate_streams()
        train_means = mean_over_ranks(train_means, self.device, self.world)
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": self.loop.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(elapsed, 3),
        }
        row.update({f"train_{k}": v for k, v in train_means.items()})
        row.update(metrics)
        self.loop.epoch = epoch + 1
        self.loop.epoch_step = 0
        self._early_stopping(row)
        self._plateau_step(row)
        if self.rank == 0:
            self._log_epoch(epoch, row)
        return row

    def _plateau_step(self, row: dict[str, Any]) -> None:
        """ReduceLROnPlateau steps once per epoch on the monitored value; others step per update."""
        if isinstance(self.schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            key = self._monitor()[0]
            if key in row:
                self.schedule.step(row[key])

    def _log_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        single = len(self.objective.terms) == 1  # train_loss_<term> would repeat train_loss
        shown = ", ".join(
            f"{k} {v:.4g}"
            for k, v in row.items()
            if k not in ("epoch", "step", "seconds", "lr")
            and isinstance(v, float)
            and not (single and k.startswith("train_loss_"))
            and "_weighted_" not in k  # metrics.csv and curves.png have them
        )
        self.opt.log(f"epoch {epoch + 1}/{self.epochs}: {shown}")

    def _monitor(self) -> tuple[str, str]:
        """(row key, "min" or "max") that early stopping, ``best`` and plateau cuts follow:
        ``early_stopping.metric``, else the first validation metric, else the training loss."""
        es = self.cfg.get("early_stopping") or {}
        if es.get("metric"):
            key = es["metric"]
            mode = es.get("mode") or ("min" if "loss" in key or key.endswith(("mse", "mae")) else "max")
            return key, mode
        if self.metrics:
            stream, metric, pred, _ = self.metrics[0]
            from archspec.training.metrics import make_metric

            suffix = "" if len(self.spec.outputs) == 1 else f"_{pred}"  # as _evaluate_stream keys it
            return f"{stream}_{metric}{suffix}", make_metric(metric).mode
        return "train_loss", "min"

    def _early_stopping(self, row: dict[str, Any]) -> None:
        """Track the best monitored value (``row["_better"]`` marks a new best checkpoint) and
        stop after ``patience`` epochs without one."""
        key, mode = self._monitor()
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        loop = self.loop
        better = loop.best is None or (value < loop.best if mode == "min" else value > loop.best)
        row["_better"] = better
        if better:
            loop.best, loop.bad_epochs = value, 0
        else:
            loop.bad_epochs += 1
        patience = (self.cfg.get("early_stopping") or {}).get("patience")
        if patience and loop.bad_epochs >= patience:
            loop.stopped = True
            if self.rank == 0:
                self.opt.log(f"early stopping: {key} has not improved for {patience} epoch(s)")

    # -- evaluation -----------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate_streams(self, roles: tuple[str, ...] = ("val",)) -> dict[str, float]:
        """Every metric on every stream whose role is in ``roles``, keyed ``<stream>_<metric>``
        (with ``_<output>`` appended when the model has several outputs)."""
        self.module.eval()
        out: dict[str, float] = {}
        for stream_name, stream in self.streams.items():
            if stream.role in roles:
                out.update(self._evaluate_stream(stream_name, stream))
        self._train_mode()
        return out

    def _evaluate_stream(self, stream_name: str, stream: Stream) -> dict[str, float]:
        """One pass over ``stream`` with its evaluation-time augments only (fixed, not random)."""
        from archspec.training.augment import apply_augment, eval_augments
        from archspec.training.metrics import make_metric

        plan = [(m, p, t) for s, m, p, t in self.metrics if s == stream_name] or _plan_for(self, stream)
        metrics = {(m, p, t): make_metric(m) for m, p, t in plan}
        terms = [t for t in self.objective.terms if not t.is_penalty and t.target in stream.fields]
        if self.cfg.get("solver") == "closed_form":
            terms = []  # the solver fits one-hot targets itself; no loss function ran in training
        sums = dict.fromkeys((t.name for t in terms), 0.0)
        fixed = eval_augments(stream.augment)
        for batch in stream.all_batches():
            if fixed:
                batch = apply_augment(batch, fixed, torch.Generator())
            batch = {k: v.to(self.device) for k, v in batch.items()}
            outputs = self.forward(batch)
            for (m, p, t), metric in metrics.items():
                self._update_metric(metric, stream_name, (m, p, t), outputs[p].float(), batch[t])
            for term in terms:  # one host sync per term and batch: evaluation, not the step loop
                n = next(iter(batch.values())).shape[0]
                sums[term.name] += float(self._term_value(term, outputs, batch)) * n
        out = self._stream_loss(stream_name, terms, {k: v / max(stream.size, 1) for k, v in sums.items()})
        for (m, p, _), metric in metrics.items():
            suffix = "" if len(self.spec.outputs) == 1 else f"_{p}"
            out[f"{stream_name}_{m}{suffix}"] = float(metric.compute())
        return out

    def holds_labels(self, stream: str, target: str) -> bool | None:
        """Whether a stream's field holds class labels (integers); None if there is no such field."""
        fields = self.streams[stream].fields if stream in self.streams else ()
        tensor = self.streams[stream].tensors.get(target) if target in fields else None
        return None if target not in fields else tensor is not None and not tensor.is_floating_point()

    def _term_value(
        self, term: Any, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        from archspec.training.losses import LOSSES

        pred, target = outputs[term.pred].float(), batch[term.target]
        fast = self.objective.fast.get(term.name)
        value = fast(pred, target) if fast is not None else None  # None: not the plain case
        if value is not None:
            return value
        try:
            return LOSSES[term.fn](pred, target, term.options)
        except ValueError as exc:
            raise self.objective._target_error(term, exc) from None

    def _stream_loss(self, stream_name: str, terms: list[Any], means: dict[str, float]) -> dict[str, float]:
        """``<stream>_loss``: the weighted sum as in training (the data terms this stream feeds,
        plus the penalties), and ``<stream>_loss_<term>`` per term when there are several."""
        if not terms:
            return {}
        from archspec.training.losses import penalty

        loop, total_steps = self.loop, self.objective.total_steps
        weighted = {t.name: means[t.name] * t.weight_at(loop.step, loop.epoch, total_steps) for t in terms}
        for term in self.objective.terms:
            if term.is_penalty:
                value = float(penalty(term.fn, self.objective.penalised[term.name]))
                weighted[term.name] = value * term.weight_at(loop.step, loop.epoch, total_steps)
        out = {f"{stream_name}_loss": float(sum(weighted.values()))}
        if len(self.objective.terms) > 1:
            out.update({f"{stream_name}_loss_{t.name}": means[t.name] for t in terms})
            out.update({f"{stream_name}_weighted_{k}": v for k, v in weighted.items()})
        return out

    def _update_metric(
        self, metric: Any, stream: str, plan: tuple[str, str, str], pred: torch.Tensor, target: torch.Tensor
    ) -> None:
        """A metric that cannot read a stream's field is a data error naming both."""
        name, output, field_name = plan
        try:
            metric.update(pred, target)
        except ValueError as exc:
            where = ("training", "metrics") if self.cfg.get("metrics") else ("data", stream)
            loc = self.spec.doc.loc(where)
            raise DataError(
                f"{loc.prefix()}: {loc.yaml_path}: stream {stream!r}, output {output!r} against field {field_name!r}: {exc} "
                "(hint: pick metrics that fit this output in training.metrics, or give the field the shape the output's loss takes)"
            ) from None

    # -- files: see runlog (logs) and resume (checkpoint state) ---------------------------------

    def fingerprint(self) -> str:
        """Identifies the resolved spec (text and overrides) a checkpoint belongs to (computed
        once: the spec does not change during a run)."""
        if self._fingerprint is None:
            self._fingerprint = resolved_fingerprint(self.spec.doc.data)
        return self._fingerprint

    def _bar(self, steps: int, epoch: int) -> Progress | None:
        if not self.opt.progress or self.rank != 0:
            return None
        return Progress(steps, f"epoch {epoch + 1}/{self.epochs}")

    def _start_run_dir(self) -> None:
        self.runlog.start(self.spec.doc.text, self.spec.doc.data)

    def _log_step(self, step: int, values: dict[str, float]) -> None:
        """Record a step's losses in steps.csv (rank 0 only; buffered, see ``RunLog.log_step``)."""
        if self.rank == 0:
            self.runlog.log_step(step, values)

    def _read_history(self) -> list[dict[str, Any]]:
        return self.runlog.read_history(self.loop.epoch)

    def _save(self, root: Path, row: dict[str, Any] | None) -> None:
        """Checkpoint now; ``row`` is the epoch's row at an epoch's end, ``None`` within one.
        Every rank checks its losses and parameters (so all stop together); only rank 0 writes.
        A best kept in memory since an earlier epoch is written first, as a weights checkpoint."""
        self._sync()
        self._check_params(self.loop.step)
        self.loop.seconds = round(self._seconds(), 3)
        self._saved, self._saved_step = time.monotonic(), self.loop.step
        better = row is not None and row.get("_better")
        best, self._best_weights = self._best_weights, None
        if self.rank != 0:
            return
        self._log_row(row)
        if best is not None and not better:
            state = {"spec": self.fingerprint(), "weights_only": True}
            save_checkpoint(root, best[0], best[1], state, pointers=("best",))
        save_checkpoint(
            root,
            self.loop.checkpoint_name(),
            self.model.state_dict(),
            checkpoint_state(self, self.fingerprint()),
            pointers=("latest", "best") if better else ("latest",),
        )

    def _log_row(self, row: dict[str, Any] | None) -> None:
        """steps.csv up to now, and the epoch's row in metrics.csv (rank 0)."""
        if self.rank == 0:
            self.runlog.flush_steps()
            if row is not None:
                self.runlog.append_metrics(row)

    def _restore(self, root: Path) -> None:
        path, weights, state = load_latest(root, self.opt.run_dir, self.fingerprint(), self.spec.doc.data)
        restore_state(self, path, weights, state)
        self._saved, self._saved_step = time.monotonic(), self.loop.step
        self.runlog.truncate(self.loop.step, self.loop.epoch)
        if self.rank == 0:
            self.opt.log(f"resumed from {path.name} (step {self.loop.step}, epoch {self.loop.epoch})")

    def _finish(self, history: list[dict[str, Any]]) -> None:
        if self.rank != 0:
            return
        self.runlog.flush_steps()
        if self.opt.plots:
            self._plot(history)

    def _plot(self, history: list[dict[str, Any]]) -> None:
        """curves.png: at the end of a run, and during one at most every ``PLOT_SECONDS``."""
        from archspec.training.plots import plot_history

        self._plotted = time.monotonic()
        weights = {t.name: t.weight for t in self.objective.terms}
        plot_history(history, self.opt.run_dir / "curves.png", log=self.opt.log, weights=weights)


def _check_metrics(spec: Any, labels: Callable[[str, str], bool | None]) -> None:
    from archspec.lang.metricplan import metric_errors

    errors = metric_errors(spec, labels)
    if errors:
        raise SpecErrors(errors)


def _first_set(*values: Any) -> Any:
    return next(v for v in values if v is not None)


def _plan_for(trainer: Trainer, stream: Stream) -> list[tuple[str, str, str]]:
    """(metric, output, target) for each loss term this stream can feed: the output's metrics
    as :func:`archspec.lang.metricplan.metrics_by_output` decides them from the spec."""
    from archspec.lang.metricplan import fits, metrics_by_output

    by_output = metrics_by_output(trainer.spec, trainer.holds_labels)
    terms = [t for t in trainer.objective.terms if not t.is_penalty and t.target in stream.fields]
    plan = []
    for metric_output, metrics in by_output.items():
        mine = [t for t in terms if t.pred == metric_output]
        for m in metrics:
            # a metric scores the output against the target of a term whose loss it fits (an
            # output trained by cross_entropy on y and mse on z: accuracy on y, mse on z)
            fitting = [t for t in mine if fits(m, t.fn, trainer.holds_labels(stream.name, t.target))]
            plan += [(m, t.pred, t.target) for t in fitting or mine[:1]]
    return list(dict.fromkeys(plan))
