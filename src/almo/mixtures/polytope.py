"""General polytopes {λ ∈ Δ_p : A λ ≤ b}: projection QP and worst-case LP solved with cvxpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from almo import _cvxpy
from almo._validation import fail
from almo.mixtures._rows import PolyhedralSet
from almo.mixtures.base import _vector

__all__ = ["Polytope"]

# Interior-point solves pushed well past Clarabel's defaults, so that the final round-off
# repair (clip, renormalize, pull towards an interior point) moves λ by ~1e-10 only.
_TIGHT = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}
_FIX = "the set may be numerically degenerate: rescale A and b, or drop redundant rows"


class Polytope(PolyhedralSet):
    """Mixtures satisfying linear constraints: {λ ∈ Δ_p : A λ ≤ b}.

    The projection QP and the worst-case LP are built once with cvxpy parameters (DPP) and
    re-solved for each call; an empty set is detected at construction.

    Parameters
    ----------
    A : array of shape (m, p)
        Constraint matrix.
    b : array of shape (m,)
        Right-hand sides.

    Examples
    --------
    >>> import numpy as np
    >>> poly = Polytope(A=[[1.0, -1.0, 0.0]], b=[0.0])  # λ_0 ≤ λ_1
    >>> poly.worst_case([0.9, 0.1, 0.2]).weights.round(6).tolist()
    [0.5, 0.5, 0.0]
    >>> poly.contains(poly.project(np.array([1.0, 0.0, 0.0])))
    True
    """

    has_fast_projection = False

    def __init__(self, A: Any, b: Any) -> None:
        import cvxpy as cp

        try:
            A = np.asarray(A, dtype=np.float64)
        except (TypeError, ValueError):
            raise fail("A", "be a 2-D array of numbers", A, "pass an (m, p) matrix") from None
        if A.ndim != 2 or A.size == 0:
            raise fail(
                "A",
                "be a non-empty 2-D array of shape (m, p)",
                f"shape {A.shape}",
                "wrap a single constraint as np.atleast_2d(row)",
            )
        if not np.all(np.isfinite(A)):
            raise fail("A", "be finite (no NaN or inf)", A, "replace the NaN/inf entries")
        b = _vector("b", b)
        if b.shape != (A.shape[0],):
            raise fail(
                "b",
                f"have shape ({A.shape[0]},), one bound per row of A",
                f"shape {b.shape}",
                "pass one right-hand side per constraint",
            )
        self.A, self.b, self.p = A, b, A.shape[1]
        lam, cheb = cp.Variable(self.p), cp.Variable()
        # Chebyshev-like centre: the largest common slack s of every constraint (λ ≥ s too).
        norms = np.maximum(np.linalg.norm(A, axis=1), 1e-300)
        centre = cp.Problem(
            cp.Maximize(cheb), [A @ lam + cheb * norms <= b, lam >= cheb, cp.sum(lam) == 1]
        )
        _cvxpy.solve(centre, "the Polytope centre LP", fix=_FIX, retry_default=True, **_TIGHT)
        slack = float(np.asarray(cheb.value, dtype=np.float64))
        if slack < -1e-9:
            raise fail(
                "A, b",
                "describe a non-empty set {λ in the simplex : A λ <= b}",
                f"constraints violated by at least {-slack:.3g} everywhere",
                "loosen b or remove contradictory rows",
            )
        self._slack = max(slack, 0.0)
        self._centre = self._repair(np.asarray(lam.value))
        self._v = cp.Parameter(self.p)
        self._inv = cp.Parameter(nonneg=True)
        self._ell = cp.Parameter(self.p)
        self._x = cp.Variable(self.p)
        cons = self.cvxpy_constraints(self._x)
        # ½||x||²/s - ⟨v/s, x⟩ (s = max(1, |v|)) keeps the objective a plain QP (no cone) of
        # unit scale for the solver, whatever the magnitude of v.
        quad = 0.5 * self._inv * cp.sum_squares(self._x)
        self._qp = cp.Problem(cp.Minimize(quad - self._v @ self._x), cons)
        self._lp = cp.Problem(cp.Maximize(self._ell @ self._x), cons)
        self._mid = self._project_np(np.full((1, self.p), 1.0 / self.p))[0]

    def __repr__(self) -> str:
        return f"Polytope(A=<{self.A.shape[0]}x{self.p}>, b={self.b!r})"

    def _rows(self) -> tuple[np.ndarray, np.ndarray]:
        return self.A, self.b

    def _repair(self, x: np.ndarray) -> np.ndarray:
        """Remove solver round-off: back onto the simplex, then towards the centre if A x > b."""
        x = np.maximum(x, 0.0)
        x = x / x.sum()
        if self._slack > 0 and hasattr(self, "_centre"):
            c = self._centre
            step = self.A @ (x - c)
            room = self.b - self.A @ c
            ratios = np.divide(room, step, out=np.full_like(step, np.inf), where=step > 0)
            theta = min(1.0, float(ratios.min()))
            x = c + theta * (x - c)
        return x

    def _project_np(self, v: np.ndarray) -> np.ndarray:
        out = np.empty_like(v)
        for i, row in enumerate(v):  # one re-solve per row: the problem is built once
            if row.min() >= 0 and row.max() <= 1 and row.sum() == 1 and self._contains_np(row, 0):
                out[i] = row
                continue
            # Π(v + c·1) = Π(v): centre v (midrange, no overflow), then scale the objective.
            row = np.clip(row - (0.5 * row.max() + 0.5 * row.min()), -(2.0**1000), 2.0**1000)
            size = max(1.0, float(np.abs(row).max()))
            self._v.value, self._inv.value = row / size, 1.0 / size
            _cvxpy.solve(
                self._qp, "the Polytope projection QP", fix=_FIX, retry_default=True, **_TIGHT
            )
            x = np.asarray(self._x.value)
            out[i] = self._polish(x, row)
        return out

    def _polish(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Solve the QP exactly on the active set the interior-point solve points to.

        Interior-point iterates approach degenerate optima only to ~sqrt(tolerance); the KKT
        system on the guessed active set gives the optimum to round-off when the guess is
        right. Several activity thresholds are tried; a guess is accepted when its point is
        feasible and some non-negative multipliers certify it (a non-negative least-squares
        fit, which also handles degenerate vertices where more constraints are active than
        needed). Otherwise the repaired solver point is kept.
        """
        from scipy.optimize import nnls

        with np.errstate(over="ignore", invalid="ignore"):
            for tol in (1e-9, 1e-7, 1e-5):
                z = self._polish_on(x, v, tol, nnls)
                if z is not None:
                    return self._repair(z)
        return self._repair(x)

    def _polish_on(self, x: np.ndarray, v: np.ndarray, tol: float, nnls: Any) -> Any:
        """The KKT point of the active set ``tol`` picks, or None when it is not optimal."""
        act = self.A @ x - self.b > -tol
        zero = np.flatnonzero(x < tol)
        rows = np.vstack([self.A[act], -np.eye(self.p)[zero]])
        C = np.vstack([rows, np.ones((1, self.p))])
        d = np.concatenate([self.b[act], np.zeros(zero.size), [1.0]])
        y = np.linalg.lstsq(C @ C.T, C @ v - d, rcond=None)[0]
        z = v - C.T @ y
        feasible = (
            z.min() >= -1e-12 and abs(z.sum() - 1) <= 1e-12 and np.all(self.A @ z <= self.b + 1e-12)
        )
        if not (feasible and np.all(np.isfinite(z))):
            return None
        g = v - z  # must be Σ y_j (row j) + y0·1 with y_j ≥ 0 and y0 free
        M = np.hstack([rows.T, np.ones((self.p, 1)), -np.ones((self.p, 1))])
        scale = max(1.0, float(np.abs(g).max()))
        residual = nnls(M / scale, g / scale)[1]
        return z if residual <= 1e-9 else None

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        # The maximizer ignores a shift and a positive scale of ℓ: the LP sees ℓ in [-1, 1].
        hi, lo = float(ell.max()), float(ell.min())
        half = 0.5 * hi - 0.5 * lo
        self._ell.value = (ell - (0.5 * hi + 0.5 * lo)) / half if half > 0 else np.zeros(self.p)
        _cvxpy.solve(self._lp, "the Polytope worst-case LP", fix=_FIX, retry_default=True, **_TIGHT)
        return self._repair(np.asarray(self._x.value))

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        return bool(np.all(self.A @ w <= self.b + atol))

    def _uniform(self) -> np.ndarray:
        return self._mid
