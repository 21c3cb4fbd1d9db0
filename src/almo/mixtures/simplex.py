"""The simplex and the box-constrained simplex: exact sort-based kernels, no solver."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from almo._validation import fail
from almo.mixtures._rows import PolyhedralSet
from almo.mixtures.base import _vector
from almo.projections import project_box_simplex, project_simplex

__all__ = ["BoxSimplex", "Simplex"]


class Simplex(PolyhedralSet):
    """The whole probability simplex Δ_p = {λ ≥ 0, Σλ = 1}.

    Parameters
    ----------
    p : int
        Number of objectives (≥ 1).

    Examples
    --------
    >>> import numpy as np
    >>> s = Simplex(3)
    >>> s.project(np.array([0.9, 0.4, -1.0])).tolist()
    [0.75, 0.25, 0.0]
    >>> s.worst_case([0.1, 0.5, 0.2])
    WorstCase(value=0.5, weights=array([0., 1., 0.]))
    """

    has_fast_projection = True

    def __init__(self, p: int) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
            raise fail("p", "be an integer >= 1", p, "pass the number of objectives")
        self.p = int(p)

    def __repr__(self) -> str:
        return f"Simplex(p={self.p})"

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((0, self.p)), np.zeros(0)  # σ_Δ(t) = max_k t_k

    def _project_np(self, v: np.ndarray) -> np.ndarray:
        return project_simplex(v[0])[None] if v.shape[0] == 1 else project_simplex(v)

    def _project_torch(self, v: torch.Tensor) -> torch.Tensor:
        return project_simplex(v)

    def kl_project(self, q: Any) -> np.ndarray:
        """On the simplex itself the KL projection of a point of the simplex is the point."""
        q = _vector("q", q, self.p)
        if np.any(q < 0) or q.sum() <= 0:
            raise fail("q", "be finite, non-negative and not all 0", q, "pass a simplex point")
        return q / q.sum()

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        w = np.zeros(self.p)
        w[int(np.argmax(ell))] = 1.0
        return w


class BoxSimplex(PolyhedralSet):
    """Mixtures with per-objective bounds: {λ : lower ≤ λ ≤ upper, Σλ = 1}.

    Parameters
    ----------
    lower, upper : float or array of shape (p,)
        Bounds with ``0 ≤ lower ≤ upper`` and ``Σ lower ≤ 1 ≤ Σ upper``. A scalar applies to
        every objective (then the other bound, or ``p``, gives the length). ``upper`` may hold
        ``inf`` (no upper bound: the same as 1).
    p : int, optional
        Number of objectives when both bounds are scalars.

    Examples
    --------
    >>> import numpy as np
    >>> box = BoxSimplex(lower=[0.1, 0.1, 0.1], upper=[0.6, 0.6, 0.6])
    >>> box.project(np.array([0.9, 0.4, -1.0])).round(6).tolist()
    [0.6, 0.3, 0.1]
    >>> box.worst_case([0.3, 0.1, 0.2]).weights.round(6).tolist()
    [0.6, 0.1, 0.3]
    >>> BoxSimplex(lower=[0.2, 0.0], upper=np.inf).worst_case([0.0, 1.0]).weights.tolist()
    [0.2, 0.8]
    """

    has_fast_projection = True

    def __init__(self, lower: Any, upper: Any, p: int | None = None) -> None:
        if p is None and np.ndim(lower) == 0 and np.ndim(upper) == 0:
            raise fail(
                "p",
                "be given when `lower` and `upper` are both scalars",
                p,
                "pass p=<number of objectives> or array bounds",
            )
        n = (
            p
            if p is not None
            else max(np.size(lower) * (np.ndim(lower) > 0), np.size(upper) * (np.ndim(upper) > 0))
        )
        self.lower = _vector("lower", lower, n)
        self.upper = _vector("upper", upper, n, allow_inf=True)
        if self.lower.shape != self.upper.shape:
            raise fail(
                "upper",
                "have the same shape as `lower`",
                f"{self.upper.shape} vs {self.lower.shape}",
                "pass one bound per objective",
            )
        if self.lower.min() < 0:
            raise fail(
                "lower",
                "be >= 0 (weights are non-negative)",
                self.lower,
                "use 0 for objectives without a lower bound",
            )
        if np.any(self.lower > self.upper):
            bad = np.flatnonzero(self.lower > self.upper).tolist()
            raise fail(
                "lower",
                "be <= `upper` entrywise",
                f"lower > upper at indices {bad}",
                "swap or widen the bounds",
            )
        if self.lower.sum() > 1.0 + 1e-12 or self.upper.sum() < 1.0 - 1e-12:
            raise fail(
                "lower, upper",
                "satisfy sum(lower) <= 1 <= sum(upper) (else no mixture fits)",
                f"sum(lower)={self.lower.sum():.6g}, sum(upper)={self.upper.sum():.6g}",
                "lower some lower bounds or raise some upper bounds",
            )
        self.p = self.lower.size
        # On the simplex λ ≤ 1 anyway: bounds above 1 (inf included) mean 1 to the kernels.
        self._upper = np.minimum(self.upper, 1.0)
        # Constant bounds go to the kernel as scalars: its fastest path.
        same_lo, same_hi = np.ptp(self.lower) == 0, np.ptp(self._upper) == 0
        self._lo = float(self.lower[0]) if same_lo else self.lower
        self._hi = float(self._upper[0]) if same_hi else self._upper

    def __repr__(self) -> str:
        return f"BoxSimplex(lower={self.lower!r}, upper={self.upper!r})"

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        # Bounds the simplex implies already (lower 0, upper ≥ 1) add no row.
        eye = np.eye(self.p)
        up, low = self._upper < 1.0, self.lower > 0.0
        return np.vstack([eye[up], -eye[low]]), np.concatenate([self._upper[up], -self.lower[low]])

    def _project_np(self, v: np.ndarray) -> np.ndarray:
        if v.shape[0] == 1:
            return project_box_simplex(v[0], self._lo, self._hi)[None]
        return project_box_simplex(v, self._lo, self._hi)

    def _project_torch(self, v: torch.Tensor) -> torch.Tensor:
        return project_box_simplex(v, self.lower, self._upper)

    def kl_project(self, q: Any) -> np.ndarray:
        """KL projection onto the box: λ = clip(c·q, lower, upper) with c such that Σλ = 1.

        The stationarity conditions of min KL(λ ‖ q) over the box-simplex give log(λ_k/q_k)
        = log c on the free entries; the sum is nondecreasing and piecewise linear in c, so c
        is bracketed by bisection on log c and then solved exactly on its linear piece.

        Examples
        --------
        >>> box = BoxSimplex(lower=[0.1, 0.1, 0.1], upper=[0.6, 0.6, 0.6])
        >>> box.kl_project([0.8, 0.15, 0.05]).round(6).tolist()
        [0.6, 0.3, 0.1]
        """
        q = _vector("q", q, self.p)
        if np.any(q < 0) or q.sum() <= 0:
            raise fail("q", "be finite, non-negative and not all 0", q, "pass a simplex point")
        # Entries at 0 are the limit q_k → 0+: they stay at their lower bound unless the others
        # cannot carry the mass.
        q = np.maximum(q / q.sum(), 1e-300)
        lo, hi = self.lower, self._upper

        def total(c: float) -> float:
            return float(np.clip(c * q, lo, hi).sum())

        a, b = 1e-300, 1e300  # total(a) = Σ lower ≤ 1 ≤ Σ upper = total(b)
        for _ in range(400):  # bisection on log c
            mid = math.sqrt(a) * math.sqrt(b)  # no overflow of a·b
            if total(mid) < 1.0:
                a = mid
            else:
                b = mid
            if b / a < 1 + 1e-15:
                break
        # Exact on the linear piece: entries free at c = b are c·q_k, the others at a bound.
        lam = np.clip(b * q, lo, hi)
        free = (b * q > lo) & (b * q < hi)
        if free.any():
            fixed = float(lam[~free].sum())
            c = (1.0 - fixed) / float(q[free].sum())
            lam = np.where(free, np.clip(c * q, lo, hi), lam)
        return np.asarray(self.project(lam), dtype=np.float64)

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        # Greedy fill: start from the lower bounds and pour the remaining mass into the
        # objectives with the largest losses first, each up to its upper bound (an LP whose
        # optimum is this vertex).
        order = np.argsort(-ell, kind="stable")
        cap = (self._upper - self.lower)[order]
        left = 1.0 - self.lower.sum()
        before = np.cumsum(cap) - cap
        w = self.lower.copy()
        w[order] += np.clip(left - before, 0.0, cap)
        return w

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        return bool(np.all(w >= self.lower - atol) and np.all(w <= self.upper + atol))

    def _uniform(self) -> np.ndarray:
        return project_box_simplex(np.full(self.p, 1.0 / self.p), self.lower, self._upper)
