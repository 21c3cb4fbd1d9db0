"""The fast paths at l2 = 0: standardized features, the re-centred prox continuation, badly
scaled columns, and scikit-learn's diabetes against a direct cvxpy reference."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_diabetes

from almo.solvers import solve_linear
from almo.solvers._problem import build_problem
from almo.solvers._scaling import standardizable, standardize


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    g = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
    return np.hstack([X, g[:, None].astype(float)]), y, g


def _reference(X, y, g, kind):
    """max over groups of the mean squared (or absolute) residual, by cvxpy directly (on
    standardized columns, the same optimum with an intercept, which the conic solver needs)."""
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    sigma = float(y.std())
    y = y / sigma
    w, b = cp.Variable(X.shape[1]), cp.Variable()
    r = X @ w + b - y
    terms = []
    for k in np.unique(g):
        rk = r[g == k]
        terms.append(cp.sum_squares(rk) / rk.size if kind == "squared" else cp.norm1(rk) / rk.size)
    prob = cp.Problem(cp.Minimize(cp.maximum(*terms)))
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == "optimal"
    return float(prob.value) * (sigma**2 if kind == "squared" else sigma)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(0, 10_000),
    st.booleans(),
    st.sampled_from([1e-3, 1.0, 1e3]),
)
def test_standardized_map_keeps_the_scores(seed, intercept, size):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(20, 3)) * np.array([size, 1.0, 1.0 / size]) + rng.normal(size=3)
    problem = build_problem(X, rng.normal(size=20), "squared", None, 0.0, None, intercept)
    z = standardize(problem)
    theta_z = rng.normal(size=(problem.shape[0], 1))
    theta = z.to_original(theta_z)
    np.testing.assert_allclose(problem.X @ theta, z.problem.X @ theta_z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(z.to_standardized(theta), theta_z, rtol=1e-9, atol=1e-9)
    if intercept:  # centred, unit spread columns
        np.testing.assert_allclose(z.problem.X[:, :3].mean(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(z.problem.X[:, :3].std(axis=0), 1.0, rtol=1e-12)


def test_only_problems_without_ridge_or_norm_penalty_are_standardized():
    X, y = np.eye(3), np.array([1.0, 2.0, 3.0])
    assert standardizable(build_problem(X, y, "squared", None, 0.0, None, True))
    assert not standardizable(build_problem(X, y, "squared", None, 0.1, None, True))
    assert not standardizable(build_problem(X, y, "squared", None, 0.0, None, True, [0.5]))


def test_diabetes_squared_certifies_fast_and_matches_cvxpy():
    X, y, g = _diabetes()
    sol = solve_linear(X, y, "squared", groups=g, l2=0.0, tol=1e-6)
    assert sol.method == "dual_newton" and sol.status == "optimal"
    assert sol.gap <= 1e-6 * max(1.0, sol.value)
    ref = _reference(X, y, g, "squared")
    assert abs(sol.value - ref) <= 1e-5 * ref
    # the lower bound is a true bound: below the reference optimum (up to its accuracy)
    assert sol.lower_bound <= ref * (1 + 1e-7)
    assert sol.n_iter <= 60


def test_diabetes_absolute_certifies_through_smoothing():
    X, y, g = _diabetes()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = solve_linear(X, y, "absolute", groups=g, l2=0.0, tol=1e-6, method="smoothed_newton")
    assert sol.status == "optimal"
    assert sol.gap <= 1e-6 * max(1.0, sol.value)
    ref = _reference(X, y, g, "absolute")
    assert abs(sol.value - ref) <= 1e-5 * ref
    assert sol.lower_bound <= ref * (1 + 1e-7)


def _badly_scaled(kind):
    rng = np.random.default_rng(0)
    scale = np.array([1e-3, 1e3, 1.0, 1e-3])
    Z = rng.normal(size=(300, 4))
    g = (Z[:, 2] > 0.3).astype(int)
    signal = Z @ np.array([1.0, -1.0, 0.5, 0.0])
    if kind == "regression":
        return Z * scale, signal + 0.5 * rng.normal(size=300), g
    return Z * scale, (signal + 0.8 * rng.normal(size=300) > 0).astype(int), g


@pytest.mark.parametrize(
    ("loss", "kind"),
    [("squared", "regression"), ("absolute", "regression"), ("log_loss", "cls"), ("hinge", "cls")],
)
@pytest.mark.parametrize("l2", [0.0, 1e-3])
def test_badly_scaled_columns_certify(loss, kind, l2):
    X, y, g = _badly_scaled(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = solve_linear(X, y, loss, groups=g, l2=l2, tol=1e-6)
    # piecewise-linear losses without a ridge are one linear program
    linear = l2 == 0 and loss in ("absolute", "hinge")
    assert sol.method == "lp" if linear else sol.method in ("dual_newton", "smoothed_newton")
    assert sol.status == "optimal" and sol.gap <= 1e-6 * max(1.0, sol.value)
    # the same problem on unit columns has the same optimum (l2 = 0: a change of coordinates)
    if l2 == 0:
        unit = solve_linear(X / X.std(axis=0), y, loss, groups=g, l2=0.0, tol=1e-6)
        assert abs(unit.value - sol.value) <= 2e-6 * max(1.0, sol.value)
    # the value is the worst case at the returned model, recomputed independently
    pred = sol.decision_function(X)
    if loss == "squared":
        per = (pred - y) ** 2
    elif loss == "absolute":
        per = np.abs(pred - y)
    elif loss == "log_loss":
        s = np.where(y == 1, 1.0, -1.0)
        per = np.logaddexp(0.0, -s * pred)
    else:
        per = np.maximum(0.0, 1.0 - np.where(y == 1, 1.0, -1.0) * pred)
    worst = max(per[g == k].mean() for k in (0, 1))
    ridge = l2 * float(np.sum(np.asarray(sol.coef_) ** 2))
    assert abs(worst + ridge - sol.value) <= 1e-9 * max(1.0, sol.value)
