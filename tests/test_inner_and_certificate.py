"""The inner Newton solver and the Fenchel certificate, against references written here.

g(λ) = min over Θ of Σ_k λ_k L̂_k(Θ) + l2 ‖W‖² is computed independently with scipy; any
certified lower bound must sit below g(λ) for every λ ∈ Λ, hence below the optimum, hence below
the objective of any model at all.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from almo.exceptions import ConvergenceWarning
from almo.mixtures import BoxSimplex, PriorBall, Simplex
from almo.solvers import solve_linear
from almo.solvers._certificate import dual_bound
from almo.solvers._inner import InnerSolver
from almo.solvers._problem import build_problem

L2 = 0.05


def _binary_data(seed, n=60, d=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.normal(size=n) > 0).astype(int)
    groups = (X[:, 0] > 0).astype(int)
    return rng, X, y, groups


def _objectives_by_hand(X, y, groups, w, b):
    """[log_loss@g0, log_loss@g1, squared_hinge@g0, squared_hinge@g1] at (w, b)."""
    m = (2.0 * y - 1.0) * (X @ w + b)
    log = np.logaddexp(0.0, -m)
    sqh = np.maximum(0.0, 1.0 - m) ** 2
    return np.array(
        [log[groups == g].mean() for g in (0, 1)] + [sqh[groups == g].mean() for g in (0, 1)]
    )


def _g_reference(X, y, groups, lam, l2):
    """g(λ) by BFGS on the hand-written objective (smooth: log_loss and squared_hinge)."""
    d = X.shape[1]

    def f(z):
        return lam @ _objectives_by_hand(X, y, groups, z[:d], z[d]) + l2 * z[:d] @ z[:d]

    return minimize(f, np.zeros(d + 1), method="BFGS", options={"gtol": 1e-11}).fun


LOSSES = ["log_loss", "squared_hinge"]


def test_problem_objectives_match_the_hand_written_ones(rng):
    _, X, y, groups = _binary_data(0)
    problem = build_problem(X, y, LOSSES, groups, L2, None, True)
    theta = rng.normal(size=problem.shape)
    assert np.allclose(
        problem.losses(theta),
        _objectives_by_hand(X, y, groups, theta[:3, 0], theta[3, 0]),
        rtol=1e-12,
        atol=1e-12,
    )
    assert problem.penalty(theta) == pytest.approx(L2 * np.sum(theta[:3] ** 2), rel=1e-12)


# --- the inner solver ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_inner_solve_reaches_the_scipy_minimum(seed):
    rng, X, y, groups = _binary_data(seed)
    problem = build_problem(X, y, LOSSES, groups, L2, None, True)
    lam = rng.dirichlet(np.ones(4))
    c = lam * np.array([o.weight for o in problem.objectives])
    sol = InnerSolver(problem).solve(c, np.zeros(problem.shape))
    assert sol.value == pytest.approx(_g_reference(X, y, groups, lam, L2), abs=1e-9)
    assert np.abs(InnerSolver(problem).gradient(sol.theta, c)).max() <= 1e-8
    # and the dual bound built at Θ* closes the gap to rounding
    bound = dual_bound(problem, lam, problem.unit_duals(sol.theta))
    assert -1e-12 <= sol.value - bound <= 1e-9


def test_inner_gradient_and_hessian_match_finite_differences(rng):
    X = rng.normal(size=(40, 2))
    y = rng.integers(0, 3, size=40)
    groups = rng.integers(0, 2, size=40)
    problem = build_problem(X, y, ["log_loss", "squared"], groups, L2, None, True)
    inner = InnerSolver(problem)
    c = rng.uniform(0.1, 1.0, size=problem.p) / 40
    theta = 0.5 * rng.normal(size=problem.shape)
    D, C = problem.shape
    grad = inner.gradient(theta, c)
    h = 1e-6
    fd = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        e = np.zeros_like(theta)
        e[idx] = h
        fd[idx] = (inner.value(theta + e, c) - inner.value(theta - e, c)) / (2 * h)
    assert np.allclose(grad, fd, atol=1e-7)
    # Hessian in theta.T.ravel() order; the lower triangle is the exact part.
    _, Dg, low_rank = inner._sample_terms(theta, c)
    H = inner._hessian(Dg, low_rank)
    fdH = np.zeros((C * D, C * D))
    for j in range(C * D):
        e = np.zeros(C * D)
        e[j] = 1e-5
        step = e.reshape(C, D).T
        fdH[:, j] = (
            inner.gradient(theta + step, c) - inner.gradient(theta - step, c)
        ).T.ravel() / 2e-5
    assert np.allclose(np.tril(H), np.tril(fdH), atol=1e-6)


# --- weak duality -------------------------------------------------------------------------


def _sets():
    return [
        Simplex(4),
        BoxSimplex(lower=np.full(4, 0.1), upper=np.full(4, 0.5)),
        PriorBall(np.full(4, 0.25), radius=0.3, divergence="l1"),
    ]


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), set_index=st.integers(0, 2))
def test_lower_bound_is_below_every_model_and_every_dual_below_value(seed, set_index):
    _, X, y, groups = _binary_data(seed % 1000)
    ms = _sets()[set_index]
    sol = solve_linear(X, y, LOSSES, groups=groups, mixture_set=ms, l2=L2)
    assert sol.lower_bound <= sol.value + 1e-12  # valid up to rounding
    problem = build_problem(X, y, LOSSES, groups, L2, None, True)
    rng = np.random.default_rng(seed)
    for scale in (0.0, 0.1, 1.0, 5.0):
        theta = scale * rng.normal(size=problem.shape)
        primal = ms.worst_case(problem.losses(theta)).value + problem.penalty(theta)
        assert sol.lower_bound <= primal + 1e-12
        # any λ in Λ with any dual candidate gives a bound below the optimum ≤ value
        lam = ms.project(rng.dirichlet(np.ones(4)))
        bound = dual_bound(problem, lam, problem.unit_duals(theta))
        assert bound <= sol.value + 1e-12


@pytest.mark.parametrize("seed", range(2))
def test_lower_bound_is_below_g_at_the_returned_weights(seed):
    """lower_bound is a value of the dual at λ = weights: it cannot exceed g(weights)."""
    _, X, y, groups = _binary_data(seed)
    sol = solve_linear(X, y, LOSSES, groups=groups, l2=L2, tol=1e-4)
    g = _g_reference(X, y, groups, sol.weights, L2)
    assert sol.lower_bound <= g + 1e-9
    assert g <= sol.value + 1e-9


def test_bracket_contains_an_independent_optimum(rng):
    """min over (w, b) of max_k L̂_k + l2 ‖w‖² by a cvxpy epigraph written here."""
    _, X, y, groups = _binary_data(7)
    sign = 2.0 * y - 1.0
    w, b, t = cp.Variable(3), cp.Variable(), cp.Variable()
    m = cp.multiply(sign, X @ w + b)
    cons = []
    for g in (0, 1):
        sel = groups == g
        cons.append(cp.sum(cp.logistic(-m[sel])) / sel.sum() <= t)
    for g in (0, 1):
        sel = groups == g
        cons.append(cp.sum_squares(cp.pos(1 - m[sel])) / sel.sum() <= t)
    prob = cp.Problem(cp.Minimize(t + L2 * cp.sum_squares(w)), cons)
    prob.solve(solver=cp.CLARABEL)
    for method in ("dual_newton", "cvxpy"):
        sol = solve_linear(X, y, LOSSES, groups=groups, l2=L2, method=method, tol=1e-7)
        assert sol.lower_bound - 1e-7 <= prob.value <= sol.value + 1e-7


# --- gap, tol and status ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["dual_newton", "cvxpy"])
def test_gap_shrinks_with_tol_and_bounds_interleave(method):
    _, X, y, groups = _binary_data(3, n=80)
    sols = []
    for tol in (1e-2, 1e-4, 1e-6, 1e-8):
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            sol = solve_linear(
                X, y, LOSSES, groups=groups, l2=L2, tol=tol, method=method, normalize="initial"
            )
        assert sol.status == "optimal"
        assert sol.gap <= tol * max(1.0, abs(sol.value))
        sols.append(sol)
    # every lower bound is below every upper bound: they bracket one optimum
    assert max(s.lower_bound for s in sols) <= min(s.value for s in sols) + 1e-12
    assert sols[-1].gap <= 1e-8 * max(1.0, sols[-1].value)


@settings(max_examples=12, deadline=None)
@given(
    max_iter=st.sampled_from([1, 2, 3, None]),
    tol=st.sampled_from([1e-1, 1e-3, 1e-6, 1e-9]),
    seed=st.integers(0, 50),
)
def test_status_is_optimal_iff_gap_within_tol(max_iter, tol, seed):
    rng, X, y, _ = _binary_data(seed, n=50)
    groups = rng.integers(0, 3, size=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sol = solve_linear(
            X, y, ["log_loss", "squared"], groups=groups, l2=0.01, tol=tol, max_iter=max_iter
        )
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    within = sol.gap <= tol * max(1.0, abs(sol.value))
    assert (sol.status == "optimal") == within
    assert warned == (sol.status == "inaccurate")
    assert sol.gap == pytest.approx(max(sol.value - sol.lower_bound, 0.0), abs=1e-15)
    assert sol.relative_gap == pytest.approx(sol.gap / max(1.0, abs(sol.value)))
    assert sol.lower_bound <= sol.value + 1e-12  # valid up to rounding


@pytest.mark.parametrize("method", ["dual_newton", "cvxpy"])
def test_value_is_the_exact_penalized_worst_case(method):
    _, X, y, groups = _binary_data(11)
    ms = BoxSimplex(lower=np.full(4, 0.05), upper=np.full(4, 0.6))
    sol = solve_linear(X, y, LOSSES, groups=groups, l2=L2, mixture_set=ms, method=method)
    by_hand = _objectives_by_hand(X, y, groups, sol.coef_[0], sol.intercept_[0])
    penalty = L2 * np.sum(sol.coef_**2)
    assert np.allclose(sol.losses, by_hand, rtol=1e-10)
    assert sol.value == pytest.approx(ms.worst_case(by_hand).value + penalty, abs=1e-12)
    assert sol.report.penalized_worst_case == pytest.approx(sol.value, abs=1e-12)
    assert ms.contains(sol.weights, atol=1e-8)


@pytest.mark.parametrize("losses", [["hinge"], ["hinge", "log_loss"]])
def test_nonsmooth_l2_zero_lower_bound_is_non_negative(losses):
    """With l2 = 0 the bound falls back to 0 at worst (all losses are ≥ 0); never above value."""
    _, X, y, groups = _binary_data(5, n=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sol = solve_linear(X, y, losses, groups=groups, l2=0.0)
    assert 0.0 <= sol.lower_bound <= sol.value + 1e-12
    assert sol.method in ("smoothed_newton", "cvxpy", "lp")
