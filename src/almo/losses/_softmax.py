"""Softmax-based losses: log_loss, focal, brier, and the zero_one evaluation loss.

Only ``log_loss`` is convex in the scores. Multiclass: softmax cross-entropy ``−log p_y``;
binary (y± = 2y − 1): ``log(1 + exp(−y± s))``. Conjugates: multiclass ``q = u + e_y ∈ Δ``,
``f* = Σ q log q``; binary ``a = −y± u ∈ [0, 1]``, ``f* = a log a + (1 − a) log(1 − a)``.

Examples
--------
>>> import torch
>>> from almo.losses import LOSSES
>>> round(float(LOSSES["log_loss"](torch.tensor([0.0]), torch.tensor([1]))), 6)  # log 2
0.693147
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import expit, log_softmax, xlogy

from almo.losses._batch import logits
from almo.losses._forms import SimplexDomain, UnitMarginDomain
from almo.losses._loss import LossKind, Param, register

SQRT2 = math.sqrt(2.0)

# --- log_loss ----------------------------------------------------------------------------------


def log_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of logits (n, C), or of binary scores read as logits (0, s)."""
    return F.cross_entropy(logits(outputs), targets, reduction="none")


class MultiLogLoss(SimplexDomain):
    """Multiclass softmax cross-entropy."""

    name = "log_loss"

    def value(self, S, t):
        return -log_softmax(S, axis=1)[np.arange(S.shape[0]), t.labels]

    def grad(self, S, t):
        return np.exp(log_softmax(S, axis=1)) - t.onehot

    def hess(self, S, t):
        P = np.exp(log_softmax(S, axis=1))
        return P, P

    def conj(self, U, t):
        Q = np.clip(U + t.onehot, 0.0, None)
        return xlogy(Q, Q).sum(axis=1)

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum(cp.log_sum_exp(S, axis=1) - cp.sum(cp.multiply(t.onehot, S), axis=1))


class BinaryLogLoss(UnitMarginDomain):
    """Logistic loss of one score: ``log(1 + exp(−y± s))``."""

    name = "log_loss"

    def value(self, S, t):
        return np.logaddexp(0.0, -t.sign * S[:, 0])

    def grad(self, S, t):
        return (-t.sign * expit(-t.sign * S[:, 0]))[:, None]

    def hess(self, S, t):
        z = S[:, 0]
        return (expit(z) * expit(-z))[:, None], None

    def conj(self, U, t):
        a = np.clip(-t.sign * U[:, 0], 0.0, 1.0)
        return xlogy(a, a) + xlogy(1.0 - a, 1.0 - a)

    def cvxpy(self, S, t):
        import cvxpy as cp

        return cp.sum(cp.logistic(-cp.multiply(t.sign, S[:, 0])))


register(
    LossKind(
        "log_loss",
        log_loss,
        "classification",
        lipschitz=SQRT2,
        forms={"multiclass": MultiLogLoss, "binary": BinaryLogLoss},
    )
)

# --- focal -------------------------------------------------------------------------------------


def focal(outputs: torch.Tensor, targets: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """Focal loss ``−(1 − p_y)^γ log p_y``; γ = 0 is log_loss."""
    log_pt = -F.cross_entropy(logits(outputs), targets, reduction="none")
    # 1 - p_t through expm1 keeps precision when p_t ≈ 1; the floor keeps the gradient of
    # q**gamma finite for gamma < 1 (clamp passes no gradient where it binds).
    q = (-torch.expm1(log_pt)).clamp_min(torch.finfo(outputs.dtype).tiny)
    return -(q**gamma) * log_pt


def focal_lipschitz(gamma: float) -> float:
    """√2 · sup_p g(p), g(p) = γ q^γ p|log p| + q^(γ+1), q = 1 − p.

    With p = p_t, ∇_s focal = f'(p) ∇p and ∇p = p (e_y − softmax), ‖e_y − softmax‖ ≤ √2 q, so
    ‖∇_s focal‖ ≤ √2 g(p). The sup over a dense grid is inflated by 1e-3 (g is smooth).

    Examples
    --------
    >>> round(focal_lipschitz(0.0), 3)  # log_loss: √2, inflated by 1e-3
    1.416
    """
    p = np.unique(np.concatenate([np.logspace(-12, 0, 20001), np.linspace(0.0, 1.0, 20001)]))
    p = p[p > 0]
    q = 1.0 - p
    g = gamma * q**gamma * p * np.abs(np.log(p)) + q ** (gamma + 1.0)
    return math.sqrt(2.0) * float(g.max()) * (1.0 + 1e-3)


register(
    LossKind(
        "focal",
        focal,
        "classification",
        lipschitz=focal_lipschitz,
        params={
            "gamma": Param(2.0, lambda v: v >= 0 and math.isfinite(v), "be finite and >= 0", 2.0)
        },
        not_convex="its down-weighting of easy samples makes it non-convex in the scores",
    )
)

# --- brier -------------------------------------------------------------------------------------


def brier(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Multiclass Brier score ``‖softmax(s) − e_y‖²``; binary ``(σ(s) − y)²``."""
    if outputs.ndim == 1:
        return (torch.sigmoid(outputs) - targets.to(outputs.dtype)).square()
    one_hot = F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
    return (torch.softmax(outputs, dim=1) - one_hot).square().sum(dim=1)


# μ: ∇ = 2 J (p − e_y) with ‖J‖₂ ≤ 1/2 for the softmax Jacobian and ‖p − e_y‖ ≤ √2.
register(
    LossKind(
        "brier",
        brier,
        "classification",
        lipschitz=SQRT2,
        not_convex="it composes the squared error with the softmax, which is not convex in the "
        "scores",
    )
)

# --- zero_one ----------------------------------------------------------------------------------


def zero_one(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 when the arg-max class differs from the label (ties go to the lowest class)."""
    # Computed without autograd: the 0-1 loss has zero gradient almost everywhere.
    with torch.no_grad():
        predicted = logits(outputs).argmax(dim=1)  # s = 0 -> class 0
        return (predicted != targets).to(outputs.dtype)


register(
    LossKind(
        "zero_one",
        zero_one,
        "classification",
        differentiable=False,
        not_convex="it is a step function of the scores (evaluation only)",
    )
)
