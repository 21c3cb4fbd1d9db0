"""Certified lower bounds on g(λ) = min over Θ of Σ_k λ_k L̂_k(Θ) + a ‖W‖ + l2 ‖W‖², by Fenchel
duality (a = Σ_k λ_k c_k from a λ-dependent penalty, 0 without one).

Write the inner problem as ``Σ_j f_j(a_j) + h(Θ)`` with one term per (objective k, sample i),
``f_j = c_k ℓ_k(·, y_i)`` with ``c_k = λ_k / (n_k s_k)``, ``a_j = x̃_iᵀ Θ`` and
``h(Θ) = l2 ‖W‖²`` (the intercept row is free). Weak duality gives, for any duals ``α_j``,

    g(λ) ≥ D(α) = −Σ_j f_j*(α_j) − ‖Σ_j x_i α_jᵀ‖²_F / (4 l2)      if Σ_j α_j = 0,

(with ``l2 = 0`` the whole of ``Σ_j x̃_i α_jᵀ`` must vanish instead). ``D`` is a true lower bound
for *any* α meeting those linear constraints exactly inside the conjugates' domains, however it
was found: it does not rest on the accuracy of an inner solve. The candidates come from the
gradients of the losses at a primal point (then ``D`` is tight up to ``‖∇‖² / (4 l2)``) or from a
conic solver's multipliers. Each candidate is first moved into the domains (``clip``), then its
constraint residual ``R`` is removed exactly by the least-norm correction: through objectives
whose conjugate is finite everywhere (squared) when there are some, otherwise spread over the
samples in proportion to their room inside the domain — and the candidate is dropped when that
correction would leave the domain. Floating-point rounding (~1e-15 relative) is the only slack.

With the norm term, ``h(W) = a ‖W‖ + l2 ‖W‖²`` has the conjugate
``h*(G) = max(‖G‖ − a, 0)² / (4 l2)`` (l2 > 0), so the quadratic term above becomes
``max(‖G‖ − a, 0)² / (4 l2)`` with ``G = Σ_j x_i α_jᵀ``; with ``l2 = 0``, ``h*`` is the indicator
of the ball ‖G‖ ≤ a, so G need not vanish but only lie in that ball: the intercept column is
repaired to zero first, and when ‖G‖ is still above a, G is moved onto the ball of radius
a (1 − 1e-10) by the same least-norm correction.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from almo.solvers._problem import LinearProblem


def dual_bound(problem: LinearProblem, weights: np.ndarray, unit_duals: list[np.ndarray]) -> float:
    """A lower bound on g(λ) from the dual candidate α_k = c_k · u_k; -inf when it fails.

    ``unit_duals[k]`` (n_k, C) is the dual in the units of the unit-weight loss (the gradient of
    ℓ_k at a primal point is the natural choice).
    """
    X, d = problem.X, problem.n_features
    cs = [
        max(float(lam), 0.0) * o.weight for o, lam in zip(problem.objectives, weights, strict=True)
    ]
    alphas, rooms = [], []
    for o, c, U in zip(problem.objectives, cs, unit_duals, strict=True):
        U = np.asarray(U, dtype=np.float64)
        if c <= 0.0:
            alphas.append(np.zeros_like(U))
            rooms.append(np.zeros_like(U))
            continue
        U = o.loss.clip(U, o.targets)
        alphas.append(c * U)
        rooms.append(c * o.loss.room(U, o.targets))
    norm = problem.norm_weight(weights)
    sum_zero = [o.loss.sum_zero for o in problem.objectives]
    # The linear constraints on α: the intercept column only (l2 > 0 or a > 0), or all of X̃.
    if problem.l2 > 0 or norm > 0:
        if problem.fit_intercept:
            B = problem.stacked_design()[:, -1:]
            if not _repair(B, problem.offsets, alphas, rooms, sum_zero):
                return -np.inf
    elif not _repair(
        problem.stacked_design(), problem.offsets, alphas, rooms, sum_zero, None, problem.gram()
    ):
        return -np.inf
    if problem.l2 == 0 and norm > 0:
        # h* is the indicator of ‖G‖ ≤ a: move G into the ball when it lies outside.
        G = _coef_dual(problem, alphas)
        size = float(np.linalg.norm(G))
        if size > norm:
            target = np.zeros((X.shape[1], G.shape[1]))
            target[:d] = G * (norm * (1.0 - 1e-10) / size)
            # the first repair used up part of each coordinate's room: measure it again
            rooms = [
                c * o.loss.room(A / c, o.targets) if c > 0.0 else np.zeros_like(A)
                for o, c, A in zip(problem.objectives, cs, alphas, strict=True)
            ]
            B = problem.stacked_design()
            if not _repair(B, problem.offsets, alphas, rooms, sum_zero, target, problem.gram()):
                return -np.inf
            if float(np.linalg.norm(_coef_dual(problem, alphas))) > norm:
                return -np.inf
    conj = 0.0
    for o, c, A in zip(problem.objectives, cs, alphas, strict=True):
        if c > 0.0:
            conj += c * float(o.loss.conj(A / c, o.targets).sum())
    if problem.l2 == 0:
        return -conj
    G = _coef_dual(problem, alphas)
    if norm > 0:
        excess = max(float(np.linalg.norm(G)) - norm, 0.0)
        return -conj - excess * excess / (4.0 * problem.l2)
    return -conj - float(np.sum(G**2)) / (4.0 * problem.l2)


def _coef_dual(problem: LinearProblem, alphas: list[np.ndarray]) -> np.ndarray:
    """G = Σ_j x_i α_jᵀ over the feature columns (the intercept column left out), (d, C)."""
    return problem.stacked_design()[:, : problem.n_features].T @ np.vstack(alphas)


def _repair(
    B: np.ndarray,
    offsets: np.ndarray,
    alphas: list[np.ndarray],
    rooms: list[np.ndarray],
    sum_zero: list[bool],
    target: np.ndarray | None = None,
    gram: np.ndarray | None = None,
) -> bool:
    """Make Σ_k B_kᵀ α_k = target (0 by default) exactly by a weighted least-norm change of α
    (in place); ``B`` stacks the blocks B_k, objective k on rows ``offsets[k]:offsets[k + 1]``,
    and ``gram`` is BᵀB when known (the system's blocks when every objective is free).

    The change of row i of α_k is ``δ = ω ∘ (η 1 − B_i Z)``, with weights ω proportional to the
    room left in the domain, η keeping the class sum of δ at zero for simplex-type domains, and
    Z (q, C) solving the linear system that cancels the residual. Objectives whose conjugate is
    finite everywhere (squared), when present, absorb the whole residual on their own.

    The system is solved by Cholesky when its pivots show it well conditioned, by least
    squares otherwise — and by least squares again when the first solution fails a check.
    Either way the change is kept only if it stays in the domains and cancels the residual to
    rounding (the exactness check that makes the bound true).
    """
    A = np.vstack(alphas)
    R = B.T @ A
    if target is not None:
        R = R - target
    # the rounding floor of R: its entries are sums of |B_ij α_i| terms, each carrying ~1e-16
    floor = 1e-12 * max(1.0, float((np.abs(B).T @ np.abs(A)).max(initial=0.0)))
    if np.abs(R).max(initial=0.0) <= floor:
        return True
    counts = np.diff(offsets)
    free = np.array([bool(np.isinf(r).all() and r.size) for r in rooms])
    if free.any():
        Om = np.repeat(free.astype(np.float64), counts)[:, None] * np.ones((1, A.shape[1]))
    else:
        Om = np.vstack(
            [
                np.where(
                    np.isfinite(r), r, np.nanmax(np.where(np.isfinite(r), r, np.nan), initial=1.0)
                )
                for r in rooms
            ]
        )
    zero_sum = np.repeat(np.array(sum_zero, dtype=bool) & ~free, counts)
    bounded = np.repeat(~free, counts)
    room = np.vstack(rooms)[bounded] if bounded.any() else None
    q, C = R.shape
    # K vec(Z) = vec(R), vec in (class, column) order: block (c, c') of K is
    # δ_cc' Σ_i ω_ic B_i B_iᵀ − Σ_{zero-sum i} ω_ic ω_ic' / s_i B_i B_iᵀ.
    K = np.zeros((C * q, C * q))
    for c in range(C):
        block = gram if gram is not None and free.all() else B.T @ (Om[:, c : c + 1] * B)
        K[c * q : (c + 1) * q, c * q : (c + 1) * q] = block
    multiclass = bool(zero_sum.any()) and C > 1
    if multiclass:
        Bz, Oz = B[zero_sum], Om[zero_sum]
        s = Oz.sum(axis=1)
        V = Oz / np.sqrt(np.where(s > 0, s, 1.0))[:, None]
        Zm = (V[:, :, None] * Bz[:, None, :]).reshape(Bz.shape[0], C * q)
        K -= Zm.T @ Zm
    r = R.T.ravel()
    for z in (_cholesky_solve(K, r), None):
        if z is None:
            z = np.linalg.lstsq(K, r, rcond=None)[0]
        BZ = B @ z.reshape(C, q).T
        step = -Om * BZ
        if multiclass:
            s = Om[zero_sum].sum(axis=1, keepdims=True)
            step[zero_sum] += (
                Om[zero_sum] * (Om[zero_sum] * BZ[zero_sum]).sum(axis=1, keepdims=True)
            ) / np.where(s > 0, s, 1.0)
        if room is not None and np.any(np.abs(step[bounded]) > room):
            continue
        after = A + step
        R_after = B.T @ after
        if target is not None:
            R_after = R_after - target
        if np.abs(R_after).max() <= max(floor, 1e-12 * float(np.abs(R).max())):
            alphas[:] = [after[a:b] for a, b in pairwise(offsets)]
            return True
    return False


def _cholesky_solve(K: np.ndarray, r: np.ndarray) -> np.ndarray | None:
    """K⁻¹ r by Cholesky (LAPACK, no wrapper overhead) when K is positive definite with pivots
    within a factor 10⁶ of each other — a cheap sign of a well-conditioned system, on which
    least squares gives the same answer to rounding; None otherwise (the caller then uses least
    squares)."""
    c, info = dpotrf(K, lower=1, clean=0)
    if info != 0:
        return None
    pivots = np.abs(np.diag(c))
    if not pivots.size or float(pivots.min()) <= 1e-6 * float(pivots.max()):
        return None
    z, info = dpotrs(c, r, lower=1)
    return z if info == 0 and np.all(np.isfinite(z)) else None
