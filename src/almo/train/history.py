"""What a training run leaves behind: per-step λ and ℓ, per-epoch evaluations.

:class:`Evaluation` (an alias of :class:`~almo.report.ObjectiveReport`) is the result of one
full pass over evaluation data: raw and normalized per-objective means, the penalty, the worst
case over Λ and the λ* that attains it. :class:`History` collects the per-step record
(subsampled when p is large) and one :class:`EpochRecord` per epoch, and exports everything as
plain Python (``to_dict``) or JSON (``to_json``). Both round-trip through checkpoints as tensors
only, so a checkpoint never needs pickled objects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from almo.report import ObjectiveReport
from almo.train.gap import GapEstimate

__all__ = ["EpochRecord", "Evaluation", "History"]


#: The result of one evaluation pass: an :class:`~almo.report.ObjectiveReport` (the library's
#: one vocabulary for per-objective values, penalty, worst case and λ*).
Evaluation = ObjectiveReport


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss vector, λ and its average, and the evaluations.

    ``last`` evaluates the last iterate θ_T, ``averaged`` the running average of the parameters
    (the iterate that carries the minimax guarantee on convex problems; the model
    ``trainer.averaged_model()`` returns); both are ``None`` when no evaluation data was given.
    ``train_losses`` is the mean of the loss vectors (ℓ + r) the λ steps saw during the epoch.
    ``gap`` is the duality-gap estimate of (averaged θ, averaged λ) on the evaluation data, when
    the trainer was asked for it (``gap_tol``); see :func:`almo.train.gap.duality_gap`.
    """

    epoch: int
    step: int
    train_losses: np.ndarray
    weights: np.ndarray
    average_weights: np.ndarray
    last: Evaluation | None = None
    averaged: Evaluation | None = None
    seconds: float = 0.0
    gap: GapEstimate | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain Python, ready for JSON."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "train_losses": [float(v) for v in self.train_losses],
            "weights": [float(v) for v in self.weights],
            "average_weights": [float(v) for v in self.average_weights],
            "last": None if self.last is None else self.last.to_dict(),
            "averaged": None if self.averaged is None else self.averaged.to_dict(),
            "seconds": float(self.seconds),
            "gap": None if self.gap is None else self.gap.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EpochRecord:
        """Inverse of :meth:`to_dict`."""

        def ev(x: Any) -> Evaluation | None:
            return None if x is None else Evaluation.from_dict(x)

        return cls(
            int(d["epoch"]),
            int(d["step"]),
            np.asarray(d["train_losses"], np.float64),
            np.asarray(d["weights"], np.float64),
            np.asarray(d["average_weights"], np.float64),
            ev(d["last"]),
            ev(d["averaged"]),
            float(d["seconds"]),
            None if d.get("gap") is None else GapEstimate.from_dict(d["gap"]),
        )


@dataclass
class History:
    """Per-step λ and ℓ (every ``record_every`` steps) and one :class:`EpochRecord` per epoch.

    The per-step record keeps, at each recorded step t, λ after the step and the loss vector
    ℓ_t + r_t the λ step saw (absent objectives held at their last observed value). Recording is
    an append of two references, so its cost is independent of p; with p = 10,000 objectives
    the trainer's default records every p // 100 steps to bound memory.

    Examples
    --------
    >>> import numpy as np
    >>> h = History(names=["a", "b"])
    >>> h.record_step(1, np.array([0.5, 0.5]), np.array([1.0, 2.0]))
    >>> h.step_weights.shape, h.step_losses[0].tolist()
    ((1, 2), [1.0, 2.0])
    >>> History.from_dict(h.to_dict()).steps
    [1]
    """

    names: list[str]
    record_every: int = 1
    steps: list[int] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)
    losses: list[np.ndarray] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)

    def record_step(self, step: int, weights: np.ndarray, losses: np.ndarray) -> None:
        """Append step ``step`` (no copy: callers pass arrays they no longer mutate)."""
        self.steps.append(step)
        self.weights.append(weights)
        self.losses.append(losses)

    @property
    def step_weights(self) -> np.ndarray:
        """λ at the recorded steps, shape (n_recorded, p)."""
        return _stack(self.weights, len(self.names))

    @property
    def step_losses(self) -> np.ndarray:
        """The loss vectors the λ steps saw, shape (n_recorded, p)."""
        return _stack(self.losses, len(self.names))

    @property
    def gap(self) -> list[float]:
        """Per-epoch relative duality-gap estimate (NaN where none was computed)."""
        return [float("nan") if e.gap is None else e.gap.relative for e in self.epochs]

    @property
    def worst_case(self) -> list[float]:
        """Per-epoch worst case of the averaged iterate (of the last one when the trainer keeps
        no average; NaN where nothing was evaluated)."""
        out = []
        for e in self.epochs:
            ev = e.averaged if e.averaged is not None else e.last
            out.append(float("nan") if ev is None else ev.worst_case)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain Python (lists, floats, strings)."""
        return {
            "names": list(self.names),
            "record_every": self.record_every,
            "steps": list(self.steps),
            "weights": self.step_weights.tolist(),
            "losses": self.step_losses.tolist(),
            "epochs": [e.to_dict() for e in self.epochs],
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """The :meth:`to_dict` content as JSON text; written to ``path`` when given."""
        text = json.dumps(self.to_dict())
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        p = len(d["names"])
        w = np.asarray(d["weights"], np.float64).reshape(-1, p)
        ell = np.asarray(d["losses"], np.float64).reshape(-1, p)
        return cls(
            list(d["names"]),
            int(d["record_every"]),
            [int(s) for s in d["steps"]],
            list(w),
            list(ell),
            [EpochRecord.from_dict(e) for e in d["epochs"]],
        )

    # Checkpoints hold tensors and plain values only: the per-step arrays become two float64
    # tensors, the epoch records a JSON string.
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values for a checkpoint (loadable with ``weights_only=True``)."""
        return {
            "names": list(self.names),
            "record_every": self.record_every,
            "steps": torch.as_tensor(self.steps, dtype=torch.int64),
            "weights": torch.from_numpy(self.step_weights),
            "losses": torch.from_numpy(self.step_losses),
            "epochs": json.dumps([e.to_dict() for e in self.epochs]),
        }

    @classmethod
    def from_state_dict(cls, s: dict[str, Any]) -> History:
        """Inverse of :meth:`state_dict`."""
        return cls(
            list(s["names"]),
            int(s["record_every"]),
            s["steps"].tolist(),
            list(s["weights"].numpy().copy()),
            list(s["losses"].numpy().copy()),
            [EpochRecord.from_dict(e) for e in json.loads(s["epochs"])],
        )


def _stack(rows: list[np.ndarray], p: int) -> np.ndarray:
    return np.stack(rows).astype(np.float64, copy=False) if rows else np.zeros((0, p))
