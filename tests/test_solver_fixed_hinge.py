"""The smoothed path on fixed-weight problems with the Crammer–Singer hinge: digits rows,
64 standardized pixels, 10 classes, Λ = {λ} (and a thin box around it).

References, all written here: a cvxpy program from the losses' formulas solved by Clarabel far
past its defaults; a Fenchel dual bound of the hinge problem evaluated in numpy at dual points
repaired to exact feasibility by a small QP; and the pieces of the inner solver checked against
plain recomputations (dense Hessians, finite differences, a fine grid along the line search's
direction).
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from almo import BoxSimplex
from almo.losses import Targets, make_loss
from almo.projections import project_simplex
from almo.solvers import solve_linear
from almo.solvers._inner import InnerSolver
from almo.solvers._smoothing import SmoothedMultiHinge, predicted_start, smooth_problem

# the fixed-weight problem's numpy objective and its cvxpy reference live with the other
# fixed-point tests
from test_solver_fixed_point import (
    CLARABEL,
    L2,
    LOSSES,
    _hinge,
    _log_loss,
    _objective,
    _reference,
)


def _digits(n: int):
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X[:n]), y[:n]


def _solve(X, y, mixture_set, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return solve_linear(X, y, LOSSES, mixture_set=mixture_set, l2=L2, tol=1e-6, **kw)


def _hinge_dual_bound(X, y) -> float:
    """A lower bound on min (1/n) Σ hinge + l2 ‖W‖² from the Fenchel dual, written here:
    max over q_i ∈ Δ with Σ_i q_i = Σ_i e_{y_i} (the free intercept) of
    (1/n) Σ (1 − q_{i y_i}) − ‖A‖² / (4 l2), A = (1/n) Σ x_i (q_i − e_{y_i})ᵀ, solved by
    Clarabel; the maximizer is repaired to exact feasibility and the bound evaluated in numpy,
    so it is a valid bound whatever the QP's accuracy."""
    n, C = len(y), 10
    Y = np.eye(C)[y]
    q = cp.Variable((n, C))
    A = X.T @ (q - Y) / n
    objective = cp.sum(1.0 - cp.sum(cp.multiply(Y, q), axis=1)) / n
    prob = cp.Problem(
        cp.Maximize(objective - cp.sum_squares(A) / (4.0 * L2)),
        [q >= 0, cp.sum(q, axis=1) == 1, cp.sum(q, axis=0) == Y.sum(axis=0)],
    )
    prob.solve(solver=cp.CLARABEL, **CLARABEL)
    Q = np.clip(q.value, 0.0, None)
    Q /= Q.sum(axis=1, keepdims=True)
    U = Q - Y
    assert np.abs(U.sum(axis=0)).max() <= 1e-7  # dual feasible for the free intercept
    A_val = X.T @ U / n
    return float((1.0 - Q[np.arange(n), y]).mean() - np.sum(A_val * A_val) / (4.0 * L2))


@pytest.fixture(scope="module")
def digits():
    return _digits(300)


@pytest.mark.parametrize("lam", [(0.0, 1.0, 0.0), (1 / 3, 2 / 3, 0.0)])
def test_fixed_weights_certified_against_cvxpy(digits, lam):
    X, y = digits
    lam = np.array(lam)
    sol = _solve(X, y, BoxSimplex(lam, lam), method="smoothed_newton")
    ref = _reference(X, y, lam)
    assert sol.status == "optimal"
    assert sol.gap <= 1e-6 * max(1.0, sol.value)
    assert sol.value == pytest.approx(_objective(X, y, lam, sol.coef_.T, sol.intercept_), rel=1e-9)
    assert sol.lower_bound <= ref + 1e-8
    assert sol.value >= ref - 1e-8
    assert abs(sol.value - ref) <= 1e-6 + 1e-8


def test_hinge_alone_gap_confirmed_by_an_independent_dual_bound(digits):
    X, y = digits
    lam = np.array([0.0, 1.0, 0.0])
    sol = _solve(X, y, BoxSimplex(lam, lam), method="smoothed_newton")
    bound = _hinge_dual_bound(X, y)
    # weak duality: the solver's lower bound and this bound lie below the optimum ≤ sol.value
    assert bound <= sol.value + 1e-9
    assert sol.value - bound <= 1e-6 + 1e-8  # the certified gap is real
    assert sol.lower_bound <= sol.value
    assert sol.lower_bound <= bound + 1e-6  # both lower bounds within tol of each other


def test_a_thin_box_around_the_point_is_certified_and_near_the_point_value(digits):
    X, y = digits
    lam = np.array([1 / 3, 2 / 3, 0.0])
    box = BoxSimplex(np.maximum(lam - 0.02, 0.0), lam + 0.02)
    sol = _solve(X, y, box, method="smoothed_newton")
    point = _solve(X, y, BoxSimplex(lam, lam), method="smoothed_newton")
    assert sol.status == "optimal" and point.status == "optimal"
    assert sol.gap <= 1e-6 * max(1.0, sol.value)
    # the box contains λ, so its min–max value is at least the point's minimum
    assert sol.value >= point.lower_bound - 1e-9
    assert np.all(sol.weights >= box.lower - 1e-9) and np.all(sol.weights <= box.upper + 1e-9)


def test_interior_point_of_the_simplex(digits):
    X, y = digits
    lam = np.array([0.2, 0.5, 0.3])
    sol = _solve(X, y, BoxSimplex(lam, lam), method="smoothed_newton")
    assert sol.status == "optimal"
    assert sol.gap <= 1e-6 * max(1.0, sol.value)
    S = X @ sol.coef_.T + sol.intercept_
    Y = np.eye(10)[y]
    squared = 0.5 * np.sum((S - Y) ** 2, axis=1).mean()
    manual = lam[0] * _log_loss(S, y).mean() + lam[1] * _hinge(S, y).mean()
    # the squared loss's form is internal: the value minus the two known terms and the ridge
    # is λ_3 times a nonnegative loss that is 0 at exact fits and grows with the residuals
    rest = sol.value - manual - L2 * np.sum(sol.coef_**2)
    assert rest >= -1e-12
    assert rest <= lam[2] * max(1.0, 4.0 * squared)


# pieces -----------------------------------------------------------------------------------
def _stage(n=120, mu=1e-2, lam=(0.0, 1.0, 0.0)):
    """A smoothed stage of the digits problem, built through the solver's own problem."""
    import almo.solvers.linear as linear

    X, y = _digits(n)
    captured = {}

    def capture(problem, mixture_set, tol, max_iter):
        captured["problem"] = problem
        raise RuntimeError("captured")

    lam = np.array(lam, dtype=float)
    old = linear.solve_smoothed
    linear.solve_smoothed = capture
    try:
        with pytest.raises(RuntimeError, match="captured"):
            solve_linear(
                X, y, LOSSES, mixture_set=BoxSimplex(lam, lam), l2=L2, method="smoothed_newton"
            )
    finally:
        linear.solve_smoothed = old
    problem = captured["problem"]
    stage = smooth_problem(problem, mu, prox=1e-2, center=np.zeros(problem.shape))
    c = lam * np.array([o.weight for o in problem.objectives])
    return stage, c


def test_hessian_skipping_flat_rows_equals_the_dense_hessian():
    stage, c = _stage()
    inner = InnerSolver(stage)
    rng = np.random.default_rng(0)
    theta = rng.normal(scale=0.3, size=stage.shape)
    _, Dg, low_rank = inner._sample_terms(theta, c)
    H = inner._hessian(Dg, low_rank)
    # dense: every row's full C×C block, no row skipped
    X, (D, C) = stage.X, stage.shape
    dense = np.zeros_like(H)
    for cls in range(C):
        dense[cls * D : (cls + 1) * D, cls * D : (cls + 1) * D] = X.T @ (Dg[:, [cls]] * X)
    for rows, V, sign in low_rank:
        Z = (V[:, :, None] * X[rows][:, None, :]).reshape(len(rows), C * D)
        dense += sign * Z.T @ Z
    dense[np.diag_indices_from(dense)] += inner._reg.T.ravel()
    low = np.tril_indices_from(H)
    np.testing.assert_allclose(H[low], dense[low], rtol=1e-10, atol=1e-10 * np.abs(dense).max())


def test_flat_rows_have_no_curvature_and_curved_rows_match_finite_differences():
    base = make_loss("hinge").convex_form("multiclass")
    form = SmoothedMultiHinge(base, 0.5)
    t = Targets.of_labels(np.array([0, 1]), 3)
    S = np.array([[5.0, 0.0, -1.0], [0.2, 0.4, -3.0]])  # a vertex row, a two-class row
    d, v = form.hess(S, t)
    assert np.all(d[0] == 0) and np.all(v[0] == 0)
    direction = np.array([[0.0, 0.0, 0.0], [0.3, -0.2, 0.1]])
    Hd = d * direction - v * (v * direction).sum(axis=1, keepdims=True)
    eps = 1e-7
    num = (form.grad(S + eps * direction, t) - form.grad(S - eps * direction, t)) / (2 * eps)
    np.testing.assert_allclose(Hd, num, atol=1e-6)


def test_zone_model_equals_the_loss_at_its_own_mu_and_keeps_the_old_support():
    base = make_loss("hinge").convex_form("multiclass")
    rng = np.random.default_rng(1)
    S = rng.normal(size=(50, 4))
    t = Targets.of_labels(rng.integers(4, size=50), 4)
    same = SmoothedMultiHinge(base, 0.3, zone_mu=0.3)
    plain = SmoothedMultiHinge(base, 0.3)
    np.testing.assert_allclose(same.grad(S, t), plain.grad(S, t), atol=1e-12)
    for a, b in zip(same.hess(S, t), plain.hess(S, t), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # at a smaller μ the model keeps the support at zone_mu: rows sum to 0 (q sums to 1)
    model = SmoothedMultiHinge(base, 0.03, zone_mu=0.3)
    G = model.grad(S, t)
    np.testing.assert_allclose(G.sum(axis=1), 0.0, atol=1e-12)
    Z = S + 1.0 - t.onehot
    old = project_simplex(Z / 0.3) > 0
    assert np.all(G[~old] == -t.onehot[~old])  # off the old support q = 0


def test_predicted_start_lowers_the_next_stage_objective():
    stage, c = _stage(mu=1e-2)
    sol = InnerSolver(stage, max_steps=400).solve(c, np.zeros(stage.shape))
    nxt = smooth_problem(replace_losses(stage), 3e-3, prox=1e-2, center=np.zeros(stage.shape))
    guess = predicted_start(nxt, 1e-2, c, sol.theta)
    inner = InnerSolver(nxt)
    assert inner.value(guess, c) < inner.value(sol.theta, c)


def replace_losses(stage):
    """The stage's problem with its original (unsmoothed) losses back."""
    from dataclasses import replace

    objectives = tuple(
        replace(o, loss=o.loss.base) if hasattr(o.loss, "base") else o for o in stage.objectives
    )
    return replace(stage, objectives=objectives, prox=0.0, prox_center=None)


def test_line_search_reaches_the_minimum_along_the_direction():
    stage, c = _stage(mu=1e-3)
    inner = InnerSolver(stage)
    theta = np.zeros(stage.shape)
    _, Dg, low_rank = inner._sample_terms(theta, c)
    grad = inner.gradient(theta, c).T.ravel()
    from scipy.linalg import cho_solve

    # 50× the Newton step: a direction whose full step fails the Armijo test
    step = -50.0 * cho_solve(inner.factor(inner._hessian(Dg, low_rank)), grad)
    D, C = stage.shape
    direction = step.reshape(C, D).T
    value = inner.value(theta, c)
    assert inner.value(theta + direction, c) > value  # the precondition: the full step fails
    found = inner._line_search(theta, direction, value, float(-grad @ step), c, 0.0)
    assert found is not None
    point, new, t = found
    assert 0.0 < t < 1.0
    assert new == pytest.approx(inner.value(point, c), rel=1e-12)
    grid = np.linspace(0.0, 1.0, 401)
    best = min(inner.value(theta + s * direction, c) for s in grid)
    # within a tenth of the initial slope of the 1-D minimum: near the grid's best value
    assert new <= best + 0.1 * (value - best)
    halving = inner._backtrack(theta, direction, value, float(-grad @ step), c, 0.0)
    assert halving is not None and new <= halving[1] + 1e-15
