"""Exact inner solves of the fast method: min over Θ of F(Θ) = Σ_k c_k Σ_i ℓ_k + a ‖W‖ + l2 ‖W‖².

Damped Newton with the full Hessian, in float64. The Hessian of a linear model with per-sample
Hessians ``diag(d_i) − v_i v_iᵀ`` (softmax) is assembled with two matrix products over the data,
so one Newton step costs O(n (D C)²) — cheap for the dimensions this solver targets (D C up to a
few thousand) and it converges quadratically, which is what lets the outer method use exact
Danskin gradients and the exact curvature of g.

The norm term a ‖W‖_F (a = Σ_k λ_k c_k, from a λ-dependent penalty) is smooth except at W = 0,
so it is handled exactly in two stages. First the best model with W = 0 (its intercept by
Newton): it is the minimizer iff the gradient of the rest of F in W there has norm ≤ a (the
subdifferential of a ‖W‖ at 0 is the ball of radius a). Otherwise W* ≠ 0, F is smooth on a
neighbourhood of the minimizer, and Newton runs on F from a point with W ≠ 0 (line search keeps
it there; the Hessian of a ‖W‖ is a (I − ŵŵᵀ) / ‖W‖).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cho_solve
from scipy.linalg.blas import dsyrk
from scipy.linalg.lapack import dpotrf

from almo.solvers._problem import LinearProblem
from almo.solvers._smoothing import SmoothedMultiHinge, SmoothedMultiSquaredHinge

logger = logging.getLogger(__name__)


#: Rows, V (m, C) and a sign: the Hessian part sign · Σ_i (v_i ⊗ x̃_i)(v_i ⊗ x̃_i)ᵀ.
LowRank = tuple[np.ndarray, np.ndarray, float]


@dataclass
class InnerSolution:
    """Θ*(c) with the Hessian of F at Θ* (for the curvature of g)."""

    theta: np.ndarray
    value: float
    hessian: np.ndarray
    newton_steps: int
    decrement: float
    #: True when Newton stopped at its step limit, not at a minimizer: a warm restart from
    #: ``theta`` continues the solve.
    capped: bool = False


class InnerSolver:
    """Newton's method on F for the coefficient vector ``c`` (c_k = λ_k / (n_k s_k))."""

    def __init__(self, problem: LinearProblem, max_steps: int = 60) -> None:
        self.problem = problem
        self.max_steps = max_steps
        # The search for the slope's root along Newton directions (see :meth:`_line_search`)
        # for the smoothed multiclass hinges, whose curved zones Newton crosses by the hundred;
        # the other losses keep plain backtracking.
        self._search = any(
            isinstance(o.loss, (SmoothedMultiHinge, SmoothedMultiSquaredHinge))
            for o in problem.objectives
        )
        D, C = problem.shape
        self._reg = np.zeros((D, C))
        self._reg[: problem.n_features] = 2.0 * problem.l2  # ∇² of l2 ‖W‖², intercept free
        self._reg += 2.0 * problem.prox
        # the prox's pull towards its centre: −2 prox Θ₀ (0 without a centre)
        self._shift = (
            -2.0 * problem.prox * problem.prox_center
            if problem.prox and problem.prox_center is not None
            else np.zeros((D, C))
        )

    # F, its gradient and Hessian --------------------------------------------------------------
    def value(self, theta: np.ndarray, c: np.ndarray, norm: float = 0.0) -> float:
        total = self.problem.penalty(theta)
        if norm > 0:
            total += norm * self.problem.coef_norm(theta)
        c = np.asarray(c)
        if np.all(c > 0):  # one loss call per run of objectives sharing a loss
            return total + float(c @ self.problem.loss_sums(theta))
        S = self.problem.X @ theta
        for o, ck in zip(self.problem.objectives, c, strict=True):
            if ck > 0:  # objectives without weight are not evaluated at all
                total += ck * float(o.loss.value(S[o.rows], o.targets).sum())
        return total

    def _sample_terms(
        self, theta: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, list[LowRank]]:
        X = self.problem.X
        S = X @ theta
        G = np.zeros_like(S)
        Dg = np.zeros_like(S)
        low_rank = []
        for o, ck in zip(self.problem.objectives, c, strict=True):
            if ck <= 0:
                continue
            Sk = S[o.rows]
            G[o.rows] += ck * o.loss.grad(Sk, o.targets)
            d, v = o.loss.hess(Sk, o.targets)
            Dg[o.rows] += ck * d
            if v is not None:
                low_rank.append((o.rows, np.sqrt(ck) * v, -1.0))
            plus = getattr(o.loss, "hess_plus", None)
            if plus is not None:  # a positive low-rank part (the smoothed squared hinge)
                low_rank.append((o.rows, np.sqrt(ck) * plus(Sk, o.targets), 1.0))
        return G, Dg, low_rank

    def gradient(self, theta: np.ndarray, c: np.ndarray) -> np.ndarray:
        G, _, _ = self._sample_terms(theta, c)
        return self.problem.X.T @ G + self._reg * theta + self._shift

    def _hessian(self, Dg: np.ndarray, low_rank: list[LowRank]) -> np.ndarray:
        """Hessian in the (class, feature) ordering of ``theta.T.ravel()``; lower triangle only
        is exact off the diagonal blocks (what the Cholesky factorization reads)."""
        X = self.problem.X
        D, C = self.problem.shape
        H = np.zeros((C * D, C * D))
        for cls in range(C):
            H[cls * D : (cls + 1) * D, cls * D : (cls + 1) * D] = X.T @ (Dg[:, cls : cls + 1] * X)
        for rows, V, sign in low_rank:
            # Rows with v_i = 0 add nothing (a smoothed hinge off its curved part: most rows
            # once μ is small), so the product runs over the others only.
            used = np.flatnonzero(np.any(V != 0, axis=1))
            if used.size == 0:
                continue
            if used.size < len(rows):
                rows, V = rows[used], V[used]
            Xr = X[rows]
            Z = (V[:, :, None] * Xr[:, None, :]).reshape(len(rows), C * D)
            # Only the lower triangle is read (Cholesky with lower=True): syrk halves the work.
            H += dsyrk(sign, Z, trans=1, lower=1)
        H[np.diag_indices_from(H)] += self._reg.T.ravel()
        return H

    @staticmethod
    def factor(H: np.ndarray) -> tuple[np.ndarray, bool]:
        # A softmax model without a squared loss is invariant to adding a constant to every
        # intercept, so H may be singular along that one direction (where every gradient is
        # zero); a jitter far below the curvature scale makes the factorization exist.
        jitter = 1e-13 * max(1.0, float(np.abs(np.diag(H)).max()))
        for _ in range(8):
            # LAPACK's potrf directly (scipy's cho_factor runs the same routine, with ~25 µs of
            # checks per call); cho_solve reads only the lower triangle
            c, info = dpotrf(H + jitter * np.eye(H.shape[0]), lower=1, clean=0)
            if info == 0:
                return c, True
            jitter *= 100.0
        raise LinAlgError("the inner Hessian is not positive definite")

    def _norm_terms(self, theta: np.ndarray, norm: float) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian of ``norm · ‖W‖`` at W ≠ 0, in the Hessian's ordering."""
        D, C = self.problem.shape
        d = self.problem.n_features
        w_mask = np.zeros((D, C), dtype=bool)
        w_mask[:d] = True
        idx = np.flatnonzero(w_mask.T.ravel())
        w = theta.T.ravel()[idx]
        r = float(np.linalg.norm(w))
        grad = np.zeros(D * C)
        grad[idx] = norm * w / r
        hess = np.zeros((D * C, D * C))
        hess[np.ix_(idx, idx)] = (norm / r) * (np.eye(idx.size) - np.outer(w, w) / (r * r))
        return grad, hess

    def _zero_coef(self, c: np.ndarray, theta0: np.ndarray) -> tuple[np.ndarray, int]:
        """The best model with W = 0 (Newton on the intercept alone), and its steps."""
        D, C = self.problem.shape
        theta = np.zeros((D, C))
        if not self.problem.fit_intercept:
            return theta, 0
        theta[D - 1] = theta0[D - 1]
        value = self.value(theta, c)
        steps = 0
        for steps in range(1, self.max_steps + 1):  # noqa: B007
            G, Dg, low_rank = self._sample_terms(theta, c)
            grad = G.sum(axis=0) + self._reg[D - 1] * theta[D - 1] + self._shift[D - 1]
            H = np.diag(Dg.sum(axis=0) + self._reg[D - 1])
            for _, V, sign in low_rank:
                H += sign * (V.T @ V)
            step = -cho_solve(self.factor(H), grad)
            dec2 = float(-grad @ step)
            if dec2 <= 1e-24 * max(1.0, abs(value)):
                break
            direction = np.zeros_like(theta)
            direction[D - 1] = step
            found = self._backtrack(theta, direction, value, dec2, c, 0.0)
            if found is None:
                break
            theta, value, t = found
            if dec2 <= 1e-14 * max(1.0, abs(value)) and t == 1.0:
                break
        return theta, steps

    def _backtrack(
        self,
        theta: np.ndarray,
        direction: np.ndarray,
        value: float,
        dec2: float,
        c: np.ndarray,
        norm: float,
    ) -> tuple[np.ndarray, float, float] | None:
        """Armijo backtracking along a Newton direction: (Θ + tΔ, F there, t), or None.

        The slack admits steps whose gain is below the rounding error of F.
        """
        t = 1.0
        for _ in range(40):
            trial = theta + t * direction
            new = self.value(trial, c, norm)
            if new <= value - 1e-4 * t * dec2 + 1e-15 * abs(value):
                return trial, new, t
            t *= 0.5
        return None

    def _line_search(
        self,
        theta: np.ndarray,
        direction: np.ndarray,
        value: float,
        dec2: float,
        c: np.ndarray,
        norm: float,
    ) -> tuple[np.ndarray, float, float] | None:
        """A minimizer of φ(t) = F(Θ + tΔ) over (0, 1] along a Newton direction, to a tenth
        of the initial slope: (Θ + tΔ, F there, t), or None.

        φ is convex; with a smoothed loss it is piecewise quadratic, and a Newton direction
        whose curvature comes from the rows on their curved parts overshoots once rows cross
        into them. Halving then lands anywhere in [t*/2, 2t*] with up to 5× less decrease than
        t*, and a crawling sequence of such steps; a root of φ' found by safeguarded secant
        steps (Illinois) costs a few evaluations on the scores X Θ + t X Δ, no product with X.
        The full step is taken whenever it passes the Armijo test (as in plain backtracking,
        with the same evaluation of F); the search falls back to backtracking where rounding
        hides the decrease.
        """
        slack = 1e-15 * abs(value)
        full = theta + direction
        f1 = self.value(full, c, norm)
        if f1 <= value - 1e-4 * dec2 + slack:
            return full, f1, 1.0
        phi = self._along(theta, direction, c, norm)
        g1 = phi(1.0)[1]
        if g1 > 0:
            a, ga, b, gb = 0.0, -dec2, 1.0, g1
            t, side = 1.0, 0
            for _ in range(30):
                t = a - ga * (b - a) / (gb - ga)
                width = b - a
                t = min(max(t, a + 0.01 * width), b - 0.01 * width)
                gt = phi(t)[1]
                if abs(gt) <= 0.1 * dec2:
                    break
                if gt < 0:
                    a, ga = t, gt
                    if side == -1:
                        gb *= 0.5  # Illinois: the stale end's slope halved
                    side = -1
                else:
                    b, gb = t, gt
                    if side == 1:
                        ga *= 0.5
                    side = 1
            point = theta + t * direction
            ft = self.value(point, c, norm)
            if ft <= value - 1e-4 * t * dec2 + slack:
                return point, ft, t
        return self._backtrack(theta, direction, value, dec2, c, norm)

    def _along(self, theta: np.ndarray, direction: np.ndarray, c: np.ndarray, norm: float) -> Any:
        """φ(t) = F(Θ + tΔ) and φ'(t), from the scores X Θ and X Δ computed once."""
        problem = self.problem
        d = problem.n_features
        S0, dS = problem.X @ theta, problem.X @ direction
        runs = [(o, ck) for o, ck in zip(problem.objectives, c, strict=True) if ck > 0]

        def phi(t: float) -> tuple[float, float]:
            point = theta + t * direction
            S = S0 + t * dS
            total = problem.penalty(point)
            slope = float(np.sum((self._reg * point + self._shift) * direction))
            if norm > 0:
                size = problem.coef_norm(point)
                total += norm * size
                slope += norm * float(np.sum(point[:d] * direction[:d])) / max(size, 1e-300)
            for o, ck in runs:
                Sk = S[o.rows]
                total += ck * float(o.loss.value(Sk, o.targets).sum())
                slope += ck * float(np.sum(o.loss.grad(Sk, o.targets) * dS[o.rows]))
            return total, slope

        return phi

    def _damped(
        self,
        theta: np.ndarray,
        grad: np.ndarray,
        hessian: np.ndarray,
        value: float,
        c: np.ndarray,
        norm: float,
    ) -> tuple[np.ndarray, float, float] | None:
        """A descent step −(H + τI)⁻¹∇ with the smallest damping τ that the line search
        accepts (τ from 1e-8 to 1e8 times the largest curvature), or None."""
        D, C = self.problem.shape
        top = max(float(np.abs(np.diag(hessian)).max()), 1e-300)
        for power in range(-8, 9, 2):
            damped = hessian + (top * 10.0**power) * np.eye(hessian.shape[0])
            step = -cho_solve(self.factor(damped), grad)
            dec = float(-grad @ step)
            if dec <= 0:
                continue
            found = self._backtrack(theta, step.reshape(C, D).T, value, dec, c, norm)
            if found is not None and found[1] < value:
                return found
        return None

    # Newton ---------------------------------------------------------------------------------
    def solve(self, c: np.ndarray, theta0: np.ndarray, norm: float = 0.0) -> InnerSolution:
        """Minimize F for the coefficients ``c`` and the norm weight ``norm`` from ``theta0``."""
        if norm > 0:
            return self._solve_with_norm(c, theta0, norm)
        return self._newton(c, theta0.copy(), 0.0, 0)

    def _solve_with_norm(self, c: np.ndarray, theta0: np.ndarray, norm: float) -> InnerSolution:
        d = self.problem.n_features
        base, steps = self._zero_coef(c, theta0)
        G, Dg, low_rank = self._sample_terms(base, c)
        grad_w = (self.problem.X.T @ G + self._shift)[:d]  # the ridge adds nothing at W = 0
        slack = float(np.linalg.norm(grad_w)) - norm
        if slack <= 0:
            # 0 ∈ ∂F: W* = 0 exactly. For the outer curvature model W is pinned (a ‖W‖ has
            # unbounded curvature at 0), which makes dΘ/dλ zero in W, as it is inside the ball.
            hessian = self._hessian(Dg, low_rank)
            D, C = self.problem.shape
            w_mask = np.zeros((D, C), dtype=bool)
            w_mask[:d] = True
            pin = 1e8 * max(1.0, float(np.abs(np.diag(hessian)).max()))
            hessian[np.diag_indices_from(hessian)] += pin * w_mask.T.ravel()
            return InnerSolution(base, self.value(base, c, norm), hessian, steps, 0.0)
        theta = theta0.copy()
        if not np.any(theta[:d]):
            # Leave W = 0 along the steepest descent direction −∇_W, whose slope is −slack < 0.
            direction = np.zeros_like(base)
            direction[:d] = -grad_w / float(np.linalg.norm(grad_w))
            start = self.value(base, c, norm)
            t = min(slack / max(2.0 * (self.problem.l2 + self.problem.prox), 1e-300), 1e6)
            for _ in range(200):
                theta = base + t * direction
                if self.value(theta, c, norm) < start:
                    break
                t *= 0.5
        sol = self._newton(c, theta, norm, steps)
        return sol

    def _newton(self, c: np.ndarray, theta: np.ndarray, norm: float, steps0: int) -> InnerSolution:
        D, C = self.problem.shape
        d = self.problem.n_features
        value = self.value(theta, c, norm)
        steps, dec2, capped = 0, np.inf, False
        for steps in range(1, self.max_steps + 1):  # noqa: B007
            G, Dg, low_rank = self._sample_terms(theta, c)
            grad = (self.problem.X.T @ G + self._reg * theta + self._shift).T.ravel()
            hessian = self._hessian(Dg, low_rank)
            if norm > 0:
                if not np.any(theta[:d]):
                    break  # W = 0 was ruled out as the minimizer; rounding landed here
                g_norm, h_norm = self._norm_terms(theta, norm)
                grad, hessian = grad + g_norm, hessian + h_norm
            step = -cho_solve(self.factor(hessian), grad)
            dec2 = float(-grad @ step)
            if dec2 <= 1e-24 * max(1.0, abs(value)):
                break
            search = self._line_search if self._search else self._backtrack
            found = search(theta, step.reshape(C, D).T, value, dec2, c, norm)
            if found is None:
                # A (nearly) singular Hessian — a smoothed loss with few samples on its curved
                # part — can point Newton far off: Levenberg–Marquardt damping instead.
                found = self._damped(theta, grad, hessian, value, c, norm)
                if found is None:
                    break
                theta, value, _ = found
                continue
            theta, value, t = found
            if dec2 <= 1e-14 * max(1.0, abs(value)) and t == 1.0:
                # Quadratic convergence: this full step left F within ~dec2² of its minimum,
                # and Θ moved by ~sqrt(dec2), so the Hessian at the start of the step is the
                # one at Θ* to that accuracy.
                break
        else:
            logger.debug("inner Newton stopped at %d steps (decrement² %.3g)", steps, dec2)
            capped = True
        return InnerSolution(theta, value, hessian, steps0 + steps, dec2, capped)
