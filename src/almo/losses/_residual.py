"""Residual losses: squared (classification and regression), absolute, huber, pinball.

With r = s − t: ``squared`` = ``r²`` (regression), ``(s − y±)²`` for a binary score (the margin
form, y± = 2y − 1) and ``‖s − e_y‖²`` for multiclass scores (summed over the classes);
``absolute`` = ``|r|``; huber ``r²/2`` if ``|r| ≤ δ`` else ``δ(|r| − δ/2)``; pinball
``max(τ(t − s), (τ − 1)(t − s))``. Conjugates: squared ``f* = u t + u²/4`` (multiclass
``u_y + ‖u‖²/4``) on all of R^C; absolute ``|u| ≤ 1``, ``f* = u t``; huber ``|u| ≤ δ``,
``f* = u t + u²/2``; pinball ``u ∈ [−τ, 1 − τ]``, ``f* = u t``.

Examples
--------
>>> import torch
>>> from almo.losses import make_loss
>>> make_loss("pinball", tau=0.9)(torch.tensor([0.0, 0.0]), torch.tensor([1.0, -1.0]))
tensor([0.9000, 0.1000])
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from almo.losses._batch import is_labels
from almo.losses._forms import IntervalDomain, ScoreLoss
from almo.losses._loss import LossKind, Param, register

# --- squared -----------------------------------------------------------------------------------


def squared(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``(ŷ − y)²``; ``(s − y±)²`` for binary scores; ``‖s − e_y‖²`` for multiclass scores."""
    if not is_labels(targets):
        return (outputs - targets).square()
    if outputs.ndim == 1:  # margin form against y± in {-1, +1}
        return (outputs - (2.0 * targets - 1.0).to(outputs.dtype)).square()
    one_hot = F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
    return (outputs - one_hot).square().sum(dim=1)


def squared_local(radius: float) -> float:
    """μ on bounded scores: classification 2‖s − e_y‖ ≤ 2(R + 1); regression 2|ŷ − y| ≤ 4R.

    Examples
    --------
    >>> squared_local(3.0)
    12.0
    """
    return 2.0 * (radius + max(1.0, radius))


class MultiSquared(ScoreLoss):
    """``‖s − e_y‖²`` over the class scores."""

    name = "squared"

    def value(self, S, t):
        return ((S - t.onehot) ** 2).sum(axis=1)

    def grad(self, S, t):
        return 2.0 * (S - t.onehot)

    def hess(self, S, t):
        return np.full_like(S, 2.0), None

    def conj(self, U, t):
        return U[np.arange(U.shape[0]), t.labels] + (U**2).sum(axis=1) / 4.0

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum_squares(S - t.onehot)


class ScalarSquared(ScoreLoss):
    """(s − t)², t the regression target or y± for binary models (the margin form)."""

    name = "squared"

    def value(self, S, t):
        return (S[:, 0] - t.value) ** 2

    def grad(self, S, t):
        return 2.0 * (S - t.value[:, None])

    def hess(self, S, t):
        return np.full_like(S, 2.0), None

    def conj(self, U, t):
        return U[:, 0] * t.value + U[:, 0] ** 2 / 4.0

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum_squares(S[:, 0] - t.value)


register(
    LossKind(
        "squared",
        squared,
        "both",
        local_lipschitz=squared_local,
        forms={"multiclass": MultiSquared, "binary": ScalarSquared, "regression": ScalarSquared},
    )
)

# --- absolute ----------------------------------------------------------------------------------


def absolute(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``|ŷ − y|``."""
    return (outputs - targets).abs()


class Absolute(IntervalDomain):
    """``|s − t|``."""

    name = "absolute"
    smooth = False

    def value(self, S, t):
        return np.abs(S[:, 0] - t.value)

    def grad(self, S, t):
        return np.sign(S - t.value[:, None])

    def bounds(self, t):
        return np.full_like(t.value, -1.0), np.full_like(t.value, 1.0)

    def conj(self, U, t):
        return U[:, 0] * t.value

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.norm1(S[:, 0] - t.value)

    def pieces(self, t):
        ones = np.ones_like(t.value)
        G = np.stack([ones, -ones], axis=1)[:, :, None]
        return G, np.stack([-t.value, t.value], axis=1)


register(
    LossKind("absolute", absolute, "regression", lipschitz=1.0, forms={"regression": Absolute})
)

# --- huber -------------------------------------------------------------------------------------


def huber(outputs: torch.Tensor, targets: torch.Tensor, *, delta: float) -> torch.Tensor:
    """``r²/2`` for ``|r| ≤ δ``, ``δ(|r| − δ/2)`` beyond (torch's ``huber_loss``)."""
    r = outputs - targets
    a = r.abs()
    return torch.where(a <= delta, 0.5 * r.square(), delta * (a - 0.5 * delta))


class Huber(IntervalDomain):
    """Huber loss of the residual with threshold δ."""

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = float(delta)

    def value(self, S, t):
        r = np.abs(S[:, 0] - t.value)
        return np.where(r <= self.delta, 0.5 * r**2, self.delta * (r - 0.5 * self.delta))

    def grad(self, S, t):
        return np.clip(S - t.value[:, None], -self.delta, self.delta)

    def hess(self, S, t):
        return (np.abs(S - t.value[:, None]) <= self.delta).astype(float), None

    def bounds(self, t):
        return np.full_like(t.value, -self.delta), np.full_like(t.value, self.delta)

    def conj(self, U, t):
        return U[:, 0] * t.value + U[:, 0] ** 2 / 2.0

    def cvxpy(self, S, t):
        import cvxpy as cp

        # cvxpy's huber is x² inside and 2M|x| − M² outside: twice ours.
        return 0.5 * cp.sum(cp.huber(S[:, 0] - t.value, self.delta))  # type: ignore[arg-type]


register(
    LossKind(
        "huber",
        huber,
        "regression",
        lipschitz=lambda delta: delta,
        params={
            "delta": Param(1.0, lambda v: v > 0 and math.isfinite(v), "be finite and > 0", 1.0)
        },
        forms={"regression": Huber},
    )
)

# --- pinball -----------------------------------------------------------------------------------


def pinball(outputs: torch.Tensor, targets: torch.Tensor, *, tau: float) -> torch.Tensor:
    """Quantile loss ``max(τ r, (τ − 1) r)`` of ``r = y − ŷ``."""
    r = targets - outputs
    return torch.maximum(tau * r, (tau - 1.0) * r)


class Pinball(IntervalDomain):
    """Pinball (quantile) loss at level τ."""

    name = "pinball"
    smooth = False

    def __init__(self, tau: float = 0.5) -> None:
        self.tau = float(tau)

    def value(self, S, t):
        r = t.value - S[:, 0]
        return np.maximum(self.tau * r, (self.tau - 1.0) * r)

    def grad(self, S, t):
        r = t.value - S[:, 0]
        return np.where(r > 0, -self.tau, 1.0 - self.tau)[:, None]

    def bounds(self, t):
        return np.full_like(t.value, -self.tau), np.full_like(t.value, 1.0 - self.tau)

    def conj(self, U, t):
        return U[:, 0] * t.value

    def cvxpy(self, S, t):
        import cvxpy as cp

        r = S[:, 0] - t.value
        return cp.sum(cp.maximum(-self.tau * r, (1.0 - self.tau) * r))

    def pieces(self, t):
        # max(τ (y − s), (τ − 1)(y − s)): slopes −τ and 1 − τ in s
        ones = np.ones_like(t.value)
        G = np.stack([-self.tau * ones, (1.0 - self.tau) * ones], axis=1)[:, :, None]
        return G, np.stack([self.tau * t.value, (self.tau - 1.0) * t.value], axis=1)


register(
    LossKind(
        "pinball",
        pinball,
        "regression",
        lipschitz=lambda tau: max(tau, 1.0 - tau),
        params={"tau": Param(0.5, lambda v: 0 < v < 1, "lie in the open interval (0, 1)", 0.9)},
        forms={"regression": Pinball},
    )
)
