"""Per-sample convex losses of a linear model's scores, in float64 numpy.

Each loss gives what the solvers need: the value, a (sub)gradient and a (generalized) Hessian in
the scores, and the convex conjugate f* with its domain, which the dual certificate uses. Scores
are always 2-D, ``S`` of shape (m, C): C ≥ 3 for multiclass models, C = 1 for binary models (one
score ``s`` read as the logits ``(0, s)``, as in :mod:`almo.losses`) and for regression.

Conventions (identical to :mod:`almo.losses`):

- multiclass ``log_loss`` = softmax cross-entropy; ``hinge`` / ``squared_hinge`` = Crammer–Singer
  ``h = max_c (s_c + [c ≠ y]) − s_y`` and ``h²``; ``squared`` = ``‖s − e_y‖²`` (sum over classes);
- binary (y± = 2y − 1): ``log(1 + exp(−y± s))``, ``(1 − y± s)₊``, ``(1 − y± s)₊²``, ``(s − y±)²``;
- regression (r = s − t): ``r²``, ``|r|``, huber ``r²/2`` if ``|r| ≤ δ`` else ``δ(|r| − δ/2)``,
  pinball ``max(τ(t − s), (τ − 1)(t − s))``.

Conjugates (for the unit weight; ``(c f)*(α) = c f*(α / c)``), with ``u`` the dual variable:

- multiclass log_loss: ``q = u + e_y ∈ Δ``, ``f* = Σ q log q``; hinge: same domain, ``f* = u_y``;
  squared_hinge: ``u_c ≥ 0`` (c ≠ y), ``Σ u = 0``, ``f* = u_y²/4 + u_y``;
  squared: ``f* = u_y + ‖u‖²/4`` on all of R^C.
- binary, ``a = −y± u``: log_loss ``a ∈ [0, 1]``, ``f* = a log a + (1 − a) log(1 − a)``; hinge
  ``a ∈ [0, 1]``, ``f* = −a``; squared_hinge ``a ≥ 0``, ``f* = a²/4 − a``; squared
  ``f* = u y± + u²/4``.
- regression: squared ``f* = u t + u²/4``; absolute ``|u| ≤ 1``, ``f* = u t``; huber
  ``|u| ≤ δ``, ``f* = u t + u²/2``; pinball ``u ∈ [−τ, 1 − τ]``, ``f* = u t``.

``room(u)`` (m, C) is how far each coordinate of ``u`` may move without leaving the domain —
by moves that keep ``Σ_c u_c`` fixed when ``sum_zero`` is set; the certificate uses it to
restore the dual's linear constraints exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import expit, log_softmax, xlogy


@dataclass(frozen=True)
class Targets:
    """Targets of m samples in the forms the losses read.

    ``labels`` (m,) int class index (classification) ; ``onehot`` (m, C) for multiclass;
    ``sign`` (m,) y± in {−1, +1} for binary; ``value`` (m,) float regression target.
    """

    labels: np.ndarray | None = None
    onehot: np.ndarray | None = None
    sign: np.ndarray | None = None
    value: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> Targets:
        """The targets of the samples ``rows``."""
        pick = (lambda a: None if a is None else a[rows])  # noqa: E731
        return Targets(pick(self.labels), pick(self.onehot), pick(self.sign), pick(self.value))


class ScoreLoss:
    """A convex per-sample loss of scores S (m, C); see the module notes."""

    name: ClassVar[str]
    #: Twice differentiable almost everywhere with a useful (generalized) Hessian: the fast
    #: dual Newton method may use it.
    smooth: ClassVar[bool] = True
    #: Domain moves must keep the class sum of u (multiclass simplex-type domains).
    sum_zero: ClassVar[bool] = False

    def value(self, S: np.ndarray, t: Targets) -> np.ndarray:
        raise NotImplementedError

    def grad(self, S: np.ndarray, t: Targets) -> np.ndarray:
        raise NotImplementedError

    def hess(self, S: np.ndarray, t: Targets) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-sample Hessian ``diag(d_i) − v_i v_iᵀ`` as ``(d, v)`` of shape (m, C)."""
        raise NotImplementedError

    def conj(self, U: np.ndarray, t: Targets) -> np.ndarray:
        raise NotImplementedError

    def clip(self, U: np.ndarray, t: Targets) -> np.ndarray:
        """A point of the conjugate's domain near ``U`` (the Euclidean projection)."""
        return U

    def room(self, U: np.ndarray, t: Targets) -> np.ndarray:
        return np.full(U.shape, np.inf)


# --- multiclass --------------------------------------------------------------------------------

def _project_rows_simplex(Q: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of Q onto the probability simplex."""
    u = -np.sort(-Q, axis=1)
    css = np.cumsum(u, axis=1) - 1.0
    k = np.arange(1, Q.shape[1] + 1)
    rho = np.count_nonzero(u - css / k > 0, axis=1)
    tau = css[np.arange(Q.shape[0]), rho - 1] / rho
    return np.maximum(Q - tau[:, None], 0.0)


class _SimplexDomain(ScoreLoss):
    """Shared domain of the softmax and Crammer–Singer duals: q = u + e_y in the simplex."""

    sum_zero = True

    def clip(self, U, t):
        return _project_rows_simplex(U + t.onehot) - t.onehot

    def room(self, U, t):
        # |δ_c| ≤ q_c with Σ δ = 0 keeps q + δ in the simplex.
        return np.maximum(U + t.onehot, 0.0)


class MultiLogLoss(_SimplexDomain):
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


def _cs_margin(S, t):
    true = S[np.arange(S.shape[0]), t.labels]
    return (S + 1.0 - t.onehot).max(axis=1) - true, (S + 1.0 - t.onehot).argmax(axis=1)


class MultiHinge(_SimplexDomain):
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


class MultiSquaredHinge(ScoreLoss):
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


class MultiSquared(ScoreLoss):
    name = "squared"

    def value(self, S, t):
        return ((S - t.onehot) ** 2).sum(axis=1)

    def grad(self, S, t):
        return 2.0 * (S - t.onehot)

    def hess(self, S, t):
        return np.full_like(S, 2.0), None

    def conj(self, U, t):
        return U[np.arange(U.shape[0]), t.labels] + (U**2).sum(axis=1) / 4.0


# --- binary (one score, logits (0, s)) and regression ------------------------------------------

class _IntervalDomain(ScoreLoss):
    """Scalar losses whose dual lies in an interval [lo, hi] (per sample)."""

    def bounds(self, t: Targets) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def clip(self, U, t):
        lo, hi = self.bounds(t)
        return np.clip(U[:, 0], lo, hi)[:, None]

    def room(self, U, t):
        lo, hi = self.bounds(t)
        return np.maximum(np.minimum(U[:, 0] - lo, hi - U[:, 0]), 0.0)[:, None]


class _UnitMarginDomain(_IntervalDomain):
    """Binary duals with a = −y± u ∈ [0, 1] (logistic and hinge)."""

    def bounds(self, t):
        return np.minimum(0.0, -t.sign), np.maximum(0.0, -t.sign)


class BinaryLogLoss(_UnitMarginDomain):
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


class BinaryHinge(_UnitMarginDomain):
    name = "hinge"
    smooth = False

    def value(self, S, t):
        return np.maximum(0.0, 1.0 - t.sign * S[:, 0])

    def grad(self, S, t):
        return (-t.sign * (1.0 - t.sign * S[:, 0] > 0))[:, None]

    def conj(self, U, t):
        return t.sign * U[:, 0]


class BinarySquaredHinge(_IntervalDomain):
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


class Absolute(_IntervalDomain):
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


class Huber(_IntervalDomain):
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


class Pinball(_IntervalDomain):
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


_MULTICLASS = {"log_loss": MultiLogLoss, "hinge": MultiHinge,
               "squared_hinge": MultiSquaredHinge, "squared": MultiSquared}
_BINARY = {"log_loss": BinaryLogLoss, "hinge": BinaryHinge,
           "squared_hinge": BinarySquaredHinge, "squared": ScalarSquared}
_REGRESSION = {"squared": ScalarSquared, "absolute": Absolute, "huber": Huber,
               "pinball": Pinball}
CLASSIFICATION_LOSSES = frozenset(_MULTICLASS)
REGRESSION_LOSSES = frozenset(_REGRESSION)


def score_loss(name: str, task: str, params: dict[str, float]) -> ScoreLoss:
    """The loss ``name`` for a task in {"multiclass", "binary", "regression"}."""
    table = {"multiclass": _MULTICLASS, "binary": _BINARY, "regression": _REGRESSION}[task]
    return table[name](**params)
