"""Numerical kernels of :class:`almo.PriorBall`: balls around a prior λ0 inside the simplex.

Ball = {λ ∈ Δ_p : D(λ, λ0) ≤ r} with D the l1 distance, the χ² divergence Σ(λ-λ0)²/λ0 or the
Kullback–Leibler divergence Σ λ log(λ/λ0).

- Worst case max ⟨λ, ℓ⟩: l1 moves mass r/2 greedily to the largest loss; χ² has a closed form
  on each active set (λ ∝ λ0 (ℓ - c)+); KL is the exponential tilt λ ∝ λ0 exp(β ℓ) with β found
  by bisection (KL grows with β).
- Projection: for l1 and χ² the Lagrangian with a multiplier μ on the ball constraint is a
  clip-type threshold problem (solved exactly by :func:`almo.projections.solve_threshold`), and
  D(λ(μ), λ0) decreases with μ, so μ is found by bisection; KL bisects on log μ with the
  Wright-omega closed form of the inner problem (:func:`project_kl`), no conic solver.

All functions take float64 numpy arrays; projections work on rows of shape (n, p).
"""

from __future__ import annotations

import numpy as np

from almo.projections import project_simplex, solve_threshold

_BISECTIONS = 100  # halves a bracket to below float64 resolution


def divergence(w: np.ndarray, prior: np.ndarray, kind: str) -> np.ndarray:
    """D(w, prior) along the last axis for kind in {"l1", "chi2", "kl"}."""
    if kind == "l1":
        return np.abs(w - prior).sum(-1)
    if kind == "chi2":
        return ((w - prior) ** 2 / prior).sum(-1)
    safe = np.where(w > 0, w, 1.0)
    return np.where(w > 0, w * np.log(safe / prior), 0.0).sum(-1)


def shrink_to_ball(w: np.ndarray, prior: np.ndarray, radius: float, kind: str) -> np.ndarray:
    """Pull rows of ``w`` towards the prior until D ≤ radius (fixes solver round-off).

    D(λ0 + θ(w - λ0)) is θ D(w) for l1, θ² D(w) for χ² and ≤ θ D(w) for KL (convexity).
    """
    d = divergence(w, prior, kind)[..., None]
    over = d > radius
    if not over.any():
        return w
    ratio = np.where(over, radius / np.where(over, d, 1.0), 1.0)
    theta = np.sqrt(ratio) if kind == "chi2" else ratio
    return prior + theta * (w - prior)


# ------------------------------------------------------------------------- worst case


def worst_case_l1(ell: np.ndarray, prior: np.ndarray, radius: float) -> np.ndarray:
    """Move up to r/2 of mass from the smallest losses to the largest one."""
    top = int(np.argmax(ell))
    order = np.argsort(ell, kind="stable")
    order = order[ell[order] < ell[top]]
    give = prior[order]
    before = np.cumsum(give) - give
    take = np.clip(radius / 2.0 - before, 0.0, give)
    w = prior.copy()
    w[order] -= take
    w[top] += take.sum()
    return w


def worst_case_chi2(ell: np.ndarray, prior: np.ndarray, radius: float) -> np.ndarray:
    """λ = λ0 (ℓ - c)+ / Σ λ0 (ℓ - c)+ with c in closed form on the right active set.

    With the top-k losses active, q = λ0/A0 on them (A0 their prior mass), mean μ and standard
    deviation σ under q: χ²(λ) = r gives c = μ - σ / sqrt((1 + r) A0 - 1), valid when c lies
    between the k-th and (k+1)-th largest losses.
    """
    top = ell == ell.max()
    if (1.0 + radius) * prior[top].sum() >= 1.0:  # the ball reaches the best face
        w = np.where(top, prior, 0.0)
        return shrink_to_ball(w / w.sum(), prior, radius, "chi2")
    order = np.argsort(-ell, kind="stable")
    s, q = ell[order], prior[order]
    a0 = np.cumsum(q)
    mu = np.cumsum(q * s) / a0
    var = np.maximum(np.cumsum(q * s * s) / a0 - mu * mu, 0.0)
    room = (1.0 + radius) * a0 - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        c = mu - np.sqrt(var) / np.sqrt(room)
    nxt = np.append(s[1:], -np.inf)
    ok = (room > 0) & (var > 0) & (c >= nxt - 1e-12 * (1 + abs(nxt))) & (c < s)
    k = int(np.argmax(ok)) if ok.any() else int(np.nanargmin(np.abs(c - nxt)))
    w = np.zeros_like(prior)
    w[order] = q * np.maximum(s - c[k], 0.0)
    return shrink_to_ball(w / w.sum(), prior, radius, "chi2")


def worst_case_kl(ell: np.ndarray, prior: np.ndarray, radius: float) -> np.ndarray:
    """Exponential tilt λ ∝ λ0 exp(β ℓ), the largest β with KL(λ, λ0) ≤ r (bisection)."""
    top = ell == ell.max()
    if -np.log(prior[top].sum()) <= radius:
        w = np.where(top, prior, 0.0)
        return w / w.sum()
    span = float(ell.max() - ell.min())
    shifted = (ell - ell.max()) / span  # in [-1, 0]: exp never overflows

    def tilt(beta: float) -> tuple[np.ndarray, float]:
        w = prior * np.exp(beta * shifted)
        z = w.sum()
        w = w / z
        return w, float(beta * (w @ shifted) - np.log(z))

    lo, hi = 0.0, 1.0
    while tilt(hi)[1] <= radius:
        lo, hi = hi, 2.0 * hi
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if tilt(mid)[1] <= radius:
            lo = mid
        else:
            hi = mid
    return tilt(lo)[0]


# ------------------------------------------------------------------------- projection


def _l1_point(v: np.ndarray, prior: np.ndarray, mu: np.ndarray) -> np.ndarray:
    # argmin ½||λ - v||² + μ||λ - λ0||_1 over Δ: with x = v - τ the optimal entry is
    # clip(x + μ, 0, λ0) + max(x - λ0 - μ, 0), a sum of two clip terms in τ.
    a = np.concatenate([v + mu, v - prior - mu], -1)
    lo = np.zeros_like(a)
    hi = np.concatenate([np.broadcast_to(prior, v.shape), np.full(v.shape, np.inf)], -1)
    x = v - solve_threshold(a, lo, hi)[..., None]
    return np.clip(x + mu, 0.0, prior) + np.maximum(x - prior - mu, 0.0)


def _chi2_point(v: np.ndarray, prior: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    # argmin ½||λ - v||² + γ χ²(λ, λ0) over Δ: λ_i = s_i (v_i - τ)+ with s_i = λ0_i/(λ0_i + 2γ).
    s = np.broadcast_to(prior / (prior + 2.0 * gamma), v.shape)
    tau = solve_threshold(v, np.zeros_like(v), np.full(v.shape, np.inf), scale=s)
    return s * np.maximum(v - tau[..., None], 0.0)


def project_ball(v: np.ndarray, prior: np.ndarray, radius: float, kind: str) -> np.ndarray:
    """Exact projection of rows ``v`` (n, p) onto the l1 or χ² ball (bisection on μ)."""
    if radius == 0.0:
        return np.broadcast_to(prior, v.shape).copy()
    point = _l1_point if kind == "l1" else _chi2_point
    free = project_simplex(v)
    inside = divergence(free, prior, kind) <= radius
    if inside.all():
        return free
    rows = np.flatnonzero(~inside)
    w = v[rows]
    lo = np.zeros((rows.size, 1))
    if kind == "l1":  # at μ = range(v - λ0) the prior itself is optimal
        hi = (np.ptp(w - prior, axis=-1) + 1e-300)[:, None]
    else:
        hi = np.ones((rows.size, 1))
        for _ in range(1100):
            far = divergence(point(w, prior, hi), prior, kind)[:, None] > radius
            if not far.any():
                break
            lo, hi = np.where(far, hi, lo), np.where(far, 2.0 * hi, hi)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        far = divergence(point(w, prior, mid), prior, kind)[:, None] > radius
        lo, hi = np.where(far, mid, lo), np.where(far, hi, mid)
    free[rows] = shrink_to_ball(point(w, prior, hi), prior, radius, kind)
    return free


def _kl_point(v: np.ndarray, logp: np.ndarray, mu: float) -> np.ndarray:
    """argmin over Δ of ½‖x − v‖² + μ KL(x ‖ λ0), on the prior's support.

    Stationarity gives x_i + μ log x_i = c_i − τ with c_i = v_i − μ + μ log λ0_i, so
    x_i = μ ω((c_i − τ)/μ − log μ) with ω the Wright omega function (y + log y = z); τ makes
    Σx = 1. Σx(τ) is convex and decreasing (dx_i/dc_i = x_i/(x_i + μ) grows with x_i), so Newton's
    method started left of the root climbs to it monotonically.
    """
    from scipy.special import wrightomega

    c = v - mu + mu * logp
    tau = float(np.max(c)) - 1.0  # the largest x_i is at least 1 here: Σx ≥ 1, left of the root
    log_mu = np.log(mu)
    for _ in range(100):
        omega = wrightomega((c - tau) / mu - log_mu).real
        excess = mu * omega.sum() - 1.0
        step = excess / np.sum(omega / (1.0 + omega))
        tau += step
        if excess <= 1e-15 or step <= 1e-16 * max(1.0, abs(tau)):
            break
    return mu * wrightomega((c - tau) / mu - log_mu).real


def project_kl(v: np.ndarray, prior: np.ndarray, radius: float) -> np.ndarray:
    """Exact Euclidean projection of one vector onto {λ ∈ Δ : KL(λ ‖ λ0) ≤ r}.

    Call it only where the simplex projection of ``v`` lies outside the ball, so the KL
    constraint is active with multiplier μ > 0; KL(x(μ) ‖ λ0) falls as μ grows, and μ is found
    by bisection on log μ. No conic solver is involved, so huge or tiny inputs stay accurate.
    """
    support = prior > 0
    w, logp = v[support] - v[support].max(), np.log(prior[support])
    scale = max(1.0, float(np.ptp(w)))
    lo, hi = np.log(1e-12 * scale), np.log(scale)
    while divergence(_kl_point(w, logp, np.exp(hi)), prior[support], "kl") > radius:
        lo, hi = hi, hi + 5.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if divergence(_kl_point(w, logp, np.exp(mid)), prior[support], "kl") > radius:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    out = np.zeros_like(v)
    x = np.maximum(_kl_point(w, logp, np.exp(hi)), 0.0)
    out[support] = x / x.sum()
    return shrink_to_ball(out, prior, radius, "kl")
