"""The game's updates, one batch at a time: three small step functions chosen by ``method``.

A :class:`Game` holds what every step needs (the model, its optimizer, the objective family, the
penalty, the λ rule). :meth:`Game.forward` runs the model once and reads the loss vector from
the family's :class:`~almo.ObjectiveBatch`; :meth:`Game.theta_step` moves θ on ⟨λ, ℓ + r⟩; the
λ rule (pure, from :mod:`almo.weights`) moves λ on the detached ℓ + r. Each step function
takes the λ state and a batch and returns the new λ state.

Methods
-------
``sgda``: θ on ⟨λ_t, ℓ_t + r_t⟩, then λ on ℓ_t + r_t (both respond to (θ_t, λ_t)).
``simultaneous``: λ_{t+1} from ℓ_t first, then θ on ⟨λ_{t+1}, ℓ_t + r_t⟩ (Group DRO's order).
``mirror_prox``: look-ahead (θ½, λ½) from (θ_t, λ_t); the gradients at (θ½, λ½) on the same
batch then update (θ_t, λ_t). The optimizer's state is snapshotted before the look-ahead and
restored after it, so Adam's moments or momentum buffers see only the final step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from almo._validation import check_finite_losses, fail
from almo.exceptions import DivergenceError
from almo.objective_batch import ObjectiveBatch
from almo.objectives import ObjectiveFamily
from almo.train.distributed import DistributedContext
from almo.train.game import OptimizerSnapshot, call_model, move_to, unpack_batch
from almo.weights import WeightRule, WeightState

__all__ = ["STEPS", "Divergence", "Game", "Terms", "mirror_prox", "sgda", "simultaneous"]


class Terms(NamedTuple):
    """One forward pass: the objective batch, the penalty, and the vector λ sees."""

    batch: ObjectiveBatch  # sums (with grad), counts, scales; totals over every rank
    penalty: torch.Tensor | None  # r(θ) (p,), with grad, or None
    vector: np.ndarray  # ℓ + r, float64 (p,), absent objectives at 0 (the λ rule holds them)


@dataclass
class Game:
    """The pieces of one training step (built by the trainer at the start of ``fit``)."""

    net: torch.nn.Module  # the model, or its DistributedDataParallel wrapper
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    family: ObjectiveFamily
    penalty: Callable[[torch.nn.Module], torch.Tensor] | None
    rule: WeightRule
    ctx: DistributedContext
    device: torch.device
    params: list[torch.Tensor] = field(default_factory=list)
    checked: bool = False
    divergence: Divergence | None = None

    def forward(self, batch: Any, step: int, epoch: int) -> Terms:
        """Run the model on ``batch`` and read ℓ (+ r); NaN/inf stops with the step named."""
        x, y, group = unpack_batch(batch)
        if _rows(x, y) == 0:  # refused before the model runs: an empty batch is not a step
            raise fail(
                "train_loader",
                "yield batches holding at least one sample",
                f"an empty batch (0 rows) at step {step + 1} (epoch {epoch + 1})",
                "drop empty batches from the loader (check the sampler and batch_size)",
            )
        x, y, group = move_to(x, self.device), move_to(y, self.device), move_to(group, self.device)
        outputs = call_model(self.net, x)
        if not self.checked:
            obatch = self._checked_batch(outputs, y, group)
        else:
            obatch = self.family.batch(outputs, y, group)
        obatch = obatch.all_reduce(self.ctx)
        r = None
        vector = obatch.means()
        if self.penalty is not None:
            r = self.penalty(self.model)
            if not self.checked:
                _check_penalty(r, obatch.p)
            vector = vector + r.detach().to("cpu", torch.float64).numpy()
        self.checked = True
        if not np.isfinite(vector).all():
            check_finite_losses(
                vector, self.family.names, where=f"step {step + 1} (epoch {epoch + 1})"
            )
        if self.divergence is not None:
            self.divergence.check(vector, obatch.present, self.family.names, step, epoch)
        return Terms(obatch, r, vector)

    def theta_step(self, terms: Terms, weights: np.ndarray, step: bool = True) -> None:
        """Gradient of ⟨λ, ℓ + r⟩ on this process; the optimizer steps unless ``step=False``."""
        loss = terms.batch.theta_loss(weights)
        if terms.penalty is not None:
            pen = terms.penalty
            loss = loss + torch.dot(torch.from_numpy(weights).to(pen), pen)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step:
            self.optimizer.step()

    def _checked_batch(self, outputs: torch.Tensor, y: Any, group: Any) -> ObjectiveBatch:
        # The first step of a run: a model/family mismatch fails before any parameter moves.
        try:
            return self.family.batch(outputs, y, group)
        except (RuntimeError, IndexError, TypeError, ValueError) as err:
            shape = tuple(outputs.shape) if hasattr(outputs, "shape") else type(outputs)
            yshape = tuple(y.shape) if hasattr(y, "shape") else type(y)
            raise fail(
                "model",
                "return outputs the objective family accepts",
                f"outputs of shape {shape} with targets of shape {yshape}",
                f"match the model's output layer to the family's losses ({err})",
            ) from err


@dataclass
class Divergence:
    """Stop a run whose finite losses grow by orders of magnitude.

    Each objective's reference is the first value a step sees for it (ℓ_k + r_k, learned in
    place in ``reference``, an array the run state owns), floored at
    ``floor`` times the largest reference so that an objective starting near zero is not
    flagged for ordinary growth. A step whose value exceeds ``factor`` times its reference
    raises :class:`~almo.exceptions.DivergenceError` before θ or λ move on it. A resumed run
    compares against the same references (they are checkpointed with the run state).

    Examples
    --------
    >>> d = Divergence(factor=100.0)
    >>> present = np.array([True, True])
    >>> d.check(np.array([1.0, 2.0]), present, ["a", "b"], 0, 0)  # the reference
    >>> d.check(np.array([50.0, 2.0]), present, ["a", "b"], 1, 0)  # 50-fold: allowed
    >>> try:
    ...     d.check(np.array([1e3, 2.0]), present, ["a", "b"], 2, 0)
    ... except DivergenceError as err:
    ...     print(str(err).split(";")[0])
    `losses` grew more than 100-fold by step 3 (epoch 1)
    """

    factor: float
    reference: np.ndarray | None = None
    floor: float = 1e-3
    limit: np.ndarray | None = None

    def check(
        self, vector: np.ndarray, present: np.ndarray, names: list[str], step: int, epoch: int
    ) -> None:
        """Raise DivergenceError when an objective passes its limit; learn unseen references."""
        if self.reference is None:
            self.reference = np.full(vector.shape, np.nan)
        if self.limit is None or np.isnan(self.reference).any():
            self._learn(vector, present)
        if (vector > self.limit).any():
            self._raise(vector, names, step, epoch)

    def _learn(self, vector: np.ndarray, present: np.ndarray) -> None:
        assert self.reference is not None
        new = np.isnan(self.reference) & np.asarray(present, bool)
        self.reference[new] = np.abs(vector[new])  # in place: the run state holds this array
        self.limit = self.limits(self.reference)

    def limits(self, reference: np.ndarray) -> np.ndarray:
        """``factor`` × max(reference_k, floor × max reference); inf where none is known."""
        known = reference[~np.isnan(reference)]
        top = float(known.max()) if known.size else 0.0
        base = np.fmax(reference, self.floor * top)
        base = np.where(base > 0, base, np.finfo(np.float64).tiny)
        return np.where(np.isnan(reference), np.inf, self.factor * base)

    def _raise(self, vector: np.ndarray, names: list[str], step: int, epoch: int) -> None:
        assert self.limit is not None and self.reference is not None
        bad = np.flatnonzero(vector > self.limit)
        worst = int(bad[np.argmax(vector[bad] / self.limit[bad])])
        listed = ", ".join(
            f"{names[k]} = {vector[k]:.3g} (first step {self.reference[k]:.3g})" for k in bad[:4]
        )
        raise DivergenceError(
            f"`losses` grew more than {self.factor:g}-fold by step {step + 1} (epoch "
            f"{epoch + 1}); found {listed}{', ...' if bad.size > 4 else ''}. The run is "
            f"diverging on {names[worst]}. Fix: lower the learning rate (e.g. 10 times), "
            "normalize the objectives, and resume from the last checkpoint; or pass "
            "divergence_factor=None to train on"
        )


def _rows(x: Any, y: Any) -> int | None:
    """The batch's number of samples, read from the targets (or the inputs); None if unknown."""
    for v in (y, x):
        if isinstance(v, torch.Tensor) and v.ndim >= 1:
            return int(v.shape[0])
    return None


def _check_penalty(r: Any, p: int) -> None:
    if not isinstance(r, torch.Tensor) or tuple(r.shape) != (p,):
        found = tuple(r.shape) if isinstance(r, torch.Tensor) else type(r).__name__
        raise fail(
            "penalty",
            f"return a tensor of shape ({p},), one term per objective",
            found,
            "return r_k for every objective, e.g. beta * mu * complexity",
        )


def sgda(game: Game, state: WeightState, batch: Any, step: int, epoch: int) -> WeightState:
    """θ on ⟨λ_t, ℓ_t + r_t⟩, then λ on ℓ_t + r_t."""
    terms = game.forward(batch, step, epoch)
    game.theta_step(terms, state.weights)
    return game.rule.update(state, terms.vector, present=terms.batch.present)


def simultaneous(game: Game, state: WeightState, batch: Any, step: int, epoch: int) -> WeightState:
    """λ_{t+1} from ℓ_t + r_t first, then θ on ⟨λ_{t+1}, ℓ_t + r_t⟩."""
    terms = game.forward(batch, step, epoch)
    state = game.rule.update(state, terms.vector, present=terms.batch.present)
    game.theta_step(terms, state.weights)
    return state


def mirror_prox(game: Game, state: WeightState, batch: Any, step: int, epoch: int) -> WeightState:
    """Extragradient: look ahead to (θ½, λ½), then step (θ_t, λ_t) with the gradients there."""
    terms = game.forward(batch, step, epoch)
    saved = [q.detach().clone() for q in game.params]
    snapshot = OptimizerSnapshot.take(game.optimizer)
    game.theta_step(terms, state.weights)  # θ½
    # λ½: the rule's step from the same state (pure: the look-ahead state is dropped).
    lam_half = game.rule.update(state, terms.vector, present=terms.batch.present).weights
    try:
        half = game.forward(batch, step, epoch)
        game.theta_step(half, lam_half, step=False)  # gradients at (θ½, λ½)
    finally:  # back to θ_t and its optimizer state, also when the look-ahead fails (NaN)
        with torch.no_grad():
            torch._foreach_copy_(game.params, saved)
        snapshot.restore(game.optimizer)
    game.optimizer.step()
    return game.rule.update(state, half.vector, present=half.batch.present)


StepFunction = Callable[[Game, WeightState, Any, int, int], WeightState]
STEPS: dict[str, StepFunction] = {
    "sgda": sgda,
    "simultaneous": simultaneous,
    "mirror_prox": mirror_prox,
}
