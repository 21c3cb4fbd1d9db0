"""The game's updates, one batch at a time: SGDA, simultaneous and mirror-prox steps.

These are methods of :class:`~almo.train.MinimaxTrainer` (mixed in from here to keep the update
rules apart from the loop). Every step reads the batch's loss vector through
:func:`~almo.train.game.batch_terms` (one forward pass, one small host copy), moves θ with the
optimizer on ⟨λ, ℓ + r⟩ and feeds the detached ℓ + r to the pure weight rule.

Methods
-------
``"sgda"``: θ on ⟨λ_t, ℓ_t + r_t⟩, then λ on ℓ_t + r_t (both respond to (θ_t, λ_t)).
``"simultaneous"``: λ_{t+1} from ℓ_t first, then θ on ⟨λ_{t+1}, ℓ_t + r_t⟩ (Group DRO's order).
``"mirror_prox"``: look-ahead (θ½, λ½) from (θ_t, λ_t); the gradients at (θ½, λ½) on the same
batch then update (θ_t, λ_t). The optimizer's state is snapshotted before the look-ahead and
restored after it, so Adam's moments or momentum buffers see only the final step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from almo._validation import check_finite_losses
from almo.train.game import (
    BatchTerms,
    OptimizerSnapshot,
    batch_terms,
    call_model,
    hold_absent,
    move_to,
    theta_loss,
    unpack_batch,
)

__all__ = ["GameSteps"]


class GameSteps:
    """Mixin of :class:`~almo.train.MinimaxTrainer`: one training step per batch."""

    # Set by the trainer (declared for readers and type checkers).
    family: Any
    penalty: Any
    method: str
    lambda_every: int
    history_every: int
    names: list[str]

    def _forward(self, batch: Any) -> BatchTerms:
        x, y, group = unpack_batch(batch)
        x, y, group = move_to(x, self.device), move_to(y, self.device), move_to(group, self.device)
        outputs = call_model(self._net, x)
        if getattr(self.family, "needs_calibration", False):
            # normalize="initial": objectives seen for the first time set their scale now.
            with torch.no_grad():
                self.family(outputs.detach(), y, group)
            self._scale_cache()
        terms = batch_terms(self.family, outputs, y, group, self.penalty, self.model, self._ctx,
                            self._scale_np, check=not self._checked)
        self._checked = True
        vec = terms.means if terms.penalty_host is None else terms.means + terms.penalty_host
        if not np.isfinite(vec).all():
            check_finite_losses(vec, self.names,
                                where=f"step {self.step + 1} (epoch {self.epoch + 1})")
        return terms

    def _lambda_view(self, terms: BatchTerms) -> np.ndarray:
        held = hold_absent(terms.means, terms.present, self._last_seen)
        return held if terms.penalty_host is None else held + terms.penalty_host

    def _theta_step(self, terms: BatchTerms, lam: np.ndarray, step: bool = True) -> None:
        loss = theta_loss(terms, lam, self._scale_np, self._ctx.world_size)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if step:
            self.optimizer.step()

    def _lambda_due(self) -> bool:
        return self._acc_n + 1 >= self.lambda_every

    def _observe(self, vec: np.ndarray) -> None:
        """Feed one loss vector to λ: accumulate, and step when ``lambda_every`` are in."""
        self.last_losses = vec
        self._epoch_sum += vec
        self._epoch_n += 1
        if self.lambda_every == 1:
            self.state = self.weight_rule.update(self.state, vec)
        else:
            self._acc += vec
            self._acc_n += 1
            if self._acc_n < self.lambda_every:
                return
            self.state = self.weight_rule.update(self.state, self._acc / self._acc_n)
            self._acc, self._acc_n = np.zeros(self.p), 0

    def _train_step(self, batch: Any) -> None:
        terms = self._forward(batch)
        if self.method == "sgda":
            vec = self._lambda_view(terms)
            self._theta_step(terms, self.state.weights)
            self._observe(vec)
        elif self.method == "simultaneous":
            vec = self._lambda_view(terms)
            self._observe(vec)
            self._theta_step(terms, self.state.weights)
        else:
            vec = self._mirror_prox(batch, terms)
        self.step += 1
        if self._avg_params is not None:
            self._avg_n += 1
            # Running mean of θ_0..θ_t in one fused call: avg += (θ_t - avg) / (t + 1).
            torch._foreach_lerp_(self._avg_params, self._param_views, 1.0 / (self._avg_n + 1))
        if self.step % self.history_every == 0:
            self.history.record_step(self.step, self.state.weights, vec)

    def _mirror_prox(self, batch: Any, terms: BatchTerms) -> np.ndarray:
        saved = [q.detach().clone() for q in self._params]
        snapshot = OptimizerSnapshot.take(self.optimizer)
        vec = self._lambda_view(terms)
        self._theta_step(terms, self.state.weights)  # θ½
        lam_half = self.state.weights
        if self._lambda_due():  # λ½: the rule's step from the same state (pure: nothing kept)
            mean = (self._acc + vec) / (self._acc_n + 1)
            lam_half = self.weight_rule.update(self.state, mean).weights
        try:
            half = self._forward(batch)
            vec_half = self._lambda_view(half)
            self._theta_step(half, lam_half, step=False)  # grads at θ½, λ½
        finally:  # back to θ_t and its optimizer state, also when the look-ahead fails (NaN)
            with torch.no_grad():
                torch._foreach_copy_(self._params, saved)
            snapshot.restore(self.optimizer)
        self.optimizer.step()
        self._observe(vec_half)
        return vec_half
