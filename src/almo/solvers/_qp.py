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

from functools import lru_cache

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
    G = np.asarray(G, dtype=np.float64).reshape(-1, p)
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    bounds = _coordinate_rows(G)
    if bounds is not None:
        return _coordinate_argmax(L, M, lam, h, *bounds)
    return _general_argmax(L, M, lam, G, h)


def _start(lam: np.ndarray) -> np.ndarray:
    mu = np.maximum(np.asarray(lam, dtype=np.float64), 0.0)
    return mu / mu.sum()


def _face_step(
    grad: np.ndarray, M: np.ndarray, Z: np.ndarray, scale: float
) -> tuple[np.ndarray, bool]:
    """The step to the model's minimizer on the face spanned by the orthonormal ``Z`` (bounded),
    or a direction of linear descent along zero curvature (unbounded)."""
    p = grad.size
    if not Z.shape[1]:
        return np.zeros(p), True
    w, V = np.linalg.eigh(Z.T @ M @ Z)
    gr = Z.T @ grad
    flat = w <= 1e-12 * max(float(w[-1]), 0.0) + 1e-300  # eigh sorts w ascending
    if not flat[0]:  # no flat direction: the Newton step on the face
        return -(Z @ (V @ ((V.T @ gr) / w))), True
    along = V[:, flat] @ (V[:, flat].T @ gr)
    if float(np.abs(along).max(initial=0.0)) > 1e-13 * (float(np.abs(gr).max()) + scale):
        return -(Z @ along), False
    curved = V[:, ~flat]
    return -(Z @ (curved @ ((curved.T @ gr) / w[~flat]))), True


def _blocking(
    rate: np.ndarray, room: np.ndarray, row_norm: np.ndarray, work: list[int], bounded: bool
) -> tuple[float, int]:
    """The largest step up to 1 (bounded) and the first constraint it meets (-1: none); ties go
    to the lowest row index."""
    moving = rate > 1e-15 * row_norm
    if work:
        moving[work] = False
    step, block = (1.0 if bounded else np.inf), -1
    if moving.any():
        rows = np.flatnonzero(moving)
        reach = np.maximum(room[rows], 0.0) / rate[rows]
        j = int(np.argmin(reach))
        if reach[j] < step:
            step, block = float(reach[j]), int(rows[j])
    return step, block


def _coordinate_rows(G: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(coordinate, coefficient) of each row of G when every row bounds one coordinate (the
    box-simplex, the simplex with no row); None otherwise."""
    if not G.shape[0]:
        return np.zeros(0, dtype=np.intp), np.zeros(0)
    nonzero = G != 0
    if not np.all(nonzero.sum(axis=1) == 1):
        return None
    coord = np.argmax(nonzero, axis=1)
    return coord, G[np.arange(G.shape[0]), coord]


def _sum_zero_basis(free: np.ndarray) -> np.ndarray:
    """An orthonormal basis (p, m − 1) of the vectors supported on the m ``free`` coordinates
    whose entries sum to 0: the last m − 1 columns of the Householder reflection that maps
    1/√m to e₁ (its first column is 1/√m, so the others are orthogonal to it). Read-only,
    computed once per set of free coordinates.

    Examples
    --------
    >>> Z = _sum_zero_basis(np.array([True, False, True, True]))
    >>> Z.shape, bool(np.allclose(Z.T @ Z, np.eye(2))), bool(np.allclose(Z.sum(axis=0), 0.0))
    ((4, 2), True, True)
    >>> Z[1].tolist()
    [0.0, 0.0]
    """
    return _basis(free.tobytes())


@lru_cache(maxsize=4096)
def _basis(free_bytes: bytes) -> np.ndarray:
    free = np.frombuffer(free_bytes, dtype=bool)
    idx = np.flatnonzero(free)
    m = idx.size
    Z = np.zeros((free.size, max(m - 1, 0)))
    if m >= 2:
        v = np.full(m, 1.0 / np.sqrt(m))
        v[0] -= 1.0
        H = -(2.0 / float(v @ v)) * np.outer(v, v[1:])
        H[1:] += np.eye(m - 1)
        Z[idx] = H
    Z.setflags(write=False)
    return Z


def _coordinate_argmax(
    L: np.ndarray,
    M: np.ndarray,
    lam: np.ndarray,
    h: np.ndarray,
    coord: np.ndarray,
    coef: np.ndarray,
) -> np.ndarray:
    """The active-set method when every constraint bounds one coordinate (μ_i ≥ 0 and the rows
    of G): a working set fixes coordinates, so its face is {δ supported on the free
    coordinates F, Σ δ = 0}, with the closed-form orthonormal basis of :func:`_sum_zero_basis`,
    and the multipliers of g + ν₀ 1 + Σ_r ν_r a_r = 0 are ν₀ = −mean(g_F) (least squares on F)
    and ν_r = −(g_i + ν₀) / a_r on the fixed coordinate i of row r. The same steps as the
    general method, without its SVDs and least-squares solves."""
    p = lam.size
    coord = np.concatenate([np.arange(p), coord])
    coef = np.concatenate([-np.ones(p), coef])
    b = np.concatenate([np.zeros(p), h])
    row_norm = np.abs(coef)
    scale = max(float(np.abs(L).max()), float(np.abs(M).max()), 1e-300)
    mu = _start(lam)
    work: list[int] = []
    fixed = np.zeros(p, dtype=bool)
    slack = b - coef * mu[coord]
    for i in np.argsort(slack):
        if slack[i] > 1e-13 * row_norm[i]:
            break
        # rows [1; e_i for the fixed i] are independent while < p distinct coordinates
        if not fixed[coord[i]] and len(work) + 1 < p:
            work.append(int(i))
            fixed[coord[i]] = True
    for _ in range(20 * (coord.size + p) + 50):
        grad = M @ (mu - lam) - L
        free = ~fixed
        direction, bounded = _face_step(grad, M, _sum_zero_basis(free), scale)
        if float(np.abs(direction).max(initial=0.0)) <= 1e-15:
            if not work:
                return _feasible(mu)
            nu0 = -float(grad[free].mean())
            rows = np.array(work)
            nu = -(grad[coord[rows]] + nu0) / coef[rows]
            if float(nu.min()) >= -1e-12 * scale:
                return _feasible(mu)
            fixed[coord[work.pop(int(np.argmin(nu)))]] = False
            continue
        rate = coef * direction[coord]
        step, block = _blocking(rate, b - coef * mu[coord], row_norm, work, bounded)
        if not np.isfinite(step):
            return _feasible(mu)  # unreachable on a bounded set; keep the feasible point
        mu = mu + step * direction
        if block >= 0:
            work.append(block)
            fixed[coord[block]] = True
            if block < p:
                mu[block] = 0.0  # exactly on its bound
    return _feasible(mu)


def _general_argmax(
    L: np.ndarray, M: np.ndarray, lam: np.ndarray, G: np.ndarray, h: np.ndarray
) -> np.ndarray:
    """The active-set method on any rows G: faces by SVD, multipliers by least squares."""
    p = lam.size
    A = np.vstack([-np.eye(p), G]) if G.size else -np.eye(p)
    b = np.concatenate([np.zeros(p), h]) if G.size else np.zeros(p)
    row_norm = np.linalg.norm(A, axis=1)
    scale = max(float(np.abs(L).max()), float(np.abs(M).max()), 1e-300)
    mu = _start(lam)
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
        direction, bounded = _face_step(grad, M, null_space(E, rcond=1e-13), scale)
        if float(np.abs(direction).max(initial=0.0)) <= 1e-15:
            # The face's minimizer: multipliers ν of g + Eᵀν = 0 (ν ≥ 0 on inequalities).
            nu = np.linalg.lstsq(E.T, -grad, rcond=None)[0][1:]
            if not work or float(nu.min()) >= -1e-12 * scale:
                return _feasible(mu)
            work.pop(int(np.argmin(nu)))
            continue
        step, block = _blocking(A @ direction, b - A @ mu, row_norm, work, bounded)
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
