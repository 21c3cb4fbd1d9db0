"""Margin losses: hinge and squared_hinge (Crammer–Singer for multiclass).

Multiclass: ``h = max_c (s_c + [c ≠ y]) − s_y = (1 + max_{c≠y} s_c − s_y)₊`` and ``h²``; binary
(y± = 2y − 1): ``(1 − y± s)₊`` and ``(1 − y± s)₊²``. Conjugates: multiclass hinge
``q = u + e_y ∈ Δ``, ``f* = u_y``; squared_hinge ``u_c ≥ 0`` (c ≠ y), ``Σ u = 0``,
``f* = u_y²/4 + u_y``; binary, ``a = −y± u``: hinge ``a ∈ [0, 1]``, ``f* = −a``; squared_hinge
``a ≥ 0``, ``f* = a²/4 − a``.

Examples
--------
>>> import torch
>>> from almo.losses import LOSSES
>>> LOSSES["hinge"](torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
tensor([0., 2.])
"""

from __future__ import annotations

import math

import numpy as np
import torch

from almo.losses._batch import logits
from almo.losses._forms import IntervalDomain, ScoreLoss, SimplexDomain, UnitMarginDomain
from almo.losses._loss import LossKind, register

SQRT2 = math.sqrt(2.0)


def margin_violation(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 + max_{c≠y} s_c − s_y: positive exactly when the Crammer–Singer hinge is active."""
    scores = logits(outputs)
    index = targets.unsqueeze(1)
    true = scores.gather(1, index).squeeze(1)
    other = scores.scatter(1, index, -math.inf).amax(dim=1)
    return 1.0 + other - true


def _cs_margin(S, t):
    """The Crammer–Singer hinge h (m,) and the arg-max class j (m,) (j = y when h = 0)."""
    true = S[np.arange(S.shape[0]), t.labels]
    shifted = S + 1.0 - t.onehot
    return shifted.max(axis=1) - true, shifted.argmax(axis=1)


def _cs_margin_cvxpy(S, t):
    import cvxpy as cp

    return cp.max(S + 1.0 - t.onehot, axis=1) - cp.sum(cp.multiply(t.onehot, S), axis=1)


# --- hinge -------------------------------------------------------------------------------------


def hinge(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Crammer–Singer hinge ``(1 + max_{c≠y} s_c − s_y)₊``; binary ``(1 − y± s)₊``."""
    return torch.relu(margin_violation(outputs, targets))


class MultiHinge(SimplexDomain):
    """Crammer–Singer multiclass hinge."""

    name = "hinge"
    smooth = False

    def value(self, S, t):
        return _cs_margin(S, t)[0]

    def grad(self, S, t):
        _, j = _cs_margin(S, t)
        G = np.zeros_like(S)
        G[np.arange(S.shape[0]), j] += 1.0
        return G - t.onehot

    def conj(self, U, t):
        return U[np.arange(U.shape[0]), t.labels]

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum(_cs_margin_cvxpy(S, t))

    def pieces(self, t):
        # one piece per class c: s_c − s_y + 1[c ≠ y] (the piece c = y is the 0 of (·)₊)
        m, C = t.onehot.shape
        G = np.broadcast_to(np.eye(C), (m, C, C)) - t.onehot[:, None, :]
        return G, 1.0 - t.onehot


class BinaryHinge(UnitMarginDomain):
    """Binary hinge ``(1 − y± s)₊``."""

    name = "hinge"
    smooth = False

    def value(self, S, t):
        return np.maximum(0.0, 1.0 - t.sign * S[:, 0])

    def grad(self, S, t):
        return (-t.sign * (1.0 - t.sign * S[:, 0] > 0))[:, None]

    def conj(self, U, t):
        return t.sign * U[:, 0]

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum(cp.pos(1.0 - cp.multiply(t.sign, S[:, 0])))

    def pieces(self, t):
        G = np.stack([np.zeros_like(t.sign), -t.sign], axis=1)[:, :, None]
        return G, np.stack([np.zeros_like(t.sign), np.ones_like(t.sign)], axis=1)


register(
    LossKind(
        "hinge",
        hinge,
        "classification",
        lipschitz=SQRT2,
        forms={"multiclass": MultiHinge, "binary": BinaryHinge},
    )
)

# --- squared_hinge -----------------------------------------------------------------------------


def squared_hinge(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The square of :func:`hinge`."""
    return torch.relu(margin_violation(outputs, targets)).square()


def squared_hinge_local(radius: float) -> float:
    """μ on scores with ‖s‖ ≤ R: ``2√2 (1 + √2 R)``.

    ‖∇‖ = 2·relu(1 + s_c − s_y)·‖e_c − e_y‖ and s_c − s_y ≤ √2 R when ‖s‖ ≤ R.

    Examples
    --------
    >>> round(squared_hinge_local(0.0), 6)
    2.828427
    """
    return 2.0 * SQRT2 * (1.0 + SQRT2 * radius)


class MultiSquaredHinge(ScoreLoss):
    """Squared Crammer–Singer hinge."""

    name = "squared_hinge"
    smooth = False  # the max over classes makes it non-differentiable at ties
    sum_zero = True

    def value(self, S, t):
        return _cs_margin(S, t)[0] ** 2

    def grad(self, S, t):
        h, j = _cs_margin(S, t)
        G = np.zeros_like(S)
        G[np.arange(S.shape[0]), j] += 2.0 * h
        G[np.arange(S.shape[0]), t.labels] -= 2.0 * h
        return G

    def conj(self, U, t):
        uy = U[np.arange(U.shape[0]), t.labels]
        return uy**2 / 4.0 + uy

    def clip(self, U, t):
        V = np.where(t.onehot > 0, 0.0, np.maximum(U, 0.0))
        return V - t.onehot * V.sum(axis=1, keepdims=True)

    def room(self, U, t):
        return np.where(t.onehot > 0, np.inf, np.maximum(U, 0.0))

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum_squares(cp.pos(_cs_margin_cvxpy(S, t)))


class BinarySquaredHinge(IntervalDomain):
    """Binary squared hinge ``(1 − y± s)₊²``."""

    name = "squared_hinge"

    def value(self, S, t):
        return np.maximum(0.0, 1.0 - t.sign * S[:, 0]) ** 2

    def grad(self, S, t):
        return (-2.0 * t.sign * np.maximum(0.0, 1.0 - t.sign * S[:, 0]))[:, None]

    def hess(self, S, t):
        return (2.0 * (1.0 - t.sign * S[:, 0] > 0))[:, None], None

    def bounds(self, t):
        # a = −y± u ≥ 0
        return np.where(t.sign > 0, -np.inf, 0.0), np.where(t.sign > 0, 0.0, np.inf)

    def conj(self, U, t):
        a = np.maximum(-t.sign * U[:, 0], 0.0)
        return a**2 / 4.0 - a

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum_squares(cp.pos(1.0 - cp.multiply(t.sign, S[:, 0])))


register(
    LossKind(
        "squared_hinge",
        squared_hinge,
        "classification",
        local_lipschitz=squared_hinge_local,
        forms={"multiclass": MultiSquaredHinge, "binary": BinarySquaredHinge},
    )
)
