"""Numerical kernels of :class:`almo.PriorBall`: balls around a prior λ0 inside the simplex.

Ball = {λ ∈ Δ_p : D(λ, λ0) ≤ r} with D the l1 distance, the χ² divergence Σ(λ-λ0)²/λ0 or the
Kullback–Leibler divergence Σ λ log(λ/λ0).

- Worst case max ⟨λ, ℓ⟩: l1 moves mass r/2 greedily to the largest loss; χ² has a closed form
  on each active set (λ ∝ λ0 (ℓ - c)+); KL is the exponential tilt λ ∝ λ0 exp(β ℓ) with β found
  by bisection (KL grows with β).
- Projection: rows are centred first (Π(v + c·1) = Π(v)). l1: with the ball active, two
  independent thresholds (mass r/2 added above λ0, r/2 removed below it), no search. χ²: the
  Lagrangian with a multiplier μ on the ball constraint is a clip-type threshold problem
  (solved exactly at any magnitude by :func:`almo.projections.threshold_point`), and
  D(λ(μ), λ0) decreases with μ, so μ is found by bisection; KL bisects on log μ with the
  Wright-omega closed form of the inner problem (:func:`project_kl`), no conic solver.

All functions take float64 numpy arrays; projections work on rows of shape (n, p).
"""

from __future__ import annotations

import numpy as np

from almo.projections import project_simplex, threshold_point

_BISECTIONS = 100  # halves a bracket to below float64 resolution
# Rows of v are centred and clamped to this magnitude before a ball projection, so that v ± μ
# (μ up to the range of v) cannot overflow; entries that far out sit at their bounds anyway.
_WIDE = 2.0**1000


def centre_rows(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` shifted to midrange 0 (Π(v + c·1) = Π(v) on any Λ ⊂ Δ), then clamped to
    ±2^1000; the midrange is formed as max/2 + min/2, so no step overflows."""
    mid = 0.5 * v.max(axis=-1, keepdims=True) + 0.5 * v.min(axis=-1, keepdims=True)
    return np.clip(v - mid, -_WIDE, _WIDE)


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

    With the top-k losses active, q = λ0/A0 on them (A0 their prior mass, B0 = 1 - A0 the
    rest), mean μ and standard deviation σ under q: χ²(λ) = r gives
    c = μ - σ / sqrt(r A0 - B0), valid when c lies between the k-th and (k+1)-th largest
    losses. The losses are first mapped to [-1, 0] (largest at 0), so nearly tied top losses
    keep their variance, and B0 is a tail sum, so radii of round-off size keep r A0 - B0 > 0.
    When round-off leaves no active set valid, c is found by bisection (χ² grows with c).
    """
    if radius <= 0.0:
        return prior.copy()
    top = ell == ell.max()
    if radius * prior[top].sum() >= prior[~top].sum():  # the ball reaches the best face
        w = np.where(top, prior, 0.0)
        return shrink_to_ball(w / w.sum(), prior, radius, "chi2")
    span = float(ell.max() - ell.min())
    order = np.argsort(-ell, kind="stable")
    s, q = (ell[order] - ell.max()) / span, prior[order]
    a0 = np.cumsum(q)
    b0 = np.append(np.cumsum(q[::-1])[::-1][1:], 0.0)  # prior mass of the inactive losses
    mu = np.cumsum(q * s) / a0
    var = np.maximum(np.cumsum(q * s * s) / a0 - mu * mu, 0.0)
    room = radius * a0 - b0
    with np.errstate(divide="ignore", invalid="ignore"):
        c = mu - np.sqrt(var) / np.sqrt(room)
    nxt = np.append(s[1:], -np.inf)
    ok = (room > 0) & (var > 0) & (c >= nxt - 1e-12) & (c < s)
    cut = float(c[int(np.argmax(ok))]) if ok.any() else _chi2_cut_bisect(s, q, radius)
    w = np.zeros_like(prior)
    w[order] = q * np.maximum(s - cut, 0.0)
    return shrink_to_ball(w / w.sum(), prior, radius, "chi2")


def _chi2_cut_bisect(s: np.ndarray, q: np.ndarray, radius: float) -> float:
    """The cut c in [-inf, 0) with χ²(λ0 (s - c)+ normalized) = r, by bisection on c."""

    def chi2(cut: float) -> float:
        d = np.maximum(s - cut, 0.0)
        z = float(q @ d)
        return float(q @ (d * d)) / (z * z) - 1.0

    lo, hi = -2.0, 0.0
    while chi2(lo) > radius and lo > -1e300:
        lo *= 4.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if chi2(mid) > radius:
            hi = mid
        else:
            lo = mid
    return lo


def worst_case_kl(ell: np.ndarray, prior: np.ndarray, radius: float) -> np.ndarray:
    """Exponential tilt λ ∝ λ0 exp(β ℓ), the largest β with KL(λ, λ0) ≤ r (bisection)."""
    top = ell == ell.max()
    if -np.log(prior[top].sum()) <= radius:
        w = np.where(top, prior, 0.0)
        return w / w.sum()
    span = float(ell.max() - ell.min())
    shifted = (ell - ell.max()) / span  # in [-1, 0]: exp never overflows
    # Gaps below round-off of the span count as ties: separating them would need a tilt β
    # beyond the float range, and the value changes by at most 1e-15 of the span.
    shifted[shifted > -1e-15] = 0.0
    top = shifted == 0.0
    if -np.log(prior[top].sum()) <= radius:
        w = np.where(top, prior, 0.0)
        return w / w.sum()

    def tilt(beta: float) -> tuple[np.ndarray, float]:
        w = prior * np.exp(beta * shifted)
        z = w.sum()
        w = w / z
        return w, float(beta * (w @ shifted) - np.log(z))

    lo, hi = 0.0, 1.0
    while tilt(hi)[1] <= radius and hi < 1e300:
        lo, hi = hi, 2.0 * hi
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if tilt(mid)[1] <= radius:
            lo = mid
        else:
            hi = mid
    return tilt(lo)[0]


# ------------------------------------------------------------------------- projection


def _l1_active(v: np.ndarray, prior: np.ndarray, radius: float) -> np.ndarray:
    """Projection onto the l1 ball where its constraint is active: two thresholds, no search.

    With multipliers τ (Σλ = 1) and μ > 0 (the ball), α = τ + μ and β = τ - μ give
    λ_i = clip(v_i - β, 0, λ0_i) + max(v_i - λ0_i - α, 0): mass r/2 is added above λ0 where
    v - λ0 exceeds α and r/2 removed below it where v falls under β + λ0. Each threshold
    solves its own monotone equation, Σ max(v - λ0 - α, 0) = r/2 and
    Σ clip(v - β, 0, λ0) = 1 - r/2, exactly at any magnitude of v.
    """
    zeros, inf = np.zeros_like(v), np.full(v.shape, np.inf)
    prior_b = np.broadcast_to(prior, v.shape)
    half = min(radius, 2.0) / 2.0
    up = threshold_point(v - prior_b, zeros, inf, target=half)
    kept = threshold_point(v, zeros, prior_b, target=1.0 - half)
    return kept + up


def _chi2_point(v: np.ndarray, prior: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    # argmin ½||λ - v||² + γ χ²(λ, λ0) over Δ: λ_i = s_i (v_i - τ)+ with s_i = λ0_i/(λ0_i + 2γ).
    s = np.broadcast_to(prior / (prior + 2.0 * gamma), v.shape)
    return s * threshold_point(v, np.zeros_like(v), np.full(v.shape, np.inf), scale=s)


def project_ball(v: np.ndarray, prior: np.ndarray, radius: float, kind: str) -> np.ndarray:
    """Exact projection of rows ``v`` (n, p) onto the l1 or χ² ball (bisection on μ)."""
    if radius == 0.0:
        return np.broadcast_to(prior, v.shape).copy()
    v = centre_rows(v)
    free = project_simplex(v)
    inside = divergence(free, prior, kind) <= radius
    if inside.all():
        return free
    rows = np.flatnonzero(~inside)
    w = v[rows]
    if kind == "l1":
        free[rows] = shrink_to_ball(_l1_active(w, prior, radius), prior, radius, "l1")
        return free
    point = _chi2_point
    lo = np.zeros((rows.size, 1))
    hi = np.ones((rows.size, 1))
    for _ in range(1100):
        far = divergence(point(w, prior, hi), prior, kind)[:, None] > radius
        if not far.any():
            break
        lo, hi = np.where(far, hi, lo), np.where(far, 2.0 * hi, hi)
    for _ in range(4 * _BISECTIONS):
        mid = _split(lo, hi)
        if np.all((mid <= lo) | (mid >= hi)):
            break
        far = divergence(point(w, prior, mid), prior, kind)[:, None] > radius
        lo, hi = np.where(far, mid, lo), np.where(far, hi, mid)
    free[rows] = shrink_to_ball(point(w, prior, hi), prior, radius, kind)
    return free


def _split(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A bisection point of [lo, hi] that reaches float resolution from any scale.

    Brackets spanning many orders of magnitude (μ between 0 and 1e300) are split
    geometrically (from 0: a step of 2^-64 towards it), narrow ones arithmetically; about 160
    steps at most instead of the ~2000 plain halving would take.
    """
    with np.errstate(under="ignore"):
        geometric = np.where(lo > 0, np.sqrt(lo) * np.sqrt(hi), hi * 2.0**-64)
    return np.where(hi > 4.0 * lo, geometric, 0.5 * lo + 0.5 * hi)


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
    v = centre_rows(v)
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
