"""Exact Euclidean projections onto the simplex and the box simplex, in numpy and torch.

Both projections have the form ``λ = clip(v - τ, lower, upper)`` where the scalar threshold τ
solves ``Σ clip(v_i - τ, l_i, u_i) = 1`` (``l = 0``, ``u = ∞`` for the simplex). The left side is
a non-increasing piecewise-linear function of τ, so τ is found exactly; the kernels differ in how
they avoid a full sort:

- one numpy vector, simplex: τ is bounded below by ``max(v) - 1`` and ``(Σv - 1)/p``; entries at
  or below the bound are certainly zero and are dropped in one pass, then Michelot's fixed point
  ``τ ← (Σ_{v_i>τ} v_i - 1) / #{v_i > τ}`` climbs to τ from below in a few cheap passes.
- one numpy vector, box simplex: a random sample locates τ within a narrow bracket (as in
  Floyd–Rivest selection), one pass keeps the few entries whose breakpoints fall inside it, and
  the exact solve runs on those alone.
- batches (..., p) and torch tensors: a vectorized sort of the breakpoints (no Python loop over
  rows), followed by one exact "polish" evaluation of the linear piece that holds τ.

τ is always computed in float64 (float32 on devices without it) and the result is cast back to the
input's dtype, so float32 inputs stay float32 and still sum to one to float32 precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["project_box_simplex", "project_simplex", "solve_threshold", "threshold_point"]

# Below this size a 1-D box projection sorts everything: the sampling step would not pay off.
_BOX_SAMPLE_MIN = 16_384
# Michelot passes before the survivors are sorted instead (guards against slow inputs).
_MAX_FIXED_POINT_PASSES = 12


def _np_or_torch(x: Any) -> Any:
    return torch if isinstance(x, torch.Tensor) else np


def _sort(x: Any) -> Any:
    return torch.sort(x, dim=-1).values if isinstance(x, torch.Tensor) else np.sort(x, axis=-1)


def _take(x: Any, idx: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.gather(x, -1, idx)
    return np.take_along_axis(x, idx, axis=-1)


def _clip(x: Any, lo: Any, hi: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.minimum(torch.maximum(x, lo), hi)
    return np.minimum(np.maximum(x, lo), hi)


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    # Apple's MPS backend has no float64; everywhere else τ is computed in float64.
    return torch.float32 if x.device.type == "mps" else torch.float64


# Centred values are kept below this in magnitude, so that the scans over breakpoints (sums of p
# slopes times gaps) cannot overflow float64; rows beyond it are first solved on a scaled copy.
_HUGE = 2.0**960
# A threshold this small (relative to bounds of order one) leaves no cancellation in v - τ.
_SMALL_TAU = 8.0
_MAX_STAGES = 6


def solve_threshold(a: Any, lower: Any, upper: Any, target: Any = 1.0, scale: Any = None) -> Any:
    """Solve ``Σ_i s_i clip(a_i - τ, l_i, u_i) = target`` for τ, row by row, exactly.

    Parameters
    ----------
    a, lower, upper : array or tensor, shape (..., n)
        Float64 (numpy) or float tensors; ``upper`` may hold ``inf``, ``lower`` must be finite.
    target : float or array, shape (...)
        Right-hand side; must lie between ``Σ s l`` and ``Σ s u`` for a solution to exist.
    scale : array or tensor, shape (..., n), optional
        Positive slopes ``s_i`` (ones when omitted).

    Returns
    -------
    array or tensor, shape (...)
        The threshold τ of each row. At magnitudes where τ itself cannot be stored precisely
        (|a| ≳ 1e15), use :func:`threshold_point`, which returns ``clip(a - τ, l, u)`` exactly.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(solve_threshold(np.array([0.5, 0.2]), np.zeros(2), np.full(2, np.inf))), 9)
    -0.15
    """
    shift, _, tau = _shifted_threshold(a, lower, upper, target, scale)
    return shift[..., 0] + tau


def threshold_point(a: Any, lower: Any, upper: Any, target: Any = 1.0, scale: Any = None) -> Any:
    """``clip(a - τ, l, u)`` for the τ of :func:`solve_threshold`, exact at any magnitude.

    ``a - τ`` is formed as ``(a - c) - τ'`` with a row shift ``c`` next to τ, so the entries
    strictly between their bounds lose nothing to cancellation even when ``|a|`` is 1e300.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([1e300, 1e300, -1e300])
    >>> threshold_point(a, np.zeros(3), np.full(3, np.inf)).tolist()
    [0.5, 0.5, 0.0]
    """
    _, b, tau = _shifted_threshold(a, lower, upper, target, scale)
    return _clip(b - tau[..., None], lower, upper)


def _shifted_threshold(a: Any, lower: Any, upper: Any, target: Any, scale: Any) -> Any:
    """(c, b, τ') with ``b = a - c`` (rows shifted, far entries clamped) and τ = c + τ' small.

    The rows are centred on their midrange (which cannot overflow), solved, then shifted by the
    threshold found and solved again until it is small: each pass removes the cancellation of
    the last (up to three passes at |a| = 1e300, one at ordinary magnitudes). A row too large
    for the scan is solved on a copy scaled by a power of two (exact), and entries far beyond
    the uncertainty of the last threshold are clamped: they keep their side of it.
    """
    xp = _np_or_torch(a)
    s = xp.ones_like(a) if scale is None else scale
    tgt = target + 0.0 * a[..., 0]
    shift, b, tau = _staged(a, lower, upper, tgt, s, 0.5 * _amax_keep(a) + 0.5 * _amin_keep(a))
    # Rounding can merge an entry's two breakpoints (a - u = a - l at |a| = 1e30) and hide the
    # root from a scan centred far from it; check the answer and, where it misses, re-centre
    # on each entry in turn (the root lies within a few widths of one of them).
    with np.errstate(over="ignore", invalid="ignore"):
        got = _sum(s * _clip(b - tau[..., None], lower, upper))
    bad = ~(abs(got - tgt) <= 1e-9 * (1.0 + abs(tgt)))
    if bool(bad.any()):
        shift, b, tau = _recentre_on_entries(a, lower, upper, tgt, s, shift, b, tau, bad)
    return shift, b, tau


def _recentre_on_entries(
    a: Any, lower: Any, upper: Any, tgt: Any, s: Any, shift: Any, b: Any, tau: Any, bad: Any
) -> Any:
    """Redo the rows flagged ``bad``, centred on their entries one by one until one checks."""
    xp = _np_or_torch(a)
    n = a.shape[-1]
    lo, hi = xp.broadcast_to(lower, a.shape), xp.broadcast_to(upper, a.shape)
    flat = [x.reshape(-1, n) for x in (a, lo, hi, s, b)]
    t_flat, g_flat = tgt.reshape(-1), shift.reshape(-1, 1)
    shift_out, b_out, tau_out = g_flat.clone() if xp is torch else g_flat.copy(), None, None
    b_out = flat[4].clone() if xp is torch else flat[4].copy()
    tau_out = tau.reshape(-1).clone() if xp is torch else tau.reshape(-1).copy()
    for i in xp.nonzero(bad.reshape(-1))[0] if xp is np else torch.nonzero(bad.reshape(-1))[:, 0]:
        row = [x[i : i + 1] for x in flat[:4]]
        for j in range(n):
            c = row[0][:, j : j + 1]
            g, bb, tt = _staged(row[0], row[1], row[2], t_flat[i : i + 1], row[3], c)
            with np.errstate(over="ignore", invalid="ignore"):
                got = _sum(row[3] * _clip(bb - tt[..., None], row[1], row[2]))
            if bool((abs(got - t_flat[i]) <= 1e-9 * (1.0 + abs(t_flat[i]))).all()):
                shift_out[i], b_out[i], tau_out[i] = g[0], bb[0], tt[0]
                break
    return (
        shift_out.reshape(shift.shape),
        b_out.reshape(b.shape),
        tau_out.reshape(tau.shape),
    )


def _staged(a: Any, lower: Any, upper: Any, tgt: Any, s: Any, shift: Any) -> Any:
    """Centre rows on ``shift``, then re-centre on the threshold until it is small."""
    xp = _np_or_torch(a)
    with np.errstate(over="ignore"):
        b = _clamp(a - shift, 0.0 * shift + np.finfo(np.float64).max)
    # How far from τ an entry strictly between its bounds can lie: τ is small enough once it
    # is a few widths, and entries 2^20 widths beyond it keep their state whatever τ is.
    upper_finite = xp.where(xp.isinf(upper), 0.0, abs(upper))
    width = (
        1.0
        + _amax_keep(abs(lower + 0.0 * a))
        + _amax_keep(upper_finite + 0.0 * a)
        + abs(tgt)[..., None] / _amin_keep(s + 0.0 * a)
    )[..., 0]
    for stage in range(_MAX_STAGES):
        size = _amax_keep(abs(b))
        big = size > _HUGE
        if bool(big.any()):  # scale by an exact power of two: the scan then cannot overflow
            ratio = xp.where(big, size / _HUGE, 1.0)
            sigma = 2.0 ** -(xp.ceil(xp.log2(ratio)) + 1.0)
            sig = sigma[..., 0]
            tau = _scan(b * sigma, lower * sigma, upper * sigma, tgt * sig, s) / sig
        else:
            tau = _scan(b, lower, upper, tgt, s)
        if stage == _MAX_STAGES - 1 or not bool((abs(tau) > _SMALL_TAU * width).any()):
            break
        bound = xp.maximum(xp.maximum(abs(tau) * 2.0**-20, width * 2.0**20), 0.0 * tau + _HUGE)
        with np.errstate(over="ignore"):
            b = _clamp(b - tau[..., None], bound[..., None])
        shift = shift + tau[..., None]
    return shift, b, tau


def _clamp(x: Any, bound: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.minimum(torch.maximum(x, -bound), bound)
    return np.minimum(np.maximum(x, -bound), bound)


def _scan(a: Any, lower: Any, upper: Any, tgt: Any, s: Any) -> Any:
    """τ for rows with |a| ≤ _HUGE: locate the linear piece of f holding the root, then solve it.

    f(τ) = Σ s clip(a - τ, l, u) is scanned from the right, where every entry sits at its lower
    bound and f is small: the values near the root are then sums of small terms, not
    differences of huge ones.
    """
    xp = _np_or_torch(a)
    b1, b2 = a - upper, a - lower  # entry i is at u_i for τ <= b1, at l_i for τ >= b2
    unbounded = xp.isinf(b1)
    s_unb = _sum(s * unbounded)
    finite_min = xp.minimum(_amin(xp.where(unbounded, xp.inf, b1)), _amin(b2))
    # Start left of every finite breakpoint and far enough that the unbounded entries alone
    # already reach the target; then f(start) >= target and the scan below finds the crossing.
    margin = xp.where(s_unb > 0, abs(tgt) / xp.where(s_unb > 0, s_unb, 1.0), 0.0)
    start = (finite_min - margin - 1.0)[..., None]
    b1 = xp.where(unbounded, start, b1)
    pts = _cat(xp, [b1, b2])
    order = xp.argsort(pts, -1) if xp is np else torch.argsort(pts, dim=-1)
    t = _take(pts, order)
    slope = _cumsum(xp, _take(_cat(xp, [-s, s]), order))  # slope of f on [t_k, t_{k+1}]
    inc = slope[..., :-1] * (t[..., 1:] - t[..., :-1])  # f(t_{k+1}) - f(t_k), <= 0
    f_end = _sum(s * xp.broadcast_to(lower, a.shape), keep=True)  # every entry at its lower bound
    back = _flip(xp, _cumsum(xp, _flip(xp, inc)))  # f(t_k) - f(t_end) = -back_k
    # An entry rises by s (u - l) between its breakpoints, but the slopes give s (b2 - b1),
    # which rounding shrinks (to 0 when a - u and a - l merge at |a| = 1e30): the difference
    # is added where the entry reaches u, so f stays exact at every breakpoint.
    with np.errstate(invalid="ignore"):
        lost = xp.where(unbounded, 0.0, s * ((upper - lower) - (b2 - b1)))
    lost = _take(_cat(xp, [lost, 0.0 * lost]), order)
    f = _cat(xp, [f_end - back, f_end]) + _flip(xp, _cumsum(xp, _flip(xp, lost)))
    k = (f >= tgt[..., None]).sum(-1) - 1
    k = k.clip(0, t.shape[-1] - 2)[..., None]
    t_lo, t_hi = _take(t, k), _take(t, k + 1)
    return _solve_piece(a, lower, upper, s, tgt, t_lo, t_hi)


def _solve_piece(a: Any, lower: Any, upper: Any, s: Any, tgt: Any, t_lo: Any, t_hi: Any) -> Any:
    # On the piece [t_lo, t_hi] (keepdims, shape (..., 1)) every entry keeps its state (at l,
    # at u or free), so f(τ) = fixed + Σ_free s (a - τ) and the root has a closed form; the
    # free entries lie within their bounds of τ, so their sum is accurate.
    xp = _np_or_torch(a)
    x = a - (0.5 * t_lo + 0.5 * t_hi)
    at_l, at_u = x <= lower, x >= upper
    free = ~(at_l | at_u)
    fixed = _sum(s * xp.where(at_l, lower, 0.0)) + _sum(s * xp.where(at_u, upper, 0.0))
    rate = _sum(s * free)
    num = _sum(s * xp.where(free, a, 0.0)) - (tgt - fixed)
    # No free entry: f is flat on the open piece. If it equals the target, any point of the
    # piece is a root; otherwise f jumps at an end (breakpoints that rounding merged, e.g.
    # a - u and a - l at |a| = 1e30), and that end is the root to re-centre on.
    anywhere = _clip(0.0 * t_lo, t_lo, t_hi)[..., 0]
    flat = xp.where(fixed > tgt, t_hi[..., 0], xp.where(fixed < tgt, t_lo[..., 0], anywhere))
    return xp.where(rate > 0, num / xp.where(rate > 0, rate, 1.0), flat)


def _flip(xp: Any, x: Any) -> Any:
    return torch.flip(x, dims=(-1,)) if xp is torch else x[..., ::-1]


def _amax_keep(x: Any) -> Any:
    return x.amax(dim=-1, keepdim=True) if isinstance(x, torch.Tensor) else x.max(-1, keepdims=True)


def _amin_keep(x: Any) -> Any:
    return x.amin(dim=-1, keepdim=True) if isinstance(x, torch.Tensor) else x.min(-1, keepdims=True)


def _cat(xp: Any, parts: list[Any]) -> Any:
    return torch.cat(parts, dim=-1) if xp is torch else np.concatenate(parts, axis=-1)


def _sum(x: Any, keep: bool = False) -> Any:
    if isinstance(x, torch.Tensor):
        return x.sum(dim=-1, keepdim=keep)
    return x.sum(axis=-1, keepdims=keep)


def _amin(x: Any) -> Any:
    return x.amin(dim=-1) if isinstance(x, torch.Tensor) else x.min(axis=-1)


def _cumsum(xp: Any, x: Any) -> Any:
    return torch.cumsum(x, dim=-1) if xp is torch else np.cumsum(x, axis=-1)


# --------------------------------------------------------------------------- simplex


def project_simplex(v: Any) -> Any:
    """Euclidean projection of ``v`` onto the probability simplex, row by row.

    Parameters
    ----------
    v : numpy array or torch tensor, shape (..., p)
        Finite values; float32 or float64 (integers are treated as float64).

    Returns
    -------
    numpy array or torch tensor, shape (..., p)
        ``argmin_{λ ≥ 0, Σλ = 1} ||λ - v||``; same type, dtype and device as ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> project_simplex(np.array([0.9, 0.4, -1.0])).round(6).tolist()
    [0.75, 0.25, 0.0]
    """
    if isinstance(v, torch.Tensor):
        work = _simplex_shift(v.to(_work_dtype(v)))
        out = torch.clamp(work - _simplex_tau_sorted(work)[..., None], min=0)
        return out.to(_torch_out_dtype(v))
    arr = np.asarray(v)
    out_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    x = _simplex_shift(arr.astype(np.float64, copy=False))
    tau = _simplex_tau_fast(x) if x.ndim == 1 else _simplex_tau_sorted(x)[..., None]
    out = np.subtract(x, tau)
    np.maximum(out, 0.0, out=out)
    return out.astype(out_dtype, copy=False)


def _simplex_shift(x: Any) -> Any:
    """Rows shifted so that their largest entry is 0 (Π(v + c·1) = Π(v) on the simplex).

    τ then lies in [-1, 0], so ``x - τ`` has no cancellation at any magnitude of v; entries
    more than 1 below the largest end at zero whatever τ is, and are clamped at -2, which also
    keeps a spread beyond the float range from overflowing.
    """
    if isinstance(x, torch.Tensor):
        return torch.clamp(x - x.amax(dim=-1, keepdim=True), min=-2.0)
    with np.errstate(over="ignore"):
        y = x - x.max(axis=-1, keepdims=True)
    return np.maximum(y, -2.0, out=y)


def _torch_out_dtype(v: torch.Tensor) -> torch.dtype:
    # Integer tensors are projected as floats (of torch's default dtype), never cast back.
    return v.dtype if v.dtype.is_floating_point else torch.get_default_dtype()


def _simplex_tau_sorted(v: Any, n_extra: int = 0, sum_extra: float = 0.0) -> Any:
    """τ of every row by the classical sort: ρ = max{k : u_k > (Σ_{j≤k} u_j - 1)/k}.

    ``n_extra`` entries of total ``sum_extra``, all larger than every entry of ``v``, are known
    to be active and enter the counts and sums without being sorted.
    """
    xp = _np_or_torch(v)
    u = -_sort(-v)
    css = _cumsum(xp, u) + (sum_extra - 1.0)
    p = v.shape[-1]
    k = (
        torch.arange(1, p + 1, dtype=v.dtype, device=v.device)
        if xp is torch
        else np.arange(1, p + 1, dtype=v.dtype)
    ) + n_extra
    rho = _sum((u - css / k) > 0, keep=True) - 1  # the condition holds for a prefix
    if n_extra and xp is np and int(rho.max()) < 0:  # no entry of v is active
        return np.asarray((sum_extra - 1.0) / n_extra)
    return (_take(css, rho) / (rho + 1 + n_extra))[..., 0]


def _simplex_tau_fast(v: np.ndarray) -> float:
    """τ for one float64 vector without a full sort (see the module docstring)."""
    p = v.size
    tau = max(float(v.max()) - 1.0, (float(v.sum()) - 1.0) / p)
    above = v > tau  # τ is a lower bound of the threshold: entries at or below it end at zero
    if p >= _BOX_SAMPLE_MIN and int(np.count_nonzero(above)) > p // 16:
        # Entries are close together and the bound dropped few of them: bracket τ from a sample.
        bracketed = _simplex_tau_bracket(v)
        if bracketed is not None:
            return bracketed
    y = v[above]
    for _ in range(_MAX_FIXED_POINT_PASSES):
        tau = (float(y.sum()) - 1.0) / y.size  # Michelot: climbs to τ from below
        keep = y > tau
        if int(np.count_nonzero(keep)) == y.size:
            return tau
        y = y[keep]
    # Slow progress (each pass dropped few entries): finish the survivors with one sort.
    return float(_simplex_tau_sorted(y))


def _simplex_tau_bracket(v: np.ndarray) -> float | None:
    """τ from a sampled bracket [t_lo, t_hi]; None when the sample misled us (rare).

    f(t) = Σ(v - t)+ costs two branch-free passes; only the entries between t_lo and t_hi are
    gathered and sorted, the ones above t_hi enter through their count and f(t_hi).
    """
    p, m = v.size, 16_384
    vs = np.sort(v[np.random.default_rng(p).integers(0, p, m)])[::-1]
    css = np.cumsum(vs) - m / p  # the scaled sample problem Σ_s (v_s - t)+ = m / p
    n_act = int(np.count_nonzero(vs - css / np.arange(1, m + 1) > 0))
    k = int(4 * np.sqrt(n_act)) + 8
    if n_act + k >= m or n_act - k < 0:
        return None
    t_lo, t_hi = float(vs[n_act + k]), float(vs[n_act - k])
    scratch = np.subtract(v, t_lo)
    f_lo = float(np.maximum(scratch, 0.0, out=scratch).sum())
    np.subtract(v, t_hi, out=scratch)
    f_hi = float(np.maximum(scratch, 0.0, out=scratch).sum())
    if not (f_lo >= 1.0 >= f_hi):
        return None
    mid = v[np.flatnonzero((v > t_lo) & (v <= t_hi))]
    n_hi = int(np.count_nonzero(scratch))
    # The entries above t_hi are active on the whole bracket and enter through n_hi and their
    # sum; the classical sorted scan then runs on the few entries in between.
    tau = (
        _simplex_tau_sorted(mid, n_hi, f_hi + n_hi * t_hi)
        if mid.size
        else ((f_hi + n_hi * t_hi - 1.0) / n_hi)
    )
    return min(max(tau, t_lo), t_hi)


# --------------------------------------------------------------------------- box simplex


def project_box_simplex(v: Any, lower: Any, upper: Any) -> Any:
    """Euclidean projection onto ``{λ : lower ≤ λ ≤ upper, Σλ = 1}``, row by row.

    Parameters
    ----------
    v : numpy array or torch tensor, shape (..., p)
        Finite values.
    lower, upper : float or numpy array of shape (p,)
        Bounds with ``lower ≤ upper`` and ``Σ lower ≤ 1 ≤ Σ upper`` (not re-checked here:
        :class:`almo.BoxSimplex` checks them once). Scalars mean the same bound for every entry.

    Returns
    -------
    numpy array or torch tensor, shape (..., p)
        ``clip(v - τ, lower, upper)`` with Σ = 1; same type, dtype and device as ``v``.

    Examples
    --------
    >>> import numpy as np
    >>> project_box_simplex(np.array([0.9, 0.4, -1.0]), 0.1, 0.6).round(6).tolist()
    [0.6, 0.3, 0.1]
    """
    if isinstance(v, torch.Tensor):
        work = v.to(_work_dtype(v))
        lo = torch.as_tensor(lower, dtype=work.dtype, device=v.device).expand_as(work)
        hi = torch.as_tensor(upper, dtype=work.dtype, device=v.device).expand_as(work)
        return threshold_point(work, lo, hi).to(_torch_out_dtype(v))
    arr = np.asarray(v)
    out_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    x = arr.astype(np.float64, copy=False)
    lower = lower if np.ndim(lower) == 0 else np.asarray(lower, np.float64)
    upper = upper if np.ndim(upper) == 0 else np.asarray(upper, np.float64)
    if x.ndim == 1 and x.size >= _BOX_SAMPLE_MIN:
        out = _box_point_fast(x, lower, upper)
    else:
        lo_x, hi_x = np.broadcast_to(lower, x.shape), np.broadcast_to(upper, x.shape)
        out = threshold_point(x, lo_x, hi_x)
    return out.astype(out_dtype, copy=False)


def _box_point_fast(x: np.ndarray, lower: Any, upper: Any) -> np.ndarray:
    """The box projection of one long vector: centred, then re-centred on τ until τ is small."""
    b = x - (0.5 * float(x.max()) + 0.5 * float(x.min()))
    if float(np.abs(b).max()) > _HUGE:  # too wide for the sampled bracket: the exact scan
        lo_x, hi_x = np.broadcast_to(lower, x.shape), np.broadcast_to(upper, x.shape)
        return threshold_point(x, lo_x, hi_x)
    for _ in range(_MAX_STAGES):
        tau = _box_tau_fast(b, lower, upper)
        if abs(tau) <= _SMALL_TAU:
            break
        b = b - tau
    out = np.subtract(b, tau)
    np.maximum(out, lower, out=out)
    np.minimum(out, upper, out=out)
    return out


def _pick(x: Any, idx: np.ndarray) -> Any:
    return x if np.ndim(x) == 0 else x[idx]


def _masked_sum(x: Any, mask: np.ndarray) -> float:
    # Scalar bounds (the common case) avoid a gather over a large boolean mask.
    if np.ndim(x) == 0:
        return float(x) * int(np.count_nonzero(mask))
    return float(x[mask].sum())


def _total(x: Any, p: int) -> float:
    return float(x) * p if np.ndim(x) == 0 else float(x.sum())


def _box_tau_fast(v: np.ndarray, lower: Any, upper: Any) -> float:
    """τ for one long vector: bracket it from a sample, keep the entries inside, narrow, solve."""
    p = v.size
    m = int(np.clip(8 * np.sqrt(p), 2048, 16_384))
    # A fixed seed keeps projections deterministic; a random (not strided) sample keeps sorted
    # or periodic inputs from fooling the bracket.
    idx = np.random.default_rng(p).integers(0, p, m)
    vs, ls, us = v[idx], _pick(lower, idx), _pick(upper, idx)
    ls, us = np.broadcast_to(ls, vs.shape), np.broadcast_to(us, vs.shape)
    t_hat = float(solve_threshold(vs, ls, us, target=m / p))
    # Breakpoints of the sample on both sides of t_hat give a bracket that holds τ with high
    # probability and only a few per cent of the entries' breakpoints.
    pts = np.sort(np.concatenate([vs - us, vs - ls]))
    j = int(np.searchsorted(pts, t_hat))
    k = int(3 * np.sqrt(pts.size))
    t_lo = float(pts[j - k]) if j - k >= 0 else float(np.min(v - upper))
    t_hi = float(pts[j + k]) if j + k < pts.size else float(np.max(v - lower))
    # Cheap classification with scalar bounds l_min <= l_i, u_max >= u_i: entries with
    # v <= t_lo + l_min sit at l for every τ >= t_lo; entries with v >= t_hi + u_max sit at u.
    l_min, u_max = float(np.min(lower)), float(np.max(upper))
    above = v > t_lo + l_min
    below = v < t_hi + u_max
    at_u = ~below
    const = _total(lower, p) - _masked_sum(lower, above) + _masked_sum(upper, at_u)
    keep = np.flatnonzero(above & below)
    a, lo, hi = v[keep], _pick(lower, keep), _pick(upper, keep)
    f_lo = const + float(np.clip(a - t_lo, lo, hi).sum())
    f_hi = const + float(np.clip(a - t_hi, lo, hi).sum())
    if not (f_lo >= 1.0 >= f_hi):  # the sample misled us (rare): solve the whole vector
        lo_all, hi_all = np.broadcast_to(lower, v.shape), np.broadcast_to(upper, v.shape)
        return float(solve_threshold(v, lo_all, hi_all))
    lo, hi = np.broadcast_to(lo, a.shape), np.broadcast_to(hi, a.shape)
    return _narrow(a, lo, hi, const, t_lo, t_hi, f_lo, f_hi)


def _narrow(
    a: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    const: float,
    t_lo: float,
    t_hi: float,
    f_lo: float,
    f_hi: float,
) -> float:
    """Shrink the bracket [t_lo, t_hi] of f(τ) = const + Σ clip(a - τ, lo, hi) = 1, then solve.

    Entries whose state (at l, at u, or free) no longer changes inside the bracket leave the
    working set; free ones are kept as a count and a sum, since they add ``Σa - n τ``.
    """
    n_free, sum_free = 0, 0.0
    b1, b2 = a - hi, a - lo
    rng = np.random.default_rng(a.size)
    for it in range(60):
        if a.size <= 2048 or t_hi <= t_lo:
            break
        if it % 2 == 0 and f_lo > f_hi:  # secant step: fast on smooth data
            t = t_lo + (f_lo - 1.0) * (t_hi - t_lo) / (f_lo - f_hi)
        else:  # median of sampled breakpoints: halves the working set whatever the data
            cand = np.concatenate([b1, b2])[rng.integers(0, 2 * a.size, 255)]
            cand = cand[(cand > t_lo) & (cand < t_hi)]
            t = float(np.median(cand)) if cand.size else 0.5 * (t_lo + t_hi)
        f_t = const + sum_free - n_free * t + float(np.clip(a - t, lo, hi).sum())
        if f_t == 1.0:
            return t
        if f_t > 1.0:
            t_lo, f_lo = t, f_t
        else:
            t_hi, f_hi = t, f_t
        at_l, at_u = b2 <= t_lo, b1 >= t_hi
        free = (b1 <= t_lo) & (b2 >= t_hi)
        const += float(lo[at_l].sum()) + float(hi[at_u].sum())
        n_free += int(np.count_nonzero(free))
        sum_free += float(a[free].sum())
        keep = np.flatnonzero(~(at_l | at_u | free))
        a, lo, hi, b1, b2 = a[keep], lo[keep], hi[keep], b1[keep], b2[keep]
    if n_free:  # one virtual entry of slope n_free stands for the free ones, free on the bracket
        mean = sum_free / n_free
        a = np.append(a, mean)
        lo = np.append(lo, mean - t_hi - 1.0)
        hi = np.append(hi, mean - t_lo + 1.0)
        scale = np.ones_like(a)
        scale[-1] = n_free
        tau = float(solve_threshold(a, lo, hi, target=1.0 - const, scale=scale))
    elif a.size:
        tau = float(solve_threshold(a, lo, hi, target=1.0 - const))
    else:
        tau = t_lo
    return min(max(tau, t_lo), t_hi)
