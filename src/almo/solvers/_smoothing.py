"""Nesterov smoothing of the non-smooth losses, for the fast method with a true certificate.

Each non-smooth loss is a max over its dual domain, ``f(s) = max_u ⟨u, s⟩ − f*(u)``. Subtracting
``(μ/2) ‖u − u₀‖²`` inside the max (Nesterov, *Smooth minimization of non-smooth functions*,
Math. Program. 103, 2005) gives a convex loss ``f_μ`` with a (1/μ)-Lipschitz gradient and
``f − μ D ≤ f_μ ≤ f`` (``D`` = half the largest ``‖u − u₀‖²`` over the domain), whose gradient is
the maximizing ``u`` — a point of the original dual domain:

- binary hinge, absolute, pinball (``f*(u) = β u`` on an interval [lo, hi]):
  ``u = clip((s − β)/μ, lo, hi)``, a Huber-type loss;
- Crammer–Singer hinge (``q = u + e_y ∈ Δ``): ``q = proj_Δ((s + 1 − e_y)/μ)``, the sparsemax-type
  loss ``⟨q, s + 1 − e_y⟩ − (μ/2)‖q‖² − s_y`` with the generalized Hessian
  ``(1/μ)(diag(1_S) − 1_S 1_Sᵀ/|S|)`` on the support S of q;
- squared Crammer–Singer hinge ``h₊²``: the same smoothing of the margin h inside the square,
  ``(h_μ)₊²`` (convex: a convex nondecreasing function of a convex one).

The smoothed problem is solved by the dual Newton method, and the certificate is that of the
ORIGINAL problem: the upper bound evaluates the original losses at the returned model, and the
lower bound is the Fenchel dual value of the original problem at the smoothed gradients (which
lie in the original domains, or are clipped to them). So the reported gap is a true gap, and a
continuation μ → μ/10 … shrinks it to the tolerance.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from scipy.linalg import cho_solve

from almo.losses import ScoreLoss, Targets
from almo.projections import project_simplex
from almo.solvers._problem import LinearProblem, Objective


class SmoothedInterval(ScoreLoss):
    """``f_μ(s) = max over u ∈ [lo, hi] of u (s − β) − (μ/2) u²`` for ``f* = β u`` on [lo, hi].

    The smoothing of binary hinge, absolute and pinball (``base`` is the original form).

    Examples
    --------
    >>> from almo.losses import make_loss
    >>> form = SmoothedInterval(make_loss("absolute").convex_form("regression"), 0.5)
    >>> t = Targets.of_values(np.array([0.0, 0.0]))
    >>> form.value(np.array([[0.1], [2.0]]), t).round(6).tolist()  # r²/(2μ), |r| − μ/2
    [0.01, 1.75]
    """

    name = "smoothed"

    def __init__(self, base: Any, mu: float, zone_mu: float | None = None) -> None:
        self.base, self.mu = base, float(mu)
        #: With ``zone_mu``, a model for the continuation's first step, not a loss: the samples
        #: on the curved part at ``zone_mu`` keep the gradient (s − β)/μ unclipped and the
        #: curvature 1/μ (see :func:`predicted_start`).
        self.zone_mu = zone_mu

    def _terms(self, S: np.ndarray, t: Targets) -> tuple[np.ndarray, ...]:
        lo, hi = self.base.bounds(t)
        beta = self.base.conj(np.ones((S.shape[0], 1)), t)  # f*(u) = β u
        r = S[:, 0] - beta
        z = r / self.mu
        if self.zone_mu is not None:
            w = r / self.zone_mu
            zone = (w > lo) & (w < hi)
            return np.where(zone, z, np.clip(z, lo, hi)), r, zone
        u = np.clip(z, lo, hi)
        return u, r, (z > lo) & (z < hi)

    def value(self, S, t):
        u, r, _ = self._terms(S, t)
        return u * r - 0.5 * self.mu * u * u

    def grad(self, S, t):
        return self._terms(S, t)[0][:, None]

    def hess(self, S, t):
        return (self._terms(S, t)[2] / self.mu)[:, None], None


def _sparsemax_terms(S: np.ndarray, t: Targets, mu: float) -> tuple[np.ndarray, ...]:
    """q = proj_Δ(z/μ) with z = s + 1 − e_y, and the smoothed margin h_μ."""
    assert t.onehot is not None
    Z = S + 1.0 - t.onehot
    Q = project_simplex(Z / mu)
    true = S[np.arange(S.shape[0]), t.labels]
    h = (Q * Z).sum(axis=1) - 0.5 * mu * (Q * Q).sum(axis=1) - true
    support = Q > 0
    return Q, h, support


def _zone_terms(S: np.ndarray, t: Targets, mu: float, zone_mu: float) -> tuple[np.ndarray, ...]:
    """The sparsemax gradient q on the support of proj_Δ(z/zone_mu), kept unclipped at μ:
    ``q_j = (z_j − τ)/μ`` on that support P (τ makes Σ q = 1), 0 off it, and P."""
    assert t.onehot is not None
    Z = S + 1.0 - t.onehot
    support = project_simplex(Z / zone_mu) > 0
    size = support.sum(axis=1, keepdims=True)
    tau = ((Z * support).sum(axis=1, keepdims=True) - mu) / size
    return support * (Z - tau) / mu, support


def _curved(support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows' support sizes (m, 1) and the mask of supports with ≥ 2 classes: a support of
    one class is a vertex of the simplex, where the loss is linear (its Hessian is 0)."""
    size = support.sum(axis=1, keepdims=True)
    return size, support & (size > 1)


class SmoothedMultiHinge(ScoreLoss):
    """The Crammer–Singer hinge smoothed by (μ/2)‖q‖² on the simplex (see the module notes).

    With ``zone_mu``, a model for the continuation's first step, not a loss (see
    :func:`predicted_start`): each row keeps the support of its sparsemax at ``zone_mu`` with
    the gradient unclipped and the curvature at μ.

    Examples
    --------
    >>> from almo.losses import make_loss
    >>> form = SmoothedMultiHinge(make_loss("hinge").convex_form("multiclass"), 0.5)
    >>> t = Targets.of_labels(np.array([0]), 3)
    >>> round(float(form.value(np.array([[1.0, 0.9, -2.0]]), t)[0]), 6)  # 1 + 0.9 − 1 − μ/2
    0.65
    """

    name = "hinge"
    sum_zero = True

    def __init__(self, base: Any, mu: float, zone_mu: float | None = None) -> None:
        self.base, self.mu = base, float(mu)
        self.zone_mu = zone_mu

    def value(self, S, t):
        return _sparsemax_terms(S, t, self.mu)[1]

    def grad(self, S, t):
        if self.zone_mu is not None:
            return _zone_terms(S, t, self.mu, self.zone_mu)[0] - t.onehot
        return _sparsemax_terms(S, t, self.mu)[0] - t.onehot

    def hess(self, S, t):
        if self.zone_mu is not None:
            support = _zone_terms(S, t, self.mu, self.zone_mu)[1]
        else:
            support = _sparsemax_terms(S, t, self.mu)[2]
        size, curved = _curved(support)
        return curved / self.mu, curved / np.sqrt(self.mu * size)


class SmoothedMultiSquaredHinge(ScoreLoss):
    """``(h_μ)₊²`` with h_μ the smoothed Crammer–Singer margin; its Hessian has a positive
    rank-one part (``hess_plus``) besides ``diag(d) − v vᵀ``."""

    name = "squared_hinge"
    sum_zero = True

    def __init__(self, base: Any, mu: float) -> None:
        self.base, self.mu = base, float(mu)

    def value(self, S, t):
        h = _sparsemax_terms(S, t, self.mu)[1]
        return np.maximum(h, 0.0) ** 2

    def grad(self, S, t):
        Q, h, _ = _sparsemax_terms(S, t, self.mu)
        return 2.0 * np.maximum(h, 0.0)[:, None] * (Q - t.onehot)

    def hess(self, S, t):
        _, h, support = _sparsemax_terms(S, t, self.mu)
        size, curved = _curved(support)
        a = 2.0 * np.maximum(h, 0.0)[:, None]
        return a * curved / self.mu, np.sqrt(a) * curved / np.sqrt(self.mu * size)

    def hess_plus(self, S: np.ndarray, t: Targets) -> np.ndarray:
        """w (m, C) with the Hessian's positive part Σ_i w_i w_iᵀ: 2·1[h_μ > 0] ∇h ∇hᵀ."""
        Q, h, _ = _sparsemax_terms(S, t, self.mu)
        return np.sqrt(2.0) * (h > 0)[:, None] * (Q - t.onehot)


def smoothable(loss: ScoreLoss) -> bool:
    """Whether :func:`smooth_loss` has a smoothing for this non-smooth form."""
    kind = type(loss).__name__
    return kind in ("BinaryHinge", "Absolute", "Pinball", "MultiHinge", "MultiSquaredHinge")


def smooth_loss(loss: ScoreLoss, mu: float) -> ScoreLoss:
    """The smoothed form of a non-smooth loss (smooth losses are returned unchanged)."""
    if loss.smooth:
        return loss
    kind = type(loss).__name__
    if kind == "MultiHinge":
        return SmoothedMultiHinge(loss, mu)
    if kind == "MultiSquaredHinge":
        return SmoothedMultiSquaredHinge(loss, mu)
    return SmoothedInterval(loss, mu)


def smooth_problem(
    problem: LinearProblem, mu: float, prox: float = 1e-2, center: np.ndarray | None = None
) -> LinearProblem:
    """The problem with every non-smooth loss replaced by its μ-smoothing, plus the ridge
    ``prox · μ · ‖Θ‖²`` on all of Θ (intercept included), which makes every inner minimizer
    unique (a smoothed hinge is flat away from its margin) so that g is smooth.

    ``mu`` is in the units of the scores (the losses' duals are bounded by 1, so a smoothing
    moves each per-sample loss by at most ``mu / 2``, the squared hinge by ``mu`` times its
    margin).
    """
    objectives = tuple(
        o if o.loss.smooth else replace(o, loss=smooth_loss(o.loss, mu)) for o in problem.objectives
    )
    return replace(problem, objectives=objectives, prox=prox * mu, prox_center=center)


def predicted_start(
    problem: LinearProblem, old_mu: float, coefficients: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """A first model for the stage ``problem`` (smoothed at a smaller μ) from the last stage's
    model ``theta`` (smoothed at ``old_mu``): one Newton step of the stage's objective with
    the samples of the old curved zone kept curved.

    Shrinking μ empties the curved zone of a Huber-type loss (the last stage's residuals lie
    within old_mu, the new zone is narrower), so Newton from ``theta`` sees no curvature and
    crawls; at the optimum of an absolute or hinge loss the zone is the same few samples (a
    basis of the linear program), and this step moves their residuals to the new zone at once.
    The caller keeps it only if it lowers the stage's objective.
    """
    from almo.solvers._inner import InnerSolver

    objectives = tuple(
        replace(o, loss=type(o.loss)(o.loss.base, o.loss.mu, zone_mu=old_mu))
        if isinstance(o.loss, (SmoothedInterval, SmoothedMultiHinge))
        else o
        for o in problem.objectives
    )
    model = InnerSolver(replace(problem, objectives=objectives))
    D, C = problem.shape
    _, Dg, low_rank = model._sample_terms(theta, coefficients)
    grad = model.gradient(theta, coefficients).T.ravel()
    H = model._hessian(Dg, low_rank)
    step = -cho_solve(InnerSolver.factor(H), grad)
    return np.asarray(theta + step.reshape(C, D).T, dtype=np.float64)


def needs_smoothing(problem: LinearProblem) -> bool:
    """Whether some objective's loss is non-smooth (and smoothable)."""
    return any(not o.loss.smooth for o in problem.objectives)


__all__ = [
    "Objective",
    "SmoothedInterval",
    "SmoothedMultiHinge",
    "SmoothedMultiSquaredHinge",
    "needs_smoothing",
    "smooth_loss",
    "smooth_problem",
    "smoothable",
]
