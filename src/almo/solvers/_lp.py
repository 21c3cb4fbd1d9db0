"""The linear-programming method: piecewise-linear losses without a ridge, solved exactly.

When every loss is a max of affine pieces of the scores (absolute, pinball, hinge — binary and
Crammer–Singer), there is no ridge (l2 = 0) and no λ-dependent penalty, and Λ is polyhedral
(:class:`~almo.mixtures.Simplex`, :class:`~almo.mixtures.BoxSimplex`,
:class:`~almo.mixtures.Polytope`, a single point included), the whole minimax problem is one
linear program. With Λ = {λ ≥ 0, Σλ = 1, Gλ ≤ h} and σ_Λ dualized (see
:mod:`almo.mixtures._rows`):

    minimize    τ + hᵀμ                       over Θ, e, τ, μ ≥ 0
    subject to  ⟨G_im, x̃_iᵀ Θ⟩ + h_im ≤ e_i     (every sample i of objective k, every piece m)
                w_k Σ_{i ∈ k} e_i ≤ τ + (Gᵀμ)_k   (k = 1..p),  w_k = 1 / (n_k s_k).

At an optimum, e_i is the loss of sample i, the multipliers of the p objective rows are a worst
mixture λ ∈ Λ, and those of the piece rows, π_im ≥ 0 with Σ_m π_im = λ_k w_k, give each sample's
dual α_i = Σ_m π_im G_im — a point of the conjugate's domain, scaled by λ_k w_k, with
Σ_i x̃_i α_iᵀ = 0. The certificate does not trust the LP solver's accuracy: the upper bound is
the worst case over Λ of the losses at the returned Θ, and the lower bound is the Fenchel dual
value of :func:`almo.solvers._certificate.dual_bound` at those multipliers, after their linear
constraints are restored exactly. HiGHS (through :func:`scipy.optimize.linprog`) solves the LP;
it is the same LP a conic modelling layer would build, without the layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from almo.exceptions import SolverError
from almo.mixtures import MixtureSet
from almo.mixtures._rows import PolyhedralSet
from almo.solvers._problem import LinearProblem, Objective

# HiGHS's feasibility tolerances (its defaults are 1e-7): tight enough that the multipliers
# need only a rounding-sized repair to certify a relative gap far below the default tol 1e-6.
_FEASIBILITY = 1e-9
# Clarabel's gap and feasibility tolerances (its defaults): the interior point only screens
# the samples; the simplex on the rest gives the vertex and the multipliers that certify.
_IPM_TOL = 1e-8

# A sample keeps its rows unless its largest piece leads by more than this (relative to the
# largest piece value): Clarabel's answer is accurate to ~1e-9, so a wrong fix is rare, and
# the certificate catches it (the caller then runs the whole LP).
_SCREEN = 1e-6
# Rounds of giving rows back to screened samples before the answer is returned as it is.
_ROUNDS = 20

Engine = Literal["screened", "highs"]


@dataclass
class LPResult:
    """The LP's answer, before certification (see :func:`solve_lp`)."""

    theta: np.ndarray
    weights: np.ndarray  # the multipliers λ of the objective rows, before projection onto Λ
    unit_duals: list[np.ndarray]  # per objective, α / (λ_k w_k) (zeros where λ_k = 0)
    n_iter: int
    seconds: float


def lp_applies(problem: LinearProblem, mixture_set: MixtureSet) -> tuple[bool, str]:
    """Whether the problem is one linear program, and why not.

    Examples
    --------
    >>> import numpy as np
    >>> from almo.mixtures import Simplex
    >>> from almo.solvers._problem import build_problem
    >>> X, y = np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 1.0, 3.0])
    >>> lp_applies(build_problem(X, y, "absolute", None, 0.0, None, True), Simplex(1))
    (True, '')
    >>> lp_applies(build_problem(X, y, "squared", None, 0.0, None, True), Simplex(1))[1]
    "the losses ['squared'] are not piecewise linear"
    """
    curved = [o.name for o in problem.objectives if o.loss.pieces(o.targets) is None]
    if curved:
        return False, f"the losses {curved} are not piecewise linear"
    if problem.l2 > 0 or problem.prox > 0:
        return False, f"l2 = {problem.l2:g} > 0 makes the problem quadratic"
    if problem.norm_coef is not None:
        return False, "the norm penalty ‖W‖ is not linear"
    if not isinstance(mixture_set, PolyhedralSet):
        return False, f"{type(mixture_set).__name__} is not a polyhedral mixture set"
    return True, ""


def lp_preferred(problem: LinearProblem) -> bool:
    """Whether ``method="auto"`` takes the LP: every loss scalar with two pieces (absolute,
    pinball, binary hinge), so that each sample adds one row. The Crammer–Singer hinge adds C
    rows of d + 1 entries per sample, and its LP is often degenerate (separable classes):
    the smoothed Newton method is faster there.

    Examples
    --------
    >>> import numpy as np
    >>> from almo.solvers._problem import build_problem
    >>> X, y = np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 1.0, 3.0])
    >>> lp_preferred(build_problem(X, y, ["absolute", "pinball"], None, 0.0, None, True))
    True
    """
    return all(_Block.of(o, problem.X, problem.n_outputs).split for o in problem.objectives)


def solve_lp(
    problem: LinearProblem, mixture_set: MixtureSet, engine: Engine = "screened"
) -> LPResult:
    """Solve the minimax problem as one LP (see the module notes).

    ``engine`` "highs": HiGHS's dual simplex (through scipy) on the whole LP, a vertex
    solution with exact multipliers, but thousands of pivots when there are thousands of
    samples. "screened": Clarabel's interior-point method first (a few dozen sparse
    factorizations), then the simplex on the samples it leaves near a kink (see
    :meth:`_Block.screen`); the answer is a vertex of that smaller LP.

    Raises
    ------
    SolverError
        When HiGHS does not report an optimal solution.

    Examples
    --------
    >>> import numpy as np
    >>> from almo.mixtures import Simplex
    >>> from almo.solvers._problem import build_problem
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> y = np.array([0.0, 1.0, 2.0, 9.0])
    >>> problem = build_problem(X, y, "absolute", [0, 0, 1, 1], 0.0, None, True)
    >>> res = solve_lp(problem, Simplex(2))
    >>> problem.losses(res.theta).round(6).tolist(), round(float(res.weights.sum()), 6)
    ([1.5, 1.5], 1.0)
    """
    if not isinstance(mixture_set, PolyhedralSet):  # lp_applies says so first
        raise TypeError(f"solve_lp needs a polyhedral mixture set, not {mixture_set!r}")
    start = time.perf_counter()
    blocks = [_Block.of(o, problem.X, problem.n_outputs) for o in problem.objectives]
    n_iter = 0
    if engine == "screened":
        theta, _, n_iter = _solve(problem, mixture_set, blocks, _clarabel)
        for b in blocks:
            b.screen(theta)
    for _ in range(_ROUNDS):
        try:
            theta, (weights, unit_duals), steps = _solve(problem, mixture_set, blocks, _highs)
        except SolverError:
            # a screen from a poor interior-point answer can leave the small LP unbounded:
            # every sample gets its rows back
            if all(b.free.all() for b in blocks):
                raise
            for b in blocks:
                b.free[:] = True
            continue
        n_iter += steps
        # a screened sample whose piece no longer leads at the new model gets its rows back
        # (constraint generation); none left: the small LP's vertex is the whole LP's
        if not any([b.release(theta) for b in blocks]):
            break
    return LPResult(
        theta=theta,
        weights=weights,
        unit_duals=unit_duals,
        n_iter=n_iter,
        seconds=time.perf_counter() - start,
    )


def _solve(
    problem: LinearProblem, mixture_set: PolyhedralSet, blocks: list[_Block], run: Any
) -> tuple[np.ndarray, tuple[np.ndarray, list[np.ndarray]], int]:
    """Build the LP of ``blocks`` (their free samples) and solve it with ``run``."""
    start = time.perf_counter()
    D, C = problem.shape
    G_set, h_set = mixture_set._rows()
    n_theta = D * C
    col = n_theta
    for b in blocks:
        b.col, col = col, col + b.n_vars
    tau, n_mu = col, G_set.shape[0]
    n_var = tau + 1 + n_mu
    ub, eq = _Rows(), _Rows()
    for b in blocks:
        b.add_rows(ub, eq)
    for k, (o, b) in enumerate(zip(problem.objectives, blocks, strict=True)):
        # w_k (Σ_i e_i) ≤ τ + (Gᵀμ)_k: e_i = ℓ*_i + a_hi u_i − a_lo v_i in the split form,
        # the one affine piece ⟨G_im, Θᵀ x̃_i⟩ + h_im of a screened sample
        cols, vals, const = b.objective_terms()
        ub.add(
            np.full(cols.size + 1 + n_mu, 0),
            np.concatenate([cols, [tau], tau + 1 + np.arange(n_mu)]),
            np.concatenate([o.weight * vals, [-1.0], -G_set[:, k]]),
            np.array([-o.weight * const]),
        )
    c = np.zeros(n_var)
    c[tau] = 1.0
    c[tau + 1 :] = h_set
    lower = np.full(n_var, -np.inf)
    for b in blocks:
        if b.split:
            lower[b.col : b.col + b.n_vars] = 0.0
    lower[tau + 1 :] = 0.0
    A_ub, b_ub = ub.matrix(n_var)
    A_eq, b_eq = eq.matrix(n_var)
    try:
        x, dual_ub, dual_eq, n_iter = run(c, A_ub, b_ub, A_eq, b_eq, lower)
    except SolverError as err:
        raise SolverError(
            f"the linear program of the minimax problem ({ub.n_rows + eq.n_rows} rows, {n_var} "
            f"columns) failed after {time.perf_counter() - start:.2f} s: {err}; rescale X or "
            "the targets, or try method='cvxpy'"
        ) from None
    theta = np.asarray(x[:n_theta]).reshape(D, C)
    weights = np.asarray(dual_ub[ub.n_rows - problem.p :], dtype=np.float64)
    unit_duals = []
    for k, (o, b) in enumerate(zip(problem.objectives, blocks, strict=True)):
        c_k = max(float(weights[k]), 0.0) * o.weight
        unit_duals.append(b.unit_duals(dual_ub, dual_eq, c_k))
    return theta, (weights, unit_duals), n_iter


def _clarabel(
    c: np.ndarray,
    A_ub: sparse.csr_matrix,
    b_ub: np.ndarray,
    A_eq: sparse.csr_matrix,
    b_eq: np.ndarray,
    lower: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """min cᵀx, A_ub x ≤ b_ub, A_eq x = b_eq, x ≥ lower where finite, by Clarabel.

    Returns x, the multipliers of the inequality rows (≥ 0) and of the equality rows, in the
    Lagrangian ``cᵀx + y_ubᵀ(A_ub x − b_ub) + y_eqᵀ(A_eq x − b_eq)``, and the iterations.
    """
    import clarabel

    n = c.size
    low = np.flatnonzero(np.isfinite(lower))
    bound_rows = sparse.csr_matrix(
        (-np.ones(low.size), (np.arange(low.size), low)), shape=(low.size, n)
    )
    A = sparse.vstack([A_eq, A_ub, bound_rows]).tocsc()
    b = np.concatenate([b_eq, b_ub, -lower[low]])
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = _IPM_TOL
    cones = [clarabel.ZeroConeT(A_eq.shape[0]), clarabel.NonnegativeConeT(A_ub.shape[0] + low.size)]
    sol = clarabel.DefaultSolver(sparse.csc_matrix((n, n)), c, A, b, cones, settings).solve()
    if str(sol.status) not in ("Solved", "AlmostSolved"):
        raise SolverError(f"Clarabel status {sol.status} after {sol.iterations} iterations")
    z = np.asarray(sol.z)
    n_eq = A_eq.shape[0]
    return (
        np.asarray(sol.x),
        np.maximum(z[n_eq : n_eq + A_ub.shape[0]], 0.0),
        z[:n_eq],
        int(sol.iterations),
    )


def _highs(
    c: np.ndarray,
    A_ub: sparse.csr_matrix,
    b_ub: np.ndarray,
    A_eq: sparse.csr_matrix,
    b_eq: np.ndarray,
    lower: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The same LP as :func:`_clarabel`, by HiGHS's dual simplex (a vertex solution)."""
    bounds = np.column_stack([lower, np.full(c.size, np.inf)])
    res = cast(Any, linprog)(  # its stubs know no sparse matrices
        c,
        A_ub=A_ub,
        b_ub=b_ub,
        A_eq=A_eq if A_eq.shape[0] else None,
        b_eq=b_eq if A_eq.shape[0] else None,
        bounds=bounds,
        method="highs-ds",
        options={
            "primal_feasibility_tolerance": _FEASIBILITY,
            "dual_feasibility_tolerance": _FEASIBILITY,
            "simplex_dual_edge_weight_strategy": "devex",
        },
    )
    if res.status != 0 or res.x is None:
        raise SolverError(f"HiGHS status {res.status} ({res.message})")
    eq = -np.asarray(res.eqlin.marginals) if A_eq.shape[0] else np.zeros(0)
    return np.asarray(res.x), -np.asarray(res.ineqlin.marginals), eq, int(res.nit)


class _Rows:
    """Sparse rows (COO triplets) and right-hand sides, appended block by block."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.rhs: list[np.ndarray] = []
        self.n_rows = 0

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, rhs: np.ndarray) -> int:
        """Append ``rhs.size`` rows (``rows`` counted from 0 within them); their first index."""
        first = self.n_rows
        self.rows.append(first + np.asarray(rows))
        self.cols.append(np.asarray(cols))
        self.vals.append(np.asarray(vals, dtype=np.float64))
        self.rhs.append(np.asarray(rhs, dtype=np.float64))
        self.n_rows += rhs.size
        return first

    def matrix(self, n_var: int) -> tuple[sparse.csr_matrix, np.ndarray]:
        if not self.n_rows:
            return sparse.csr_matrix((0, n_var)), np.zeros(0)
        A = sparse.csr_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n_rows, n_var),
        )
        return A, np.concatenate(self.rhs)


class _Block:
    """One objective's part of the LP.

    Scalar two-piece losses (absolute, pinball, binary hinge) take the *split* form: with the
    kink s*_i of ``max(a_lo s + b_lo, a_hi s + b_hi)`` (a_lo < a_hi) and ℓ*_i the loss there,
    ``x̃_iᵀ Θ − u_i + v_i = s*_i`` with u, v ≥ 0 and ``ℓ_i = ℓ*_i + a_hi u_i − a_lo v_i`` at an
    optimum (moving both u_i and v_i up costs a_hi − a_lo > 0). One equality row per sample
    instead of two inequality rows, and the bounds u, v ≥ 0 stay out of the row count — the
    classic least-absolute-deviations LP. Other losses (the Crammer–Singer hinge) take one
    inequality row per piece and a free epigraph variable e_i per sample.

    After :meth:`screen`, a sample whose largest piece at a near-optimal model leads the others
    by a clear margin keeps that piece alone: its loss is affine in Θ and joins the objective
    row, and its dual is that piece's slope (a vertex of its domain). Only the samples near a
    kink keep rows, so the simplex method works on a small LP.
    """

    def __init__(self, X: np.ndarray, G: np.ndarray, h: np.ndarray, C: int) -> None:
        self.X, self.G, self.h, self.C = X, G, h, C
        self.m, self.M = h.shape
        self.free = np.ones(self.m, dtype=bool)
        self.side = np.zeros(self.m, dtype=np.intp)
        slopes = G[:, :, 0] if C == 1 else None
        self.split = bool(
            slopes is not None and self.M == 2 and np.all(np.abs(slopes[:, 0] - slopes[:, 1]) > 0)
        )
        if self.split and slopes is not None:
            hi = np.argmax(slopes, axis=1)
            rows = np.arange(self.m)
            self.a_hi, self.a_lo = slopes[rows, hi], slopes[rows, 1 - hi]
            b_hi, b_lo = h[rows, hi], h[rows, 1 - hi]
            self.kink = (b_lo - b_hi) / (self.a_hi - self.a_lo)
            self.at_kink = self.a_hi * self.kink + b_hi
        self.col = 0
        self.first = 0  # the first row of the block (in A_eq when split, else in A_ub)

    @classmethod
    def of(cls, o: Objective, X: np.ndarray, C: int) -> _Block:
        form = o.loss.pieces(o.targets)
        if form is None:  # lp_applies says so first
            raise TypeError(f"the loss {o.name!r} has no piecewise-linear form")
        return cls(X[o.rows], form[0], form[1], C)

    @property
    def n_free(self) -> int:
        return int(self.free.sum())

    @property
    def n_vars(self) -> int:
        return 2 * self.n_free if self.split else self.n_free

    def screen(self, theta: np.ndarray) -> None:
        """Keep rows only for the samples whose two largest pieces at ``theta`` are close."""
        values = np.einsum("imc,ic->im", self.G, self.X @ theta) + self.h
        order = np.argsort(values, axis=1)
        rows = np.arange(self.m)
        top, second = values[rows, order[:, -1]], values[rows, order[:, -2]]
        scale = max(1.0, float(np.abs(values).max()))
        self.side = order[:, -1]
        margin = top - second
        self.free = margin <= _SCREEN * scale
        # at least as many rows as Θ has entries, the closest samples first: with fewer, the
        # small LP is often unbounded (the kept pieces alone do not pin Θ down)
        keep = min(self.m, self.X.shape[1] * self.C + 1)
        self.free[np.argpartition(margin, keep - 1)[:keep]] = True

    def release(self, theta: np.ndarray) -> bool:
        """Give rows back to the screened samples whose piece no longer leads clearly at
        ``theta``; whether there were any."""
        fixed = np.flatnonzero(~self.free)
        if not fixed.size:
            return False
        values = np.einsum("imc,ic->im", self.G[fixed], self.X[fixed] @ theta) + self.h[fixed]
        mine = values[np.arange(fixed.size), self.side[fixed]]
        others = values.copy()
        others[np.arange(fixed.size), self.side[fixed]] = -np.inf
        scale = max(1.0, float(np.abs(values).max()))
        lost = others.max(axis=1) >= mine - _SCREEN * scale
        self.free[fixed[lost]] = True
        return bool(lost.any())

    def add_rows(self, ub: _Rows, eq: _Rows) -> None:
        X, G, h = self.X[self.free], self.G[self.free], self.h[self.free]
        m, M, C, D = X.shape[0], self.M, self.C, self.X.shape[1]
        if self.split:
            # x̃_iᵀ Θ − u_i + v_i = s*_i
            ii, jj = np.nonzero(X)
            rows = np.concatenate([ii, np.arange(m), np.arange(m)])
            cols = np.concatenate([jj, self.col + np.arange(m), self.col + m + np.arange(m)])
            vals = np.concatenate([X[ii, jj], -np.ones(m), np.ones(m)])
            self.first = eq.add(rows, cols, vals, self.kink[self.free])
            return
        # ⟨G_im, Θᵀ x̃_i⟩ − e_i ≤ −h_im
        ii, mm, cc = np.nonzero(G)
        coef = X[ii] * G[ii, mm, cc][:, None]  # (nonzeros, D)
        keep = coef != 0.0
        rows = np.broadcast_to((ii * M + mm)[:, None], coef.shape)[keep]
        cols = (np.arange(D)[None, :] * C + cc[:, None])[keep]
        rows = np.concatenate([rows, np.arange(m * M)])
        cols = np.concatenate([cols, self.col + np.repeat(np.arange(m), M)])
        vals = np.concatenate([coef[keep], np.full(m * M, -1.0)])
        self.first = ub.add(rows, cols, vals, -h.ravel())

    def objective_terms(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Columns and coefficients of Σ_i e_i, and its constant part."""
        m = self.n_free
        cols = self.col + np.arange(self.n_vars)
        if self.split:
            vals = np.concatenate([self.a_hi[self.free], -self.a_lo[self.free]])
            const = float(self.at_kink[self.free].sum())
        else:
            vals, const = np.ones(m), 0.0
        fixed = ~self.free
        if fixed.any():
            rows = np.flatnonzero(fixed)
            slope = self.G[rows, self.side[rows]]  # (fixed, C)
            coef = (self.X[rows].T @ slope).ravel()  # on Θ (D, C), row-major
            cols = np.concatenate([np.arange(coef.size), cols])
            vals = np.concatenate([coef, vals])
            const += float(self.h[rows, self.side[rows]].sum())
        return cols, vals, const

    def unit_duals(self, dual_ub: np.ndarray, dual_eq: np.ndarray, c_k: float) -> np.ndarray:
        """u_i = α_i / (λ_k w_k), (m, C): the multipliers of the scores x̃_iᵀ Θ in loss units."""
        U = np.zeros((self.m, self.C))
        fixed = np.flatnonzero(~self.free)
        U[fixed] = self.G[fixed, self.side[fixed]]
        if c_k <= 0.0:
            return U
        m = self.n_free
        if self.split:
            alpha = dual_eq[self.first : self.first + m, None]
        else:
            pi = np.maximum(dual_ub[self.first : self.first + m * self.M], 0.0)
            alpha = np.einsum("im,imc->ic", pi.reshape(m, self.M), self.G[self.free])
        U[self.free] = alpha / c_k
        return U
