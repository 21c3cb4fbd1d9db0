"""The cvxpy formulation: the epigraph of the worst case, with Λ's support function dualized.

    minimize    σ_Λ(t) + l2 ‖W‖²      over Θ, t ∈ R^p, S_k
    subject to  L̂_k(S_k) ≤ t_k,  S_k = X̃_k Θ          (k = 1..p)

σ_Λ(t) = max over λ ∈ Λ of ⟨λ, t⟩ is nondecreasing in t (Λ lies in the non-negative orthant),
so the epigraph is exact, and the multipliers of ``L̂_k ≤ t_k`` are a maximizing λ. σ_Λ is
written through its convex dual, one per kind of set:

- :class:`~almo.mixtures.Simplex`: ``max_k t_k``;
- :class:`~almo.mixtures.BoxSimplex` and :class:`~almo.mixtures.Polytope` — polytopes
  {λ ≥ 0, Σλ = 1, Gλ ≤ h}: by LP duality ``min τ + hᵀμ`` over μ ≥ 0 with ``τ 1 + Gᵀμ ≥ t``;
- :class:`~almo.mixtures.PriorBall`: with ν, μ ≥ 0, γ ≥ 0 and ``c = t + μ − ν``:
  l1 ``⟨t + μ, λ0⟩ + γ r`` with ``‖c‖_∞ ≤ γ``;
  χ² ``⟨t + μ, λ0⟩ + γ r + Σ λ0_k c_k² / (4γ)``;
  KL ``min γ r + s`` with ``Σ λ0_k z_k ≤ γ`` and ``z_k ≥ γ exp((t_k − s)/γ)`` (exponential
  cones; this is γ r + γ log Σ λ0 exp(t/γ)).

Other :class:`~almo.mixtures.MixtureSet` subclasses raise ``NotImplementedError`` here (the
fast method supports any set through ``worst_case`` and ``project``).

The score variables ``S_k`` give, through the multipliers of ``S_k = X̃_k Θ``, the per-sample
duals that the certificate of :mod:`almo.solvers._certificate` needs for non-smooth losses;
with smooth losses and l2 > 0 the certificate uses the losses' gradients instead and the scores
stay expressions (``score_variables=False``), which gives the conic solver a smaller problem.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from almo.losses import ScoreLoss, Targets
from almo.mixtures import BoxSimplex, MixtureSet, Polytope, PriorBall, Simplex
from almo.solvers._problem import LinearProblem


@dataclass
class CvxpyResult:
    theta: np.ndarray
    weights: np.ndarray  # the multipliers λ, before projection onto Λ
    unit_duals: list[np.ndarray]
    status: str
    n_iter: int
    seconds: float


def support_function(mixture_set: MixtureSet, t: cp.Expression
                     ) -> tuple[cp.Expression, list[cp.Constraint]]:
    """σ_Λ(t) as a convex cvxpy expression with auxiliary constraints (see the module notes).

    Examples
    --------
    >>> t = cp.Variable(3)
    >>> ball = PriorBall([0.5, 0.3, 0.2], radius=0.2)
    >>> sigma, cons = support_function(ball, t)
    >>> prob = cp.Problem(cp.Minimize(sigma), [*cons, t == np.array([1.0, 3.0, 2.0])])
    >>> round(float(prob.solve(solver=cp.CLARABEL)), 6), ball.worst_case([1.0, 3.0, 2.0]).value
    (2.0, 2.0)
    """
    p = mixture_set.p
    if isinstance(mixture_set, Simplex):
        return cp.max(t), []
    if isinstance(mixture_set, (BoxSimplex, Polytope)):
        G, h = polytope_rows(mixture_set)
        tau, mu = cp.Variable(), cp.Variable(G.shape[0], nonneg=True)
        return tau + h @ mu, [tau + G.T @ mu >= t]
    if isinstance(mixture_set, PriorBall):
        prior, r = np.asarray(mixture_set.prior, dtype=np.float64), float(mixture_set.radius)
        if mixture_set.divergence == "kl":
            gamma, s, z = cp.Variable(nonneg=True), cp.Variable(), cp.Variable(p)
            cons = [prior @ z <= gamma, cp.constraints.ExpCone(t - s, gamma * np.ones(p), z)]
            return gamma * r + s, cons
        mu, nu, gamma = cp.Variable(p, nonneg=True), cp.Variable(), cp.Variable(nonneg=True)
        c = t + mu - nu
        if mixture_set.divergence == "l1":
            return prior @ (t + mu) + gamma * r, [cp.norm_inf(c) <= gamma]
        quad = cp.quad_over_lin(cp.multiply(np.sqrt(prior), c), 4.0 * gamma)
        return prior @ (t + mu) + gamma * r + quad, []
    raise NotImplementedError(
        f"the cvxpy method has no dual formulation for {type(mixture_set).__name__}; use "
        "method='dual_newton' (any set with worst_case and project) or express the set as a "
        "Polytope")


def lambda_constraints(mixture_set: MixtureSet, lam: cp.Variable) -> list[cp.Constraint] | None:
    """Constraints describing Λ on a cvxpy variable, or None for sets without a description.

    Examples
    --------
    >>> lam = cp.Variable(2)
    >>> cons = lambda_constraints(BoxSimplex(lower=[0.2, 0.0], upper=[1.0, 1.0]), lam)
    >>> prob = cp.Problem(cp.Maximize(lam[1]), cons)
    >>> round(float(prob.solve(solver=cp.CLARABEL)), 6)
    0.8
    """
    base = [lam >= 0, cp.sum(lam) == 1]
    if isinstance(mixture_set, Simplex):
        return base
    if isinstance(mixture_set, (BoxSimplex, Polytope)):
        G, h = polytope_rows(mixture_set)
        return [*base, G @ lam <= h]
    if isinstance(mixture_set, PriorBall):
        prior, r = np.asarray(mixture_set.prior, dtype=np.float64), float(mixture_set.radius)
        div = {"l1": lambda: cp.norm1(lam - prior),
               "chi2": lambda: cp.sum(cp.multiply(1.0 / prior, cp.square(lam - prior))),
               "kl": lambda: cp.sum(cp.rel_entr(lam, prior))}[mixture_set.divergence]()
        return [*base, div <= r]
    return None


def polytope_rows(mixture_set: BoxSimplex | Polytope) -> tuple[np.ndarray, np.ndarray]:
    """(G, h) with Λ = {λ ≥ 0, Σλ = 1, Gλ ≤ h}; infinite bounds dropped.

    Examples
    --------
    >>> G, h = polytope_rows(BoxSimplex(lower=[0.1, 0.2], upper=[0.9, 0.9]))
    >>> G.shape, h.tolist()
    ((4, 2), [0.9, 0.9, -0.1, -0.2])
    """
    if isinstance(mixture_set, Polytope):
        return np.asarray(mixture_set.A, dtype=np.float64), \
            np.asarray(mixture_set.b, dtype=np.float64)
    p = mixture_set.p
    G = np.vstack([np.eye(p), -np.eye(p)])
    h = np.concatenate([mixture_set.upper, -mixture_set.lower]).astype(np.float64)
    keep = np.isfinite(h)
    return G[keep], h[keep]


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


def solve_cvxpy(problem: LinearProblem, mixture_set: MixtureSet, tol: float,
                max_iter: int | None, solver_options: dict[str, Any] | None = None,
                score_variables: bool = True) -> CvxpyResult:
    """Solve the epigraph formulation with Clarabel (exponential cones for log_loss).

    Returns the raw solver output; :func:`almo.solvers.solve_linear` certifies it.

    Examples
    --------
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
    loss_cons, score_cons = [], []
    for k, o in enumerate(problem.objectives):
        if score_variables:
            S = cp.Variable((o.rows.size, C))
            score_cons.append(S == problem.X[o.rows] @ theta)
        else:
            S = problem.X[o.rows] @ theta
        loss_cons.append(o.weight * loss_expression(o.loss, problem.task, S, o.targets) <= t[k])
    sigma, extra = support_function(mixture_set, t)
    objective = sigma + problem.l2 * cp.sum_squares(theta[: problem.n_features])
    prob = cp.Problem(cp.Minimize(objective), loss_cons + score_cons + extra)
    # Interior-point tolerances well below the requested gap: the certificate, not the solver's
    # status, decides whether the result is accepted.
    accuracy = min(1e-8, tol * 1e-2)
    options: dict[str, Any] = {"tol_gap_abs": accuracy, "tol_gap_rel": accuracy,
                               "tol_feas": accuracy}
    if max_iter is not None:
        options["max_iter"] = int(max_iter)
    options.update(solver_options or {})
    start = time.perf_counter()
    with warnings.catch_warnings():
        # An inaccurate status is reported through the certified gap instead.
        warnings.filterwarnings("ignore", message="Solution may be inaccurate")
        try:
            prob.solve(solver=cp.CLARABEL, **options)
        except cp.SolverError as err:
            raise RuntimeError(
                f"cvxpy (Clarabel) failed after {time.perf_counter() - start:.1f} s on the "
                f"epigraph problem ({err}); use method='dual_newton' for smooth losses with "
                "l2 > 0, or normalize the objectives and rescale X") from err
    seconds = time.perf_counter() - start
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or theta.value is None:
        raise RuntimeError(f"cvxpy (Clarabel) returned status {prob.status!r} for the "
                           "epigraph problem; try method='dual_newton', rescale X, or "
                           "normalize the objectives")
    weights = np.array([float(np.asarray(c.dual_value).reshape(-1)[0]) for c in loss_cons])
    units = []
    for o, lam, con in zip(problem.objectives, weights, score_cons or [None] * problem.p,
                           strict=True):
        if con is None:  # no score variables: the certificate uses the losses' gradients
            units.append(o.loss.grad(problem.X[o.rows] @ theta.value, o.targets))
            continue
        # Stationarity in S_k: λ_k w_k ∇ℓ_k(S_k) = −(multiplier of S_k = X̃_k Θ), with
        # cvxpy's sign convention for equality constraints.
        c = max(lam, 0.0) * o.weight
        Y = np.asarray(con.dual_value, dtype=np.float64).reshape(o.rows.size, C)
        units.append(-Y / c if c > 0 else np.zeros_like(Y))
    stats = prob.solver_stats
    return CvxpyResult(np.asarray(theta.value, dtype=np.float64).reshape(D, C), weights, units,
                       prob.status, int(stats.num_iters or 0), seconds)
