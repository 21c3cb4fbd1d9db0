"""Balls around a preferred mixture λ0: {λ ∈ Δ_p : D(λ, λ0) ≤ r} for l1, χ² and KL.

The numerical kernels (closed forms, bisections, Wright-omega) live in :mod:`almo._balls`.
Support function, with ν free, μ ≥ 0, γ ≥ 0 the multipliers of Σλ = 1, λ ≥ 0 and the ball, and
``c = t + μ − ν``:

- l1: ``⟨t + μ, λ0⟩ + γ r`` with ``‖c‖_∞ ≤ γ``;
- χ²: ``⟨t + μ, λ0⟩ + γ r + Σ λ0_k c_k² / (4γ)``;
- KL: ``min γ r + s`` with ``Σ λ0_k z_k ≤ γ`` and ``z_k ≥ γ exp((t_k − s)/γ)`` (exponential
  cones; this is γ r + γ log Σ λ0 exp(t/γ)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from almo import _balls
from almo._validation import check_positive, fail
from almo.mixtures.base import MixtureSet, _vector

if TYPE_CHECKING:
    import cvxpy as cp

__all__ = ["Divergence", "PriorBall"]

Divergence = Literal["l1", "chi2", "kl"]


class PriorBall(MixtureSet):
    """Mixtures near a preferred λ0: {λ ∈ Δ_p : D(λ, λ0) ≤ radius}.

    Encodes a vague preference: "about these weights, give or take". ``D`` is the l1 distance
    Σ|λ - λ0|, the χ² divergence Σ(λ - λ0)²/λ0 or the Kullback–Leibler divergence
    Σ λ log(λ/λ0). Worst cases are exact (greedy, closed form, or a 1-D bisection); projections
    are exact for l1 and χ² (bisection on the ball's multiplier) and for KL (bisection on the
    ball's multiplier with a Wright-omega closed form inside, no conic solver).

    Parameters
    ----------
    prior : array of shape (p,)
        λ0, on the simplex (strictly positive for "chi2" and "kl").
    radius : float
        r ≥ 0; 0 gives the single point λ0.
    divergence : {"l1", "chi2", "kl"}
        The distance D.

    Examples
    --------
    >>> import numpy as np
    >>> ball = PriorBall([0.5, 0.3, 0.2], radius=0.2)
    >>> ball.worst_case([1.0, 3.0, 2.0]).weights.round(6).tolist()
    [0.4, 0.4, 0.2]
    >>> ball.contains(ball.project(np.array([1.0, 0.0, 0.0])))
    True
    """

    # Exact but iterative (nested bisections): solvers prefer the ball's conic form.
    has_fast_projection = False

    def __init__(self, prior: Any, radius: float, divergence: Divergence = "l1") -> None:
        if divergence not in ("l1", "chi2", "kl"):
            raise fail(
                "divergence",
                'be one of "l1", "chi2", "kl"',
                divergence,
                'pass divergence="l1" for the simplest ball',
            )
        prior = _vector("prior", prior)
        if prior.min() < 0 or abs(prior.sum() - 1.0) > 1e-9:
            raise fail(
                "prior",
                "lie on the simplex (entries >= 0 summing to 1)",
                prior,
                "normalize it: prior / prior.sum()",
            )
        if divergence != "l1" and prior.min() <= 0:
            raise fail(
                "prior",
                f'be > 0 everywhere for divergence="{divergence}"',
                prior,
                'mix in a little uniform mass, or use divergence="l1"',
            )
        self.radius = check_positive("radius", radius, allow_zero=True)
        self.prior, self.divergence, self.p = prior / prior.sum(), divergence, prior.size

    def __repr__(self) -> str:
        return (
            f"PriorBall(prior={self.prior!r}, radius={self.radius!r}, "
            f"divergence={self.divergence!r})"
        )

    # ------------------------------------------------------------------ cvxpy interface
    def cvxpy_constraints(self, lam: cp.Expression) -> list[cp.Constraint]:
        """λ ≥ 0, Σλ = 1 and D(λ, λ0) ≤ r (see :meth:`MixtureSet.cvxpy_constraints`).

        Examples
        --------
        >>> import cvxpy as cp
        >>> lam = cp.Variable(2)
        >>> cons = PriorBall([0.5, 0.5], radius=0.2).cvxpy_constraints(lam)
        >>> round(float(cp.Problem(cp.Maximize(lam[0]), cons).solve(solver=cp.CLARABEL)), 6)
        0.6
        """
        import cvxpy as cp

        prior, r = self.prior, self.radius
        if self.divergence == "l1":
            dist = cp.norm1(lam - prior)
        elif self.divergence == "chi2":
            dist = cp.sum(cp.multiply(1.0 / prior, cp.square(lam - prior)))
        else:
            dist = cp.sum(cp.rel_entr(lam, prior))
        return [lam >= 0, cp.sum(lam) == 1, dist <= r]

    def support_function(self, t: cp.Expression) -> tuple[cp.Expression, list[cp.Constraint]]:
        """The ball's conic dual (see the module notes and :meth:`MixtureSet.support_function`).

        Examples
        --------
        >>> import cvxpy as cp
        >>> import numpy as np
        >>> ball = PriorBall([0.5, 0.3, 0.2], radius=0.3, divergence="kl")
        >>> t = cp.Variable(3)
        >>> sigma, cons = ball.support_function(t)
        >>> prob = cp.Problem(cp.Minimize(sigma), [*cons, t == np.array([1.0, 3.0, 2.0])])
        >>> value = prob.solve(solver=cp.CLARABEL)
        >>> bool(abs(value - ball.worst_case([1.0, 3.0, 2.0]).value) < 1e-6)
        True
        """
        import cvxpy as cp

        p, prior, r = self.p, self.prior, self.radius
        if self.divergence == "kl":
            gamma, s, z = cp.Variable(nonneg=True), cp.Variable(), cp.Variable(p)
            cons = [prior @ z <= gamma, cp.constraints.ExpCone(t - s, gamma * np.ones(p), z)]
            return gamma * r + s, cons
        mu, nu, gamma = cp.Variable(p, nonneg=True), cp.Variable(), cp.Variable(nonneg=True)
        c = t + mu - nu
        if self.divergence == "l1":
            return prior @ (t + mu) + gamma * r, [cp.norm_inf(c) <= gamma]
        quad = cp.quad_over_lin(cp.multiply(np.sqrt(prior), c), 4.0 * gamma)
        return prior @ (t + mu) + gamma * r + quad, []

    # ------------------------------------------------------------------ numpy hooks
    def _project_np(self, v: np.ndarray) -> np.ndarray:
        if self.radius == 0.0:  # the single point λ0
            return np.broadcast_to(self.prior, v.shape).copy()
        v = _balls.centre_rows(v)
        if self.divergence != "kl":
            return _balls.project_ball(v, self.prior, self.radius, self.divergence)
        out = _balls.project_ball(v, self.prior, np.inf, "l1")  # simplex projection first
        inside = _balls.divergence(out, self.prior, "kl") <= self.radius
        for i in np.flatnonzero(~inside):
            out[i] = _balls.project_kl(v[i], self.prior, self.radius)
        return out

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        if self.radius == 0.0 or ell.max() == ell.min():
            return self.prior.copy()
        solver = {
            "l1": _balls.worst_case_l1,
            "chi2": _balls.worst_case_chi2,
            "kl": _balls.worst_case_kl,
        }[self.divergence]
        return solver(ell, self.prior, self.radius)

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        if self.divergence != "l1" and np.any(w[self.prior <= 0] > atol):
            return False
        return bool(_balls.divergence(w, self.prior, self.divergence) <= self.radius + atol)

    def _uniform(self) -> np.ndarray:
        return self.prior
