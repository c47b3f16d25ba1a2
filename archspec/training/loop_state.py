"""Where the training loop is: its counters, the other streams' positions, early stopping's
record and the running sums of the epoch in progress.

One typed object that the loop advances and a checkpoint saves with :meth:`LoopState.state_dict`
and puts back with :meth:`LoopState.load_state_dict`. The weights, optimiser, schedule and RNG
states are saved beside it (see ``resume``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoopState"]

# Saved under "counters" in a checkpoint (the format predates this class and is kept).
_COUNTERS = ("step", "epoch", "epoch_step", "bad_epochs", "stopped", "micro", "seconds")


@dataclass
class LoopState:
    step: int = 0  # optimiser updates so far
    epoch: int = 0  # epochs finished
    epoch_step: int = 0  # batches of the primary stream read in the epoch in progress
    micro: int = 0  # forward-backward passes so far (an update every ``accumulate`` of them)
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)  # other streams: (epoch, step)
    best: float | None = None  # the best monitored value so far (early stopping, ``best``)
    bad_epochs: int = 0  # epochs since ``best`` last improved
    stopped: bool = False  # early stopping has ended the run
    seconds: float = 0.0  # training time up to the last checkpoint, over every resume
    epoch_sums: dict[str, float] = field(default_factory=dict)  # the epoch's summed step losses
    epoch_count: int = 0  # steps in ``epoch_sums``

    def checkpoint_name(self) -> str:
        """Names sort in training order, also for checkpoints taken within an epoch."""
        return f"step-{self.step:08d}-{self.epoch_step:06d}"

    def add_step(self, values: dict[str, float]) -> None:
        """Add one step's losses to the epoch's running sums."""
        for k, v in values.items():
            self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v
        self.epoch_count += 1

    def epoch_means(self) -> dict[str, float]:
        return {k: v / max(self.epoch_count, 1) for k, v in self.epoch_sums.items()}

    def clear_sums(self) -> None:
        self.epoch_sums, self.epoch_count = {}, 0

    def state_dict(self) -> dict[str, Any]:
        """Plain values only (lists, not tuples), as ``torch.load(weights_only=True)`` reads
        them. The keys are those of checkpoints written before this class existed."""
        sums = {**self.epoch_sums, "_count": float(self.epoch_count)} if self.epoch_count else {}
        return {
            "counters": {k: getattr(self, k) for k in _COUNTERS},
            "best": self.best,
            "positions": {k: list(v) for k, v in self.positions.items()},
            "epoch_sums": sums,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The inverse of :meth:`state_dict`; a counter an older checkpoint lacks keeps its value."""
        for key, value in state["counters"].items():
            if key in _COUNTERS:
                setattr(self, key, value)
        self.best = state["best"]
        self.positions = {k: (int(v[0]), int(v[1])) for k, v in state["positions"].items()}
        sums = dict(state.get("epoch_sums") or {})
        self.epoch_count = int(sums.pop("_count", 0))
        self.epoch_sums = sums
