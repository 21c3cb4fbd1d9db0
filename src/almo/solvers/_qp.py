"""The λ step of the fast method, exactly: a small convex QP over a polyhedral mixture set.

    maximize ⟨L, μ⟩ − ½ (μ − λ)ᵀ M (μ − λ)   over μ ≥ 0, Σ μ = 1, G μ ≤ h

with M positive semidefinite (p × p, p the number of objectives). A primal active-set method
(Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithm 16.3) solves it to rounding in
a finite number of steps: each step minimizes the model on the face of the current working set
(an eigendecomposition of the reduced p × p curvature), moves to the first blocking constraint,
or, at the face's minimizer, drops the constraint with the most negative multiplier. Directions
of zero curvature (M is often singular: rank ≤ the size of the model) are followed as
directions of linear descent up to the first constraint, which exists because Λ is bounded.

The number of steps is finite (at most a few times the number of constraints in practice);
a guard far above that returns the current feasible point, which the outer line search accepts
or shortens like any other.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import null_space


def active_set_argmax(
    L: np.ndarray, M: np.ndarray, lam: np.ndarray, G: np.ndarray, h: np.ndarray
) -> np.ndarray:
    """argmax over {μ ≥ 0, Σμ = 1, Gμ ≤ h} of ⟨L, μ⟩ − ½ (μ − λ)ᵀ M (μ − λ), from λ feasible.

    Examples
    --------
    >>> import numpy as np
    >>> L, M, lam = np.array([1.0, 0.0]), np.eye(2), np.array([0.5, 0.5])
    >>> active_set_argmax(L, M, lam, np.zeros((0, 2)), np.zeros(0)).tolist()
    [1.0, 0.0]
    >>> mu = active_set_argmax(np.array([0.2, 0.0]), M, lam, np.zeros((0, 2)), np.zeros(0))
    >>> mu.round(12).tolist()  # the projection of λ + L onto the simplex
    [0.6, 0.4]
    """
    p = lam.size
    A = np.vstack([-np.eye(p), G]) if G.size else -np.eye(p)
    b = np.concatenate([np.zeros(p), h]) if G.size else np.zeros(p)
    row_norm = np.linalg.norm(A, axis=1)
    scale = max(float(np.abs(L).max()), float(np.abs(M).max()), 1e-300)
    mu = np.maximum(np.asarray(lam, dtype=np.float64), 0.0)
    mu /= mu.sum()
    slack = b - A @ mu
    ones = np.ones((1, p))
    work: list[int] = []
    for i in np.argsort(slack):
        if slack[i] > 1e-13 * row_norm[i]:
            break
        if _independent(np.vstack([ones, A[[*work, int(i)]]])):
            work.append(int(i))
    for _ in range(20 * (A.shape[0] + p) + 50):
        grad = M @ (mu - lam) - L  # of the minimized objective
        E = np.vstack([ones, A[work]])
        Z = null_space(E, rcond=1e-13)
        direction = np.zeros(p)
        bounded = True
        if Z.shape[1]:
            w, V = np.linalg.eigh(Z.T @ M @ Z)
            gr = Z.T @ grad
            flat = w <= 1e-12 * max(float(w.max()), 0.0) + 1e-300
            along = V[:, flat] @ (V[:, flat].T @ gr)
            if float(np.abs(along).max(initial=0.0)) > 1e-13 * (float(np.abs(gr).max()) + scale):
                direction, bounded = -(Z @ along), False
            else:
                curved = V[:, ~flat]
                direction = -(Z @ (curved @ ((curved.T @ gr) / w[~flat])))
        if float(np.abs(direction).max(initial=0.0)) <= 1e-15:
            # The face's minimizer: multipliers ν of g + Eᵀν = 0 (ν ≥ 0 on inequalities).
            nu = np.linalg.lstsq(E.T, -grad, rcond=None)[0][1:]
            if not work or float(nu.min()) >= -1e-12 * scale:
                return _feasible(mu)
            work.pop(int(np.argmin(nu)))
            continue
        rate = A @ direction
        step, block = (1.0 if bounded else np.inf), -1
        for i in np.flatnonzero(rate > 1e-15 * row_norm):
            if i in work:
                continue
            reach = max(b[i] - float(A[i] @ mu), 0.0) / rate[i]
            if reach < step:
                step, block = reach, int(i)
        if not np.isfinite(step):
            return _feasible(mu)  # unreachable on a bounded set; keep the feasible point
        mu = mu + step * direction
        if block >= 0:
            work.append(block)
            if block < p:
                mu[block] = 0.0  # exactly on its bound
    return _feasible(mu)


def _independent(E: np.ndarray) -> bool:
    return bool(np.linalg.matrix_rank(E, tol=1e-10) == E.shape[0])


def _feasible(mu: np.ndarray) -> np.ndarray:
    """μ with the rounding of the steps removed: non-negative, summing to 1."""
    mu = np.maximum(mu, 0.0)
    return mu / mu.sum()
