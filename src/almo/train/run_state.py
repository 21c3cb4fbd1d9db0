"""The counters and running averages of one ``fit`` — everything but the model, optimizer and λ.

:class:`RunState` is what a checkpoint needs to put a run back where it was: the step and epoch
counters, the position inside the epoch, the epoch's running sum of loss vectors, the last loss
vector λ saw, and the running average of the parameters. It converts to tensors and plain values
(``state_dict``) and back (``load_state_dict``), so checkpoints never hold pickled objects.

Examples
--------
>>> import torch
>>> run = RunState.start(p=2, epochs=3)
>>> run.record(np.array([1.0, 3.0]))
>>> run.epoch_mean().tolist()
[1.0, 3.0]
>>> again = RunState.start(p=2, epochs=3)
>>> again.load_state_dict(run.state_dict())
>>> again.epoch_n, again.last_losses.tolist()
(1, [1.0, 3.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from almo.train.checkpoint import from_plain, to_plain

__all__ = ["RunState"]


@dataclass
class RunState:
    """Loop counters, the epoch's loss accumulator and the averaged parameters of a run.

    Attributes
    ----------
    step : int
        θ steps taken so far.
    epoch : int
        Completed epochs.
    epochs : int
        Epochs the run is asked for (in total).
    batch_in_epoch : int
        Batches consumed in the current epoch (non-zero only mid-epoch).
    stop_training : bool
        Set by a callback to end the run after the current epoch.
    epoch_sum, epoch_n :
        Sum and number of the loss vectors λ saw this epoch (their mean is the epoch's record).
    last_losses : ndarray (p,)
        The loss vector the last λ step saw.
    avg_params : list of Tensor or None
        Running mean of the parameters θ_0, …, θ_t (None when the trainer keeps no average).
    avg_n : int
        Number of θ steps in that mean (it covers ``avg_n + 1`` iterates).
    avg_power : float
        η of the polynomial-decay average: avg += (θ_t − avg)·(η + 1)/(t + η + 1); 0 is the
        plain mean. Part of the configuration, not of the checkpointed state.
    loss_reference : ndarray (p,)
        Each objective's first observed value (NaN until seen): the reference the divergence
        check compares against (:class:`~almo.train.steps.Divergence`), filled in place.
    """

    p: int
    epochs: int = 0
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    stop_training: bool = False
    epoch_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    epoch_n: int = 0
    last_losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    avg_params: list[torch.Tensor] | None = None
    avg_n: int = 0
    avg_power: float = 0.0
    loss_reference: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def start(cls, p: int, epochs: int) -> RunState:
        """A fresh run of ``epochs`` epochs over p objectives."""
        return cls(
            p,
            int(epochs),
            epoch_sum=np.zeros(p),
            last_losses=np.full(p, np.nan),
            loss_reference=np.full(p, np.nan),
        )

    def record(self, losses: np.ndarray) -> None:
        """Count one loss vector λ saw (for the epoch's mean and ``last_losses``)."""
        self.last_losses = losses
        self.epoch_sum += losses
        self.epoch_n += 1

    def epoch_mean(self) -> np.ndarray:
        """Mean of the loss vectors λ saw this epoch."""
        return self.epoch_sum / max(self.epoch_n, 1)

    def next_epoch(self) -> None:
        """Close the epoch: count it and reset the per-epoch accumulators."""
        self.epoch += 1
        self.batch_in_epoch = 0
        self.epoch_sum, self.epoch_n = np.zeros(self.p), 0

    def average_parameters(self, params: list[torch.Tensor]) -> None:
        """Fold θ_t into the average: avg += (θ_t − avg)·(η + 1)/(t + η + 1), one fused call."""
        if self.avg_params is None:
            return
        self.avg_n += 1
        eta = self.avg_power
        torch._foreach_lerp_(self.avg_params, params, (eta + 1.0) / (self.avg_n + eta + 1.0))

    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "epochs": self.epochs,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "stop_training": self.stop_training,
            "epoch_n": self.epoch_n,
            "avg_n": self.avg_n,
            "arrays": to_plain(
                {
                    "epoch_sum": self.epoch_sum,
                    "last_losses": self.last_losses,
                    "loss_reference": self.loss_reference,
                }
            ),
            "avg_params": self.avg_params,
        }

    def load_state_dict(self, state: dict[str, Any], device: Any = None) -> None:
        """Inverse of :meth:`state_dict` (parameters moved to ``device`` when given)."""
        self.epochs, self.step = int(state["epochs"]), int(state["step"])
        self.epoch, self.batch_in_epoch = int(state["epoch"]), int(state["batch_in_epoch"])
        self.stop_training = bool(state["stop_training"])
        self.epoch_n, self.avg_n = int(state["epoch_n"]), int(state["avg_n"])
        arrays = from_plain(state["arrays"])
        self.epoch_sum, self.last_losses = arrays["epoch_sum"], arrays["last_losses"]
        self.loss_reference = np.array(arrays.get("loss_reference", np.full(self.p, np.nan)))
        avg = state["avg_params"]
        self.avg_params = (
            None if avg is None else [t.to(device) if device is not None else t for t in avg]
        )
