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
from archspec.errors import DataError, SpecError, TrainingError
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


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what to train: that is the spec's ``training:``). Read, never changed:
    derive another with ``dataclasses.replace``."""

    run_dir: Path | None  # None (start_run only): runs/<spec name>, or runs/<name>-2, ... if taken
    device: str = "auto"
    resume: bool = False
    progress: bool = True
    checkpoint_every: int | None = None  # steps; None: at the end of every epoch
    max_steps: int | None = None
    detect_anomaly: bool = False
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
        self.streams = build_streams(self.spec, rank=self.rank, world=self.world)
        self.objective = bind_objective(self.spec, {k: set(s.tensors) for k, s in self.streams.items()})
        self._check_inputs()
        self.model = compile_model(graph).to(self.device)
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
        from archspec.training.transfer import init_from

        init_from(self.model, self.spec, self.cfg.get("init_from") or {}, base=Path(self.spec.file).parent)
        frozen = self.cfg.get("freeze") or []
        if frozen:
            from archspec.training.optim import param_matches

            for name, p in self.model.named_parameters():
                if any(param_matches(name, pat, self.spec.parts) for pat in frozen):
                    p.requires_grad_(False)

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
            torch.autograd.set_detect_anomaly(True)
            self._watch_non_finite()
        primary = self.streams[self.primary]
        while self.loop.epoch < self.epochs and not self.loop.stopped and not self._out_of_steps():
            epoch = self.loop.epoch
            sums = self._train_epoch(epoch, primary, ckpt_root)
            if self._out_of_steps() and self.loop.epoch_step < primary.steps_per_epoch():
                break  # stopped mid-epoch by max_steps: no epoch row for a partial epoch
            row = self._end_epoch(epoch, sums, self._seconds())
            history.append(row)
            self._save(ckpt_root, row)
            if self.opt.on_epoch is not None:
                self.opt.on_epoch(row)
        self._finish(history)
        return self._result(history)

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
        return RunResult(self.opt.run_dir, 0, 1, metrics, [row])

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
        self.module.train()
        loop = self.loop
        steps = primary.steps_per_epoch()
        bar = self._bar(steps, epoch)
        for step, batch in primary.batches(epoch, loop.epoch_step):
            values = self._train_step({self.primary: batch})
            loop.add_step(values)
            loop.epoch_step = step + 1
            if bar is not None:
                bar.update(1, values)
            self._checkpoint_within_epoch(ckpt_root, steps)
            if self._out_of_steps():
                break
        if bar is not None:
            bar.close()
        means = loop.epoch_means()
        if loop.epoch_step >= steps:
            loop.clear_sums()
        return means

    def _checkpoint_within_epoch(self, ckpt_root: Path, steps: int) -> None:
        """``checkpoint_every`` steps; the epoch's last step is saved by ``_end_epoch``'s row."""
        every = self.opt.checkpoint_every
        if every and self.loop.step % every == 0 and self.loop.epoch_step < steps:
            self._save(ckpt_root, None)

    def _next_batches(
        self, batches: dict[str, dict[str, torch.Tensor]]
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Add a batch from every other training stream the loss reads (cycling as needed)."""
        for name in self.objective.streams:
            if name in batches:
                continue
            stream = self.streams[name]
            ep, st = self.loop.positions.get(name, (0, 0))
            if st >= stream.steps_per_epoch():
                ep, st = ep + 1, 0
            _, batch = next(stream.batches(ep, st))
            self.loop.positions[name] = (ep, st + 1)
            batches[name] = batch
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
        out = self.module(*[batch[name] for name in self.spec.inputs])
        return out if isinstance(out, dict) else {next(iter(self.spec.outputs)): out}

    # -- one step -------------------------------------------------------------------------------

    def _train_step(self, batches: dict[str, dict[str, torch.Tensor]]) -> dict[str, float]:
        """Forward and backward one micro-batch; every ``accumulate`` of them, one update."""
        prepared = {k: self._prepare(k, v) for k, v in self._next_batches(batches).items()}
        step = self.loop.step
        total, terms = self._loss(
            {k: v[0] for k, v in prepared.items()}, step, {k: v[1] for k, v in prepared.items()}
        )
        loss = total / self.accumulate if self.accumulate > 1 else total  # no extra node at 1
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        self.loop.micro += 1
        if self.loop.micro % self.accumulate == 0:
            self._apply_gradients(step)
        values = {"loss": float(total.detach())}
        values.update({f"loss_{k}": float(v.detach()) for k, v in terms.items()})
        self._log_step(step, values)
        return values

    def _loss(
        self,
        batches: dict[str, dict[str, torch.Tensor]],
        step: int,
        targets: dict[str, dict[str, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The combined loss and its terms, under autocast when mixed precision is on."""
        use_amp, dtype = self.amp
        with torch.autocast(self.device.type, dtype=dtype) if use_amp else contextlib.nullcontext():
            outputs = {name: self.forward(batch) for name, batch in batches.items()}
            try:
                return self.objective.compute(self.model, outputs, targets or batches, step, self.loop.epoch)
            except TrainingError:
                self._check_params(step)  # blame a parameter the last update broke, if any
                raise

    def _apply_gradients(self, step: int) -> None:
        clip = self.cfg.get("grad_clip")
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
        if self.schedule is not None and not isinstance(
            self.schedule, torch.optim.lr_scheduler.ReduceLROnPlateau
        ):
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
            stream, metric, _, _ = self.metrics[0]
            from archspec.training.metrics import make_metric

            return f"{stream}_{metric}", make_metric(metric).mode
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
        self.module.train()
        return out

    def _evaluate_stream(self, stream_name: str, stream: Stream) -> dict[str, float]:
        """One pass over ``stream`` with its evaluation-time augments only (fixed, not random)."""
        from archspec.training.augment import apply_augment, eval_augments
        from archspec.training.metrics import make_metric

        plan = [(m, p, t) for s, m, p, t in self.metrics if s == stream_name] or _plan_for(self, stream)
        metrics = {(m, p, t): make_metric(m) for m, p, t in plan}
        fixed = eval_augments(stream.augment)
        for batch in stream.all_batches():
            if fixed:
                batch = apply_augment(batch, fixed, torch.Generator())
            batch = {k: v.to(self.device) for k, v in batch.items()}
            outputs = self.forward(batch)
            for (m, p, t), metric in metrics.items():
                self._update_metric(metric, stream_name, (m, p, t), outputs[p].float(), batch[t])
        out: dict[str, float] = {}
        for (m, p, _), metric in metrics.items():
            suffix = "" if len(self.spec.outputs) == 1 else f"_{p}"
            out[f"{stream_name}_{m}{suffix}"] = float(metric.compute())
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
        """Identifies the resolved spec (text and overrides) a checkpoint belongs to."""
        return resolved_fingerprint(self.spec.doc.data)

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
        Every rank checks its parameters (so all stop together); only rank 0 writes."""
        self._check_params(self.loop.step)
        self.loop.seconds = round(self._seconds(), 3)
        if self.rank != 0:
            return
        self.runlog.flush_steps()
        if row is not None:
            self.runlog.append_metrics(row)
        pointers = ("latest", "best") if row is not None and row.get("_better") else ("latest",)
        save_checkpoint(
            root,
            self.loop.checkpoint_name(),
            self.model.state_dict(),
            checkpoint_state(self, self.fingerprint()),
            pointers=pointers,
        )

    def _restore(self, root: Path) -> None:
        path, weights, state = load_latest(root, self.opt.run_dir, self.fingerprint())
        restore_state(self, path, weights, state)
        self.runlog.truncate(self.loop.step, self.loop.epoch)
        if self.rank == 0:
            self.opt.log(f"resumed from {path.name} (step {self.loop.step}, epoch {self.loop.epoch})")

    def _finish(self, history: list[dict[str, Any]]) -> None:
        if self.rank != 0:
            return
        self.runlog.flush_steps()
        from archspec.training.plots import plot_history

        plot_history(history, self.opt.run_dir / "curves.png", log=self.opt.log)


_CLASS_METRICS = ("accuracy", "top", "iou", "dice")


def _plan_for(trainer: Trainer, stream: Stream) -> list[tuple[str, str, str]]:
    """Metrics per loss term: ``training.metrics`` as a mapping {output: [...]} picks them per
    output; as a list, each metric goes to the terms whose targets it fits (class metrics to
    integer targets, mse/mae to float ones); without it, each loss's default metrics."""
    from archspec.training.metrics import default_metrics

    chosen = trainer.cfg.get("metrics")
    plan = []
    for term in trainer.objective.terms:
        if term.is_penalty or term.target not in stream.tensors:
            continue
        if isinstance(chosen, dict):
            names = chosen.get(term.pred, default_metrics(term.fn))
        elif chosen:
            classes = not stream.tensors[term.target].is_floating_point()
            names = [m for m in chosen if m.startswith(_CLASS_METRICS) == classes]
        else:
            names = default_metrics(term.fn)
        plan += [(m, term.pred, term.target) for m in names]
    return plan
