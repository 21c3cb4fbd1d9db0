"""The cvxpy formulation: the epigraph of the worst case, with Λ's support function dualized.

    minimize    σ_Λ(t) + l2 ‖W‖²      over Θ, t ∈ R^p, S_k, u
    subject to  L̂_k(S_k) + c_k u ≤ t_k,  S_k = X̃_k Θ   (k = 1..p),   ‖W‖_F ≤ u

σ_Λ(t) = max over λ ∈ Λ of ⟨λ, t⟩ is nondecreasing in t (Λ lies in the non-negative orthant),
and so is the left side in u (c_k ≥ 0), so the epigraph is exact, and the multipliers of the
first constraints are a maximizing λ. Without a λ-dependent penalty (every c_k = 0) u and its
cone are left out. The set
writes σ_Λ itself (:meth:`~almo.mixtures.MixtureSet.support_function`, a conic dual).

A set without a conic description (a user-defined :class:`~almo.mixtures.MixtureSet` with only
``worst_case`` and ``project``) is handled by Kelley's cutting planes: σ_Λ is replaced by the
model max_j ⟨λ_j, t⟩ over the points λ_j ∈ Λ found so far (starting from ``uniform()``); each
solve adds the worst case at the model's losses, until the exact worst case there exceeds the
model value by less than half the tolerance. The model's value is a lower bound on the optimum
(its λ_j lie in Λ), the worst case at its solution an upper bound, and its multipliers λ are a
convex combination of points of Λ.

The score variables ``S_k`` give, through the multipliers of ``S_k = X̃_k Θ``, the per-sample
duals that the certificate of :mod:`almo.solvers._certificate` needs for non-smooth losses;
with smooth losses and l2 > 0 the certificate uses the losses' gradients instead and the scores
stay expressions (``score_variables=False``), which gives the conic solver a smaller problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from almo._cvxpy import solve
from almo.exceptions import SolverError
from almo.losses import ScoreLoss, Targets
from almo.mixtures import MixtureSet
from almo.solvers._problem import LinearProblem

_FIX = (
    "use method='dual_newton' for smooth losses with l2 > 0, or normalize the objectives and "
    "rescale X"
)
# Kelley's loop for sets without a conic form: at most this many cuts (each one a conic solve).
_MAX_CUTS = 200


@dataclass
class CvxpyResult:
    theta: np.ndarray
    weights: np.ndarray  # the multipliers λ, before projection onto Λ
    unit_duals: list[np.ndarray]
    status: str
    n_iter: int
    seconds: float


def loss_expression(loss: ScoreLoss, task: str, S: cp.Expression, t: Targets) -> cp.Expression:
    """Σ_i ℓ(S_i, y_i) as a DCP expression; S has shape (m, C) (C = 1 for scalar scores).

    The expression is the loss's own (``loss.cvxpy``); ``task`` is implied by the form.

    Examples
    --------
    >>> from almo.losses import make_loss
    >>> form = make_loss("absolute").convex_form("regression")
    >>> S, t = cp.Constant(np.array([[1.0], [3.0]])), Targets(value=np.array([0.0, 1.0]))
    >>> expr = loss_expression(form, "regression", S, t)
    >>> float(expr.value)
    3.0
    """
    return loss.cvxpy(S, t)


def solve_cvxpy(
    problem: LinearProblem,
    mixture_set: MixtureSet,
    tol: float,
    max_iter: int | None,
    solver_options: dict[str, Any] | None = None,
    score_variables: bool = True,
) -> CvxpyResult:
    """Solve the epigraph formulation with Clarabel (exponential cones for log_loss).

    Returns the raw solver output; :func:`almo.solvers.solve_linear` certifies it. Sets
    without a conic description go through the cutting-plane loop (see the module notes).

    Raises
    ------
    SolverError
        When Clarabel fails or returns no solution.

    Examples
    --------
    >>> from almo.mixtures import Simplex
    >>> from almo.solvers._problem import build_problem
    >>> X, y = np.array([[0.0], [1.0], [2.0]]), np.array([0.0, 1.0, 3.0])
    >>> problem = build_problem(X, y, ["squared", "absolute"], None, 0.0, None, True)
    >>> res = solve_cvxpy(problem, Simplex(2), 1e-6, None)
    >>> res.status, round(float(res.weights.sum()), 6)
    ('optimal', 1.0)
    """
    D, C = problem.shape
    theta = cp.Variable((D, C))
    t = cp.Variable(problem.p)
    loss_cons, score_cons, norm_cons = [], [], []
    coef = problem.norm_coef
    u = None
    if coef is not None:  # the epigraph variable of ‖W‖_F
        u = cp.Variable(nonneg=True)
        norm_cons.append(cp.norm(theta[: problem.n_features], "fro") <= u)
    for k, o in enumerate(problem.objectives):
        if score_variables:
            S = cp.Variable((o.rows.size, C))
            score_cons.append(S == problem.X[o.rows] @ theta)
        else:
            S = problem.X[o.rows] @ theta
        term = o.weight * loss_expression(o.loss, problem.task, S, o.targets)
        if coef is not None and u is not None and coef[k] > 0:
            term = term + float(coef[k]) * u
        loss_cons.append(term <= t[k])
    penalty = problem.l2 * cp.sum_squares(theta[: problem.n_features])
    # Interior-point tolerances well below the requested gap: the certificate, not the solver's
    # status, decides whether the result is accepted.
    accuracy = min(1e-8, tol * 1e-2)
    options: dict[str, Any] = {
        "tol_gap_abs": accuracy,
        "tol_gap_rel": accuracy,
        "tol_feas": accuracy,
    }
    if max_iter is not None:
        options["max_iter"] = int(max_iter)
    options.update(solver_options or {})
    try:
        sigma, extra = mixture_set.support_function(t)
    except NotImplementedError:
        prob, seconds, n_iter = _cutting_planes(
            problem,
            mixture_set,
            theta,
            t,
            [*loss_cons, *score_cons, *norm_cons],
            penalty,
            tol,
            options,
        )
    else:
        prob = cp.Problem(cp.Minimize(sigma + penalty), loss_cons + score_cons + norm_cons + extra)
        seconds = solve(prob, "the epigraph problem", fix=_FIX, retry_default=True, **options)
        n_iter = int(prob.solver_stats.num_iters or 0)
    if theta.value is None:
        raise SolverError(
            f"the epigraph problem failed: cvxpy (Clarabel) returned status {prob.status!r} "
            f"without a solution after {seconds:.2f} s. Fix: {_FIX}"
        )
    weights = np.array([float(np.asarray(c.dual_value).reshape(-1)[0]) for c in loss_cons])
    units = []
    for o, lam, con in zip(
        problem.objectives, weights, score_cons or [None] * problem.p, strict=True
    ):
        if con is None:  # no score variables: the certificate uses the losses' gradients
            units.append(o.loss.grad(problem.X[o.rows] @ theta.value, o.targets))
            continue
        # Stationarity in S_k: λ_k w_k ∇ℓ_k(S_k) = −(multiplier of S_k = X̃_k Θ), with
        # cvxpy's sign convention for equality constraints.
        c = max(lam, 0.0) * o.weight
        Y = np.asarray(con.dual_value, dtype=np.float64).reshape(o.rows.size, C)
        units.append(-Y / c if c > 0 else np.zeros_like(Y))
    return CvxpyResult(
        np.asarray(theta.value, dtype=np.float64).reshape(D, C),
        weights,
        units,
        prob.status,
        n_iter,
        seconds,
    )


def _cutting_planes(
    problem: LinearProblem,
    mixture_set: MixtureSet,
    theta: cp.Variable,
    t: cp.Variable,
    constraints: list[cp.Constraint],
    penalty: cp.Expression,
    tol: float,
    options: dict[str, Any],
) -> tuple[cp.Problem, float, int]:
    """Kelley's loop: min s + penalty with s ≥ ⟨λ_j, t⟩ for the cuts λ_j ∈ Λ found so far.

    The cuts are the rows of a parameter, so the problem is compiled once per capacity
    (doubled when full; unused rows repeat the first cut) and re-solved. Returns the last
    problem solved, the seconds spent in the solver and its total iterations.
    """
    cuts = [mixture_set.uniform()]
    s = cp.Variable()
    seconds, n_iter = 0.0, 0
    capacity, rows, prob = 0, None, None
    for _ in range(_MAX_CUTS):
        if len(cuts) > capacity:
            capacity = 2 * capacity + problem.p
            rows = cp.Parameter((capacity, problem.p))
            prob = cp.Problem(cp.Minimize(s + penalty), [*constraints, rows @ t <= s])
        assert rows is not None and prob is not None
        rows.value = np.array(cuts + cuts[:1] * (capacity - len(cuts)))
        seconds += solve(
            prob, f"the epigraph problem (cutting plane {len(cuts)})", fix=_FIX, **options
        )
        n_iter += int(prob.solver_stats.num_iters or 0)
        theta_now = np.asarray(theta.value, dtype=np.float64)
        worst = mixture_set.worst_case(problem.game_losses(theta_now))
        upper = worst.value + problem.penalty(theta_now)
        if upper - float(prob.value) <= 0.5 * tol * max(1.0, abs(upper)):
            break
        if min(float(np.abs(worst.weights - c).max()) for c in cuts) <= 1e-12:
            break  # the model already holds this cut: no progress left within rounding
        cuts.append(worst.weights)
    assert prob is not None
    return prob, seconds, n_iter
