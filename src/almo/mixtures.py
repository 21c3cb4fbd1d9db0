"""Mixture sets Λ: convex subsets of the probability simplex Δ_p.

Contract shared by every set (other modules rely on it):

- ``p``: number of objectives.
- ``project(v)``: Euclidean projection onto Λ; numpy array or torch tensor in, same type, dtype
  and device out; batched input of shape (..., p).
- ``worst_case(losses) -> WorstCase(value, weights)``: exact max over Λ of ⟨λ, ℓ⟩ and a maximizer
  (numpy float64 weights; value a Python float). ``losses`` of shape (p,), numpy or torch.
- ``contains(weights, atol=1e-9) -> bool``.
- ``uniform()``: a feasible centre point (numpy float64, shape (p,)).

:class:`Simplex` and :class:`BoxSimplex` use the exact kernels of :mod:`almo.projections`;
:class:`Polytope` solves a QP/LP with cvxpy (built once, re-solved); :class:`PriorBall` uses the
closed forms and 1-D searches of :mod:`almo._balls` (Wright-omega bisection for the KL projection).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from almo import _balls
from almo._validation import check_finite_losses, check_positive, fail
from almo.projections import project_box_simplex, project_simplex

__all__ = ["BoxSimplex", "MixtureSet", "Polytope", "PriorBall", "Simplex", "WorstCase"]


class WorstCase(NamedTuple):
    """Result of :meth:`MixtureSet.worst_case`: the max of ⟨λ, ℓ⟩ over Λ and a maximizer.

    Examples
    --------
    >>> Simplex(2).worst_case([0.1, 0.7]).value
    0.7
    """

    value: float
    weights: np.ndarray


class MixtureSet:
    """Base class of the mixture sets (convex subsets of the simplex).

    Subclasses implement ``_project_np`` (float64 array of shape (n, p) -> same),
    ``_worst_case_np`` and ``_contains_np``; the base class checks inputs once and converts
    between numpy and torch, so every set treats bad input and tensors alike.

    Examples
    --------
    >>> isinstance(Simplex(3), MixtureSet)
    True
    """

    p: int

    # ------------------------------------------------------------------ public contract
    def project(self, v: Any) -> Any:
        """Euclidean projection of ``v`` (shape (..., p), numpy or torch) onto the set.

        Examples
        --------
        >>> Simplex(2).project(np.array([1.0, 0.5])).tolist()
        [0.75, 0.25]
        """
        self._check_points(v)
        if isinstance(v, torch.Tensor):
            return self._project_torch(v)
        arr = np.asarray(v)
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
        work = arr.astype(np.float64, copy=False).reshape(-1, self.p)
        return self._project_np(work).reshape(arr.shape).astype(dtype, copy=False)

    def worst_case(self, losses: Any) -> WorstCase:
        """Exact ``max_{λ∈Λ} ⟨λ, ℓ⟩`` and a maximizer, for a loss vector of shape (p,).

        Examples
        --------
        >>> Simplex(3).worst_case(np.array([0.2, 0.9, 0.4])).weights.tolist()
        [0.0, 1.0, 0.0]
        """
        ell = _as_float64(losses)
        if ell.shape != (self.p,):
            raise fail("losses", f"have shape ({self.p},), one loss per objective",
                       f"shape {ell.shape}", f"pass {self.p} losses")
        check_finite_losses(ell, where=f"{type(self).__name__}.worst_case")
        weights = self._worst_case_np(ell)
        return WorstCase(float(weights @ ell), weights)

    def contains(self, weights: Any, atol: float = 1e-9) -> bool:
        """Whether ``weights`` (shape (p,)) lies in the set, up to ``atol``.

        Examples
        --------
        >>> Simplex(2).contains([0.3, 0.7]), Simplex(2).contains([0.3, 0.6])
        (True, False)
        """
        w = _as_float64(weights)
        if w.shape != (self.p,):
            raise fail("weights", f"have shape ({self.p},)", f"shape {w.shape}",
                       f"pass {self.p} weights")
        if not np.all(np.isfinite(w)) or w.min() < -atol or abs(w.sum() - 1.0) > atol:
            return False
        return bool(self._contains_np(w, atol))

    def uniform(self) -> np.ndarray:
        """A feasible centre point of the set (float64, shape (p,)).

        Examples
        --------
        >>> Simplex(4).uniform().tolist()
        [0.25, 0.25, 0.25, 0.25]
        """
        return self._uniform().copy()

    # ------------------------------------------------------------------ hooks and helpers
    def _project_np(self, v: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        return True

    def _uniform(self) -> np.ndarray:
        return np.full(self.p, 1.0 / self.p)

    def _project_torch(self, v: torch.Tensor) -> torch.Tensor:
        # Sets solved on the CPU in float64 (cvxpy, nested searches) go through numpy.
        work = v.detach().to("cpu", torch.float64).numpy().reshape(-1, self.p)
        out = self._project_np(work).reshape(tuple(v.shape))
        return torch.as_tensor(out).to(device=v.device, dtype=v.dtype)

    def _check_points(self, v: Any) -> None:
        shape = tuple(v.shape) if hasattr(v, "shape") else np.shape(v)
        if len(shape) == 0 or shape[-1] != self.p:
            raise fail("v", f"have shape (..., {self.p}), one entry per objective last",
                       f"shape {shape}", f"pass an array whose last axis has {self.p} entries")
        if isinstance(v, torch.Tensor):
            finite = bool(torch.isfinite(v).all())
        else:
            arr = np.asarray(v)
            # One sum is cheaper than an isfinite pass and is finite whenever all entries are.
            finite = bool(np.isfinite(arr.sum())) or bool(np.isfinite(arr).all())
        if not finite:
            raise fail("v", "be finite (no NaN or inf)", "a non-finite entry",
                       "check the update that produced it, e.g. lower the step size")


def _as_float64(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def _vector(name: str, value: Any, p: int | None = None) -> np.ndarray:
    """A finite float64 vector (scalars broadcast to length ``p``), or a clear error."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(name, "be an array of numbers", value, "pass a 1-D float array") from None
    if arr.ndim == 0 and p is not None:
        arr = np.full(p, float(arr))
    if arr.ndim != 1 or arr.size == 0:
        raise fail(name, "be a non-empty 1-D array", f"shape {arr.shape}",
                   f"pass one value per objective, e.g. np.full(p, {name}_value)")
    if not np.all(np.isfinite(arr)):
        raise fail(name, "be finite (no NaN or inf)", arr, f"replace the NaN/inf in `{name}`")
    return arr


class Simplex(MixtureSet):
    """The whole probability simplex Δ_p = {λ ≥ 0, Σλ = 1}.

    Parameters
    ----------
    p : int
        Number of objectives (≥ 1).

    Examples
    --------
    >>> s = Simplex(3)
    >>> s.project(np.array([0.9, 0.4, -1.0])).tolist()
    [0.75, 0.25, 0.0]
    >>> s.worst_case([0.1, 0.5, 0.2])
    WorstCase(value=0.5, weights=array([0., 1., 0.]))
    """

    def __init__(self, p: int) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
            raise fail("p", "be an integer >= 1", p, "pass the number of objectives")
        self.p = int(p)

    def __repr__(self) -> str:
        return f"Simplex(p={self.p})"

    def _project_np(self, v: np.ndarray) -> np.ndarray:
        return project_simplex(v[0])[None] if v.shape[0] == 1 else project_simplex(v)

    def _project_torch(self, v: torch.Tensor) -> torch.Tensor:
        return project_simplex(v)

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        w = np.zeros(self.p)
        w[int(np.argmax(ell))] = 1.0
        return w


class BoxSimplex(MixtureSet):
    """Mixtures with per-objective bounds: {λ : lower ≤ λ ≤ upper, Σλ = 1}.

    Parameters
    ----------
    lower, upper : float or array of shape (p,)
        Bounds with ``0 ≤ lower ≤ upper`` and ``Σ lower ≤ 1 ≤ Σ upper``. A scalar applies to
        every objective (then the other bound, or ``p``, gives the length).
    p : int, optional
        Number of objectives when both bounds are scalars.

    Examples
    --------
    >>> box = BoxSimplex(lower=[0.1, 0.1, 0.1], upper=[0.6, 0.6, 0.6])
    >>> box.project(np.array([0.9, 0.4, -1.0])).round(6).tolist()
    [0.6, 0.3, 0.1]
    >>> box.worst_case([0.3, 0.1, 0.2]).weights.round(6).tolist()
    [0.6, 0.1, 0.3]
    """

    def __init__(self, lower: Any, upper: Any, p: int | None = None) -> None:
        if p is None and np.ndim(lower) == 0 and np.ndim(upper) == 0:
            raise fail("p", "be given when `lower` and `upper` are both scalars", p,
                       "pass p=<number of objectives> or array bounds")
        n = p if p is not None else max(np.size(lower) * (np.ndim(lower) > 0),
                                        np.size(upper) * (np.ndim(upper) > 0))
        self.lower = _vector("lower", lower, n)
        self.upper = _vector("upper", upper, n)
        if self.lower.shape != self.upper.shape:
            raise fail("upper", "have the same shape as `lower`",
                       f"{self.upper.shape} vs {self.lower.shape}", "pass one bound per objective")
        if self.lower.min() < 0:
            raise fail("lower", "be >= 0 (weights are non-negative)", self.lower,
                       "use 0 for objectives without a lower bound")
        if np.any(self.lower > self.upper):
            bad = np.flatnonzero(self.lower > self.upper).tolist()
            raise fail("lower", "be <= `upper` entrywise", f"lower > upper at indices {bad}",
                       "swap or widen the bounds")
        if self.lower.sum() > 1.0 + 1e-12 or self.upper.sum() < 1.0 - 1e-12:
            raise fail("lower, upper", "satisfy sum(lower) <= 1 <= sum(upper) (else no mixture "
                       "fits)", f"sum(lower)={self.lower.sum():.6g}, "
                       f"sum(upper)={self.upper.sum():.6g}",
                       "lower some lower bounds or raise some upper bounds")
        self.p = self.lower.size
        # Constant bounds go to the kernel as scalars: its fastest path.
        same_lo, same_hi = np.ptp(self.lower) == 0, np.ptp(self.upper) == 0
        self._lo = float(self.lower[0]) if same_lo else self.lower
        self._hi = float(self.upper[0]) if same_hi else self.upper

    def __repr__(self) -> str:
        return f"BoxSimplex(lower={self.lower!r}, upper={self.upper!r})"

    def _project_np(self, v: np.ndarray) -> np.ndarray:
        if v.shape[0] == 1:
            return project_box_simplex(v[0], self._lo, self._hi)[None]
        return project_box_simplex(v, self._lo, self._hi)

    def _project_torch(self, v: torch.Tensor) -> torch.Tensor:
        return project_box_simplex(v, self.lower, self.upper)

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        # Greedy fill: start from the lower bounds and pour the remaining mass into the
        # objectives with the largest losses first, each up to its upper bound (an LP whose
        # optimum is this vertex).
        order = np.argsort(-ell, kind="stable")
        cap = (self.upper - self.lower)[order]
        left = 1.0 - self.lower.sum()
        before = np.cumsum(cap) - cap
        w = self.lower.copy()
        w[order] += np.clip(left - before, 0.0, cap)
        return w

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        return bool(np.all(w >= self.lower - atol) and np.all(w <= self.upper + atol))

    def _uniform(self) -> np.ndarray:
        return project_box_simplex(np.full(self.p, 1.0 / self.p), self.lower, self.upper)



# cvxpy settings: interior-point solves pushed well past their defaults, so that the final
# round-off repair (clip, renormalize, pull towards an interior point) moves λ by ~1e-10 only.
_CLARABEL = {"tol_feas": 1e-11, "tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_ktratio": 1e-9}


def _solve(problem: Any, what: str) -> None:
    import cvxpy as cp

    with warnings.catch_warnings():
        # "optimal_inaccurate" against tolerances this tight is still accurate to ~1e-9, and
        # `_repair`/`shrink_to_ball` restore exact feasibility afterwards.
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        try:
            problem.solve(solver=cp.CLARABEL, **_CLARABEL)
        except cp.SolverError:
            problem.solve(solver=cp.CLARABEL)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        raise RuntimeError(f"{what}: cvxpy returned status {problem.status!r}; the set may be "
                           "numerically degenerate (rescale A and b, or drop redundant rows)")


class Polytope(MixtureSet):
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
    >>> poly = Polytope(A=[[1.0, -1.0, 0.0]], b=[0.0])  # λ_0 ≤ λ_1
    >>> poly.worst_case([0.9, 0.1, 0.2]).weights.round(6).tolist()
    [0.5, 0.5, 0.0]
    >>> poly.contains(poly.project(np.array([1.0, 0.0, 0.0])))
    True
    """

    def __init__(self, A: Any, b: Any) -> None:
        import cvxpy as cp

        try:
            A = np.asarray(A, dtype=np.float64)
        except (TypeError, ValueError):
            raise fail("A", "be a 2-D array of numbers", A, "pass an (m, p) matrix") from None
        if A.ndim != 2 or A.size == 0:
            raise fail("A", "be a non-empty 2-D array of shape (m, p)", f"shape {A.shape}",
                       "wrap a single constraint as np.atleast_2d(row)")
        if not np.all(np.isfinite(A)):
            raise fail("A", "be finite (no NaN or inf)", A, "replace the NaN/inf entries")
        b = _vector("b", b)
        if b.shape != (A.shape[0],):
            raise fail("b", f"have shape ({A.shape[0]},), one bound per row of A",
                       f"shape {b.shape}", "pass one right-hand side per constraint")
        self.A, self.b, self.p = A, b, A.shape[1]
        lam, cheb = cp.Variable(self.p), cp.Variable()
        # Chebyshev-like centre: the largest common slack s of every constraint (λ ≥ s too).
        norms = np.maximum(np.linalg.norm(A, axis=1), 1e-300)
        centre = cp.Problem(cp.Maximize(cheb), [A @ lam + cheb * norms <= b, lam >= cheb,
                                                 cp.sum(lam) == 1])
        _solve(centre, "Polytope centre LP")
        if cheb.value < -1e-9:
            raise fail("A, b", "describe a non-empty set {λ in the simplex : A λ <= b}",
                       f"constraints violated by at least {-float(cheb.value):.3g} everywhere",
                       "loosen b or remove contradictory rows")
        self._slack = max(float(cheb.value), 0.0)
        self._centre = self._repair(np.asarray(lam.value))
        self._v = cp.Parameter(self.p)
        self._ell = cp.Parameter(self.p)
        self._x = cp.Variable(self.p)
        cons = [self._x >= 0, cp.sum(self._x) == 1, A @ self._x <= b]
        # ½||x||² - ⟨v, x⟩ keeps the objective a plain QP (no cone) for the solver.
        self._qp = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(self._x) - self._v @ self._x),
                              cons)
        self._lp = cp.Problem(cp.Maximize(self._ell @ self._x), cons)
        self._mid = self._project_np(np.full((1, self.p), 1.0 / self.p))[0]

    def __repr__(self) -> str:
        return f"Polytope(A=<{self.A.shape[0]}x{self.p}>, b={self.b!r})"

    def _repair(self, x: np.ndarray) -> np.ndarray:
        """Remove solver round-off: back onto the simplex, then towards the centre if A x > b."""
        x = np.maximum(x, 0.0)
        x = x / x.sum()
        if self._slack > 0 and hasattr(self, "_centre"):
            c = self._centre
            step = self.A @ (x - c)
            room = self.b - self.A @ c
            with np.errstate(divide="ignore"):
                ratios = np.where(step > 0, room / step, np.inf)
            theta = min(1.0, float(ratios.min()))
            x = c + theta * (x - c)
        return x

    def _project_np(self, v: np.ndarray) -> np.ndarray:
        out = np.empty_like(v)
        for i, row in enumerate(v):  # one re-solve per row: the problem is built once
            if self._contains_np(row, 0.0) and row.min() >= 0 and row.sum() == 1.0:
                out[i] = row
                continue
            self._v.value = row
            _solve(self._qp, "Polytope projection QP")
            x = np.asarray(self._x.value)
            out[i] = self._polish(x, row)
        return out

    def _polish(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Solve the QP exactly on the active set the interior-point solve points to.

        Interior-point iterates approach degenerate optima only to ~sqrt(tolerance); the KKT
        system on the guessed active set gives the optimum to round-off when the guess is
        right (feasible, multipliers ≥ 0), and the repaired solver point is kept otherwise.
        """
        tol = 1e-6 * (1.0 + np.abs(v).max())
        act = self.A @ x - self.b > -tol
        zero = np.flatnonzero(x < tol)
        C = np.vstack([self.A[act], -np.eye(self.p)[zero], np.ones((1, self.p))])
        d = np.concatenate([self.b[act], np.zeros(zero.size), [1.0]])
        y = np.linalg.lstsq(C @ C.T, C @ v - d, rcond=None)[0]
        z = v - C.T @ y
        feasible = (z.min() >= -1e-12 and abs(z.sum() - 1) <= 1e-12
                    and np.all(self.A @ z <= self.b + 1e-12))
        if feasible and y[:-1].min(initial=0.0) >= -1e-9 * (1.0 + np.abs(y).max()):
            return self._repair(z)
        return self._repair(x)

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        self._ell.value = ell
        _solve(self._lp, "Polytope worst-case LP")
        return self._repair(np.asarray(self._x.value))

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        return bool(np.all(self.A @ w <= self.b + atol))

    def _uniform(self) -> np.ndarray:
        return self._mid


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
    >>> ball = PriorBall([0.5, 0.3, 0.2], radius=0.2)
    >>> ball.worst_case([1.0, 3.0, 2.0]).weights.round(6).tolist()
    [0.4, 0.4, 0.2]
    >>> ball.contains(ball.project(np.array([1.0, 0.0, 0.0])))
    True
    """

    def __init__(self, prior: Any, radius: float, divergence: Divergence = "l1") -> None:
        if divergence not in ("l1", "chi2", "kl"):
            raise fail("divergence", 'be one of "l1", "chi2", "kl"', divergence,
                       'pass divergence="l1" for the simplest ball')
        prior = _vector("prior", prior)
        if prior.min() < 0 or abs(prior.sum() - 1.0) > 1e-9:
            raise fail("prior", "lie on the simplex (entries >= 0 summing to 1)", prior,
                       "normalize it: prior / prior.sum()")
        if divergence != "l1" and prior.min() <= 0:
            raise fail("prior", f'be > 0 everywhere for divergence="{divergence}"', prior,
                       'mix in a little uniform mass, or use divergence="l1"')
        self.radius = check_positive("radius", radius, allow_zero=True)
        self.prior, self.divergence, self.p = prior / prior.sum(), divergence, prior.size

    def __repr__(self) -> str:
        return (f"PriorBall(prior={self.prior!r}, radius={self.radius!r}, "
                f"divergence={self.divergence!r})")

    def _project_np(self, v: np.ndarray) -> np.ndarray:
        if self.divergence != "kl":
            return _balls.project_ball(v, self.prior, self.radius, self.divergence)
        out = _balls.project_ball(v, self.prior, np.inf, "l1")  # simplex projection first
        inside = _balls.divergence(out, self.prior, "kl") <= self.radius
        for i in np.flatnonzero(~inside):
            out[i] = self._project_kl(v[i])
        return out

    def _project_kl(self, row: np.ndarray) -> np.ndarray:
        return _balls.project_kl(row, self.prior, self.radius)

    def _worst_case_np(self, ell: np.ndarray) -> np.ndarray:
        if self.radius == 0.0 or ell.max() == ell.min():
            return self.prior.copy()
        solver = {"l1": _balls.worst_case_l1, "chi2": _balls.worst_case_chi2,
                  "kl": _balls.worst_case_kl}[self.divergence]
        return solver(ell, self.prior, self.radius)

    def _contains_np(self, w: np.ndarray, atol: float) -> bool:
        if self.divergence != "l1" and np.any(w[self.prior <= 0] > atol):
            return False
        return bool(_balls.divergence(w, self.prior, self.divergence) <= self.radius + atol)

    def _uniform(self) -> np.ndarray:
        return self.prior
